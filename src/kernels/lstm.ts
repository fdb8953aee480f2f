import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 64;

/**
 * W_hh [4H, H] (gate order i, f, g, o) → the kernel's gate-interleaved, k-major layout:
 * out[(k·H + j)·4 + q] = W_hh[q·H + j, k], so invocation j reads one vec4 per k and
 * neighbouring invocations read neighbouring vec4s.
 */
export function interleaveRecurrentWeights(wHh: Float32Array, H: number): Float32Array {
  if (wHh.length !== 4 * H * H) throw new MnemoError("SHAPE_MISMATCH", `W_hh has ${wHh.length} values, [${4 * H}, ${H}] needs ${4 * H * H}.`);
  const out = new Float32Array(4 * H * H);
  for (let q = 0; q < 4; q++) {
    for (let j = 0; j < H; j++) {
      const row = (q * H + j) * H;
      for (let k = 0; k < H; k++) out[(k * H + j) * 4 + q] = wHh[row + k];
    }
  }
  return out;
}

/** Arguments of {@link lstmStep}. */
export interface LstmStepArgs {
  /** f32 [M, 4H]: x_t W_ihᵀ + b_ih + b_hh for every timestep, gate order i, f, g, o. */
  xproj: GPUBuffer;
  /** f32 recurrent weights in the layout of {@link interleaveRecurrentWeights}. */
  wHh: GPUBuffer;
  /** f32 [H]: h before timestep 0 (the layer's state). */
  hState: GPUBuffer;
  /** f32 [M, H]: h of every timestep; step t writes row t and reads row t − 1. */
  hs: GPUBuffer;
  /** f32 [H]: the layer's cell state, updated in place. */
  c: GPUBuffer;
  H: number;
  M: number;
  /** Timestep 0..M−1. */
  t: number;
  layer?: number;
}

/** One LSTM timestep of one layer, four gates fused: one invocation per hidden unit. */
export function lstmStep(gpu: Gpu, args: LstmStepArgs): KernelDispatch {
  const { xproj, wHh, hState, hs, c, H, M, t } = args;
  requireDims("lstmStep", { H, M });
  if (!Number.isInteger(t) || t < 0 || t >= M) throw new MnemoError("BAD_INPUT", `lstmStep: timestep ${t} is outside 0..${M - 1}.`);
  requireBytes("lstmStep", "xproj", xproj, M * 4 * H * 4);
  requireBytes("lstmStep", "wHh", wHh, 4 * H * H * 4);
  requireBytes("lstmStep", "hState", hState, H * 4);
  requireBytes("lstmStep", "hs", hs, M * H * 4);
  requireBytes("lstmStep", "c", c, H * 4);
  const { workgroups, groupsX } = grid1d(gpu, H, WG);
  return makeDispatch(gpu, {
    kernel: "lstm_step",
    layer: args.layer,
    pipeline: { file: "lstm", defines: { COPY_STATE: false, H_VEC4: H % 4 === 0 }, constants: { WG } },
    bindings: [xproj, wHh, hState, hs, c],
    params: paramWords([H, t, groupsX]),
    workgroups,
    flops: 8 * H * H + 12 * H,
    bytes: 16 * H * H + 4 * (4 * H + 4 * H),
  });
}

/** Copies row M − 1 of `hs` (the last timestep's h) into the layer's state h. */
export function recurrentKeepState(gpu: Gpu, args: { hs: GPUBuffer; hState: GPUBuffer; H: number; M: number; layer?: number }): KernelDispatch {
  const { hs, hState, H, M } = args;
  requireDims("recurrentKeepState", { H, M });
  requireBytes("recurrentKeepState", "hs", hs, M * H * 4);
  requireBytes("recurrentKeepState", "hState", hState, H * 4);
  return makeDispatch(gpu, {
    kernel: "recurrent_keep_state",
    layer: args.layer,
    pipeline: { file: "lstm", defines: { COPY_STATE: true, H_VEC4: false }, constants: { WG } },
    bindings: [hs, hState],
    params: paramWords([H, M]),
    workgroups: [Math.ceil(H / WG)],
    flops: 0,
    bytes: 8 * H,
  });
}
