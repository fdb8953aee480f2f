/** Turns text into token ids and back. Implementations know nothing of the GPU. */
export interface Tokenizer {
  /** Number of ids the model's embedding has. */
  readonly vocabSize: number;
  /** End-of-sequence id, when the vocabulary has one. */
  readonly eosId?: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** The bytes of one token's text (a byte-level token may hold part of a character). */
  tokenBytes(id: number): Uint8Array;
  /** A decoder for streaming: each id's text once it forms complete characters. */
  createStreamDecoder(): StreamDecoder;
  /** The model's chat template and its special tokens, when its files name them. */
  chat?: ChatTemplateInfo;
}

/** What `tokenizer_config.json` (or GGUF `tokenizer.chat_template`) says about chat. */
export interface ChatTemplateInfo {
  /** Jinja source of the chat template; absent for models that have none (GPT-2). */
  template?: string;
  bosToken?: string;
  eosToken?: string;
}

/** Incremental decoding that never emits half of a multi-byte character. */
export interface StreamDecoder {
  /** Adds one id; returns the text that became complete (possibly ""). */
  push(id: number): string;
  /** Returns whatever is still held back (invalid leftovers become U+FFFD). */
  flush(): string;
}
