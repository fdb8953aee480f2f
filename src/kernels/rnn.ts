import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 64;

/** The plain RNN's nonlinearity (PyTorch nn.RNN's `nonlinearity`). */
export type RnnNonlinearity = "tanh" | "relu";

/**
 * W_hh [H, H] (row j = unit j) → the kernel's k-major layout out[k·H + j] = W_hh[j, k], so
 * at each k neighbouring invocations read neighbouring words.
 */
export function transposeRecurrentWeights(wHh: Float32Array, H: number): Float32Array {
  if (wHh.length !== H * H) throw new MnemoError("SHAPE_MISMATCH", `W_hh has ${wHh.length} values, [${H}, ${H}] needs ${H * H}.`);
  const out = new Float32Array(H * H);
  for (let j = 0; j < H; j++) {
    for (let k = 0; k < H; k++) out[k * H + j] = wHh[j * H + k];
  }
  return out;
}

/** Arguments of {@link rnnStep}. */
export interface RnnStepArgs {
  /** f32 [M, H]: x_t W_ihᵀ + b_ih + b_hh for every timestep. */
  xproj: GPUBuffer;
  /** f32 recurrent weights in the layout of {@link transposeRecurrentWeights}. */
  wHh: GPUBuffer;
  /** f32 [H]: h before timestep 0 (the layer's state). */
  hState: GPUBuffer;
  /** f32 [M, H]: h of every timestep; step t writes row t and reads row t − 1. */
  hs: GPUBuffer;
  H: number;
  M: number;
  /** Timestep 0..M−1. */
  t: number;
  nonlinearity: RnnNonlinearity;
  layer?: number;
}

/** One plain-RNN timestep of one layer, h_t = act(xproj[t] + W_hh h_{t−1}): one invocation per hidden unit. */
export function rnnStep(gpu: Gpu, args: RnnStepArgs): KernelDispatch {
  const { xproj, wHh, hState, hs, H, M, t, nonlinearity } = args;
  requireDims("rnnStep", { H, M });
  if (!Number.isInteger(t) || t < 0 || t >= M) throw new MnemoError("BAD_INPUT", `rnnStep: timestep ${t} is outside 0..${M - 1}.`);
  if (nonlinearity !== "tanh" && nonlinearity !== "relu") throw new MnemoError("BAD_INPUT", `rnnStep: nonlinearity must be "tanh" or "relu", got ${JSON.stringify(nonlinearity)}.`);
  requireBytes("rnnStep", "xproj", xproj, M * H * 4);
  requireBytes("rnnStep", "wHh", wHh, H * H * 4);
  requireBytes("rnnStep", "hState", hState, H * 4);
  requireBytes("rnnStep", "hs", hs, M * H * 4);
  const { workgroups, groupsX } = grid1d(gpu, H, WG);
  return makeDispatch(gpu, {
    kernel: `rnn_step_${nonlinearity}`,
    layer: args.layer,
    pipeline: { file: "rnn", defines: { RELU: nonlinearity === "relu" }, constants: { WG } },
    bindings: [xproj, wHh, hState, hs],
    params: paramWords([H, t, groupsX]),
    workgroups,
    flops: 2 * H * H + 2 * H,
    bytes: 4 * H * H + 4 * 3 * H,
  });
}
