import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { MAX_HEAD_DIM } from "./attention.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 64;

/** Arguments of {@link encoderAttention}. */
export interface EncoderAttentionArgs {
  /** f32 [M, 3D]: each row [q | k | v], D = nHead · headDim; the batch's sequences packed one after another. */
  qkv: GPUBuffer;
  /** u32 [M]: the first row of row m's sequence. */
  keyStart: GPUBuffer;
  /** u32 [M]: one past the last row of row m's sequence. */
  keyEnd: GPUBuffer;
  /** f32 [M, D]. */
  out: GPUBuffer;
  M: number;
  nHead: number;
  headDim: number;
  layer?: number;
}

/**
 * Bidirectional attention of a packed batch (shaders/encoder_attention.wgsl): query row m
 * attends to rows keyStart[m]..keyEnd[m] − 1, scaled by 1/√headDim. Sequences need no
 * padding, so a padding mask is the row ranges themselves.
 */
export function encoderAttention(gpu: Gpu, args: EncoderAttentionArgs): KernelDispatch {
  const { qkv, keyStart, keyEnd, out, M, nHead, headDim } = args;
  requireDims("encoderAttention", { M, nHead, headDim });
  if (headDim > MAX_HEAD_DIM) throw new MnemoError("UNSUPPORTED_MODEL", `encoderAttention: head dimension ${headDim} is over the kernel's ${MAX_HEAD_DIM}.`);
  const D = nHead * headDim;
  requireBytes("encoderAttention", "qkv", qkv, M * 3 * D * 4);
  requireBytes("encoderAttention", "keyStart", keyStart, M * 4);
  requireBytes("encoderAttention", "keyEnd", keyEnd, M * 4);
  requireBytes("encoderAttention", "out", out, M * D * 4);
  const { workgroups, groupsX } = grid1d(gpu, M * nHead, WG);
  return makeDispatch(gpu, {
    kernel: "encoder_attention",
    layer: args.layer,
    pipeline: { file: "encoder_attention", defines: { HEAD_VEC4: headDim % 4 === 0 }, constants: { WG } },
    bindings: [qkv, keyStart, keyEnd, out],
    params: paramWords([M, nHead, headDim, { f32: 1 / Math.sqrt(headDim) }, groupsX]),
    workgroups,
    // Upper bound: every row attending to all M rows.
    flops: 4 * M * M * D,
    bytes: 4 * (M * 3 * D + M * D + 2 * M),
  });
}
