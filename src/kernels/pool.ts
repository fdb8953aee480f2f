import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { requireBytes, requireDims } from "./common.js";

const WG = 64;
/** shaders/pool.wgsl keeps 16 columns per invocation. */
export const MAX_POOL_WIDTH = 16 * WG;

/** How a sequence's rows become one vector. */
export type Pooling = "mean" | "cls";

/** Arguments of {@link poolSequences}. */
export interface PoolArgs {
  /** f32 [M, D]: the packed hidden states of a batch. */
  hidden: GPUBuffer;
  /** u32 [nSeq + 1]: sequence s is rows seqStart[s] .. seqStart[s + 1] − 1. */
  seqStart: GPUBuffer;
  /** f32 [nSeq, D]. */
  out: GPUBuffer;
  M: number;
  D: number;
  nSeq: number;
  pooling: Pooling;
  /** Divide each vector by its L2 norm. */
  normalize: boolean;
}

/** One vector per sequence of a packed batch: the mean of its rows or its first row, optionally L2-normalised. */
export function poolSequences(gpu: Gpu, args: PoolArgs): KernelDispatch {
  const { hidden, seqStart, out, M, D, nSeq, pooling, normalize } = args;
  requireDims("poolSequences", { M, D, nSeq });
  if (D > MAX_POOL_WIDTH) throw new MnemoError("UNSUPPORTED_MODEL", `poolSequences: width ${D} is over the kernel's ${MAX_POOL_WIDTH}.`);
  if (pooling !== "mean" && pooling !== "cls") throw new MnemoError("BAD_INPUT", `pooling must be "mean" or "cls", got ${JSON.stringify(pooling)}.`);
  requireBytes("poolSequences", "hidden", hidden, M * D * 4);
  requireBytes("poolSequences", "seqStart", seqStart, (nSeq + 1) * 4);
  requireBytes("poolSequences", "out", out, nSeq * D * 4);
  return makeDispatch(gpu, {
    kernel: `pool_${pooling}`,
    pipeline: { file: "pool", defines: { MEAN: pooling === "mean", NORMALIZE: normalize }, constants: { WG } },
    bindings: [hidden, seqStart, out],
    params: paramWords([D, nSeq]),
    workgroups: [nSeq],
    flops: (pooling === "mean" ? M * D : 0) + (normalize ? 3 * nSeq * D : 0),
    bytes: 4 * ((pooling === "mean" ? M : nSeq) * D + nSeq * D + nSeq + 1),
  });
}
