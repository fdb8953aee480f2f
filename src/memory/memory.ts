// An external memory attached to a model: the store on the GPU, how it is mixed in, and
// the text behind its entries (to show which passages a generated token recalled).
import type { Tokenizer } from "../tokenizers/types.js";
import type { GpuKnnStore, MemoryMixOptions } from "./gpu-store.js";

/** The text around one memory entry. */
export interface MemoryEntryText {
  /** The text that led up to the entry (its key is the hidden state after the last token). */
  context: string;
  /** The token that followed: the entry's vote. */
  next: string;
}

/** A memory store on the GPU, ready to attach to sessions and generate() calls. */
export class Memory {
  /** @internal */
  constructor(
    /** @internal */
    readonly store: GpuKnnStore,
    /** How the memory is mixed in: k, temperature, lambda, metric. */
    readonly options: Readonly<Required<MemoryMixOptions>>,
    private readonly tokenizer: Tokenizer,
  ) {}

  /** Entries in the store. */
  get entries(): number {
    return this.store.count;
  }

  /** Bytes of keys and values on the GPU. */
  get gpuBytes(): number {
    return this.store.gpuBytes;
  }

  /** The text around entry `entry`: up to `contextTokens` tokens before it, and its next token. */
  describe(entry: number, contextTokens = 16): MemoryEntryText {
    const { slotInputs: inputs, slotValues: values, count } = this.store;
    if (!Number.isInteger(entry) || entry < 0 || entry >= count) throw new RangeError(`No memory entry ${entry} (the store has ${count}).`);
    const from = Math.max(0, entry - contextTokens + 1);
    return { context: this.tokenizer.decode(Array.from(inputs.subarray(from, entry + 1))), next: this.tokenizer.decode([values[entry]]) };
  }

  /** Frees the GPU copy of the store. Sessions using it must be disposed first. */
  dispose(): void {
    this.store.dispose();
  }
}
