// tiny-bert (BertModel layout) and tiny-bert-mlm (BertForMaskedLM layout), random weights,
// against a PyTorch BERT written from Hugging Face's architecture
// (tests/fixtures/reference/tiny-bert.json, scripts/fixtures/tiny-bert.py) and against ONNX
// Runtime running its torch.onnx export (scripts/fixtures/tiny-bert-ort.mjs): last hidden
// states, the pooler, mean and [CLS] sentence vectors, masked-LM logits; the packed batch
// against sequences one at a time; and refusals.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Gpu } from "../../src/gpu/device.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { writeSafetensors } from "../../src/formats/safetensors.js";
import { readJson } from "../../src/loading/file-set.js";
import type { BertModel } from "../../src/models/bert.js";
import { loadBert } from "../../src/models/bert-load.js";
import { runEncoder } from "../../src/runtime/encode.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { caughtAsync } from "../helpers/errors.js";
import { ROOT, fixture, readFixtureTensor, readJsonFile } from "../helpers/models.js";

// Bounds from measurements: the worst error seen in Node 20 on Dawn/SwiftShader, 2026-12-01,
// times a small multiple (the hidden states are LayerNorm outputs, |x| up to 3.9; the MLM
// logits reach 16.7). The bounds (1e-4, 1e-3, 1e-5) are looser than all of these.
/** Last hidden states vs torch, every row of the inputs: measured 2.86e-6; 7x. */
const HIDDEN_ATOL = 2e-5;
/** The pooler's tanh output: measured 2.57e-6; 7.8x. */
const POOLER_ATOL = 2e-5;
/** The L2-normalised mean and [CLS] vectors: measured 1.71e-7 (mean), 2.68e-7 ([CLS]); 7.5x. */
const NORMALIZED_ATOL = 2e-6;
/** Masked-LM logits of the two masked inputs: measured 1.48e-5; 6.8x. */
const MLM_ATOL = 1e-4;
/**
 * Against ONNX Runtime running torch.onnx's export of the same forwards (the second oracle,
 * tiny-bert-ort.safetensors): hidden states measured 3.28e-6 (torch vs ORT themselves
 * 2.15e-6), normalised mean vectors 1.79e-7, masked-LM logits 1.44e-5 (torch vs ORT
 * 1.47e-5); the bounds against torch hold, at 6-11x.
 */
const ORT_BOUNDS = { hidden: HIDDEN_ATOL, mean: NORMALIZED_ATOL, mlm: MLM_ATOL };
/**
 * Weights stored in f16 or Q8_0 move the outputs by their rounding, not by the kernels:
 * measured hidden 2.55e-3 (f16), 6.56e-2 (q8_0); normalised mean vectors 2.82e-4, 4.74e-3.
 */
const WEIGHT_TYPE_BOUNDS = { f16: { hidden: 2e-2, mean: 2e-3 }, q8_0: { hidden: 0.5, mean: 3e-2 } };

interface Fixture {
  inputs: { input_ids: number[]; token_type_ids: number[] }[];
}

let gpu: Gpu;
let encoder: BertModel;
let mlm: BertModel;
let fx: Fixture;
const tensor = (name: string) => readFixtureTensor("tiny-bert-tensors.safetensors", name);

async function load(dir: string, weightType?: "f32" | "f16" | "q8_0"): Promise<BertModel> {
  const files = await resolveModelFiles(join(ROOT, dir));
  return loadBert(gpu, files, await readJson(files, "config.json"), { weightType });
}

beforeAll(async () => {
  gpu = await testGpu();
  encoder = await load("tests/fixtures/models/tiny-bert");
  mlm = await load("tests/fixtures/models/tiny-bert-mlm");
  fx = await readJsonFile<Fixture>(fixture("reference/tiny-bert.json"));
});
afterAll(() => {
  encoder?.dispose();
  mlm?.dispose();
});

const batchOf = (inputs: Fixture["inputs"]) => ({ ids: inputs.map((i) => i.input_ids), tokenTypes: inputs.map((i) => i.token_type_ids) });

describe("tiny-bert against PyTorch", () => {
  it("loads both layouts, with the pooler or the masked-LM head", () => {
    expect(encoder.info).toMatchObject({ type: "bert", hiddenSize: 64, maxPositions: 64, hasPooler: true, hasMaskedLmHead: false });
    expect(mlm.info).toMatchObject({ hasPooler: false, hasMaskedLmHead: true });
    expect(encoder.info.description).toMatch(/^BERT, 2 layers of 64, 4 heads/);
  });

  it(`last hidden states of every input in one packed batch within ${HIDDEN_ATOL}`, async () => {
    const r = await runEncoder(encoder, batchOf(fx.inputs));
    expectClose("tiny-bert last hidden", r.hidden, await tensor("last_hidden_state"), { atol: HIDDEN_ATOL });
  });

  it(`the pooler within ${POOLER_ATOL}, the mean and [CLS] vectors (L2-normalised on the GPU) within ${NORMALIZED_ATOL}`, async () => {
    const batch = batchOf(fx.inputs);
    expectClose("pooler", (await runEncoder(encoder, batch, { pooling: "pooler" })).pooled!, await tensor("pooler_output"), { atol: POOLER_ATOL });
    expectClose("mean", (await runEncoder(encoder, batch, { pooling: "mean", normalize: true })).pooled!, await tensor("mean_pooled_normalized"), { atol: NORMALIZED_ATOL });
    expectClose("cls", (await runEncoder(encoder, batch, { pooling: "cls", normalize: true })).pooled!, await tensor("cls_normalized"), { atol: NORMALIZED_ATOL });
  });

  it("hidden states, normalised mean vectors and masked-LM logits agree with ONNX Runtime on torch's ONNX exports", async () => {
    const ort = (name: string) => readFixtureTensor("tiny-bert-ort.safetensors", name);
    const r = await runEncoder(encoder, batchOf(fx.inputs), { pooling: "mean", normalize: true });
    expectClose("vs ORT hidden", r.hidden, await ort("last_hidden_state"), { atol: ORT_BOUNDS.hidden });
    expectClose("vs ORT mean", r.pooled!, await ort("mean_pooled_normalized"), { atol: ORT_BOUNDS.mean });
    const masked = await runEncoder(mlm, batchOf(fx.inputs.slice(-2)), { maskedLm: true });
    expectClose("vs ORT mlm logits", masked.maskedLmLogits!, await ort("mlm_logits"), { atol: ORT_BOUNDS.mlm });
  });

  it("f16 and Q8_0 weights: hidden states and mean vectors within their own measured bounds", async () => {
    const batch = batchOf(fx.inputs);
    for (const weightType of ["f16", "q8_0"] as const) {
      const m = await load("tests/fixtures/models/tiny-bert", weightType);
      expect(m.info.weightType).toBe(weightType);
      const r = await runEncoder(m, batch, { pooling: "mean", normalize: true });
      expectClose(`${weightType} hidden`, r.hidden, await tensor("last_hidden_state"), { atol: WEIGHT_TYPE_BOUNDS[weightType].hidden });
      expectClose(`${weightType} mean`, r.pooled!, await tensor("mean_pooled_normalized"), { atol: WEIGHT_TYPE_BOUNDS[weightType].mean });
      m.dispose();
    }
  });

  it(`masked-LM logits of the masked inputs within ${MLM_ATOL}, the BertForMaskedLM layout giving the same hidden states`, async () => {
    const masked = fx.inputs.slice(-2);
    const r = await runEncoder(mlm, batchOf(masked), { maskedLm: true });
    expectClose("tiny-bert mlm logits", r.maskedLmLogits!, await tensor("mlm_logits"), { atol: MLM_ATOL });
    const rows = masked[0].input_ids.length + masked[1].input_ids.length;
    const all = await tensor("last_hidden_state");
    expectClose("mlm layout hidden", r.hidden, all.subarray(all.length - rows * 64), { atol: HIDDEN_ATOL });
  });

  it("the packed batch equals each sequence alone, bit for bit (nothing leaks between sequences)", async () => {
    const batch = batchOf(fx.inputs);
    const whole = await runEncoder(encoder, batch, { pooling: "mean", normalize: true });
    for (const s of [0, 7, 30, fx.inputs.length - 1]) {
      const one = await runEncoder(encoder, batchOf([fx.inputs[s]]), { pooling: "mean", normalize: true });
      expect(Array.from(one.hidden)).toEqual(Array.from(whole.hidden.subarray(whole.seqStart[s] * 64, whole.seqStart[s + 1] * 64)));
      expect(Array.from(one.pooled!)).toEqual(Array.from(whole.pooled!.subarray(s * 64, (s + 1) * 64)));
    }
  });
});

describe("tiny-bert bad input", () => {
  it("an empty batch, an empty sequence, a sequence over 64 positions, bad ids and types are clear errors", async () => {
    const code = async (f: () => Promise<unknown>) => {
      const e = await caughtAsync(f);
      return isMnemoError(e) ? e.code : String(e);
    };
    expect(await code(() => runEncoder(encoder, { ids: [] }))).toBe("BAD_INPUT");
    expect(await code(() => runEncoder(encoder, { ids: [[2, 3], []] }))).toBe("BAD_INPUT");
    expect(await code(() => runEncoder(encoder, { ids: [new Array(65).fill(5)] }))).toBe("CONTEXT_FULL");
    expect(await code(() => runEncoder(encoder, { ids: [[2, 99999, 3]] }))).toBe("BAD_INPUT");
    expect(await code(() => runEncoder(encoder, { ids: [[2, 5, 3]], tokenTypes: [[0, 2, 0]] }))).toBe("BAD_INPUT");
    expect(await code(() => runEncoder(encoder, { ids: [[2, 5, 3]], tokenTypes: [[0, 0]] }))).toBe("SHAPE_MISMATCH");
    expect(await code(() => runEncoder(mlm, { ids: [[2, 3]] }, { pooling: "pooler" }))).toBe("BAD_INPUT");
    expect(await code(() => runEncoder(encoder, { ids: [[2, 3]] }, { maskedLm: true }))).toBe("BAD_INPUT");
  });

  it("a config with an unsupported position_embedding_type or hidden_act is refused by name", async () => {
    const files = await resolveModelFiles(join(ROOT, "tests/fixtures/models/tiny-bert"));
    const config = JSON.parse(await readFile(join(ROOT, "tests/fixtures/models/tiny-bert/config.json"), "utf8"));
    for (const [key, value] of [
      ["position_embedding_type", "relative_key"],
      ["hidden_act", "swish"],
    ]) {
      const err = await caughtAsync(() => loadBert(gpu, files, { ...config, [key]: value }));
      expect(isMnemoError(err, "UNSUPPORTED_MODEL"), key).toBe(true);
      expect(String(err)).toContain(JSON.stringify(value));
    }
    const wide = await caughtAsync(() => loadBert(gpu, files, { ...config, hidden_size: 128 }));
    expect(isMnemoError(wide, "BAD_MODEL_FILE")).toBe(true);
    expect(String(wide)).toMatch(/but config\.json implies/);
  });
});

describe("a sentence encoder in all-MiniLM-L6-v2's published layout", () => {
  // MiniLM's config.json fields as Hugging Face publishes them (no download here: the weights
  // are random, one layer, and the vocabulary is the tiny BERT's), BertModel names with no
  // prefix, and the int64 `embeddings.position_ids` buffer its checkpoint carries.
  it("loads, runs 12 heads of 32 over 512 positions, and a packed batch equals each text alone", async () => {
    const H = 384;
    const I = 1536;
    const P = 512;
    const V = encoder.info.vocabSize;
    const config = {
      _name_or_path: "nreimers/MiniLM-L6-H384-uncased",
      architectures: ["BertModel"],
      attention_probs_dropout_prob: 0.1,
      gradient_checkpointing: false,
      hidden_act: "gelu",
      hidden_dropout_prob: 0.1,
      hidden_size: H,
      initializer_range: 0.02,
      intermediate_size: I,
      layer_norm_eps: 1e-12,
      max_position_embeddings: P,
      model_type: "bert",
      num_attention_heads: 12,
      num_hidden_layers: 1,
      pad_token_id: 0,
      position_embedding_type: "absolute",
      transformers_version: "4.8.2",
      type_vocab_size: 2,
      use_cache: true,
      vocab_size: V,
    };
    let seed = 1;
    const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * scale);
    const f32 = (name: string, shape: number[], scale: number, offset = 0) => ({
      name,
      dtype: "F32" as const,
      shape,
      data: rand(
        shape.reduce((a, b) => a * b, 1),
        scale,
      ).map((v) => v + offset),
    });
    const tensors = [
      f32("embeddings.word_embeddings.weight", [V, H], 1),
      f32("embeddings.position_embeddings.weight", [P, H], 0.5),
      f32("embeddings.token_type_embeddings.weight", [2, H], 0.5),
      f32("embeddings.LayerNorm.weight", [H], 0.2, 1),
      f32("embeddings.LayerNorm.bias", [H], 0.1),
      { name: "embeddings.position_ids", dtype: "I64" as const, shape: [1, P], data: BigInt64Array.from({ length: P }, (_, i) => BigInt(i)) },
      f32("pooler.dense.weight", [H, H], 0.1),
      f32("pooler.dense.bias", [H], 0.1),
    ];
    const p = "encoder.layer.0.";
    for (const n of ["query", "key", "value"]) tensors.push(f32(`${p}attention.self.${n}.weight`, [H, H], 0.1), f32(`${p}attention.self.${n}.bias`, [H], 0.1));
    tensors.push(
      f32(`${p}attention.output.dense.weight`, [H, H], 0.1),
      f32(`${p}attention.output.dense.bias`, [H], 0.1),
      f32(`${p}attention.output.LayerNorm.weight`, [H], 0.2, 1),
      f32(`${p}attention.output.LayerNorm.bias`, [H], 0.1),
      f32(`${p}intermediate.dense.weight`, [I, H], 0.1),
      f32(`${p}intermediate.dense.bias`, [I], 0.1),
      f32(`${p}output.dense.weight`, [H, I], 0.05),
      f32(`${p}output.dense.bias`, [H], 0.1),
      f32(`${p}output.LayerNorm.weight`, [H], 0.2, 1),
      f32(`${p}output.LayerNorm.bias`, [H], 0.1),
    );
    const files = await resolveModelFiles({
      "config.json": new TextEncoder().encode(JSON.stringify(config)),
      "model.safetensors": writeSafetensors(tensors),
      "tokenizer.json": await readFile(join(ROOT, "tests/fixtures/models/tiny-bert/tokenizer.json")),
    });
    const minilm = await loadBert(gpu, files, config);
    try {
      expect(minilm.info.description).toMatch(/^BERT, 1 layers of 384, 12 heads, .* 512 positions/);
      const texts = ["The sea was calm.", "the king is in the castle ".repeat(30), "Where is the king?"];
      const ids = texts.map((t) => minilm.tokenizer.encode(t, { maxLength: 512 }).ids);
      expect(ids[1].length).toBeGreaterThan(64);
      const batch = await runEncoder(minilm, { ids }, { pooling: "mean", normalize: true });
      for (const [s, one] of ids.entries()) {
        const alone = await runEncoder(minilm, { ids: [one] }, { pooling: "mean", normalize: true });
        expect(Array.from(alone.pooled!)).toEqual(Array.from(batch.pooled!.subarray(s * H, (s + 1) * H)));
        expect(Math.abs(Math.hypot(...alone.pooled!) - 1)).toBeLessThan(1e-5);
      }
    } finally {
      minilm.dispose();
    }
  });
});
