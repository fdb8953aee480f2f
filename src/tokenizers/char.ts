// Character-level tokenizer for recurrent (LSTM, RNN) language models: vocab.json lists the characters and a
// character's id is its index.
import { MnemoError } from "../errors.js";
import type { GrammarVocabulary, StreamDecoder, Tokenizer } from "./types.js";

/** What to do with a character that is not in the vocabulary. */
export type UnknownCharPolicy = "error" | "skip";

export class CharTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosId = undefined;
  private readonly ids: Map<string, number>;

  private constructor(
    private readonly chars: readonly string[],
    private readonly unknown: UnknownCharPolicy,
  ) {
    this.vocabSize = chars.length;
    this.ids = new Map(chars.map((c, i) => [c, i]));
  }

  /**
   * From vocab.json: `{"type": "char", "chars": [...]}` or a plain array of characters.
   * Unknown characters throw BAD_INPUT by default (naming the character and its position);
   * `unknown: "skip"` drops them instead.
   */
  static fromVocabJson(json: unknown, opts: { unknown?: UnknownCharPolicy } = {}): CharTokenizer {
    const chars = Array.isArray(json) ? json : (json as { chars?: unknown })?.chars;
    if (!Array.isArray(chars) || chars.length === 0) {
      throw new MnemoError("BAD_MODEL_FILE", 'vocab.json must be a list of characters or {"chars": [...]}.');
    }
    chars.forEach((c, i) => {
      if (typeof c !== "string" || [...c].length !== 1) throw new MnemoError("BAD_MODEL_FILE", `vocab.json entry ${i} is not a single character.`);
    });
    if (new Set(chars).size !== chars.length) throw new MnemoError("BAD_MODEL_FILE", "vocab.json lists a character twice.");
    return new CharTokenizer(chars as string[], opts.unknown ?? "error");
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let pos = 0;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id !== undefined) out.push(id);
      else if (this.unknown === "error") {
        throw new MnemoError(
          "BAD_INPUT",
          `The character ${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}) at position ${pos} is not in this model's vocabulary of ${this.vocabSize} characters.`,
        );
      }
      pos++;
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => this.charOf(id)).join("");
  }

  grammarVocabulary(): GrammarVocabulary {
    return { tokens: this.chars, type: "raw" };
  }

  tokenBytes(id: number): Uint8Array {
    return new TextEncoder().encode(this.charOf(id));
  }

  private charOf(id: number): string {
    const c = this.chars[id];
    if (c === undefined) throw new MnemoError("BAD_INPUT", `Token id ${id} is outside the vocabulary (size ${this.vocabSize}).`);
    return c;
  }

  createStreamDecoder(): StreamDecoder {
    return { push: (id) => this.charOf(id), flush: () => "" };
  }
}
