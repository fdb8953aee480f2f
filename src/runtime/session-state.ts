// Everything a session remembers — the model's state (KV cache or recurrent state), the
// tokens it holds, the next-token logits, a growing memory — and the operations that change
// it: prefill, overflow, snapshot, restore, fork. The Session facade adds the busy lock and
// generation on top.
import { MnemoError, throwIfAborted } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { readAll } from "../gpu/readback.js";
import type { LanguageModel, ModelState } from "../models/types.js";
import type { ChatState } from "./chat.js";
import { ContextWindow } from "./context-window.js";
import { Decoder, LOOKAHEAD, type DecodeHost } from "./decoder.js";
import { NeighbourReadback } from "./neighbours.js";
import { PlanCache } from "./plan-cache.js";
import { SessionMemory, type GrowingMemoryOptions } from "./session-memory.js";
import { SpeculativeDecoder } from "./speculative.js";
import type { StateSnapshot } from "./snapshot.js";
import { StepRunner, feedPlan, type SubmittedStep } from "./step-runner.js";
import type { OverflowPolicy, StepObserver } from "./types.js";

/** How a session is set up (`model.session()` fills it). */
export interface SessionSetup {
  cacheType?: "f32" | "f16";
  overflowPolicy?: OverflowPolicy;
  observer?: StepObserver;
  growingMemory?: GrowingMemoryOptions;
  /** @internal Decode steps submitted ahead of the one being read (default LOOKAHEAD; 0 for one by one). */
  lookahead?: number;
}

export interface PrefillOptions {
  signal?: AbortSignal;
  overflow?: "truncate" | "error";
}

export class SessionState implements DecodeHost {
  readonly state: ModelState;
  readonly context: ContextWindow;
  readonly runner: StepRunner;
  readonly neighbours: NeighbourReadback;
  readonly decoder: Decoder;
  /**
   * f32 [vocab]: the logits after the last token the state has consumed, valid while
   * `logitsValid`. Kept apart from any plan, so snapshots and forks carry them and a
   * recurrent state never has to be rewound.
   */
  readonly nextLogits: GPUBuffer;
  readonly lookahead: number;
  logitsValid = false;
  /** The conversation chat() has held (null: none yet). */
  conversation: ChatState | null = null;
  overflowPolicy: OverflowPolicy;
  /** The growing memory (setup.growingMemory), created before the first forward. */
  memory: SessionMemory | null = null;
  private plans: PlanCache;
  private speculating: SpeculativeDecoder | null = null;
  private disposed = false;

  constructor(
    readonly baseModel: LanguageModel,
    readonly setup: SessionSetup,
  ) {
    const gpu = baseModel.gpu;
    this.state = baseModel.createState({ cacheType: setup.cacheType });
    this.context = new ContextWindow(baseModel.info.contextLength);
    this.runner = new StepRunner(gpu, setup.observer);
    this.neighbours = new NeighbourReadback(gpu, LOOKAHEAD + 1);
    this.decoder = new Decoder(gpu, baseModel.info.contextLength);
    this.nextLogits = gpu.createStorage(baseModel.info.vocabSize * 4, "session.next-logits");
    this.plans = new PlanCache(baseModel, this.state);
    this.overflowPolicy = setup.overflowPolicy ?? { keepFirst: 0 };
    this.lookahead = setup.lookahead ?? LOOKAHEAD;
  }

  /** The model the session runs: with its growing memory mixed in, once created. */
  get model(): LanguageModel {
    return this.memory?.model ?? this.baseModel;
  }

  get gpu(): Gpu {
    return this.baseModel.gpu;
  }

  /** The speculative decoder, created by the first call that speculates. */
  get speculator(): SpeculativeDecoder {
    this.speculating ??= new SpeculativeDecoder(this.gpu, this.baseModel.info.contextLength, this.decoder);
    return this.speculating;
  }

  /** Plans built for prefill so far (the tests check that a repeated chunk length reuses one). */
  get plansBuilt(): number {
    return this.plans.built;
  }

  guard(): void {
    if (this.disposed) throw new MnemoError("DISPOSED", "This session was disposed.");
    if (this.model.isDisposed) throw new MnemoError("DISPOSED", "The model of this session was disposed; load it again.");
    this.gpu.assertAlive();
  }

  /** Creates the growing memory on first use; plans built without it are dropped. */
  private async ensureMemory(): Promise<void> {
    if (this.memory || !this.setup.growingMemory) return;
    this.memory = await SessionMemory.create(this.baseModel, this.setup.growingMemory);
    this.plans.clear();
    this.plans = new PlanCache(this.model, this.state);
    this.decoder.invalidate();
    this.speculating?.invalidate();
  }

  /** Feeds `ids` (after any held token the state has not consumed), in chunks of maxChunk. */
  async prefill(ids: readonly number[], opts: PrefillOptions, replayed = 0): Promise<void> {
    await this.ensureMemory();
    if (!this.context.fits(ids.length) && opts.overflow === "error") {
      throw new MnemoError("CONTEXT_FULL", `${this.context.length + ids.length} tokens do not fit the model's context of ${this.context.capacity}.`);
    }
    let feed = [...this.context.unfed(this.state.position), ...ids];
    if (feed.length === 0) return;
    this.context.truncate(this.state.position);
    if (!this.context.fits(feed.length)) ({ kept: feed, replayed } = this.shrink(feed));
    const model = this.model;
    let last: SubmittedStep | undefined;
    for (let at = 0; at < feed.length; at += model.maxChunk) {
      throwIfAborted(opts.signal);
      const chunk = feed.slice(at, at + model.maxChunk);
      const plan = this.plans.get(chunk.length);
      const chunkReplayed = Math.min(chunk.length, Math.max(0, replayed - at));
      feedPlan(this.gpu, plan, chunk, this.state.position);
      last = await this.runner.run({
        kind: "prefill",
        tokens: chunk.length,
        dispatches: plan.dispatches,
        before: (encoder) => this.memory?.beforeForward(encoder, chunk, chunkReplayed),
        after: (encoder) => {
          encoder.copyBufferToBuffer(plan.logits, 0, this.nextLogits, 0, model.info.vocabSize * 4);
          this.neighbours.keep(encoder, plan.neighbours);
        },
      });
      // The chunk's rows join the memory after its forward, whose rows must not search them.
      if (this.memory && plan.hidden) this.memory.afterSubmittedForward(plan.hidden, chunk, chunkReplayed);
      this.state.position += chunk.length;
      this.context.push(...chunk);
    }
    this.logitsValid = true;
    // Wait here so that an abort or a device loss surfaces from this call, not later.
    if (last) await this.runner.settle(last);
  }

  /** Applies the overflow policy to the held tokens plus `incoming`; the state starts empty. */
  private shrink(incoming: readonly number[]): { kept: number[]; replayed: number } {
    const plan = this.context.shrink(incoming, this.state.position, this.overflowPolicy);
    this.state.clear();
    this.logitsValid = false;
    return plan;
  }

  /** The decode loop hit the end of the context: keep what the policy keeps and feed it again. */
  async refill(): Promise<void> {
    const { kept, replayed } = this.shrink([]);
    await this.prefill(kept, {}, replayed);
  }

  /**
   * Recomputes the next-token logits when the state holds every token but the logits were
   * not kept (a snapshot saved without them): a KV cache re-feeds its last token; a
   * recurrent state cannot be rewound, so that is refused.
   */
  async recomputeNextLogits(signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(this.model.info.contextLength)) {
      throw new MnemoError("BAD_INPUT", "This recurrent session has no next-token logits (a snapshot saved without them); append text to continue.");
    }
    this.state.position -= 1;
    await this.prefill([], { signal });
  }

  reset(): void {
    this.state.clear();
    this.context.clear();
    this.logitsValid = false;
    this.neighbours.forget();
    this.conversation = null;
    this.memory?.clear();
  }

  /** Everything the session remembers, read in one submit and one map. */
  async snapshot(): Promise<StateSnapshot> {
    const model = this.model;
    const V = model.info.vocabSize;
    const logits = {
      regions: this.logitsValid ? [{ buffer: this.nextLogits, offset: 0, size: V * 4 }] : [],
      decode: (p: readonly Uint8Array[]) => (p.length ? new Float32Array(p[0].slice().buffer) : undefined),
    };
    const none = { regions: [], decode: () => undefined };
    const [tensors, nextLogits, growingMemory] = await readAll(this.gpu, [this.state.readout(), logits, this.memory?.readout() ?? none]);
    return {
      modelFingerprint: model.info.fingerprint,
      kind: model.info.type === "gpt2" ? "kv-cache" : "recurrent",
      // Tokens beyond the state (the last sampled one) travel as context and are re-fed.
      tokens: [...this.context.tokens],
      droppedTokens: this.context.dropped,
      tensors,
      position: this.state.position,
      nextLogits,
      chat: this.conversation ? structuredClone(this.conversation) : undefined,
      growingMemory,
    };
  }

  async restore(s: StateSnapshot): Promise<void> {
    const model = this.model;
    if (s.modelFingerprint !== model.info.fingerprint) {
      throw new MnemoError("BAD_INPUT", "This snapshot was taken from a different model (fingerprints differ); it cannot be restored here.");
    }
    const V = model.info.vocabSize;
    if (s.nextLogits && s.nextLogits.length !== V) {
      throw new MnemoError("SHAPE_MISMATCH", `The snapshot's next-token logits have ${s.nextLogits.length} entries, this model's vocabulary ${V}.`);
    }
    this.state.write(s.tensors, s.position);
    await this.ensureMemory();
    if (this.memory && s.growingMemory) this.memory.write(s.growingMemory);
    else this.memory?.clear();
    this.context.assign(s.tokens, s.droppedTokens);
    this.logitsValid = !!s.nextLogits && s.position === s.tokens.length;
    this.neighbours.forget();
    if (this.logitsValid) this.gpu.write(this.nextLogits, s.nextLogits!);
    this.conversation = s.chat ? structuredClone(s.chat) : null;
  }

  /** Copies everything into `other` (a fresh session of the same model) on the GPU. */
  async copyTo(other: SessionState): Promise<void> {
    await other.ensureMemory();
    const encoder = this.gpu.device.createCommandEncoder({ label: "fork" });
    this.state.copyTo(encoder, other.state);
    if (this.memory && other.memory) this.memory.copyTo(encoder, other.memory);
    encoder.copyBufferToBuffer(this.nextLogits, 0, other.nextLogits, 0, this.model.info.vocabSize * 4);
    this.gpu.device.queue.submit([encoder.finish()]);
    other.context.assign(this.context.tokens, this.context.dropped);
    other.logitsValid = this.logitsValid;
    other.conversation = this.conversation && structuredClone(this.conversation);
    await this.gpu.sync();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const gpu = this.gpu;
    this.state.dispose();
    if (gpu.isLost) return;
    this.plans.clear();
    this.decoder.dispose();
    this.speculating?.dispose();
    this.memory?.dispose();
    this.setup.observer?.dispose?.();
    this.neighbours.dispose();
    gpu.pool.release(this.nextLogits);
  }
}
