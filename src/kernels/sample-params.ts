// The sampling parameters (their rules, checks and buffer layout) and the arguments of the GPU
// sampler, shared by the kernel (sample-parallel.ts) and its reference (reference/sample.ts).
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { paramWords } from "../gpu/dispatch.js";
import { requireBytes, requireDims } from "./common.js";

/**
 * Sampling settings of one decode step. The rules, applied in this order, are the same in
 * `sampleDispatches` (src/kernels/sample-parallel.ts) on the GPU and in `sampleRef`
 * (src/kernels/reference/sample.ts):
 *
 * 1. Repetition penalty (HF / CTRL): for each distinct id among the first `historyLength`
 *    ids of the history (ids >= N are ignored), a logit l becomes `l > 0 ? l / penalty :
 *    l * penalty`; the division is computed as `l * f32(1 / penalty)`. 1 disables it.
 * 2. `temperature <= 0`: greedy, the argmax of the penalised logits (lowest index on ties,
 *    NaN below everything; rules 3-6 are skipped).
 * 3. z = f32(l * f32(1 / temperature)), clamped to [-1e30, 1e30]; NaN and -Infinity logits
 *    count as -1e30, +Infinity as 1e30. Weights are `exp(z - max z)`, or 0 where
 *    `z - max z <= -80` (those tokens are never drawn).
 * 4. Top-k: keep the tokens whose z is >= the k-th largest z. Tokens tied with it are all
 *    kept, so more than k may survive. `topK <= 0` or `>= N` keeps all.
 * 5. Top-p (nucleus): among the top-k tokens, keep the smallest set of the highest z whose
 *    weight reaches `topP` times the weight of all top-k tokens; tokens tied with the last
 *    one are kept too. `topP >= 1` keeps all; `topP <= 0` keeps only the maximum (and ties).
 * 6. Draw: with S the weight of the kept tokens, return the first kept token, in index
 *    order, whose cumulative weight exceeds `random * S` (`random` is rounded to f32).
 *
 * GPU sums run in f32 in a different order from the reference: when `random * S` or the
 * top-p target lies within float rounding of a cumulative boundary, the two may pick
 * neighbouring tokens.
 */
export interface SamplingParams {
  /** <= 0: greedy. */
  temperature: number;
  /** <= 0 or >= N: no top-k. */
  topK: number;
  /** >= 1: no top-p. */
  topP: number;
  /** > 0; 1 disables the penalty. */
  repetitionPenalty: number;
  /** How many ids of the history buffer count (at most the ids written there). */
  historyLength: number;
  /** Uniform in [0, 1), drawn on the CPU (e.g. from `SeededRandom`, src/base/random.ts). */
  random: number;
}

/** Size of the sampling-parameter buffer that {@link writeSamplingParams} fills. */
export const SAMPLING_PARAMS_BYTES = 32;

/** The largest f32 below 1: `random` values that would round up to 1 are clamped to it. */
const BELOW_ONE = 1 - 2 ** -24;

function badParam(name: string, value: number, rule: string): never {
  throw new MnemoError("BAD_INPUT", `Sampling parameter ${name} ${rule}, got ${value}.`);
}

/** Checks `p` and returns it with `random` rounded to f32 (as the GPU sees it). */
export function checkSamplingParams(p: SamplingParams): SamplingParams {
  if (!Number.isFinite(p.temperature)) badParam("temperature", p.temperature, "must be finite");
  if (p.temperature > 0 && !Number.isFinite(Math.fround(1 / p.temperature))) {
    badParam("temperature", p.temperature, "is too small (1 / temperature overflows f32)");
  }
  if (!Number.isInteger(p.topK)) badParam("topK", p.topK, "must be an integer");
  if (Number.isNaN(p.topP)) badParam("topP", p.topP, "must be a number");
  const pen = p.repetitionPenalty;
  if (!(Number.isFinite(pen) && pen > 0 && Number.isFinite(Math.fround(1 / pen)))) {
    badParam("repetitionPenalty", pen, "must be a finite number > 0");
  }
  if (!Number.isInteger(p.historyLength) || p.historyLength < 0) {
    badParam("historyLength", p.historyLength, "must be an integer >= 0");
  }
  if (!(p.random >= 0 && p.random < 1)) badParam("random", p.random, "must be in [0, 1)");
  return { ...p, random: Math.min(Math.fround(p.random), BELOW_ONE) };
}

/** The 8 words of the parameter buffer (layout of `struct Sampling` in shaders/common/sampling.wgsl). */
export function samplingParamWords(p: SamplingParams): Uint32Array {
  const c = checkSamplingParams(p);
  const invTemperature = c.temperature > 0 ? 1 / c.temperature : 0;
  return paramWords([
    { f32: c.temperature },
    { f32: invTemperature },
    Math.max(0, Math.min(c.topK, 0xffffffff)),
    { f32: Math.max(0, Math.min(c.topP, 1)) },
    { f32: c.repetitionPenalty },
    { f32: 1 / c.repetitionPenalty },
    c.historyLength,
    { f32: c.random },
  ]);
}

/**
 * Writes `p` into `buffer` (a storage buffer of at least {@link SAMPLING_PARAMS_BYTES},
 * e.g. from {@link createSamplingParamsBuffer}); call it before each submit. Throws
 * BAD_INPUT for values outside the documented ranges.
 */
export function writeSamplingParams(gpu: Gpu, buffer: GPUBuffer, p: SamplingParams): void {
  requireBytes("writeSamplingParams", "buffer", buffer, SAMPLING_PARAMS_BYTES);
  gpu.write(buffer, samplingParamWords(p));
}

/** A pooled storage buffer for sampling parameters (release it with `gpu.pool.release`). */
export function createSamplingParamsBuffer(gpu: Gpu, label = "sampling.params"): GPUBuffer {
  return gpu.createStorage(SAMPLING_PARAMS_BYTES, label);
}

/** Arguments of `sampleDispatches` (src/kernels/sample-parallel.ts). */
export interface SampleArgs {
  /** f32 [rows, N]: row `logitsRow` is sampled. Read only; not modified. */
  logits: GPUBuffer;
  /** Row of `logits` to sample (default 0; a verification step has one per drafted token). */
  logitsRow?: number;
  N: number;
  /** Filled by {@link writeSamplingParams}. */
  params: GPUBuffer;
  /** u32 token ids for the repetition penalty (at least 4 bytes even when unused). */
  history: GPUBuffer;
  /** u32; the sampled id goes to element `outIndex`. */
  out: GPUBuffer;
  outIndex?: number;
}

/**
 * Checks the shapes and buffers of {@link SampleArgs} for the kernel `kernel` (SHAPE_MISMATCH,
 * or BAD_INPUT when `out` aliases an input); returns the out index.
 */
export function checkSampleArgs(kernel: string, args: SampleArgs): number {
  const { logits, N, params, history, out } = args;
  const outIndex = args.outIndex ?? 0;
  const row = args.logitsRow ?? 0;
  requireDims(kernel, { N });
  if (!Number.isInteger(outIndex) || outIndex < 0) {
    throw new MnemoError("SHAPE_MISMATCH", `${kernel}: outIndex must be an integer >= 0, got ${outIndex}.`);
  }
  if (!Number.isInteger(row) || row < 0) {
    throw new MnemoError("SHAPE_MISMATCH", `${kernel}: logitsRow must be an integer >= 0, got ${row}.`);
  }
  requireBytes(kernel, "logits", logits, (row + 1) * N * 4);
  requireBytes(kernel, "params", params, SAMPLING_PARAMS_BYTES);
  requireBytes(kernel, "history", history, 4);
  requireBytes(kernel, "out", out, (outIndex + 1) * 4);
  if (out === logits || out === params || out === history) {
    throw new MnemoError("BAD_INPUT", `${kernel}: out must be a different buffer from logits, params and history.`);
  }
  return outIndex;
}
