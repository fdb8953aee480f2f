export type { Tokenizer, StreamDecoder } from "./types.js";
export { BpeTokenizer } from "./bpe.js";
export { CharTokenizer, type UnknownCharPolicy } from "./char.js";
