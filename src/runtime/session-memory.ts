// A session's growing memory (the continuous-cache variant of kNN-LM): every position the
// session has read or written joins a memory store once the token after it is known, so
// the session keeps recalling text after it has left the context window. Appends are GPU
// copies recorded beside each forward pass: no readback, no new pipelines or bind groups.
import type { Gpu } from "../gpu/device.js";
import type { Readout } from "../gpu/readback.js";
import { GpuKnnStore, memoryMixOptions, type MemoryMixOptions } from "../memory/gpu-store.js";
import { withMemory } from "../memory/memory-model.js";
import type { LanguageModel } from "../models/types.js";

/** Options of a session's growing memory. */
export interface GrowingMemoryOptions extends MemoryMixOptions {
  /** Entries kept (a ring: the oldest are overwritten when full; default 16384). */
  capacity?: number;
}

/** What a snapshot carries of a growing memory. */
export interface GrowingMemoryState {
  /** Every slot's key, row-major (capacity rows of the hidden size). */
  keys: Float32Array;
  /** The token after each slot's position. */
  values: Uint32Array;
  /** The token at each slot's position. */
  inputs: Uint32Array;
  /** Entries ever appended (entry e sits in slot e % capacity). */
  appended: number;
  /** The last position, waiting for the token after it. */
  pending?: PendingMemoryEntry;
}

/** A position of a growing memory whose next token is not known yet. */
export interface PendingMemoryEntry {
  /** Its hidden state. */
  key: Float32Array;
  /** Its token. */
  input: number;
}

export class SessionMemory {
  /** f32 [dims]: the hidden state of the last position fed, until its next token is known. */
  private readonly pendingKey: GPUBuffer;
  private pendingInput: number | null = null;

  private constructor(
    private readonly gpu: Gpu,
    readonly store: GpuKnnStore,
    /** The model with this memory mixed in. */
    readonly model: LanguageModel,
    readonly options: GrowingMemoryOptions,
  ) {
    this.pendingKey = gpu.createStorage(store.dims * 4, "session-memory.pending");
  }

  static async create(base: LanguageModel, options: GrowingMemoryOptions): Promise<SessionMemory> {
    const mix = memoryMixOptions(options);
    const store = await GpuKnnStore.growing(base.gpu, { fingerprint: base.info.fingerprint, dims: base.hiddenSize, capacity: options.capacity ?? 16384 });
    try {
      return new SessionMemory(base.gpu, store, withMemory(base, store, mix), options);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  /**
   * Before a forward that feeds `ids`, of which the first `replayed` were fed before (a
   * context shrink re-feeds them): the pending position learns its next token.
   */
  beforeForward(encoder: GPUCommandEncoder, ids: readonly number[], replayed: number): void {
    if (this.pendingInput === null || ids.length === 0) return;
    if (replayed === 0) this.store.append(encoder, this.pendingKey, 0, [ids[0]], [this.pendingInput]);
    // A replay recomputes the pending position; its entry comes from the replayed rows.
    this.pendingInput = null;
  }

  /**
   * After it: each row whose next token is new joins the memory (rows of replayed text
   * followed by replayed text are in it already); the last row waits for its next token.
   * An append writes the values and the live count through the queue at once, ahead of
   * any command buffer not yet submitted, so with more than one row `encoder` must not be
   * the forward's own (its rows would search entries whose keys are not copied yet; see
   * afterSubmittedForward). With one row nothing is appended.
   */
  afterForward(encoder: GPUCommandEncoder, hidden: GPUBuffer, ids: readonly number[], replayed: number): void {
    const M = ids.length;
    const first = Math.max(0, replayed - 1);
    if (first < M - 1) {
      this.store.append(encoder, hidden, first * this.store.dims * 4, ids.slice(first + 1, M), ids.slice(first, M - 1));
    }
    encoder.copyBufferToBuffer(hidden, (M - 1) * this.store.dims * 4, this.pendingKey, 0, this.store.dims * 4);
    this.pendingInput = ids[M - 1];
  }

  /** {@link afterForward} in a command buffer of its own, submitted now: after the forward's, which was submitted already. */
  afterSubmittedForward(hidden: GPUBuffer, ids: readonly number[], replayed: number): void {
    const encoder = this.gpu.device.createCommandEncoder({ label: "session-memory.append" });
    this.afterForward(encoder, hidden, ids, replayed);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /**
   * Before a speculative verification that feeds `chunk` (a plan with causalMemory): the
   * pending position learns its next token, and the search learns the token after each
   * chunk row (row j's is chunk[j + 1]); no chunk row joins the memory yet.
   */
  beforeVerification(encoder: GPUCommandEncoder, chunk: readonly number[]): void {
    this.beforeForward(encoder, chunk, 0);
    this.store.writeChunkValues(chunk.slice(1));
  }

  /**
   * After it, once the first `kept` rows are known to stand (the token after each but the
   * last is the next chunk token): they join the memory as a forward of those rows alone would.
   */
  keepVerified(encoder: GPUCommandEncoder, hidden: GPUBuffer, chunk: readonly number[], kept: number): void {
    this.afterForward(encoder, hidden, chunk.slice(0, kept), 0);
  }

  /** Forgets everything (session reset). */
  clear(): void {
    this.store.write({
      keys: new Float32Array(this.store.capacity * this.store.dims),
      values: new Uint32Array(this.store.capacity),
      inputs: new Uint32Array(this.store.capacity),
      appended: 0,
    });
    this.pendingInput = null;
  }

  /** The store's keys and the pending key, for a snapshot that batches its reads. */
  readout(): Readout<GrowingMemoryState> {
    const store = this.store.readout();
    const pendingInput = this.pendingInput;
    return {
      regions: [...store.regions, { buffer: this.pendingKey, offset: 0, size: this.store.dims * 4 }],
      decode: (parts) => {
        const state: GrowingMemoryState = store.decode(parts.slice(0, -1));
        if (pendingInput !== null) state.pending = { key: new Float32Array(parts[parts.length - 1].slice().buffer), input: pendingInput };
        return state;
      },
    };
  }

  write(state: GrowingMemoryState): void {
    this.store.write(state);
    this.pendingInput = state.pending ? state.pending.input : null;
    if (state.pending) this.gpu.write(this.pendingKey, state.pending.key);
  }

  /** Copies this memory into `other` (a fork). */
  copyTo(encoder: GPUCommandEncoder, other: SessionMemory): void {
    this.store.copyTo(encoder, other.store);
    encoder.copyBufferToBuffer(this.pendingKey, 0, other.pendingKey, 0, this.store.dims * 4);
    other.pendingInput = this.pendingInput;
  }

  dispose(): void {
    this.store.dispose();
    this.gpu.pool.release(this.pendingKey);
  }
}
