import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { fixture, fullForwardLogits, loadModelAt, readFixtureTensor, readJsonFile } from "../helpers/models.js";

interface TinyFixture {
  input_ids: number[];
  greedy_ids: number[];
  greedy_top1_margin: number[];
}

let gpu: Gpu;
let model: LanguageModel;
let fx: TinyFixture;

beforeAll(async () => {
  gpu = await testGpu();
  model = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2");
  fx = await readJsonFile<TinyFixture>(fixture("reference/tiny-gpt2.json"));
});
afterAll(() => model?.dispose());

describe("tiny-gpt2 against the PyTorch fixture", () => {
  it("loads the OpenAI naming (no prefix, attn.bias buffers skipped, tied head)", () => {
    expect(model.info.vocabSize).toBe(1000);
    expect(model.info.contextLength).toBe(64);
  });

  it("logits at all 24 positions within 1e-3", async () => {
    const want = await readFixtureTensor("tiny-gpt2-logits.safetensors", "input_logits");
    const got = await fullForwardLogits(model, fx.input_ids);
    expectClose("tiny-gpt2 input logits", got, want, { atol: 1e-3 });
  });

  it("40 greedy tokens through the KV cache equal the fixture", async () => {
    const session = new Session(model);
    const ids: number[] = [];
    for await (const t of session.generate(fx.input_ids, { greedy: true, maxTokens: 40, stopOnEos: false })) ids.push(t.id);
    // Compare up to the first near-tie (reference margin below 1e-3).
    const tie = fx.greedy_top1_margin.findIndex((m) => m < 1e-3);
    const n = tie < 0 ? 40 : tie + 1;
    expect(ids.slice(0, n)).toEqual(fx.greedy_ids.slice(0, n));
    expect(ids.length).toBe(40);
    session.dispose();
  });

  it("logits at step t through the cache equal a fresh full forward within 1e-4 relative", async () => {
    const session = new Session(model);
    const ids = fx.input_ids.slice(0, 10);
    await session.append(ids.slice(0, 6));
    for (const id of ids.slice(6)) await session.append([id]);
    // The last appended position's logits, read from the session's pending plan.
    const cached = await session.nextTokenLogits();
    const full = await fullForwardLogits(model, ids);
    const lastRow = full.subarray(9 * 1000, 10 * 1000);
    expectClose("cache vs full forward", cached, lastRow, { atol: 1e-5, rtol: 1e-4 });
    session.dispose();
  });
});
