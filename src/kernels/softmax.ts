import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 256;

/** Arguments of {@link softmax}. */
export interface SoftmaxArgs {
  /** f32 [M, N], row-major. */
  x: GPUBuffer;
  /** f32 [M, N]; must be a different buffer from `x`. */
  out: GPUBuffer;
  M: number;
  N: number;
  layer?: number;
}

/**
 * Row-wise softmax, numerically stable (the row maximum is subtracted before `exp`).
 * One workgroup per row. `out` must not be `x` (BAD_INPUT); bad shapes throw
 * SHAPE_MISMATCH. Rows containing NaN or +Infinity give NaN rows (as most frameworks do).
 */
export function softmax(gpu: Gpu, args: SoftmaxArgs): KernelDispatch {
  const { x, out, M, N } = args;
  requireDims("softmax", { M, N });
  requireBytes("softmax", "x", x, M * N * 4);
  requireBytes("softmax", "out", out, M * N * 4);
  if (out === x) throw new MnemoError("BAD_INPUT", "softmax: out must be a different buffer from x.");
  const { workgroups, groupsX } = grid1d(gpu, M, 1);
  return makeDispatch(gpu, {
    kernel: "softmax",
    layer: args.layer,
    pipeline: { file: "softmax", constants: { WG } },
    bindings: [x, out],
    params: paramWords([M, N, groupsX]),
    workgroups,
    flops: 5 * M * N,
    bytes: 4 * 3 * M * N,
  });
}
