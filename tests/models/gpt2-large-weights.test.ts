// Weights larger than one binding: on an adapter whose maxStorageBufferBindingSize is forced
// to WebGPU's default of 128 MiB (many browsers and phones have no more), GPT-2 124M with f32
// weights (a 154 MB token table, split by rows) and GPT-2 1.5B with Q8_0 weights load and
// decode; the split table gives the unsplit one's logits.
import { describe, it, expect } from "vitest";
import { createGpu } from "../../src/gpu/device.js";
import { loadSyntheticModel } from "../../src/models/synthetic.js";
import type { Gpt2Model } from "../../src/models/gpt2.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { errorReport } from "../helpers/compare.js";

const MIB_128 = 128 * 2 ** 20;
const PROMPT = [464, 2068, 7586, 21831, 18045, 625];

/** Next-token logits after `prompt` (a prefill) and after one more token (a decode step). */
async function logitsOf(model: LanguageModel, prompt = PROMPT): Promise<{ prefill: Float32Array; decode: Float32Array }> {
  const s = new Session(model);
  try {
    await s.append(prompt);
    const prefill = await s.nextTokenLogits();
    await s.append([262]);
    return { prefill, decode: await s.nextTokenLogits() };
  } finally {
    s.dispose();
  }
}

describe("weights larger than one binding (maxStorageBufferBindingSize forced to 128 MiB)", () => {
  it("GPT-2 124M in f32: the token table is split in two and gives the unsplit table's logits", async () => {
    const small = await createGpu({ quiet: true, limits: { maxStorageBufferBindingSize: MIB_128 } });
    const big = await createGpu({ quiet: true });
    try {
      expect(small.limits.maxStorageBufferBindingSize).toBe(MIB_128);
      const split = (await loadSyntheticModel(small, "synthetic:gpt2-124m", { quant: "f32", kernels: { decodeMatmul: "f32" } })) as Gpt2Model;
      const whole = (await loadSyntheticModel(big, "synthetic:gpt2-124m", { quant: "f32", kernels: { decodeMatmul: "f32" } })) as Gpt2Model;
      expect(split.weights.wte.parts?.length).toBe(2);
      expect(split.weights.wte.parts!.every((p) => p.byteSize <= MIB_128)).toBe(true);
      expect(whole.weights.wte.parts).toBeUndefined();
      const got = await logitsOf(split);
      const want = await logitsOf(whole);
      // The same kernels on the same rows: only the buffers differ.
      for (const k of ["prefill", "decode"] as const) {
        const { maxAbs } = errorReport(got[k], want[k]);
        console.log(`124M f32 split token table, ${k} logits: max |diff| from unsplit ${maxAbs.toExponential(2)}`);
        expect(maxAbs, k).toBe(0);
      }
      split.dispose();
      whole.dispose();
    } finally {
      small.destroy();
      big.destroy();
    }
  }, 300_000);

  it("GPT-2 1.5B with Q8_0 weights loads and decodes", async () => {
    const gpu = await createGpu({ quiet: true, limits: { maxStorageBufferBindingSize: MIB_128 } });
    try {
      const model = await loadSyntheticModel(gpu, "synthetic:gpt2-1.5b", { quant: "q8_0", kernels: { decodeMatmul: "i8-rows4" } });
      expect(model.info.description).toContain("48 layers, 1600 wide");
      // One token, then another: two decode steps (a 1.5B prefill costs a minute on SwiftShader).
      const { prefill, decode } = await logitsOf(model, PROMPT.slice(0, 1));
      for (const row of [prefill, decode]) {
        expect(row.length).toBe(50257);
        expect(row.every(Number.isFinite)).toBe(true);
      }
      // A decode step moved the distribution (the new token was read).
      expect(errorReport(decode, prefill).maxAbs).toBeGreaterThan(0);
      model.dispose();
    } finally {
      gpu.destroy();
    }
  }, 600_000);
});
