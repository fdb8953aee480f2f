import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 256;

/** Arguments of {@link argmax}. */
export interface ArgmaxArgs {
  /** f32 [M, N], row-major. */
  x: GPUBuffer;
  /** u32; row r's index goes to element `outOffset + r`. */
  out: GPUBuffer;
  M: number;
  N: number;
  /** First u32 element of `out` written (default 0). */
  outOffset?: number;
}

/**
 * Index of the largest value of each row of x, written as u32.
 * - Ties: the lowest index wins.
 * - NaN ranks below every number (including -Infinity); a row of only NaN gives 0.
 * - -0 and +0 are equal (the lower index wins).
 * One workgroup per row; any N (GPT-2's 50257 included). Bad shapes throw SHAPE_MISMATCH.
 */
export function argmax(gpu: Gpu, args: ArgmaxArgs): KernelDispatch {
  const { x, out, M, N } = args;
  const outOffset = args.outOffset ?? 0;
  requireDims("argmax", { M, N });
  if (!Number.isInteger(outOffset) || outOffset < 0) {
    throw new MnemoError("SHAPE_MISMATCH", `argmax: outOffset must be an integer >= 0, got ${outOffset}.`);
  }
  requireBytes("argmax", "x", x, M * N * 4);
  requireBytes("argmax", "out", out, (outOffset + M) * 4);
  if (out === x) throw new MnemoError("BAD_INPUT", "argmax: out must be a different buffer from x.");
  const { workgroups, groupsX } = grid1d(gpu, M, 1);
  return makeDispatch(gpu, {
    kernel: "argmax",
    pipeline: { file: "argmax", constants: { WG } },
    bindings: [x, out],
    params: paramWords([M, N, groupsX, outOffset]),
    workgroups,
    flops: M * N,
    bytes: 4 * (M * N + M),
  });
}
