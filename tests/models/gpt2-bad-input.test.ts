// Bad input for GPT-2 loading and generation: clear errors, no crashes, no leaks.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import type { Gpu } from "../../src/gpu/device.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { loadLanguageModel } from "../../src/models/load.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { openSafetensors, writeSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";
import { isMnemoError, type MnemoErrorCode } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { fixture } from "../helpers/models.js";

let gpu: Gpu;
let model: LanguageModel;
const config = JSON.parse(readFileSync(fixture("models/tiny-gpt2/config.json"), "utf8"));
const weights = readFileSync(fixture("models/tiny-gpt2/model.safetensors"));

beforeAll(async () => {
  gpu = await testGpu();
  model = await load({ "config.json": Buffer.from(JSON.stringify(config)), "model.safetensors": weights });
});
afterAll(() => model?.dispose());

async function load(files: Record<string, Uint8Array>): Promise<LanguageModel> {
  return loadLanguageModel(gpu, await resolveModelFiles(files));
}

/** `p` must reject with a MnemoError of `code` (a resolved promise fails). */
async function expectCode(p: Promise<unknown>, code: MnemoErrorCode, message?: RegExp): Promise<void> {
  const err = await p.then(
    (v) => `a resolved promise (${String(v)})`,
    (e: unknown) => e,
  );
  expect(isMnemoError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  if (message) expect(String(err)).toMatch(message);
}

describe("GPT-2 refuses bad model files", () => {
  it("a truncated safetensors file", () => expectCode(load({ "config.json": Buffer.from(JSON.stringify(config)), "model.safetensors": weights.subarray(0, weights.length - 1000) }), "BAD_MODEL_FILE"));

  it("out-of-range offsets", async () => {
    const n = Number(weights.readBigUInt64LE(0));
    const header = JSON.parse(weights.subarray(8, 8 + n).toString());
    const first = Object.keys(header).find((k) => k !== "__metadata__")!;
    header[first].data_offsets = [0, 10 ** 9];
    const h = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    await expectCode(
      load({ "config.json": Buffer.from(JSON.stringify(config)), "model.safetensors": Buffer.concat([len, h, weights.subarray(8 + n)]) }),
      "BAD_MODEL_FILE",
      new RegExp(first.replace(/\./g, "\\.")),
    );
  });

  it("an unsupported activation in config.json", () =>
    expectCode(load({ "config.json": Buffer.from(JSON.stringify({ ...config, activation_function: "relu" })), "model.safetensors": weights }), "UNSUPPORTED_MODEL", /relu/));

  it("a missing tensor, named", async () => {
    const st = await openSafetensors(bufferSource(weights));
    const kept = [];
    for (const info of st.tensors.values()) {
      if (info.name === "h.1.mlp.c_fc.bias") continue;
      kept.push({ name: info.name, dtype: info.dtype, shape: info.shape, data: await st.readRaw(info.name) });
    }
    await expectCode(load({ "config.json": Buffer.from(JSON.stringify(config)), "model.safetensors": writeSafetensors(kept) }), "BAD_MODEL_FILE", /h\.1\.mlp\.c_fc\.bias/);
  });
});

describe("GPT-2 generation under stress", () => {
  it("a 5000-token prompt is truncated by the overflow policy, or refused with CONTEXT_FULL", async () => {
    const prompt = Array.from({ length: 5000 }, (_, i) => (i * 7) % 1000);
    const s = new Session(model);
    const out: number[] = [];
    for await (const t of s.generate(prompt, { greedy: true, maxTokens: 40 })) out.push(t.id);
    expect(out.length).toBe(40);
    expect(s.usage().droppedTokens).toBeGreaterThan(4900);
    expect(s.usage().tokens).toBeLessThanOrEqual(64);
    s.dispose();
    const strict = new Session(model);
    await expectCode(strict.append(prompt, { overflow: "error" }), "CONTEXT_FULL");
    strict.dispose();
  });

  it("a 3000-token conversation on a 64-position model runs through the overflow policy", async () => {
    const s = new Session(model, { overflowPolicy: { keepFirst: 4 } });
    let total = 0;
    for (let turn = 0; turn < 60; turn++) {
      const ids = Array.from({ length: 25 }, (_, i) => (turn * 31 + i) % 1000);
      for await (const t of s.generate(ids, { maxTokens: 25, seed: turn, temperature: 1 })) total += t.id >= 0 ? 1 : 0;
      total += 25;
      expect(s.usage().tokens).toBeLessThanOrEqual(64);
    }
    expect(total).toBe(3000);
    expect(s.tokens.slice(0, 4)).toEqual([0, 1, 2, 3]); // the kept first part survives
    s.dispose();
  });

  it("100 aborted generations each reject with ABORTED right after the abort, and leak no GPU buffers", async () => {
    const before = gpu.getPoolStats();
    for (let i = 0; i < 100; i++) {
      const s = new Session(model);
      const controller = new AbortController();
      const abortAfter = 1 + (i % 3);
      let n = 0;
      const run = async () => {
        for await (const _t of s.generate([1, 2, 3], { maxTokens: 20, signal: controller.signal, seed: i })) {
          if (++n === abortAfter) controller.abort();
        }
      };
      // Fails when the abort is ignored (the 20 tokens would finish without a rejection).
      await expect(run()).rejects.toSatisfy((e: unknown) => isMnemoError(e, "ABORTED"));
      expect(n, `generation ${i}`).toBe(abortAfter);
      s.dispose();
    }
    const after = gpu.getPoolStats();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  it("refuses token ids outside the vocabulary", async () => {
    const s = new Session(model);
    await expectCode(s.append([5, 1000]), "BAD_INPUT", /outside the vocabulary/);
    s.dispose();
  });
});
