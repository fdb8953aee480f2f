import { MnemoError } from "../errors.js";
import type { Tokenizer } from "./types.js";

/**
 * Stands in when a checkpoint ships no tokenizer files (test models): token ids work,
 * text does not, with a message that says what is missing.
 */
export class IdsOnlyTokenizer implements Tokenizer {
  readonly vocabSize = 0;
  constructor(
    private readonly origin: string,
    private readonly expected = "tokenizer.json, or vocab.json + merges.txt",
  ) {}
  private fail(): never {
    throw new MnemoError("BAD_MODEL_FILE", `${this.origin} has no tokenizer (${this.expected}): pass token ids instead of text.`);
  }
  encode(): number[] {
    return this.fail();
  }
  decode(ids: readonly number[]): string {
    return ids.map((id) => `<${id}>`).join("");
  }
  grammarVocabulary(): null {
    return null;
  }
  tokenBytes(id: number): Uint8Array {
    return new TextEncoder().encode(`<${id}>`);
  }
  createStreamDecoder() {
    return { push: (id: number) => `<${id}>`, flush: () => "" };
  }
}
