import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 256;

/** out[i] = a[i] + b[i] for i < n (the residual connection). */
export function residualAdd(gpu: Gpu, args: { a: GPUBuffer; b: GPUBuffer; out: GPUBuffer; n: number; layer?: number }): KernelDispatch {
  const { a, b, out, n } = args;
  requireDims("residualAdd", { n });
  for (const [name, buf] of [
    ["a", a],
    ["b", b],
    ["out", out],
  ] as const)
    requireBytes("residualAdd", name, buf, n * 4);
  const { workgroups, groupsX } = grid1d(gpu, n, WG);
  return makeDispatch(gpu, {
    kernel: "residual_add",
    layer: args.layer,
    pipeline: { file: "elementwise", defines: { OP_ADD: true }, constants: { WG } },
    bindings: [a, b, out],
    params: paramWords([n, groupsX]),
    workgroups,
    flops: n,
    bytes: 12 * n,
  });
}

/** out[i] = gelu_new(x[i]) (tanh approximation, as GPT-2). */
export function gelu(gpu: Gpu, args: { x: GPUBuffer; out: GPUBuffer; n: number; layer?: number }): KernelDispatch {
  const { x, out, n } = args;
  requireDims("gelu", { n });
  requireBytes("gelu", "x", x, n * 4);
  requireBytes("gelu", "out", out, n * 4);
  const { workgroups, groupsX } = grid1d(gpu, n, WG);
  return makeDispatch(gpu, {
    kernel: "gelu",
    layer: args.layer,
    pipeline: { file: "elementwise", defines: { OP_ADD: false }, constants: { WG } },
    bindings: [x, out],
    params: paramWords([n, groupsX]),
    workgroups,
    flops: 10 * n,
    bytes: 8 * n,
  });
}
