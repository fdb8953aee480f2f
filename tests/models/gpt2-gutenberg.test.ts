// The bundled GPT-2 (F16) and its GGUF versions against the PyTorch / float32 references.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { testGpu } from "../helpers/gpu.js";
import { argmaxOf, fixture, loadModelAt, readFixtureTensor, readJsonFile } from "../helpers/models.js";

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
  it("last-position logits within 2e-3 for the short prompts", async () => {
    for (const [i, c] of cases.entries()) {
      if (c.prompt_ids.length > 64) continue; // the 900-token prompt: see the closing note (too slow on SwiftShader for CI today)
      const s = new Session(model);
      await s.append(c.prompt_ids);
      const logits = await gpu.readF32((s as unknown as { pendingPlan: { logits: GPUBuffer } }).pendingPlan.logits, model.info.vocabSize);
      s.dispose();
      const want = await readFixtureTensor("gpt2-gutenberg-logits.safetensors", `prompt${i}.last_logits`);
      let worst = 0;
      for (let v = 0; v < want.length; v++) worst = Math.max(worst, Math.abs(logits[v] - want[v]));
      console.log(`prompt ${i}: max |logit diff| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(2e-3);
      // The top-10 of the last position (ties within 1e-3 may swap).
      const ref = c.top10_ids.at(-1)!;
      const refLogits = c.top10_logits.at(-1)!;
      const ours = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 10);
      ours.forEach((id, k) => {
        if (id !== ref[k]) expect(Math.abs(logits[id] - refLogits[k])).toBeLessThan(1e-3);
      });
      expect(argmaxOf(logits)).toBe(ref[0]);
    }
  });

  it("greedy tokens through the KV cache equal the fixture up to the first near-tie", async () => {
    for (const c of cases) {
      if (c.prompt_ids.length > 64) continue;
      expectGreedyEqual(await greedy(model, c.prompt_ids, 24), c.greedy_ids, c.greedy_top1_margin);
    }
  });
});
