// The decode loop. Each step is one submit: (a forward of the last sampled token, then)
// GPU sampling, whose id lands straight in the decode plan's input and in the repetition
// history, and a 4-byte copy the CPU maps (more with log-probabilities: logit-processing.ts
// adds the bias, penalty and log-probability dispatches). Because the next step needs
// nothing from the CPU, it is recorded and submitted before the current id is read
// (LOOKAHEAD steps ahead): the CPU reads ids one step behind, and a step submitted past a
// stop is simply not kept (its KV-cache row is rewritten when that position is fed again).
// Results equal one-by-one decoding: the same random numbers are drawn in the same order.
// A grammar constraint does need the CPU (its next mask depends on the token just read), so
// constrained steps run one at a time, as do a growing memory's and profiled ones. A call
// can also resume another loop's generation (DecodeResumption: the speculative decoder's
// pauses), feeding the context's last token first and drawing that loop's random numbers.
import { MnemoError, abortError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { READBACK_USAGE } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { mapU32 } from "../gpu/readback.js";
import { createSamplingParamsBuffer, writeSamplingParams } from "../kernels/sample-params.js";
import { sampleDispatches } from "../kernels/sample-parallel.js";
import { decodeLogprobs, logprobResultWords, LOGPROB_MAX_TOP, type LogprobResult } from "../kernels/logits.js";
import { LogitProcessing, processingOf, type StepVariant } from "./logit-processing.js";
import type { GrammarConstraint } from "./constraint.js";
import type { ForwardPlan, LanguageModel, ModelState } from "../models/types.js";
import type { ContextWindow } from "./context-window.js";
import type { ResolvedGenerateOptions } from "./generate-options.js";
import type { NeighbourReadback } from "./neighbours.js";
import { SeededRandom } from "../base/random.js";
import type { SessionMemory } from "./session-memory.js";
import type { StepRunner, SubmittedStep } from "./step-runner.js";
import type { MemoryNeighbour } from "./types.js";

/** Steps submitted ahead of the one being read. */
export const LOOKAHEAD = 1;
const MAP_READ = 0x0001;
/** Repetition history kept for a model without a context limit (LSTM, RNN). */
const RECURRENT_HISTORY = 4096;
/** Bytes a step reads back at most: the id, then a log-probability result with every alternative. */
const STAGING_BYTES = 4 + 4 * logprobResultWords(LOGPROB_MAX_TOP);

/** What the decode loop needs of its session. */
export interface DecodeHost {
  readonly model: LanguageModel;
  readonly state: ModelState;
  readonly context: ContextWindow;
  readonly runner: StepRunner;
  /** The growing memory: its appends need each fed id on the CPU, so steps do not overlap. */
  readonly memory: SessionMemory | null;
  /** f32 [vocab]: logits after the last consumed token (step 0 samples from them). */
  readonly nextLogits: GPUBuffer;
  readonly neighbours: NeighbourReadback;
  /** Steps to submit ahead of the one being read (0..LOOKAHEAD). */
  readonly lookahead: number;
  /** Throws when the session or its model was disposed. */
  guard(): void;
  /** The context is full: apply the overflow policy and prefill what it keeps. */
  refill(): Promise<void>;
}

/** One decoded token and, when asked for, the memory entries that voted for it. */
export interface DecodedToken {
  id: number;
  neighbours?: MemoryNeighbour[];
  /** Speculative decoding: the token was a confirmed draft. */
  drafted?: boolean;
  /** With `logprobs`: the step's log-probabilities. */
  logprobs?: LogprobResult;
}

/**
 * A decode call that continues another loop's generation (the speculative decoder hands it
 * the stretches where drafting pauses): the context's last token is not fed yet (so the
 * kept next-token logits are stale), and the random numbers continue that loop's sequence.
 */
export interface DecodeResumption {
  /** The next random number of the generation (one per token, in order). */
  random(): number;
}

interface DecodePlan {
  forward: ForwardPlan;
  /** Sample the forward's logits into forward.ids (mark history, select, merge). */
  fromForward: KernelDispatch[];
  /** Sample the session's kept next-token logits into forward.ids (the first step). */
  fromLogits: KernelDispatch[];
  /** The dispatch lists of the two kinds of step, built once (the pacer learns each one's time). */
  forwardStep: readonly KernelDispatch[];
  samplingStep: readonly KernelDispatch[];
}

interface InFlight {
  step: SubmittedStep;
  staging: GPUBuffer;
  /** Alternatives in the step's log-probability result; null: no log-probabilities. */
  top: number | null;
  /** Whether the step fed a token (and so moved the state one position). */
  forward: boolean;
  neighbours?: { staging: GPUBuffer; k: number };
}

/** Where the next step starts from. */
interface Cursor {
  /** Whether it feeds the last sampled token first (false right after a prefill). */
  forward: boolean;
  /** The position that token is fed at. */
  position: number;
  /** Tokens of the context when it samples (its repetition history). */
  held: number;
  /** Tokens this call generated before the step (the penalties count them). */
  generated: number;
}

export class Decoder {
  private plan: DecodePlan | null = null;
  private readonly params: GPUBuffer;
  private readonly history: GPUBuffer;
  private readonly historyLength: number;
  private readonly staging: GPUBuffer[];
  private readonly processing: LogitProcessing;

  constructor(
    private readonly gpu: Gpu,
    contextLength: number,
  ) {
    this.params = createSamplingParamsBuffer(gpu);
    this.historyLength = Number.isFinite(contextLength) ? contextLength : RECURRENT_HISTORY;
    this.history = gpu.createStorage(this.historyLength * 4, "sampling.history");
    this.staging = Array.from({ length: LOOKAHEAD + 1 }, () => gpu.pool.acquire(STAGING_BYTES, READBACK_USAGE, "sampled-id"));
    this.processing = new LogitProcessing(gpu);
  }

  /** Frees the decode plan: the model (a growing memory was mixed in) or the state changed. */
  invalidate(): void {
    if (!this.plan) return;
    this.processing.invalidate();
    releaseDispatches(this.gpu, [...this.plan.fromForward, ...this.plan.fromLogits]);
    this.plan.forward.dispose();
    this.plan = null;
  }

  /** The decode plan, built on first use and then reused by every step and call. */
  private planFor(model: LanguageModel, state: ModelState, nextLogits: GPUBuffer): DecodePlan {
    if (!this.plan) {
      const forward = model.planForward(state, 1);
      const common = { N: model.info.vocabSize, params: this.params, history: this.history, out: forward.ids };
      const fromForward = sampleDispatches(this.gpu, { ...common, logits: forward.logits });
      const fromLogits = sampleDispatches(this.gpu, { ...common, logits: nextLogits });
      this.plan = { forward, fromForward, fromLogits, forwardStep: [...forward.dispatches, ...fromForward], samplingStep: fromLogits };
    }
    return this.plan;
  }

  /** The dispatches of a decode step that feeds a token (what `mnemo bench` counts and times); empty before the first decode. */
  get forwardStep(): readonly KernelDispatch[] {
    return this.plan?.forwardStep ?? [];
  }

  /**
   * Decodes up to `o.maxTokens` tokens, pushing each onto `host.context` (and moving the
   * state) as it is yielded. Stopping early (return, throw, abort) keeps what was yielded.
   */
  async *decode(host: DecodeHost, o: ResolvedGenerateOptions, constraint: GrammarConstraint | null = null, resume?: DecodeResumption): AsyncGenerator<DecodedToken> {
    const seeded = resume ? null : new SeededRandom(o.seed ?? SeededRandom.randomSeed());
    const random = () => (seeded ? seeded.next() : resume!.random());
    const contextLength = host.model.info.contextLength;
    // A grammar's next mask needs the token just sampled, so its steps do not overlap either.
    const ahead = host.memory || host.runner.profiling || constraint ? 0 : Math.min(host.lookahead, LOOKAHEAD);
    const inFlight: InFlight[] = [];
    let cursor = resume ? this.resumeAt(host) : this.start(host, 0);
    const variant = this.variantFor(host, o, !!constraint);
    let submitted = 0;
    try {
      for (let step = 0; step < o.maxTokens; ) {
        if (o.signal?.aborted) throw abortError(o.signal);
        host.guard();
        if (constraint?.done) return;
        while (submitted < o.maxTokens && submitted <= step + ahead && !(cursor.forward && cursor.position >= contextLength)) {
          if (constraint) this.processing.writeMask(await constraint.allowed());
          inFlight.push(this.submitStep(host, cursor, o, variant, random(), submitted % this.staging.length));
          cursor = { forward: true, position: cursor.forward ? cursor.position + 1 : cursor.position, held: cursor.held + 1, generated: cursor.generated + 1 };
          submitted++;
        }
        if (inFlight.length === 0) {
          // The next step needs a position past the context.
          if (o.overflow === "error") throw new MnemoError("CONTEXT_FULL", `The context of ${contextLength} tokens is full.`);
          await host.refill();
          cursor = this.start(host, cursor.generated);
          continue;
        }
        const done = inFlight.shift()!;
        const token = await this.read(host, done);
        if (done.forward) host.state.position += 1;
        host.context.push(token.id);
        constraint?.accept(token.id);
        step++;
        yield token;
      }
    } finally {
      await settle(this.gpu, inFlight);
    }
  }

  /** After a prefill: step 0 samples the kept logits; the history is the context so far. */
  private start(host: DecodeHost, generated: number): Cursor {
    this.planFor(host.model, host.state, host.nextLogits);
    this.gpu.write(this.history, Uint32Array.from(host.context.tokens.slice(-this.historyLength)));
    return { forward: false, position: host.state.position, held: host.context.length, generated };
  }

  /** In mid-generation: step 0 feeds the context's last token (written into the plan's input, where a sampled id would be). */
  private resumeAt(host: DecodeHost): Cursor {
    const cursor = this.start(host, 0);
    this.gpu.write(this.plan!.forward.ids, Uint32Array.of(host.context.tokens[host.context.length - 1]));
    return { ...cursor, forward: true };
  }

  /** The dispatches of the two kinds of step for these options (logit bias, penalties, log-probabilities). */
  private variantFor(host: DecodeHost, o: ResolvedGenerateOptions, masked: boolean): StepVariant {
    const plan = this.plan!;
    const wanted = processingOf(o, masked);
    if (!wanted) return { forwardStep: plan.forwardStep, samplingStep: plan.samplingStep, adjust: false, top: null };
    const N = host.model.info.vocabSize;
    const sampler = (logits: GPUBuffer) => sampleDispatches(this.gpu, { N, logits, params: this.params, history: this.history, out: plan.forward.ids });
    return this.processing.variant(wanted, o, {
      N,
      forward: plan.forward,
      nextLogits: host.nextLogits,
      forwardSampling: plan.fromForward,
      logitsSampling: plan.fromLogits,
      sampler,
    });
  }

  private submitStep(host: DecodeHost, at: Cursor, o: ResolvedGenerateOptions, variant: StepVariant, random: number, slot: number): InFlight {
    const gpu = this.gpu;
    const plan = this.plan!;
    writeSamplingParams(gpu, this.params, {
      temperature: o.temperature,
      topK: o.topK,
      topP: o.topP,
      repetitionPenalty: o.repetitionPenalty,
      historyLength: Math.min(at.held, this.historyLength),
      random,
    });
    if (at.forward) gpu.write(plan.forward.positions, Uint32Array.of(at.position));
    if (variant.adjust) this.processing.writePenalties(o, at.generated);
    // Only a growing memory needs the fed id on the CPU; it runs without lookahead, so the id is known.
    const fed = at.forward && host.memory ? [host.context.tokens[host.context.length - 1]] : null;
    const source = o.neighbours ? (at.forward ? plan.forward.neighbours : host.neighbours.prefillSource) : undefined;
    const staging = this.staging[slot];
    let neighbours: InFlight["neighbours"];
    const step = host.runner.submit({
      kind: "decode",
      tokens: at.forward ? 1 : 0,
      dispatches: at.forward ? variant.forwardStep : variant.samplingStep,
      before: (encoder) => fed && host.memory!.beforeForward(encoder, fed, 0),
      after: (encoder) => {
        if (fed && plan.forward.hidden) host.memory!.afterForward(encoder, plan.forward.hidden, fed, 0);
        encoder.copyBufferToBuffer(plan.forward.ids, 0, staging, 0, 4);
        // The sampled id joins the repetition history on the GPU (the last slot once it is full).
        encoder.copyBufferToBuffer(plan.forward.ids, 0, this.history, Math.min(at.held, this.historyLength - 1) * 4, 4);
        if (variant.adjust) this.processing.recordGenerated(encoder, plan.forward.ids, at.generated);
        if (variant.top !== null) this.processing.copyLogprobs(encoder, staging, 4, variant.top);
        if (source) neighbours = { staging: host.neighbours.copyOut(encoder, source, slot), k: source.k };
      },
    });
    return { step, staging, top: variant.top, forward: at.forward, neighbours };
  }

  private async read(host: DecodeHost, s: InFlight): Promise<DecodedToken> {
    const words = s.top === null ? 1 : 1 + logprobResultWords(s.top);
    const read = await host.runner.finish(
      s.step,
      host.runner.wait(s.step, () => mapU32(this.gpu, s.staging, words)),
    );
    const token: DecodedToken = { id: read[0] };
    if (s.top !== null) token.logprobs = decodeLogprobs(read.subarray(1), s.top);
    if (s.neighbours) token.neighbours = await host.neighbours.read(s.neighbours.staging, s.neighbours.k);
    return token;
  }

  dispose(): void {
    this.invalidate();
    this.processing.dispose();
    for (const b of [this.params, this.history, ...this.staging]) this.gpu.pool.release(b);
  }
}

/** Waits for steps that will not be kept, so their staging buffers are unmapped for the next call. */
async function settle(gpu: Gpu, steps: readonly InFlight[]): Promise<void> {
  for (const s of steps) {
    for (const b of [s.staging, s.neighbours?.staging]) {
      if (!b || gpu.isLost) continue;
      try {
        await gpu.track(b.mapAsync(MAP_READ));
        b.unmap();
      } catch {
        // The device was lost or the buffer destroyed: nothing is left to wait for.
      }
    }
  }
}
