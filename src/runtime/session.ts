// A session holds a model's memory (KV cache or recurrent state) between calls. Appending
// prefills only the new tokens; generate() continues from what the session remembers. This
// file is the public facade: it checks options, takes the busy lock (in one place, after
// every check) and streams tokens; SessionState holds and changes the memory, Decoder runs
// the decode steps.
import { MnemoError } from "../errors.js";
import type { LanguageModel } from "../models/types.js";
import { finishChatTurn, planChatTurn, type ChatMessage } from "./chat.js";
import { resolveGenerateOptions, type ResolvedGenerateOptions } from "./generate-options.js";
import { SessionState, type SessionSetup } from "./session-state.js";
import { speculationRefusal } from "./speculative.js";
import { GrammarConstraint } from "./constraint.js";
import type { StateSnapshot } from "./snapshot.js";
import type { ChatOptions, GenerateOptions, GeneratedToken, GenerationTimings, GrowingMemoryUsage, OverflowPolicy, SessionUsage } from "./types.js";

/**
 * A model's memory (its KV cache or recurrent state) kept between calls: generate() and
 * chat() continue from what it holds, and snapshot(), restore(), fork() and reset() manage
 * it. One call at a time per session (a second one gets BUSY); sessions of one model run
 * independently.
 */
export class Session {
  private readonly held: SessionState;
  private busy = false;
  /** Timings of the last generate() or chat() call (null before the first). */
  lastTimings: GenerationTimings | null = null;

  /** @internal Sessions come from `model.session()`. */
  constructor(
    /** @internal The model without the session's growing memory. */
    readonly baseModel: LanguageModel,
    /** @internal */
    readonly options: SessionSetup = {},
  ) {
    this.held = new SessionState(baseModel, options);
  }

  /** What happens when the context fills up; may be changed between calls. */
  get overflowPolicy(): OverflowPolicy {
    return this.held.overflowPolicy;
  }

  /** Replaces the overflow policy for later calls. */
  set overflowPolicy(policy: OverflowPolicy) {
    this.held.overflowPolicy = policy;
  }

  /** @internal The model the session runs: with its growing memory mixed in, once created. */
  get model(): LanguageModel {
    return this.held.model;
  }

  /** @internal The memory and its machinery (tests count plans and steps through it). */
  get internals(): SessionState {
    return this.held;
  }

  /** The session's growing memory, when it has one (created by the first call that reads text). */
  get growingMemory(): GrowingMemoryUsage | null {
    const s = this.held.memory?.store;
    return s ? { entries: s.count, appended: s.totalAppended, capacity: s.capacity } : null;
  }

  /** Tokens currently in the model's memory. */
  get tokens(): readonly number[] {
    return this.held.context.tokens;
  }

  /** The conversation so far (chat() turns and their replies), oldest first. */
  get messages(): readonly ChatMessage[] {
    return this.held.conversation?.messages ?? [];
  }

  /** How full the session's memory is. */
  usage(): SessionUsage {
    const ctx = this.model.info.contextLength;
    const bytes = this.held.state.bytes;
    return { tokens: this.tokens.length, contextLength: ctx, stateBytes: bytes, bytesPerToken: Number.isFinite(ctx) ? bytes / ctx : 0, droppedTokens: this.held.context.dropped };
  }

  /** Takes the busy lock for `fn`; every argument must have been checked before. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.lock();
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private lock(): void {
    this.held.guard();
    if (this.busy) throw new MnemoError("BUSY", "This session is already generating; wait for it (or abort it) first.");
    this.busy = true;
  }

  private encodeText(input: string | readonly number[]): number[] {
    if (typeof input === "string") return this.model.tokenizer.encode(input);
    if (!Array.isArray(input)) throw new MnemoError("BAD_INPUT", "Input must be a string or an array of token ids.");
    const V = this.model.info.vocabSize;
    input.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new MnemoError("BAD_INPUT", `Token ${i} (${id}) is outside the vocabulary (size ${V}).`);
    });
    return [...input];
  }

  /** Feeds text or ids into the session's memory (prefill of the new tokens only). */
  append(input: string | readonly number[], opts: { signal?: AbortSignal; overflow?: "truncate" | "error" } = {}): Promise<void> {
    return this.exclusive(() => this.held.prefill(this.encodeText(input), opts));
  }

  /**
   * Appends `prompt` (if any) and generates up to `maxTokens` tokens as an async iterator.
   * Breaking out of the loop or aborting the signal stops generation; the session keeps
   * every token that was produced. Options are checked here, before anything changes.
   */
  generate(prompt: string | readonly number[] | null, opts: GenerateOptions = {}): AsyncGenerator<GeneratedToken> {
    this.held.guard();
    const resolved = this.resolve(opts);
    const ids = prompt === null ? [] : this.encodeText(prompt);
    if (ids.length === 0 && this.tokens.length === 0) throw new MnemoError("BAD_INPUT", "Nothing to continue from: give a prompt (the session is empty).");
    return this.run(ids, resolved);
  }

  /**
   * One chat turn: `messages` (usually one user message) join the conversation the session
   * remembers; the whole conversation is rendered with the model's chat template (or
   * {@link DEFAULT_CHAT_TEMPLATE}) and only the text after what the session already holds is
   * prefilled; the reply streams like generate() and is remembered as an assistant message.
   * Text appended to the session before the first turn stays in its memory as a preamble.
   */
  chat(messages: readonly ChatMessage[], opts: ChatOptions = {}): AsyncGenerator<GeneratedToken> {
    this.held.guard();
    if (!Array.isArray(messages)) throw new MnemoError("BAD_INPUT", "chat() takes an array of { role, content } messages.");
    const resolved = this.resolve(opts);
    return this.runChat(messages, resolved, opts.stop);
  }

  /** Checks the options, and whether this session can speculate with them. */
  private resolve(opts: GenerateOptions): ResolvedGenerateOptions {
    const o = resolveGenerateOptions(opts);
    const V = this.model.info.vocabSize;
    const outside = o.logitBias.find(([id]) => id >= V);
    if (outside) throw new MnemoError("BAD_INPUT", `logitBias: token ${outside[0]} is outside the vocabulary (size ${V}).`);
    const refusal = o.speculate && speculationRefusal(this.model, o, !!this.options.growingMemory);
    if (refusal) throw new MnemoError("BAD_INPUT", `speculate: ${refusal}.`);
    return o;
  }

  private async *runChat(added: readonly ChatMessage[], o: ResolvedGenerateOptions, stopOption: readonly string[] | undefined): AsyncGenerator<GeneratedToken> {
    if (this.busy) throw new MnemoError("BUSY", "This session is already generating; wait for it (or abort it) first.");
    const turn = planChatTurn(this.held.conversation, added, this.model.tokenizer.chat ?? {});
    if (turn.restart) this.reset();
    const stop = stopOption ?? turn.stop;
    const heldBefore = this.tokens.length + this.held.context.dropped;
    let reply = "";
    try {
      for await (const t of this.run(this.model.tokenizer.encode(turn.feed), { ...o, stop })) {
        reply += t.text;
        yield t;
      }
    } finally {
      // Whatever reached the session's memory (even a reply cut short) stays in the conversation.
      if (this.tokens.length + this.held.context.dropped !== heldBefore) this.held.conversation = finishChatTurn(turn, reply, stop);
    }
  }

  private async *run(ids: readonly number[], o: ResolvedGenerateOptions): AsyncGenerator<GeneratedToken> {
    this.lock();
    const held = this.held;
    const stream = this.model.tokenizer.createStreamDecoder();
    const eos = this.model.tokenizer.eosId;
    const timing = { t0: performance.now(), prefillMs: 0, ttftMs: 0, produced: 0 };
    let text = "";
    let constraint: GrammarConstraint | null = null;
    try {
      constraint = o.constraint && (await GrammarConstraint.create(this.model.tokenizer, this.model.info.vocabSize, o.constraint));
      await held.prefill(ids, { signal: o.signal, overflow: o.overflow });
      if (!held.logitsValid) await held.recomputeNextLogits(o.signal);
      timing.prefillMs = performance.now() - timing.t0;
      const tokens = o.speculate ? held.speculator.decode(held, o, o.speculate) : held.decoder.decode(held, o, constraint);
      for await (const { id, neighbours, drafted, logprobs } of tokens) {
        held.logitsValid = false;
        if (++timing.produced === 1) timing.ttftMs = performance.now() - timing.t0;
        if (o.stopOnEos && id === eos) break;
        const piece = stream.push(id);
        text += piece;
        const token: GeneratedToken = o.neighbours ? { id, text: piece, neighbours: neighbours ?? [] } : { id, text: piece };
        if (o.speculate) token.drafted = !!drafted;
        if (logprobs) {
          token.logprob = logprobs.logprob;
          if (o.logprobs) token.topLogprobs = logprobs.top.map((t) => ({ id: t.id, text: this.model.tokenizer.decode([t.id]), logprob: t.logprob }));
        }
        yield token;
        if (o.stop.some((s) => s.length > 0 && text.endsWith(s))) break;
      }
      // The last sampled token stays in the context, not yet in the state (the next call feeds it first).
    } finally {
      this.busy = false;
      constraint?.dispose();
      this.lastTimings = generationTimings(timing, ids.length);
      if (constraint) this.lastTimings.constraint = { masks: constraint.cost.masks, maskMsPerStep: constraint.cost.masks > 0 ? constraint.cost.ms / constraint.cost.masks : 0 };
      if (o.speculate) this.lastTimings.speculation = { ...held.speculator.stats };
    }
  }

  /**
   * The logits for the token after the context: what the next generate() samples from.
   * After a generate() call, the last sampled token is fed first.
   */
  async nextTokenLogits(): Promise<Float32Array> {
    if (this.tokens.length === 0) throw new MnemoError("BAD_INPUT", "The session is empty: append something first.");
    return this.exclusive(async () => {
      await this.held.prefill([], {});
      if (!this.held.logitsValid) await this.held.recomputeNextLogits();
      return this.model.gpu.readF32(this.held.nextLogits, this.model.info.vocabSize);
    });
  }

  /** Forgets everything. */
  reset(): void {
    this.held.guard();
    if (this.busy) throw new MnemoError("BUSY", "Cannot reset while generating.");
    this.held.reset();
  }

  /** A serialisable copy of the session's memory (GPU → CPU, one submit and one map). */
  snapshot(): Promise<StateSnapshot> {
    return this.exclusive(() => this.held.snapshot());
  }

  /** Restores a snapshot taken from the same model. */
  restore(s: StateSnapshot): Promise<void> {
    return this.exclusive(() => this.held.restore(s));
  }

  /** A second session with a copy of this one's memory; the two then diverge. */
  fork(): Promise<Session> {
    return this.exclusive(async () => {
      const observer = this.options.observer;
      const other = new Session(this.baseModel, { ...this.options, observer: observer?.fork ? observer.fork() : observer });
      await this.held.copyTo(other.held);
      return other;
    });
  }

  /** Frees the session's GPU memory; later calls fail with DISPOSED. Safe to call twice. */
  dispose(): void {
    this.held.dispose();
  }
}

function generationTimings(t: { t0: number; prefillMs: number; ttftMs: number; produced: number }, promptTokens: number): GenerationTimings {
  const total = performance.now() - t.t0;
  const decodeMs = t.produced > 1 ? (total - t.ttftMs) / (t.produced - 1) : 0;
  return { prefillMs: t.prefillMs, ttftMs: t.ttftMs, decodeMsPerToken: decodeMs, tokensPerSecond: decodeMs > 0 ? 1000 / decodeMs : 0, promptTokens, generatedTokens: t.produced };
}
