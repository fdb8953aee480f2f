// The WordPiece tokenizer against transformers.js's BertTokenizer on the tiny BERT's
// vocabulary (tests/fixtures/reference/wordpiece-cases.json, scripts/fixtures/wordpiece-cases.mjs),
// and truncation by Hugging Face's longest-first rule, checked by hand.
import { describe, it, expect, beforeAll } from "vitest";
import { readFile } from "node:fs/promises";
import { WordPieceTokenizer, wordPieceFromTokenizerJson, wordPieceFromVocabTxt } from "../../src/tokenizers/wordpiece.js";
import { isMnemoError } from "../../src/errors.js";
import { caught } from "../helpers/errors.js";
import { fixture, readJsonFile } from "../helpers/models.js";

interface Case {
  text: string;
  text_pair?: string;
  input_ids: number[];
  token_type_ids: number[];
  no_special?: number[];
}

let tok: WordPieceTokenizer;
let cases: Case[];
let vocab: string[];

beforeAll(async () => {
  vocab = (await readFile(fixture("models/tiny-bert/vocab.txt"), "utf8")).split("\n").slice(0, -1);
  tok = new WordPieceTokenizer({ vocab, lowercase: true });
  cases = (await readJsonFile<{ cases: Case[] }>(fixture("reference/wordpiece-cases.json"))).cases;
});

const ids = (...pieces: string[]) => pieces.map((p) => vocab.indexOf(p));

describe("WordPiece against transformers.js", () => {
  it("has 30+ cases reaching accents, punctuation, CJK, control characters, unknown and long words, empty text and pairs", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const unk = vocab.indexOf("[UNK]");
    expect(cases.some((c) => c.input_ids.includes(unk))).toBe(true);
    expect(cases.some((c) => c.text === "")).toBe(true);
    expect(cases.filter((c) => c.text_pair !== undefined).length).toBeGreaterThanOrEqual(4);
  });

  it("gives transformers.js's ids and token types on every case", () => {
    for (const c of cases) {
      // transformers.js treats an empty second text as no pair at all; so does encode().
      const r = tok.encode(c.text, c.text_pair);
      expect(r.ids, JSON.stringify(c.text)).toEqual(c.input_ids);
      expect(r.tokenTypeIds, JSON.stringify(c.text)).toEqual(c.token_type_ids);
      if (c.no_special) expect(tok.encode(c.text, { addSpecialTokens: false }).ids, JSON.stringify(c.text)).toEqual(c.no_special);
    }
  });

  it("tokenizer.json and vocab.txt + tokenizer_config.json give the same tokenizer", async () => {
    const fromJson = wordPieceFromTokenizerJson(await readJsonFile(fixture("models/tiny-bert/tokenizer.json")));
    const fromTxt = wordPieceFromVocabTxt(await readFile(fixture("models/tiny-bert/vocab.txt"), "utf8"), await readJsonFile(fixture("models/tiny-bert/tokenizer_config.json")));
    for (const t of [fromJson, fromTxt]) {
      expect(t.vocabSize).toBe(vocab.length);
      for (const c of cases) expect(t.encode(c.text, c.text_pair).ids).toEqual(c.input_ids);
    }
    // Cased: nothing lower-cased or stripped, so "Café" is no piece of this uncased vocabulary.
    const cased = wordPieceFromVocabTxt(vocab.join("\n"), { do_lower_case: false });
    expect(cased.encode("Café", { addSpecialTokens: false }).ids).toEqual([cased.unkId]);
    expect(
      isMnemoError(
        caught(() => wordPieceFromTokenizerJson({ model: { type: "BPE", vocab: {} } })),
        "UNSUPPORTED_MODEL",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => wordPieceFromTokenizerJson({ model: { type: "WordPiece", vocab: { a: 0, b: 0 } } })),
        "BAD_MODEL_FILE",
      ),
    ).toBe(true);
  });

  it("decodes pieces back to words", () => {
    expect(tok.decode(tok.encode("Running happily, the kingdoms!").ids)).toBe("running happily , the kingdoms !");
    expect(tok.decode(tok.encode("a").ids, { skipSpecialTokens: false })).toBe("[CLS] a [SEP]");
  });
});

describe("WordPiece truncation (Hugging Face's longest-first, special tokens kept)", () => {
  it("cuts a single text from its end and keeps [CLS] and [SEP]", () => {
    const r = tok.encode("one two three four five six", { maxLength: 6 });
    expect(r.ids).toEqual(ids("[CLS]", "one", "two", "three", "four", "[SEP]"));
  });

  it("cuts the longer text of a pair first, the second on a tie", () => {
    expect(tok.encode("one two three four five six seven", "king queen", { maxLength: 8 }).tokens).toEqual(["[CLS]", "one", "two", "three", "[SEP]", "king", "queen", "[SEP]"]);
    expect(tok.encode("a b", "one two three four five six", { maxLength: 9 }).tokens).toEqual(["[CLS]", "a", "b", "[SEP]", "one", "two", "three", "four", "[SEP]"]);
    const even = tok.encode("one two three", "four five six", { maxLength: 8 });
    expect(even.tokens).toEqual(["[CLS]", "one", "two", "three", "[SEP]", "four", "five", "[SEP]"]);
    expect(even.tokenTypeIds).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
  });

  it("refuses a maxLength that cannot hold the special tokens, and a vocabulary without them", () => {
    expect(
      isMnemoError(
        caught(() => tok.encode("a", "b", { maxLength: 2 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(tok.encode("a", "b", { maxLength: 3 }).tokens).toEqual(["[CLS]", "[SEP]", "[SEP]"]);
    const err = caught(() => new WordPieceTokenizer({ vocab: ["[PAD]", "[UNK]", "a"], lowercase: true }));
    expect(isMnemoError(err, "BAD_MODEL_FILE")).toBe(true);
    expect(String(err)).toMatch(/no classifier token "\[CLS\]"/);
  });
});
