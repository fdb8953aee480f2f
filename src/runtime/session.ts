// A session holds a model's memory (KV cache or recurrent state) between calls. Appending
// prefills only the new tokens; generate() continues from what the session remembers.
// Every decode step is one submit: forward, GPU sampling (the id is written straight into
// the next step's input), and a copy of the 4-byte id that the CPU maps and reads.
import { MnemoError, abortError, throwIfAborted } from "../errors.js";
import { encodeDispatches, releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { READBACK_USAGE } from "../gpu/device.js";
import { createSamplingParamsBuffer, sample, writeSamplingParams, type SamplingParams } from "../kernels/sample.js";
import type { ForwardPlan, LanguageModel, ModelState } from "../models/types.js";
import type { DispatchTiming, GpuProfiler } from "../gpu/profiler.js";
import { SeededRandom } from "./random.js";
import type { StateSnapshot } from "./snapshot.js";
import { finishChatTurn, planChatTurn, type ChatMessage, type ChatState } from "./chat.js";

/** Options of {@link Session.generate}. */
export interface GenerateOptions {
  /** Most tokens to generate (default 64). */
  maxTokens?: number;
  /** 0 (or `greedy`) picks the most likely token; default 1. */
  temperature?: number;
  greedy?: boolean;
  /** Keep the k most likely tokens (0: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). */
  topP?: number;
  /** > 1 discourages tokens already in the context (HF/CTRL rule). */
  repetitionPenalty?: number;
  /** Same seed, same tokens. */
  seed?: number;
  /** Stop when the text produced so far ends with one of these. */
  stop?: readonly string[];
  /** Stop at the end-of-sequence token (default true). */
  stopOnEos?: boolean;
  signal?: AbortSignal;
  /** "truncate" (default): drop the oldest tokens when the context is full; "error": CONTEXT_FULL. */
  overflow?: "truncate" | "error";
}

/** Options of {@link Session.chat}: those of generate(); `stop` defaults to the template's. */
export type ChatOptions = GenerateOptions;

/** One generated token. */
export interface GeneratedToken {
  id: number;
  /** The text this token completed (may be "" while a character spans tokens). */
  text: string;
}

/** Timings of the last generate() call, in milliseconds. */
export interface GenerationTimings {
  prefillMs: number;
  ttftMs: number;
  decodeMsPerToken: number;
  tokensPerSecond: number;
  promptTokens: number;
  generatedTokens: number;
}

/** How full the session's memory is. */
export interface SessionUsage {
  tokens: number;
  contextLength: number;
  stateBytes: number;
  bytesPerToken: number;
  droppedTokens: number;
}

/**
 * Context-overflow policy (documented): when the tokens to hold exceed the context, keep
 * the first `keepFirst` tokens (the system / first part) and the most recent tokens so the
 * total is half the context, and prefill them again (GPT-2 positions are absolute, so the
 * cache cannot simply slide).
 */
export interface OverflowPolicy {
  keepFirst: number;
}

const DEFAULT_POLICY: OverflowPolicy = { keepFirst: 0 };

/** One submitted step as the profiler sees it (CPU phases in ms, GPU timings when timed). */
export interface StepRecord {
  kind: "prefill" | "decode";
  /** Tokens the step fed. */
  tokens: number;
  /** performance.now() when recording began. */
  startMs: number;
  recordMs: number;
  submitMs: number;
  /** From submit until the result was readable on the CPU. */
  waitMs: number;
  gpu?: DispatchTiming[];
}

/**
 * Watches every step a session submits (bench, profile, the demo's kernel panel). With a
 * `profiler`, each dispatch gets GPU timestamps; each step then waits for its result. Without
 * an observer the session's hot path is unchanged.
 */
export interface StepObserver {
  profiler?: GpuProfiler;
  onStep(step: StepRecord): void;
  /** The observer a fork of the session gets (default: this one, shared). */
  fork?(): StepObserver;
  /** Called when the session is disposed (an observer the session owns frees its profiler). */
  dispose?(): void;
}

export class Session {
  private state: ModelState;
  /** Token ids the state holds, oldest first. */
  private context: number[] = [];
  private dropped = 0;
  private decodePlan: (ForwardPlan & { sampleDispatch: KernelDispatch }) | null = null;
  private readonly params: GPUBuffer;
  private readonly history: GPUBuffer;
  private readonly staging: GPUBuffer[];
  private busy = false;
  private disposed = false;
  /**
   * f32 [vocab]: the logits after the last token the state has consumed, valid while
   * `logitsValid` (every token of the context is in the state). Kept apart from any plan, so
   * snapshots and forks carry them and a recurrent state never has to be rewound.
   */
  private readonly nextLogits: GPUBuffer;
  private logitsValid = false;
  /** The conversation chat() has held in this session (null: none yet). */
  private conversation: ChatState | null = null;
  lastTimings: GenerationTimings | null = null;
  overflowPolicy: OverflowPolicy;

  constructor(
    readonly model: LanguageModel,
    readonly options: { cacheType?: "f32" | "f16"; overflowPolicy?: OverflowPolicy; observer?: StepObserver } = {},
  ) {
    const gpu = model.gpu;
    this.state = model.createState({ cacheType: options.cacheType });
    this.params = createSamplingParamsBuffer(gpu);
    this.nextLogits = gpu.createStorage(model.info.vocabSize * 4, "session.next-logits");
    const historyLen = Number.isFinite(model.info.contextLength) ? model.info.contextLength : 4096;
    this.history = gpu.createStorage(historyLen * 4, "sampling.history");
    this.staging = [0, 1].map(() => gpu.pool.acquire(4, READBACK_USAGE, "sampled-id"));
    this.overflowPolicy = options.overflowPolicy ?? DEFAULT_POLICY;
  }

  /** Tokens currently in the model's memory. */
  get tokens(): readonly number[] {
    return this.context;
  }

  usage(): SessionUsage {
    const ctx = this.model.info.contextLength;
    return {
      tokens: this.context.length,
      contextLength: ctx,
      stateBytes: this.state.bytes,
      bytesPerToken: Number.isFinite(ctx) ? this.state.bytes / ctx : 0,
      droppedTokens: this.dropped,
    };
  }

  private guard(): void {
    if (this.disposed) throw new MnemoError("DISPOSED", "This session was disposed.");
    this.model.gpu.assertAlive();
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.guard();
    if (this.busy) throw new MnemoError("BUSY", "This session is already generating; wait for it (or abort it) first.");
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private encodeText(input: string | readonly number[]): number[] {
    if (typeof input !== "string") {
      const V = this.model.info.vocabSize;
      input.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new MnemoError("BAD_INPUT", `Token ${i} (${id}) is outside the vocabulary (size ${V}).`);
      });
      return [...input];
    }
    return this.model.tokenizer.encode(input);
  }

  /** Feeds text or ids into the session's memory (prefill of the new tokens only). */
  append(input: string | readonly number[], opts: { signal?: AbortSignal; overflow?: "truncate" | "error" } = {}): Promise<void> {
    return this.exclusive(() => this.prefill(this.encodeText(input), opts));
  }

  /** Prefills `ids` in chunks, applying the overflow policy first if they do not fit. */
  private async prefill(ids: number[], opts: { signal?: AbortSignal; overflow?: "truncate" | "error" }): Promise<void> {
    // A token sampled last time is in the context but not yet in the cache: feed it first.
    ids = [...this.context.splice(this.state.position), ...ids];
    if (ids.length === 0) return;
    const ctx = this.model.info.contextLength;
    if (this.context.length + ids.length > ctx) {
      if (opts.overflow === "error") {
        throw new MnemoError("CONTEXT_FULL", `${this.context.length + ids.length} tokens do not fit the model's context of ${ctx}.`);
      }
      ids = this.shrinkContext(ids);
    }
    const gpu = this.model.gpu;
    const logitsBytes = this.model.info.vocabSize * 4;
    for (let at = 0; at < ids.length; at += this.model.maxChunk) {
      throwIfAborted(opts.signal);
      const chunk = ids.slice(at, at + this.model.maxChunk);
      const plan = this.model.planForward(this.state, chunk.length);
      try {
        gpu.write(plan.ids, Uint32Array.from(chunk));
        gpu.write(plan.positions, Uint32Array.from(chunk, (_, i) => this.state.position + i));
        const observer = this.options.observer;
        const t0 = performance.now();
        const encoder = gpu.device.createCommandEncoder({ label: "prefill" });
        encodeDispatches(encoder, plan.dispatches, observer?.profiler);
        encoder.copyBufferToBuffer(plan.logits, 0, this.nextLogits, 0, logitsBytes);
        observer?.profiler?.resolve(encoder);
        const t1 = performance.now();
        gpu.device.queue.submit([encoder.finish()]);
        if (observer) {
          const t2 = performance.now();
          await gpu.sync();
          const t3 = performance.now();
          const gpuTimes = observer.profiler ? await observer.profiler.collect() : undefined;
          observer.onStep({ kind: "prefill", tokens: chunk.length, startMs: t0, recordMs: t1 - t0, submitMs: t2 - t1, waitMs: t3 - t2, gpu: gpuTimes });
        }
      } finally {
        // Safe at once: later writes to these pooled buffers queue behind this submit.
        plan.dispose();
      }
      this.state.position += chunk.length;
      this.context.push(...chunk);
    }
    this.logitsValid = true;
    // Wait here so that an abort or a device loss surfaces from append(), not later.
    await gpu.sync();
  }

  /**
   * Applies the overflow policy: returns the ids to prefill after resetting the state to
   * the kept first part plus the most recent tokens (half the context in total).
   */
  private shrinkContext(incoming: number[]): number[] {
    const ctx = this.model.info.contextLength;
    const all = [...this.context, ...incoming];
    if (!Number.isFinite(ctx)) throw new MnemoError("INTERNAL", "A recurrent state has no context to shrink.");
    const keepFirst = Math.min(this.overflowPolicy.keepFirst, Math.floor(ctx / 4));
    const keepTotal = Math.max(1, Math.floor(ctx / 2));
    const recent = all.slice(all.length - (keepTotal - keepFirst));
    const kept = [...all.slice(0, keepFirst), ...recent];
    this.dropped += all.length - kept.length;
    this.state.clear();
    this.context = [];
    this.logitsValid = false;
    this.releaseDecodePlan();
    return kept;
  }

  private releaseDecodePlan(): void {
    if (!this.decodePlan) return;
    releaseDispatches(this.model.gpu, [this.decodePlan.sampleDispatch]);
    this.decodePlan.dispose();
    this.decodePlan = null;
  }

  private getDecodePlan(): ForwardPlan & { sampleDispatch: KernelDispatch } {
    if (!this.decodePlan) {
      const plan = this.model.planForward(this.state, 1);
      const sampleDispatch = sample(this.model.gpu, {
        logits: plan.logits,
        N: this.model.info.vocabSize,
        params: this.params,
        history: this.history,
        out: plan.ids,
      });
      this.decodePlan = Object.assign(plan, { sampleDispatch });
    }
    return this.decodePlan;
  }

  private samplingParams(o: GenerateOptions, random: number): SamplingParams {
    const greedy = o.greedy || (o.temperature ?? 1) <= 0;
    return {
      temperature: greedy ? 0 : o.temperature ?? 1,
      topK: o.topK ?? 0,
      topP: o.topP ?? 1,
      repetitionPenalty: o.repetitionPenalty ?? 1,
      historyLength: Math.min(this.context.length, this.history.size / 4),
      random,
    };
  }

  /** Submits `dispatches` plus sampling from `logits` into the decode input, and reads the id. */
  private async sampleStep(
    forward: readonly KernelDispatch[],
    sampleDispatch: KernelDispatch,
    decodeIds: GPUBuffer,
    params: SamplingParams,
    slot: number,
  ): Promise<number> {
    const gpu = this.model.gpu;
    writeSamplingParams(gpu, this.params, params);
    const observer = this.options.observer;
    const t0 = observer ? performance.now() : 0;
    const encoder = gpu.device.createCommandEncoder({ label: "decode-step" });
    encodeDispatches(encoder, [...forward, sampleDispatch], observer?.profiler);
    const staging = this.staging[slot % this.staging.length];
    encoder.copyBufferToBuffer(decodeIds, 0, staging, 0, 4);
    observer?.profiler?.resolve(encoder);
    const t1 = observer ? performance.now() : 0;
    gpu.device.queue.submit([encoder.finish()]);
    const t2 = observer ? performance.now() : 0;
    await gpu.track(staging.mapAsync(0x0001 /* GPUMapMode.READ */));
    const id = new Uint32Array(staging.getMappedRange(0, 4))[0];
    staging.unmap();
    if (observer) {
      const t3 = performance.now();
      const gpuTimes = observer.profiler ? await observer.profiler.collect() : undefined;
      observer.onStep({ kind: "decode", tokens: forward.length ? 1 : 0, startMs: t0, recordMs: t1 - t0, submitMs: t2 - t1, waitMs: t3 - t2, gpu: gpuTimes });
    }
    return id;
  }

  /**
   * Appends `prompt` (if any) and generates up to `maxTokens` tokens as an async iterator.
   * Breaking out of the loop or aborting the signal stops generation; the session keeps
   * every token that was produced.
   */
  generate(prompt: string | readonly number[] | null, opts: GenerateOptions = {}): AsyncGenerator<GeneratedToken> {
    this.guard();
    return this.run(prompt, opts);
  }

  /**
   * One chat turn: `messages` (usually one user message) join the conversation the session
   * remembers; the whole conversation is rendered with the model's chat template (or
   * {@link DEFAULT_CHAT_TEMPLATE}) and only the text after what the session already holds is
   * prefilled; the reply streams like generate() and is remembered as an assistant message.
   * Text appended to the session before the first turn stays in its memory as a preamble.
   */
  chat(messages: readonly ChatMessage[], opts: ChatOptions = {}): AsyncGenerator<GeneratedToken> {
    this.guard();
    if (!Array.isArray(messages)) throw new MnemoError("BAD_INPUT", "chat() takes an array of { role, content } messages.");
    return this.runChat(messages, opts);
  }

  /** The conversation so far (chat() turns and their replies), oldest first. */
  get messages(): readonly ChatMessage[] {
    return this.conversation?.messages ?? [];
  }

  private async *runChat(added: readonly ChatMessage[], opts: ChatOptions): AsyncGenerator<GeneratedToken> {
    if (this.busy) throw new MnemoError("BUSY", "This session is already generating; wait for it (or abort it) first.");
    const turn = planChatTurn(this.conversation, added, this.model.tokenizer.chat ?? {});
    if (turn.restart) this.reset();
    const stop = opts.stop ?? turn.stop;
    const heldBefore = this.context.length + this.dropped;
    let reply = "";
    try {
      for await (const t of this.run(turn.feed, { ...opts, stop })) {
        reply += t.text;
        yield t;
      }
    } finally {
      // Whatever reached the session's memory (even a reply cut short) stays in the conversation.
      if (this.context.length + this.dropped !== heldBefore) this.conversation = finishChatTurn(turn, reply, stop);
    }
  }

  private async *run(prompt: string | readonly number[] | null, opts: GenerateOptions): AsyncGenerator<GeneratedToken> {
    if (this.busy) throw new MnemoError("BUSY", "This session is already generating; wait for it (or abort it) first.");
    this.busy = true;
    const gpu = this.model.gpu;
    const signal = opts.signal;
    const maxTokens = opts.maxTokens ?? 64;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new MnemoError("BAD_INPUT", `maxTokens must be a non-negative integer, got ${maxTokens}.`);
    const rng = new SeededRandom(opts.seed ?? SeededRandom.randomSeed());
    const decoder = this.model.tokenizer.createStreamDecoder();
    const stopOnEos = opts.stopOnEos ?? true;
    const eos = this.model.tokenizer.eosId;
    const t0 = performance.now();
    let prefillMs = 0;
    let ttft = 0;
    let produced = 0;
    let promptTokens = 0;
    let text = "";
    let logitsSample: KernelDispatch | null = null;
    try {
      const ids = prompt === null ? [] : this.encodeText(prompt);
      promptTokens = ids.length;
      if (ids.length === 0 && this.context.length === 0) {
        throw new MnemoError("BAD_INPUT", "Nothing to continue from: give a prompt (the session is empty).");
      }
      await this.prefill(ids, { signal, overflow: opts.overflow });
      if (!this.logitsValid) await this.recomputeNextLogits(signal);
      prefillMs = performance.now() - t0;
      const decode = this.getDecodePlan();
      // History for the repetition penalty: the context so far.
      gpu.write(this.history, Uint32Array.from(this.context.slice(-(this.history.size / 4))));
      let forward: readonly KernelDispatch[] = [];
      logitsSample = sample(gpu, { logits: this.nextLogits, N: this.model.info.vocabSize, params: this.params, history: this.history, out: decode.ids });
      for (let step = 0; step < maxTokens; step++) {
        if (signal?.aborted) throw abortError(signal);
        if (step > 0) {
          // The sampled id is already in decode.ids; only its position is new.
          if (this.state.position >= this.model.info.contextLength) {
            if (opts.overflow === "error") throw new MnemoError("CONTEXT_FULL", `The context of ${this.model.info.contextLength} tokens is full.`);
            await this.prefill(this.shrinkContext([]), { signal });
            const again = this.getDecodePlan();
            releaseDispatches(gpu, [logitsSample!]);
            logitsSample = sample(gpu, { logits: this.nextLogits, N: this.model.info.vocabSize, params: this.params, history: this.history, out: again.ids });
            forward = [];
            gpu.write(this.history, Uint32Array.from(this.context.slice(-(this.history.size / 4))));
          } else {
            gpu.write(decode.positions, Uint32Array.of(this.state.position));
          }
        }
        const plan = this.getDecodePlan();
        const sampler = forward.length ? plan.sampleDispatch : logitsSample!;
        const id = await this.sampleStep(forward, sampler, plan.ids, this.samplingParams(opts, rng.next()), step);
        if (forward.length) {
          this.state.position += 1;
        }
        forward = plan.dispatches;
        this.logitsValid = false;
        // The sampled token is now the last of the context; the decode plan consumes it next.
        this.context.push(id);
        gpu.write(this.history, Uint32Array.of(id), Math.min(this.context.length - 1, this.history.size / 4 - 1) * 4);
        produced++;
        if (produced === 1) ttft = performance.now() - t0;
        if (stopOnEos && id === eos) break;
        const piece = decoder.push(id);
        text += piece;
        yield { id, text: piece };
        if (opts.stop?.some((s) => s.length > 0 && text.endsWith(s))) break;
      }
      // The last sampled token stays in the context, not yet in the cache (the next call
      // feeds it first).
    } finally {
      if (logitsSample && !gpu.isLost) releaseDispatches(gpu, [logitsSample]);
      this.busy = false;
      const total = performance.now() - t0;
      const decodeMs = produced > 1 ? (total - ttft) / (produced - 1) : 0;
      this.lastTimings = {
        prefillMs,
        ttftMs: ttft,
        decodeMsPerToken: decodeMs,
        tokensPerSecond: decodeMs > 0 ? 1000 / decodeMs : 0,
        promptTokens,
        generatedTokens: produced,
      };
    }
  }

  /**
   * The logits for the token after the context: what the next generate() samples from.
   * After a generate() call, the last sampled token is fed first.
   */
  async nextTokenLogits(): Promise<Float32Array> {
    return this.exclusive(async () => {
      if (this.context.length === 0) throw new MnemoError("BAD_INPUT", "The session is empty: append something first.");
      await this.prefill([], {});
      if (!this.logitsValid) await this.recomputeNextLogits();
      return this.model.gpu.readF32(this.nextLogits, this.model.info.vocabSize);
    });
  }

  /**
   * Recomputes the next-token logits when the state holds every token but the logits were
   * not kept (a snapshot written without them): a KV cache re-feeds its last token; a
   * recurrent state cannot be rewound, so that is refused.
   */
  private async recomputeNextLogits(signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(this.model.info.contextLength)) {
      throw new MnemoError("BAD_INPUT", "This recurrent session has no next-token logits (a snapshot saved without them); append text to continue.");
    }
    this.state.position -= 1;
    await this.prefill([], { signal });
  }

  /** Forgets everything. */
  reset(): void {
    this.guard();
    if (this.busy) throw new MnemoError("BUSY", "Cannot reset while generating.");
    this.state.clear();
    this.context = [];
    this.dropped = 0;
    this.logitsValid = false;
    this.conversation = null;
  }

  /** A serialisable copy of the session's memory (GPU → CPU). */
  async snapshot(): Promise<StateSnapshot> {
    return this.exclusive(async () => {
      // Tokens beyond the cache (the last sampled one) travel as context and are re-fed.
      const V = this.model.info.vocabSize;
      return {
        modelFingerprint: this.model.info.fingerprint,
        kind: this.model.info.type === "lstm" ? "recurrent" : "kv-cache",
        tokens: [...this.context],
        droppedTokens: this.dropped,
        tensors: await this.state.read(),
        position: this.state.position,
        nextLogits: this.logitsValid ? await this.model.gpu.readF32(this.nextLogits, V) : undefined,
        chat: this.conversation ? structuredClone(this.conversation) : undefined,
      };
    });
  }

  /** Restores a snapshot taken from the same model. */
  async restore(s: StateSnapshot): Promise<void> {
    return this.exclusive(async () => {
      if (s.modelFingerprint !== this.model.info.fingerprint) {
        throw new MnemoError("BAD_INPUT", "This snapshot was taken from a different model (fingerprints differ); it cannot be restored here.");
      }
      const V = this.model.info.vocabSize;
      if (s.nextLogits && s.nextLogits.length !== V) {
        throw new MnemoError("SHAPE_MISMATCH", `The snapshot's next-token logits have ${s.nextLogits.length} entries, this model's vocabulary ${V}.`);
      }
      this.state.write(s.tensors, s.position);
      this.context = [...s.tokens];
      this.dropped = s.droppedTokens;
      this.logitsValid = !!s.nextLogits && s.position === s.tokens.length;
      if (this.logitsValid) this.model.gpu.write(this.nextLogits, s.nextLogits!);
      this.conversation = s.chat ? structuredClone(s.chat) : null;
      this.releaseDecodePlan();
    });
  }

  /** A second session with a copy of this one's memory; the two then diverge. */
  async fork(): Promise<Session> {
    return this.exclusive(async () => {
      const observer = this.options.observer;
      const other = new Session(this.model, { ...this.options, observer: observer?.fork ? observer.fork() : observer });
      const gpu = this.model.gpu;
      const encoder = gpu.device.createCommandEncoder({ label: "fork" });
      this.state.copyTo(encoder, other.state);
      encoder.copyBufferToBuffer(this.nextLogits, 0, other.nextLogits, 0, this.model.info.vocabSize * 4);
      gpu.device.queue.submit([encoder.finish()]);
      other.context = [...this.context];
      other.dropped = this.dropped;
      other.logitsValid = this.logitsValid;
      other.conversation = this.conversation && structuredClone(this.conversation);
      await gpu.sync();
      return other;
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const gpu = this.model.gpu;
    this.releaseDecodePlan();
    this.state.dispose();
    if (!gpu.isLost) this.options.observer?.dispose?.();
    if (!gpu.isLost) {
      gpu.pool.release(this.nextLogits);
      gpu.pool.release(this.params);
      gpu.pool.release(this.history);
      for (const s of this.staging) gpu.pool.release(s);
    }
  }
}
