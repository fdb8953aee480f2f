import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { requireBytes, requireDims } from "./common.js";

const WG = 64;

/** nll[m] = logsumexp(logits[m, :]) − logits[m, targets[m]] for f32 logits [M, V]. */
export function tokenNll(gpu: Gpu, args: { logits: GPUBuffer; targets: GPUBuffer; out: GPUBuffer; M: number; V: number }): KernelDispatch {
  const { logits, targets, out, M, V } = args;
  requireDims("tokenNll", { M, V });
  requireBytes("tokenNll", "logits", logits, M * V * 4);
  requireBytes("tokenNll", "targets", targets, M * 4);
  requireBytes("tokenNll", "out", out, M * 4);
  return makeDispatch(gpu, {
    kernel: "token_nll",
    pipeline: { file: "token_nll", constants: { WG } },
    bindings: [logits, targets, out],
    params: paramWords([M, V]),
    workgroups: [Math.ceil(M / WG)],
    flops: 3 * M * V,
    bytes: M * V * 4,
  });
}
