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
  /**
   * The vocabulary as a grammar engine reads it (constrained decoding): every id's token as
   * stored in the tokenizer's files, and how to read those strings. Null when there is none.
   */
  grammarVocabulary(): GrammarVocabulary | null;
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

/** A vocabulary for a grammar engine (xgrammar's TokenizerInfo). */
export interface GrammarVocabulary {
  /** Token strings by id. */
  tokens: readonly string[];
  /** "byte_level": GPT-2's byte-to-character mapping; "raw": the strings are the text. */
  type: "byte_level" | "raw";
}

/** Incremental decoding that never emits half of a multi-byte character. */
export interface StreamDecoder {
  /** Adds one id; returns the text that became complete (possibly ""). */
  push(id: number): string;
  /** Returns whatever is still held back (invalid leftovers become U+FFFD). */
  flush(): string;
}
