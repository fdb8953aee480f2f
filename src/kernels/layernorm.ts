import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

/** Invocations per workgroup: one row each (per-row variant), or one row per workgroup. */
const WG = 256;
const ROWS_PER_GROUP = 16;

/**
 * How a row is reduced: "workgroup" (a workgroup per row, shared-memory sums: real GPUs)
 * or "per-row" (an invocation per row, no barriers: software adapters, where barriers cost
 * more than the arithmetic). Default: per-row on software adapters, workgroup elsewhere.
 */
export type LayerNormVariant = "workgroup" | "per-row";

/** Arguments of {@link layerNorm}. */
export interface LayerNormArgs {
  /** f32 [M, D], row-major. */
  x: GPUBuffer;
  /** f32 [D]. */
  gamma: GPUBuffer;
  /** f32 [D]. */
  beta: GPUBuffer;
  /** f32 [M, D]; must be a different buffer from `x` (in-place is not supported). */
  out: GPUBuffer;
  M: number;
  D: number;
  /** Added to the variance; GPT-2 uses 1e-5. */
  eps: number;
  layer?: number;
  /** Overrides the adapter's default variant (tests run both). */
  variant?: LayerNormVariant;
}

/**
 * GPT-2 LayerNorm of each row: `out = (x - mean) / sqrt(var + eps) * gamma + beta`, with
 * the biased variance (divided by D). Computed in f32 in two passes (mean, then squared
 * deviations), one workgroup or one invocation per row (see {@link LayerNormVariant}).
 *
 * `out` must not be `x`: WebGPU forbids binding one buffer as both read-only and writable
 * storage in a dispatch, so aliasing is refused with BAD_INPUT instead of failing validation.
 * Bad shapes throw SHAPE_MISMATCH.
 */
export function layerNorm(gpu: Gpu, args: LayerNormArgs): KernelDispatch {
  const { x, gamma, beta, out, M, D, eps } = args;
  requireDims("layerNorm", { M, D });
  if (!(Number.isFinite(eps) && eps >= 0)) {
    throw new MnemoError("BAD_INPUT", `layerNorm: eps must be a finite number >= 0, got ${eps}.`);
  }
  requireBytes("layerNorm", "x", x, M * D * 4);
  requireBytes("layerNorm", "gamma", gamma, D * 4);
  requireBytes("layerNorm", "beta", beta, D * 4);
  requireBytes("layerNorm", "out", out, M * D * 4);
  if (out === x) throw new MnemoError("BAD_INPUT", "layerNorm: out must be a different buffer from x.");
  const perRow = (args.variant ?? (gpu.adapter.isSoftware ? "per-row" : "workgroup")) === "per-row";
  const { workgroups, groupsX } = perRow ? grid1d(gpu, M, ROWS_PER_GROUP) : grid1d(gpu, M, 1);
  return makeDispatch(gpu, {
    kernel: "layernorm",
    layer: args.layer,
    pipeline: { file: "layernorm", defines: { PER_ROW: perRow }, constants: { WG: perRow ? ROWS_PER_GROUP : WG } },
    bindings: [x, gamma, beta, out],
    params: paramWords([M, D, { f32: eps }, groupsX]),
    workgroups,
    flops: 8 * M * D,
    bytes: 4 * (3 * M * D + 2 * D),
  });
}
