import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CharTokenizer } from "../../src/tokenizers/char.js";
import { isMnemoError } from "../../src/errors.js";

const vocab = JSON.parse(readFileSync(join(__dirname, "..", "..", "weights/lstm-shakespeare/vocab.json"), "utf8"));

describe("char tokenizer", () => {
  it("encodes the fixture prompt as the reference does", () => {
    const tok = CharTokenizer.fromVocabJson(vocab);
    expect(tok.vocabSize).toBe(65);
    expect(tok.encode("ROMEO:")).toEqual([30, 27, 25, 17, 27, 10]);
    expect(tok.decode([30, 27, 25, 17, 27, 10])).toBe("ROMEO:");
  });

  it("refuses unknown characters by default, naming them; skips them on request", () => {
    const tok = CharTokenizer.fromVocabJson(vocab);
    let err: unknown;
    try {
      tok.encode("ab€c");
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(String(err)).toMatch(/"€".*position 2/);
    expect(CharTokenizer.fromVocabJson(vocab, { unknown: "skip" }).decode(CharTokenizer.fromVocabJson(vocab, { unknown: "skip" }).encode("ab€c"))).toBe("abc");
  });

  it("refuses a malformed vocab.json", () => {
    for (const bad of [{}, { chars: [] }, { chars: ["ab"] }, { chars: ["a", "a"] }]) {
      expect(() => CharTokenizer.fromVocabJson(bad)).toThrow(/vocab\.json/);
    }
  });
});
