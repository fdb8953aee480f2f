// The public encoder API on the tiny BERTs: embed() (batched and one by one, truncation,
// poolings) and fillMask() against the PyTorch fixture, and its refusals.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadEncoder, loadModel, type Encoder } from "../../src/node.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { caughtAsync } from "../helpers/errors.js";
import { ROOT, fixture, readFixtureTensor, readJsonFile } from "../helpers/models.js";

const ENCODER = join(ROOT, "tests/fixtures/models/tiny-bert");
const MLM = join(ROOT, "tests/fixtures/models/tiny-bert-mlm");
/** tests/models/bert-tiny.test.ts: the normalised vectors measured 2.68e-7 from torch; 7.5x. */
const NORMALIZED_ATOL = 2e-6;

interface Case {
  text: string;
  text_pair?: string;
  input_ids: number[];
}

let encoder: Encoder;
let mlm: Encoder;
let cases: Case[];
let inputs: { input_ids: number[] }[];

beforeAll(async () => {
  const gpu = await testGpu();
  encoder = await loadEncoder(ENCODER, { device: gpu.device });
  mlm = await loadEncoder(MLM, { device: gpu.device });
  cases = (await readJsonFile<{ cases: Case[] }>(fixture("reference/wordpiece-cases.json"))).cases;
  inputs = (await readJsonFile<{ inputs: { input_ids: number[] }[] }>(fixture("reference/tiny-bert.json"))).inputs;
});
afterAll(() => {
  encoder?.dispose();
  mlm?.dispose();
});

describe("Encoder.embed", () => {
  it("gives torch's normalised mean vectors for the fixture's texts, in one call", async () => {
    const ref = await readFixtureTensor("tiny-bert-tensors.safetensors", "mean_pooled_normalized");
    // The fixture's inputs are the single-text cases that fit 64 positions, in order.
    const texts = cases.filter((c) => c.text_pair === undefined && c.input_ids.length <= 64);
    const got = await encoder.embed(texts.map((c) => c.text));
    expect(got.length).toBe(texts.length);
    texts.forEach((c, i) => {
      const k = inputs.findIndex((x) => x.input_ids.join() === c.input_ids.join());
      expect(k, c.text).toBeGreaterThanOrEqual(0);
      expectClose(`embed ${JSON.stringify(c.text)}`, got[i], ref.subarray(k * 64, (k + 1) * 64), { atol: NORMALIZED_ATOL });
    });
  });

  it("64 sentences of mixed length in one batch equal each embedded alone, bit for bit", async () => {
    const lines = (await readFile(fixture("data/tinyshakespeare.txt"), "utf8")).split("\n").filter((l) => l.trim());
    const sentences = Array.from({ length: 64 }, (_, i) => lines.slice(3 * i, 3 * i + 1 + (i % 5)).join(" "));
    const lengths = new Set(sentences.map((s) => encoder.tokenizer.encode(s).ids.length));
    expect(lengths.size).toBeGreaterThan(10);
    const batched = await encoder.embed(sentences);
    for (const [i, s] of sentences.entries()) {
      const [alone] = await encoder.embed(s);
      expect(Array.from(alone), `sentence ${i}`).toEqual(Array.from(batched[i]));
    }
  });

  it("truncates a text over 64 pieces to them, and pools by [CLS], unnormalised, or the pooler on request", async () => {
    const long = "the king is in the castle and the sea was calm ".repeat(12);
    expect(encoder.tokenizer.encode(long).ids.length).toBeGreaterThan(64);
    const cut = encoder.tokenizer.decode(encoder.tokenizer.encode(long, { maxLength: 64 }).ids);
    expect(Array.from((await encoder.embed(long))[0])).toEqual(Array.from((await encoder.embed(cut))[0]));
    const [raw] = await encoder.embed("The sea was calm.", { normalize: false });
    const [unit] = await encoder.embed("The sea was calm.");
    const norm = Math.hypot(...raw);
    expectClose(
      "normalised = raw / |raw|",
      unit,
      raw.map((v) => v / norm),
      { atol: 1e-6 },
    );
    const [cls] = await encoder.embed("The sea was calm.", { pooling: "cls" });
    expect(Array.from(cls)).not.toEqual(Array.from(unit));
    const [pooled] = await encoder.embed("The sea was calm.", { pooling: "pooler" });
    expect(Math.max(...pooled.map(Math.abs))).toBeLessThanOrEqual(1); // tanh
  });

  it("refuses an empty list, an unknown pooling, and the pooler on a model without one", async () => {
    expect(isMnemoError(await caughtAsync(() => encoder.embed([])), "BAD_INPUT")).toBe(true);
    expect(isMnemoError(await caughtAsync(() => encoder.embed("a", { pooling: "max" as "mean" })), "BAD_INPUT")).toBe(true);
    expect(isMnemoError(await caughtAsync(() => mlm.embed("a", { pooling: "pooler" })), "BAD_INPUT")).toBe(true);
  });
});

describe("Encoder.fillMask", () => {
  it("ranks the pieces at each [MASK] as torch's masked-LM logits do, with their softmax probabilities", async () => {
    const logits = await readFixtureTensor("tiny-bert-tensors.safetensors", "mlm_logits");
    const V = mlm.tokenizer.vocabSize;
    const vocab = (await readFile(join(MLM, "vocab.txt"), "utf8")).split("\n");
    // The fixture's masked input "[CLS] the sea was [MASK] . [SEP]": its rows come first in mlm_logits.
    const [candidates] = await mlm.fillMask("The sea was [MASK].", { topK: 5 });
    const row = logits.subarray(4 * V, 5 * V);
    const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a]);
    expect(candidates.map((c) => c.token)).toEqual(order.slice(0, 5));
    const max = row[order[0]];
    const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
    for (const c of candidates) {
      expect(Math.abs(c.score - Math.exp(row[c.token] - max) / sum)).toBeLessThan(1e-5);
      // A "##" piece glues onto "was", as WordPiece decoding does; tokenStr is the piece decoded.
      const piece = vocab[c.token];
      expect(c.tokenStr).toBe(piece.replace(/^##/, ""));
      expect(c.sequence).toBe(piece.startsWith("##") ? `the sea was${c.tokenStr} .` : `the sea was ${c.tokenStr} .`);
    }
    const two = await mlm.fillMask("[MASK] is the king[MASK]", { topK: 3 });
    expect(two.length).toBe(2);
  });

  it("refuses a text without [MASK], an encoder without the head, a bad topK, and a disposed encoder", async () => {
    expect(isMnemoError(await caughtAsync(() => mlm.fillMask("no mask here")), "BAD_INPUT")).toBe(true);
    expect(isMnemoError(await caughtAsync(() => encoder.fillMask("The sea was [MASK].")), "BAD_INPUT")).toBe(true);
    expect(isMnemoError(await caughtAsync(() => mlm.fillMask("The sea was [MASK].", { topK: 0 })), "BAD_INPUT")).toBe(true);
    const gone = await loadEncoder(MLM);
    gone.dispose();
    expect(isMnemoError(await caughtAsync(() => gone.fillMask("The sea was [MASK].")), "DISPOSED")).toBe(true);
  });

  it("loadModel on a BERT folder says to use loadEncoder", async () => {
    const err = await caughtAsync(() => loadModel(ENCODER));
    expect(isMnemoError(err, "UNSUPPORTED_MODEL")).toBe(true);
    expect(String(err)).toMatch(/loadEncoder/);
  });
});

describe("Encoder.indexDocuments and search", () => {
  it("finds each document first when queried with its own text, scores are cosines, and the store survives its file format", async () => {
    const { encodeMemoryStore, decodeMemoryStore } = await import("../../src/index.js");
    const lines = (await readFile(fixture("data/gutenberg_val.txt"), "utf8")).split("\n").filter((l) => l.trim().length > 40);
    const docs = lines.slice(0, 40);
    const store = decodeMemoryStore(encodeMemoryStore(await encoder.indexDocuments(docs)));
    expect(store.count).toBe(40);
    const vectors = await encoder.embed(docs);
    for (const i of [0, 13, 39]) {
      const hits = await encoder.search(store, docs[i], { k: 3 });
      expect(hits[0].index).toBe(i);
      expect(Math.abs(hits[0].score - 1)).toBeLessThan(1e-5);
      // The second hit's score is its cosine with the query.
      const j = hits[1].index;
      const cos = vectors[i].reduce((s, v, d) => s + v * vectors[j][d], 0);
      expect(Math.abs(hits[1].score - cos)).toBeLessThan(1e-5);
      expect(hits[1].score).toBeLessThanOrEqual(hits[0].score);
    }
    const err = await caughtAsync(() => encoder.search({ ...store, fingerprint: "other" }, "x"));
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
  });
});
