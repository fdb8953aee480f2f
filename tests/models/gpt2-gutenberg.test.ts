// The bundled GPT-2 (F16) and its GGUF versions against the PyTorch / float32 references.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { testGpu } from "../helpers/gpu.js";
import { fixture, fullForwardLogits, loadModelAt, readFixtureTensor, readJsonFile, topK } from "../helpers/models.js";
import { evaluatePerplexity } from "../../src/runtime/eval.js";

interface Case {
  prompt_ids: number[];
  top10_ids: number[][];
  top10_logits: number[][];
  greedy_ids: number[];
  greedy_top1_margin: number[];
}

let gpu: Gpu;
let model: LanguageModel;
let cases: Case[];

beforeAll(async () => {
  gpu = await testGpu();
  model = await loadModelAt(gpu, "weights/gpt2-gutenberg");
  cases = (await readJsonFile<{ cases: Case[] }>(fixture("reference/gpt2-gutenberg.json"))).cases;
});
afterAll(() => model?.dispose());

/** Greedy ids through the session (KV cache), `n` steps. */
async function greedy(m: LanguageModel, prompt: number[], n: number): Promise<number[]> {
  const s = new Session(m);
  const ids: number[] = [];
  for await (const t of s.generate(prompt, { greedy: true, maxTokens: n, stopOnEos: false })) ids.push(t.id);
  s.dispose();
  return ids;
}

/** Compares up to (and including) the first step whose reference margin is below 1e-3. */
function expectGreedyEqual(got: number[], want: number[], margins: number[]): void {
  const tie = margins.findIndex((x) => x < 1e-3);
  const n = Math.min(got.length, tie < 0 ? want.length : tie + 1);
  expect(got.slice(0, n)).toEqual(want.slice(0, n));
}

describe("gpt2-gutenberg (F16) against the PyTorch fixture", () => {
  it("F16 KV cache: last-position logits vs the F32 cache and the fixture (reported), greedy unchanged", async () => {
    const V = model.info.vocabSize;
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, v) => Math.max(m, Math.abs(x - b[v])), 0);
    for (const [i, c] of cases.entries()) {
      const [f32, f16] = [new Session(model), new Session(model, { cacheType: "f16" })];
      await f32.append(c.prompt_ids);
      await f16.append(c.prompt_ids);
      const [a, b] = [await f32.nextTokenLogits(), await f16.nextTokenLogits()];
      const want = await readFixtureTensor("gpt2-gutenberg-logits.safetensors", `prompt${i}.last_logits`);
      const vsF32 = maxDiff(b, a);
      const vsFixture = maxDiff(b, want);
      console.log(
        `prompt ${i} (${c.prompt_ids.length} tokens), f16 KV cache: max |logit diff| ${vsF32.toExponential(2)} vs f32 cache, ${vsFixture.toExponential(2)} vs fixture (f32 cache: ${maxDiff(a, want).toExponential(2)}); cache ${f16.usage().stateBytes} vs ${f32.usage().stateBytes} bytes`,
      );
      expect(vsFixture).toBeLessThan(1e-2);
      expect(f16.usage().stateBytes * 2).toBe(f32.usage().stateBytes);
      expect(b.length).toBe(V);
      const ids: number[] = [];
      for await (const t of f16.generate(null, { greedy: true, maxTokens: 24, stopOnEos: false })) ids.push(t.id);
      [f32, f16].forEach((x) => x.dispose());
      // Steps whose reference margin is within the F16 cache's error count as near-ties.
      expectGreedyEqual(
        ids,
        c.greedy_ids,
        c.greedy_top1_margin.map((m) => (m < 2e-2 ? 0 : m)),
      );
    }
  });

  it("last-position logits within 2e-3 and top-10 ids at every prompt position (ties within 1e-3 excepted), all 4 prompts", async () => {
    expect(cases.length).toBe(4);
    const V = model.info.vocabSize;
    for (const [i, c] of cases.entries()) {
      const all = await fullForwardLogits(model, c.prompt_ids);
      const T = c.prompt_ids.length;
      const logits = all.subarray((T - 1) * V, T * V);
      const want = await readFixtureTensor("gpt2-gutenberg-logits.safetensors", `prompt${i}.last_logits`);
      let worst = 0;
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[v] - want[v]));
      console.log(`prompt ${i} (${T} tokens): max |last logit diff| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(2e-3);
      for (let t = 0; t < T; t++) {
        const row = all.subarray(t * V, (t + 1) * V);
        const ours = topK(row, 10);
        c.top10_ids[t].forEach((id, k) => {
          if (ours[k] !== id) expect(Math.abs(row[ours[k]] - c.top10_logits[t][k]), `prompt ${i} position ${t} rank ${k}`).toBeLessThan(1e-3);
        });
      }
    }
  });

  it("64 greedy tokens through the KV cache equal the fixture up to the first near-tie", async () => {
    for (const c of cases) expectGreedyEqual(await greedy(model, c.prompt_ids, 64), c.greedy_ids, c.greedy_top1_margin);
  }, 600_000);

  it("perplexity of the first 4096 val ids within 0.2% of 95.421", async () => {
    const fx = await readJsonFile<{ val4096_ppl: number }>(fixture("reference/gpt2-gutenberg.json"));
    const val = await readJsonFile<{ ids: number[] }>(fixture("reference/gutenberg_val_ids.json"));
    const r = await evaluatePerplexity(model, val.ids.slice(0, 4096), { window: 1024 });
    console.log(`val4096 perplexity ${r.perplexity.toFixed(4)} (reference ${Number(fx.val4096_ppl).toFixed(4)}) over ${r.predicted} tokens in ${(r.ms / 1000).toFixed(0)} s`);
    expect(r.predicted).toBe(4095);
    expect(Math.abs(r.perplexity / Number(fx.val4096_ppl) - 1)).toBeLessThan(0.002);
  }, 900_000); // four 1024-token windows: about 5 minutes on SwiftShader
});
