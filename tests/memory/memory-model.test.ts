// External memory end to end: the keys a store is built from are the model's final hidden
// states (checked through the LM head against the PyTorch fixture), the mixture a model with
// memory computes equals the TypeScript reference, generation changes with a store, the
// neighbours listed for a token come from the stored text, and stores from elsewhere are
// refused.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { buildKnnStore } from "../../src/runtime/memory-build.js";
import { GpuKnnStore } from "../../src/memory/gpu-store.js";
import { withMemory } from "../../src/memory/memory-model.js";
import { encodeKnnStore } from "../../src/memory/store-file.js";
import { knnDistancesRef, knnMixRef, knnTopKRef } from "../../src/kernels/reference/knn.js";
import { openSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";
import { encodeDispatches } from "../../src/gpu/dispatch.js";
import { loadModel, isMnemoError, type Model, type GeneratedToken } from "../../src/node.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { caughtAsync } from "../helpers/errors.js";
import { fixture, loadModelAt, readFixtureTensor, readJsonFile, ROOT } from "../helpers/models.js";

// Bounds from measurements: the worst error seen in Node 20 on Dawn/SwiftShader, 2026-12-01,
// times a small multiple.
/** Stored keys through the tied LM head vs PyTorch's logits (10 rows): measured 2.65e-6; 7.5x. */
const KEY_LOGITS_ATOL = 2e-5;
/** Probabilities with memory vs the TypeScript mixture: f32 keys measured 4.47e-8, f16 keys 8.94e-8; 5.6x each. */
const MIX_ATOL = { f32: 2.5e-7, f16: 5e-7 } as const;

let gpu: Gpu;
let tiny: LanguageModel;
let fx: { input_ids: number[] };

beforeAll(async () => {
  gpu = await testGpu();
  tiny = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2");
  fx = await readJsonFile(fixture("reference/tiny-gpt2.json"));
});
afterAll(() => tiny?.dispose());

/** Hidden rows and logits of one fresh forward over `ids` (all rows). */
async function forward(model: LanguageModel, ids: readonly number[]): Promise<{ hidden: Float32Array; logits: Float32Array }> {
  const state = model.createState();
  const plan = model.planForward(state, ids.length, { allLogits: true });
  gpu.write(plan.ids, Uint32Array.from(ids));
  gpu.write(
    plan.positions,
    Uint32Array.from(ids, (_, i) => i),
  );
  const encoder = gpu.device.createCommandEncoder();
  encodeDispatches(encoder, plan.dispatches);
  gpu.device.queue.submit([encoder.finish()]);
  const logits = await gpu.readF32(plan.logits, ids.length * model.info.vocabSize);
  const hidden = plan.hidden ? await gpu.readF32(plan.hidden, ids.length * model.hiddenSize) : new Float32Array();
  plan.dispose();
  state.dispose();
  return { hidden, logits };
}

describe("memory store of tiny-gpt2", () => {
  it("keys are the final hidden states: through the tied LM head they give PyTorch's logits", async () => {
    const store = await buildKnnStore(tiny, fx.input_ids, { keyType: "f32", window: 10 });
    expect(store.count).toBe(fx.input_ids.length - 1);
    expect(Array.from(store.values)).toEqual(fx.input_ids.slice(1));
    expect(Array.from(store.inputs)).toEqual(fx.input_ids.slice(0, -1));
    const weights = await openSafetensors(bufferSource(await readFile(fixture("models/tiny-gpt2/model.safetensors"))));
    const wte = await weights.readF32("wte.weight");
    const want = await readFixtureTensor("tiny-gpt2-logits.safetensors", "input_logits");
    const [D, V] = [64, 1000];
    // Windows of 10 restart the context, so only the first window's rows are the fixture's.
    const rows = 10;
    const got = new Float32Array(rows * V);
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < V; v++) {
        let acc = 0;
        for (let i = 0; i < D; i++) acc += (store.keys as Float32Array)[r * D + i] * wte[v * D + i];
        got[r * V + v] = acc;
      }
    }
    expectClose("keys · wteᵀ vs PyTorch logits", got, want.subarray(0, rows * V), { atol: KEY_LOGITS_ATOL });
  });

  for (const keyType of ["f32", "f16"] as const) {
    it(`a forward with memory (${keyType} keys, sharded) equals the reference mixture within ${MIX_ATOL[keyType]}`, async () => {
      const storeIds = Array.from({ length: 61 }, (_, i) => (i * 37 + 11) % 1000);
      const data = await buildKnnStore(tiny, storeIds, { keyType });
      // Tiny shards: the 60 keys spread over several buffers.
      const store = await GpuKnnStore.upload(gpu, data, { maxShardBytes: 17 * 64 * (keyType === "f16" ? 2 : 4) });
      expect(store.shardCount).toBe(4);
      // k above the entry count: every entry votes, so near-ties cannot reorder the set.
      const options = { k: 64, temperature: 7, lambda: 0.3 };
      const prompt = fx.input_ids.slice(0, 9);
      const mixed = (await forward(withMemory(tiny, store, options), prompt)).logits;
      const base = await forward(tiny, prompt);
      const keys = keyType === "f32" ? (data.keys as Float32Array) : Float32Array.from(await storeKeysAsF32(data.keys as Uint16Array));
      const d = knnDistancesRef(keys, data.count, 64, base.hidden, prompt.length, "l2");
      const top = knnTopKRef(d, data.count, prompt.length, 64);
      const ref = knnMixRef(base.logits, 1000, prompt.length, top.dist, top.index, 64, data.values, data.count, 0.3, 7);
      expectClose("p with memory", mixed.map(Math.exp), ref.map(Math.exp), { atol: MIX_ATOL[keyType] });
      store.dispose();
    });
  }

  it("refuses a store of another model and a model without hidden states", async () => {
    const data = await buildKnnStore(tiny, [1, 2, 3, 4]);
    const store = await GpuKnnStore.upload(gpu, { ...data, fingerprint: "someone-else" });
    expect(isMnemoError(await caughtAsync(() => withMemory(tiny, store)), "BAD_INPUT")).toBe(true);
    const lstm = await loadModelAt(gpu, "tests/fixtures/models/tiny-lstm");
    expect(isMnemoError(await caughtAsync(() => buildKnnStore(lstm, [1, 2, 3])), "UNSUPPORTED_MODEL")).toBe(true);
    expect(isMnemoError(await caughtAsync(() => withMemory(lstm, store)), "UNSUPPORTED_MODEL")).toBe(true);
    store.dispose();
    lstm.dispose();
    const lstmModel = await loadModel(fixture("models/tiny-lstm"));
    expect(isMnemoError(await caughtAsync(() => lstmModel.session({ growingMemory: true })), "UNSUPPORTED_MODEL")).toBe(true);
    lstmModel.dispose();
  });
});

async function storeKeysAsF32(bits: Uint16Array): Promise<Float32Array> {
  const { f16BitsToF32Array } = await import("../../src/formats/f16.js");
  return f16BitsToF32Array(bits);
}

describe("memory through the public API (bundled gpt2-gutenberg)", () => {
  let model: Model;
  const A =
    "The lighthouse keeper of Varnholm was a woman named Odalys Quenby. Every night Odalys Quenby climbed " +
    "the ninety steps with a lamp of whale oil, and every morning she wrote the weather in a green ledger. ";
  beforeAll(async () => {
    model = await loadModel(`${ROOT}/weights/gpt2-gutenberg-q8_0.gguf`);
  }, 120_000);
  afterAll(() => model?.dispose());

  it("greedy text changes with a store attached, and the listed neighbours come from the stored text", async () => {
    const bytes = encodeKnnStore(await model.buildMemory(A));
    const memory = await model.memory(bytes, { k: 16, temperature: 10, lambda: 0.9 });
    expect(memory.entries).toBe(model.languageModel.tokenizer.encode(A).length - 1);
    const prompt = "Every night Odalys";
    const opts = { greedy: true, maxTokens: 12, stopOnEos: false };
    const plain: GeneratedToken[] = [];
    for await (const t of model.generate(prompt, opts)) plain.push(t);
    const recalled: GeneratedToken[] = [];
    for await (const t of model.generate(prompt, { ...opts, memory, neighbours: true })) recalled.push(t);
    const text = (ts: GeneratedToken[]) => ts.map((t) => t.text).join("");
    console.log(`without memory: ${JSON.stringify(text(plain))}\nwith memory:    ${JSON.stringify(text(recalled))}`);
    expect(text(recalled)).not.toBe(text(plain));
    expect(text(recalled)).toContain("Quenby");
    for (const t of recalled) {
      expect(t.neighbours!.length).toBe(16);
      const distances = t.neighbours!.map((n) => n.distance);
      expect(distances).toEqual([...distances].sort((a, b) => a - b));
      for (const n of t.neighbours!) {
        const { context, next } = memory.describe(n.entry);
        expect(A).toContain(context + next);
      }
    }
    // The first token's nearest entry is the passage the prompt repeats.
    expect(memory.describe(recalled[0].neighbours![0].entry).context).toMatch(/Every night Odalys$/);
    memory.dispose();
  }, 180_000);
});
