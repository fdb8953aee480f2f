import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BpeTokenizer } from "../../src/tokenizers/bpe.js";
import { isMnemoError } from "../../src/errors.js";

const root = join(__dirname, "..", "..");
const read = (p: string) => readFileSync(join(root, p), "utf8");
let tok: BpeTokenizer;

beforeAll(() => {
  tok = BpeTokenizer.fromTokenizerJson(JSON.parse(read("weights/gpt2-gutenberg/tokenizer.json")));
});

describe("GPT-2 BPE", () => {
  it("matches Hugging Face on every fixture case", () => {
    const { cases } = JSON.parse(read("tests/fixtures/reference/tokenizer_cases.json")) as { cases: { text: string; ids: number[]; decoded: string }[] };
    expect(cases.length).toBeGreaterThan(10);
    for (const c of cases) {
      expect(tok.encode(c.text), JSON.stringify(c.text.slice(0, 40))).toEqual(c.ids);
      expect(tok.decode(c.ids)).toBe(c.decoded);
    }
  });

  it("matches Hugging Face on both whole validation texts, and is fast", () => {
    const gut = JSON.parse(read("tests/fixtures/reference/gutenberg_val_ids.json")) as { text: string; ids: number[] };
    const gutText = read("tests/fixtures/data/gutenberg_val.txt"); // gut.text names that file
    const shak = JSON.parse(read("tests/fixtures/reference/shakespeare_val_ids.json")) as { text_start_char: number; ids: number[] };
    const shakText = read("tests/fixtures/data/tinyshakespeare.txt").slice(shak.text_start_char);
    const fresh = BpeTokenizer.fromTokenizerJson(JSON.parse(read("weights/gpt2-gutenberg/tokenizer.json")));
    const t0 = performance.now();
    const ids = fresh.encode(gutText);
    const ms = performance.now() - t0;
    expect(ids).toEqual(gut.ids);
    expect(fresh.encode(shakText)).toEqual(shak.ids);
    const mb = new TextEncoder().encode(gutText).byteLength / 1e6;
    console.log(`BPE encode: ${(ms / mb).toFixed(1)} ms per MB (cold cache, ${mb.toFixed(2)} MB)`);
  });

  it("vocab.json + merges.txt gives the same ids as tokenizer.json", () => {
    const other = BpeTokenizer.fromVocabAndMerges(JSON.parse(read("weights/gpt2-gutenberg/vocab.json")), read("weights/gpt2-gutenberg/merges.txt"));
    const text = "Hello   world!\n\nIt's <|endoftext|> 3000 émigrés 🎉 done ";
    expect(other.encode(text)).toEqual(tok.encode(text));
    expect(other.eosId).toBe(50256);
  });

  it("streams emoji and CJK split across tokens without broken characters", () => {
    const text = "日本語のテキスト 🎉🎉 naïve café 👩‍👩‍👧";
    const ids = tok.encode(text);
    const dec = tok.createStreamDecoder();
    let out = "";
    for (const id of ids) {
      const piece = dec.push(id);
      expect(piece).not.toContain("\uFFFD");
      out += piece;
    }
    out += dec.flush();
    expect(out).toBe(text);
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it("refuses malformed tokenizer files with BAD_MODEL_FILE", () => {
    const cases: unknown[] = [
      null,
      { model: {} },
      { model: { type: "BPE", vocab: { a: 0 }, merges: ["a b"] } },
      { model: { type: "BPE", vocab: { a: "x" }, merges: [] } },
      { model: { type: "WordPiece", vocab: {}, merges: [] } },
    ];
    for (const c of cases) {
      let err: unknown;
      try {
        BpeTokenizer.fromTokenizerJson(c);
      } catch (e) {
        err = e;
      }
      expect(isMnemoError(err, "BAD_MODEL_FILE"), JSON.stringify(c)).toBe(true);
    }
    expect(() => tok.decode([60000])).toThrow(/outside the vocabulary/);
  });
});
