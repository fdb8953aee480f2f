// The decode loop's optional logit processing: a request's logit bias, frequency / presence
// penalties and token mask (constrained decoding) applied to the row before the sampler
// reads it, and log-probabilities
// computed after the sampler picked (src/kernels/logits.ts). It owns the buffers these need
// and the step variants (dispatch lists) built from them, once per kind of request: no
// pipeline or bind group is made per token, and a step still reads back a few words.
import type { Gpu } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { LOGPROB_MAX_TOP, logitAdjustDispatches, logprobDispatches, logprobResultWords, maskWords, PENALTY_PARAMS_BYTES, writePenalties } from "../kernels/logits.js";
import type { ForwardPlan } from "../models/types.js";
import type { ResolvedGenerateOptions } from "./generate-options.js";

/** What a request asks of logit processing. */
export interface Processing {
  /** A logit bias, a penalty or a token mask: the row is adjusted before sampling. */
  adjust: boolean;
  /** A token mask (constrained decoding), written before each step. */
  masked: boolean;
  /** Alternatives reported with each log-probability; null: no log-probabilities. */
  top: number | null;
}

/** The processing `o` needs (with a token mask when `masked`), or null for plain sampling. */
export function processingOf(o: ResolvedGenerateOptions, masked: boolean): Processing | null {
  const adjust = masked || o.logitBias.length > 0 || o.frequencyPenalty !== 0 || o.presencePenalty !== 0;
  if (!adjust && o.logprobs === null) return null;
  return { adjust, masked, top: o.logprobs };
}

/** The dispatch lists of a decode step that feeds a token, and of one that samples the kept logits. */
export interface StepVariant {
  forwardStep: readonly KernelDispatch[];
  samplingStep: readonly KernelDispatch[];
  adjust: boolean;
  top: number | null;
}

/** What the decode plan offers a variant. */
export interface VariantInputs {
  N: number;
  forward: ForwardPlan;
  /** The session's kept next-token logits (sampled by the first step of a call). */
  nextLogits: GPUBuffer;
  /** The plan's samplers of forward.logits and nextLogits (used when nothing is adjusted). */
  forwardSampling: readonly KernelDispatch[];
  logitsSampling: readonly KernelDispatch[];
  /** A sampler of another logits buffer into forward.ids. */
  sampler(logits: GPUBuffer): KernelDispatch[];
}

interface Buffers {
  N: number;
  adjusted: GPUBuffer;
  bias: GPUBuffer;
  penalties: GPUBuffer;
  result: GPUBuffer;
  mask: GPUBuffer;
  generated: GPUBuffer;
  capacity: number;
}

interface BuiltVariant extends StepVariant {
  key: string;
  owned: KernelDispatch[];
}

/** Ids a call may generate before the penalties' id buffer grows (its first size). */
const MIN_CAPACITY = 256;

export class LogitProcessing {
  private buffers: Buffers | null = null;
  private built: BuiltVariant | null = null;
  /** The bias the dense bias buffer holds (as a key), so it is rewritten only when it changes. */
  private biasKey = "";
  /** The mask the mask buffer holds, likewise. */
  private lastMask: Uint32Array | null = null;

  constructor(private readonly gpu: Gpu) {}

  /** The variant for `wanted`, reused while requests keep asking for the same. */
  variant(wanted: Processing, o: ResolvedGenerateOptions, inputs: VariantInputs): StepVariant {
    const buffers = this.buffersFor(inputs.N, o.maxTokens);
    const key = `${wanted.adjust}|${wanted.masked}|${wanted.top}|${buffers.capacity}`;
    if (this.built?.key !== key) {
      this.releaseVariant();
      this.built = build(this.gpu, key, wanted, buffers, inputs);
    }
    if (wanted.adjust) this.writeBias(o.logitBias);
    return this.built;
  }

  /** Before each step of an adjusting variant: the penalties and how many generated ids count. */
  writePenalties(o: ResolvedGenerateOptions, generated: number): void {
    writePenalties(this.gpu, this.buffers!.penalties, { frequency: o.frequencyPenalty, presence: o.presencePenalty, generated });
  }

  /** Before each step of a masked variant: the tokens allowed next (uploaded only when they changed). */
  writeMask(words: Uint32Array): void {
    const last = this.lastMask;
    if (last && last.length === words.length && last.every((w, i) => w === words[i])) return;
    this.gpu.write(this.buffers!.mask, words);
    this.lastMask = Uint32Array.from(words);
  }

  /** After sampling: the sampled id joins the generated ids (what the penalties count). */
  recordGenerated(encoder: GPUCommandEncoder, ids: GPUBuffer, index: number): void {
    const b = this.buffers!;
    if (index < b.capacity) encoder.copyBufferToBuffer(ids, 0, b.generated, index * 4, 4);
  }

  /** After the log-probability dispatches: their result into `staging` at `offset`. */
  copyLogprobs(encoder: GPUCommandEncoder, staging: GPUBuffer, offset: number, top: number): void {
    encoder.copyBufferToBuffer(this.buffers!.result, 0, staging, offset, logprobResultWords(top) * 4);
  }

  private buffersFor(N: number, maxTokens: number): Buffers {
    const b = this.buffers;
    if (b && b.N === N && b.capacity >= maxTokens) return b;
    const capacity = Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(Math.max(1, maxTokens))));
    if (b && b.N === N) {
      // Only the generated ids outgrew their buffer.
      this.releaseVariant();
      this.gpu.pool.release(b.generated);
      b.generated = this.gpu.createStorage(capacity * 4, "logits.generated");
      b.capacity = capacity;
      return b;
    }
    this.dispose();
    const gpu = this.gpu;
    this.buffers = {
      N,
      adjusted: gpu.createStorage(N * 4, "logits.adjusted"),
      bias: gpu.createStorage(N * 4, "logits.bias"),
      penalties: gpu.createStorage(PENALTY_PARAMS_BYTES, "logits.penalties"),
      result: gpu.createStorage(logprobResultWords(LOGPROB_MAX_TOP) * 4, "logprob.result"),
      mask: gpu.createStorage(maskWords(N) * 4, "logits.mask"),
      generated: gpu.createStorage(capacity * 4, "logits.generated"),
      capacity,
    };
    return this.buffers;
  }

  private writeBias(pairs: ResolvedGenerateOptions["logitBias"]): void {
    const key = JSON.stringify(pairs);
    if (key === this.biasKey) return;
    const b = this.buffers!;
    const dense = new Float32Array(b.N);
    for (const [id, value] of pairs) dense[id] = value;
    this.gpu.write(b.bias, dense);
    this.biasKey = key;
  }

  private releaseVariant(): void {
    if (this.built) releaseDispatches(this.gpu, this.built.owned);
    this.built = null;
  }

  /** The decode plan changed (its buffers are gone): variants are rebuilt on next use. */
  invalidate(): void {
    this.releaseVariant();
  }

  dispose(): void {
    this.releaseVariant();
    const b = this.buffers;
    if (b) for (const buffer of [b.adjusted, b.bias, b.penalties, b.result, b.mask, b.generated]) this.gpu.pool.release(buffer);
    this.buffers = null;
    this.biasKey = "";
    this.lastMask = null;
  }
}

/**
 * The two step lists: [forward,] adjust the row into `adjusted`, sample it, then the
 * log-probabilities of the row sampled (the adjusted one, or the raw row when nothing is
 * adjusted).
 */
function build(gpu: Gpu, key: string, wanted: Processing, b: Buffers, inputs: VariantInputs): BuiltVariant {
  const { N, forward, nextLogits } = inputs;
  const owned: KernelDispatch[] = [];
  const own = (list: KernelDispatch[]) => {
    owned.push(...list);
    return list;
  };
  const mask = wanted.masked ? b.mask : undefined;
  const adjust = (logits: GPUBuffer) => own(logitAdjustDispatches(gpu, { logits, N, bias: b.bias, generated: b.generated, capacity: b.capacity, penalties: b.penalties, out: b.adjusted, mask }));
  const logprobs = (logits: GPUBuffer) => (wanted.top === null ? [] : own(logprobDispatches(gpu, { logits, N, top: wanted.top, ids: forward.ids, result: b.result })));
  let forwardTail: KernelDispatch[];
  let samplingStep: KernelDispatch[];
  if (wanted.adjust) {
    const sampled = own(inputs.sampler(b.adjusted));
    const afterwards = logprobs(b.adjusted);
    forwardTail = [...adjust(forward.logits), ...sampled, ...afterwards];
    samplingStep = [...adjust(nextLogits), ...sampled, ...afterwards];
  } else {
    forwardTail = [...inputs.forwardSampling, ...logprobs(forward.logits)];
    samplingStep = [...inputs.logitsSampling, ...logprobs(nextLogits)];
  }
  return { key, owned, adjust: wanted.adjust, top: wanted.top, forwardStep: [...forward.dispatches, ...forwardTail], samplingStep };
}
