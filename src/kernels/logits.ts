// Logit processing around sampling (shaders/logits.wgsl): a request's logit bias and its
// frequency / presence penalties applied on the GPU before the sampler reads the row, and the
// sampled token's log-probability with the highest alternatives computed after it, so that a
// step still reads back only a few words. References: src/kernels/reference/logits.ts.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, placeholderBuffer, requireBytes, requireDims } from "./common.js";

/** The most alternatives {@link logprobDispatches} reports (OpenAI's `top_logprobs` limit). */
export const LOGPROB_MAX_TOP = 20;
/** Tokens per `logprob_blocks` workgroup (BLOCK in the shader). */
const BLOCK = 2048;
/** Bytes of the buffer {@link writePenalties} fills. */
export const PENALTY_PARAMS_BYTES = 16;

/** u32 words of a token mask over a vocabulary of N. */
export function maskWords(N: number): number {
  return Math.ceil(N / 32);
}

/** u32 words of a log-probability result with `top` alternatives. */
export function logprobResultWords(top: number): number {
  return 2 + 2 * top;
}

/** Frequency / presence penalties of one step (OpenAI's rule, over the ids generated so far). */
export interface Penalties {
  /** Subtracted from a logit once per earlier occurrence of its id. */
  frequency: number;
  /** Subtracted from a logit once when its id occurred at all. */
  presence: number;
  /** How many ids of the `generated` buffer count. */
  generated: number;
}

/** Writes `p` into `buffer` (at least {@link PENALTY_PARAMS_BYTES}); call it before each submit. */
export function writePenalties(gpu: Gpu, buffer: GPUBuffer, p: Penalties): void {
  requireBytes("writePenalties", "buffer", buffer, PENALTY_PARAMS_BYTES);
  if (!Number.isFinite(p.frequency) || !Number.isFinite(p.presence)) throw new MnemoError("BAD_INPUT", "writePenalties: penalties must be finite.");
  if (!Number.isInteger(p.generated) || p.generated < 0) throw new MnemoError("BAD_INPUT", `writePenalties: generated must be an integer >= 0, got ${p.generated}.`);
  gpu.write(buffer, paramWords([{ f32: p.frequency }, { f32: p.presence }, p.generated, 0]));
}

/** Arguments of {@link logitAdjustDispatches}. */
export interface LogitAdjustArgs {
  /** f32 [rows, N]: row `logitsRow` is read (not modified). */
  logits: GPUBuffer;
  logitsRow?: number;
  N: number;
  /** f32 [N]: added to every logit (a dense copy of a sparse logit bias). */
  bias: GPUBuffer;
  /** u32 [capacity]: the ids generated so far (the first `penalties.generated` count). */
  generated: GPUBuffer;
  capacity: number;
  /** Filled by {@link writePenalties}. */
  penalties: GPUBuffer;
  /** f32 [N]: the adjusted row. */
  out: GPUBuffer;
  /** u32 [ceil(N / 32)]: one bit per token, set where allowed (constrained decoding); absent: all allowed. */
  mask?: GPUBuffer;
}

/**
 * Two dispatches that write `out[i] = logits[row, i] + bias[i] - (frequency * count_i +
 * presence * [count_i > 0])`, where count_i is how often id i occurs among the generated ids;
 * with a mask, tokens whose bit is clear get -F32_MAX before the penalty.
 * In f32, in this order: the bias is added, then the penalty (computed as `count * frequency
 * + presence`) subtracted. Built once per shape; the penalties and the generated ids change
 * per step.
 */
export function logitAdjustDispatches(gpu: Gpu, args: LogitAdjustArgs): KernelDispatch[] {
  const { logits, N, bias, generated, capacity, penalties, out, mask } = args;
  const row = args.logitsRow ?? 0;
  requireDims("logitAdjustDispatches", { N, capacity });
  requireBytes("logitAdjustDispatches", "logits", logits, (row + 1) * N * 4);
  requireBytes("logitAdjustDispatches", "bias", bias, N * 4);
  requireBytes("logitAdjustDispatches", "generated", generated, capacity * 4);
  requireBytes("logitAdjustDispatches", "penalties", penalties, PENALTY_PARAMS_BYTES);
  requireBytes("logitAdjustDispatches", "out", out, N * 4);
  if (out === logits || out === bias) throw new MnemoError("BAD_INPUT", "logitAdjustDispatches: out must be a different buffer from logits and bias.");
  if (mask) requireBytes("logitAdjustDispatches", "mask", mask, maskWords(N) * 4);
  const shape = paramWords([N, row * N, 0, 0, capacity, 0, mask ? 1 : 0, 0]);
  const none = undefined;
  return [
    makeDispatch(gpu, {
      kernel: "logits.bias",
      pipeline: { file: "logits", entryPoint: "logits_bias" },
      bindings: [logits, bias, out, none, none, none, none, none, none, mask ?? placeholderBuffer(gpu)],
      params: shape,
      workgroups: grid1d(gpu, N, 256).workgroups,
      flops: N,
      bytes: 12 * N,
    }),
    makeDispatch(gpu, {
      kernel: "logits.penalize",
      pipeline: { file: "logits", entryPoint: "logits_penalize" },
      bindings: [none, none, out, generated, penalties, none, none, none, none, none],
      params: shape,
      workgroups: [Math.ceil(capacity / 64)],
      flops: capacity * capacity,
      bytes: 4 * capacity,
    }),
  ];
}

/** Arguments of {@link logprobDispatches}. */
export interface LogprobArgs {
  /** f32 [rows, N]: row `logitsRow` is read. */
  logits: GPUBuffer;
  logitsRow?: number;
  N: number;
  /** Alternatives to report, 0..{@link LOGPROB_MAX_TOP}. */
  top: number;
  /** u32: the sampled id is element `idIndex`. */
  ids: GPUBuffer;
  idIndex?: number;
  /** u32 [{@link logprobResultWords}(top)]: decoded by {@link decodeLogprobs}. */
  result: GPUBuffer;
}

/**
 * Two dispatches that write the sampled id's log-probability under `log_softmax(row)`, the
 * row's logsumexp and its `top` highest tokens (value descending, then index ascending) with
 * their log-probabilities. The first dispatch owns its scratch (`releaseDispatches` frees it).
 */
export function logprobDispatches(gpu: Gpu, args: LogprobArgs): KernelDispatch[] {
  const { logits, N, top, ids, result } = args;
  const row = args.logitsRow ?? 0;
  const idIndex = args.idIndex ?? 0;
  requireDims("logprobDispatches", { N });
  if (!Number.isInteger(top) || top < 0 || top > LOGPROB_MAX_TOP) throw new MnemoError("BAD_INPUT", `logprobDispatches: top must be an integer in 0..${LOGPROB_MAX_TOP}, got ${top}.`);
  requireBytes("logprobDispatches", "logits", logits, (row + 1) * N * 4);
  requireBytes("logprobDispatches", "ids", ids, (idIndex + 1) * 4);
  requireBytes("logprobDispatches", "result", result, logprobResultWords(top) * 4);
  if (result === logits || result === ids) throw new MnemoError("BAD_INPUT", "logprobDispatches: result must be a different buffer from logits and ids.");
  const blocks = Math.ceil(N / BLOCK);
  if (blocks > gpu.limits.maxComputeWorkgroupsPerDimension) throw new MnemoError("TOO_LARGE", `logprobDispatches: a vocabulary of ${N} needs ${blocks} workgroups.`);
  const stats = gpu.createStorage(8 * blocks, "logprob.stats");
  const candidates = gpu.createStorage(8 * Math.max(1, blocks * top), "logprob.candidates");
  const shape = paramWords([N, row * N, top, blocks, 0, idIndex, 0, 0]);
  const none = undefined;
  const list = [
    makeDispatch(gpu, {
      kernel: "logprob.blocks",
      pipeline: { file: "logits", entryPoint: "logprob_blocks" },
      bindings: [logits, none, none, none, none, stats, candidates, none, none, none],
      params: shape,
      workgroups: [blocks],
      flops: (3 + top) * N,
      bytes: (2 + top) * 4 * N,
    }),
    makeDispatch(gpu, {
      kernel: "logprob.merge",
      pipeline: { file: "logits", entryPoint: "logprob_merge" },
      bindings: [logits, none, none, none, none, stats, candidates, ids, result, none],
      params: shape,
      workgroups: [1],
      flops: blocks * top * top,
      bytes: 8 * blocks * (1 + top),
    }),
  ];
  list[0].owned.push(stats, candidates);
  return list;
}

/** A token and its log-probability. */
export interface TokenLogprob {
  id: number;
  logprob: number;
}

/** What {@link logprobDispatches} wrote. */
export interface LogprobResult {
  /** Log-probability of the sampled token. */
  logprob: number;
  /** logsumexp of the row. */
  logsumexp: number;
  /**
   * The highest tokens, most likely first: fewer than asked when the vocabulary is smaller or
   * the rest were masked out (at -F32_MAX: impossible, so not alternatives).
   */
  top: TokenLogprob[];
}

/** Log-probabilities at or below this belong to masked-out tokens (logit -F32_MAX). */
const IMPOSSIBLE = -1e30;

/** Decodes the result words of {@link logprobDispatches} (`top` as given there). */
export function decodeLogprobs(words: Uint32Array, top: number): LogprobResult {
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  const alternatives: TokenLogprob[] = [];
  for (let r = 0; r < top; r++) {
    if (words[2 + r] !== 0xffffffff && f[2 + top + r] > IMPOSSIBLE) alternatives.push({ id: words[2 + r], logprob: f[2 + top + r] });
  }
  return { logprob: f[0], logsumexp: f[1], top: alternatives };
}
