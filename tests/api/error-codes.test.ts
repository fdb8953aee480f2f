// Every error code the public API raises from bad input or bad state, reached through the
// package's entry points (src/node.ts in Node, src/index.ts where there is no Node host):
// each failure is a MnemoError with that code. INTERNAL (a bug in Mnemo) has no trigger.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { loadModel, isMnemoError, type Model, type MnemoErrorCode } from "../../src/node.js";
import { loadModel as loadModelWithoutNode } from "../../src/index.js";
import { installNodeHost } from "../../src/host.js";
import { NODE_HOST } from "../../src/node-host.js";
import { writeSafetensors, type SafetensorsTensorInput } from "../../src/formats/safetensors.js";
import { caughtAsync } from "../helpers/errors.js";
import { fixture } from "../helpers/models.js";

const TINY = fixture("models/tiny-gpt2");
const tinyConfig = JSON.parse(readFileSync(fixture("models/tiny-gpt2/config.json"), "utf8"));
const tinyWeights = readFileSync(fixture("models/tiny-gpt2/model.safetensors"));
const prompt = [5, 17, 99, 3];
let model: Model;

beforeAll(async () => {
  model = await loadModel(TINY);
});
afterAll(() => model?.dispose());

async function expectCode(code: MnemoErrorCode, run: () => unknown): Promise<void> {
  const err = await caughtAsync(run);
  expect(isMnemoError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as Error).message.length).toBeGreaterThan(10);
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    /* consume */
  }
}

/** A GPT-2 of the given sizes with small random weights (HF tensor names). */
function gpt2Files(sizes: { vocab: number; dim: number; positions: number }): Record<string, Uint8Array> {
  const { vocab: V, dim: D, positions: P } = sizes;
  let seed = 1;
  const values = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.1);
  const t = (name: string, shape: number[]): SafetensorsTensorInput => ({ name, dtype: "F32", shape, data: values(shape.reduce((a, b) => a * b, 1)) });
  const tensors = [
    t("wte.weight", [V, D]),
    t("wpe.weight", [P, D]),
    t("h.0.ln_1.weight", [D]),
    t("h.0.ln_1.bias", [D]),
    t("h.0.ln_2.weight", [D]),
    t("h.0.ln_2.bias", [D]),
    t("h.0.attn.c_attn.weight", [D, 3 * D]),
    t("h.0.attn.c_attn.bias", [3 * D]),
    t("h.0.attn.c_proj.weight", [D, D]),
    t("h.0.attn.c_proj.bias", [D]),
    t("h.0.mlp.c_fc.weight", [D, 4 * D]),
    t("h.0.mlp.c_fc.bias", [4 * D]),
    t("h.0.mlp.c_proj.weight", [4 * D, D]),
    t("h.0.mlp.c_proj.bias", [D]),
    t("ln_f.weight", [D]),
    t("ln_f.bias", [D]),
  ];
  const config = { model_type: "gpt2", vocab_size: V, n_embd: D, n_head: 2, n_layer: 1, n_positions: P, n_inner: null, layer_norm_epsilon: 1e-5 };
  return { "config.json": new TextEncoder().encode(JSON.stringify(config)), "model.safetensors": writeSafetensors(tensors) };
}

describe("MnemoError codes from the public API", () => {
  it("NO_WEBGPU: no navigator.gpu and no Node host (the browser entry run in Node)", async () => {
    installNodeHost(undefined);
    try {
      await expectCode("NO_WEBGPU", () => loadModelWithoutNode({ "config.json": Buffer.from(JSON.stringify(tinyConfig)), "model.safetensors": tinyWeights }));
    } finally {
      installNodeHost(NODE_HOST);
    }
  });

  it("BAD_MODEL_FILE: corrupt weights", async () => {
    await expectCode("BAD_MODEL_FILE", () => loadModel({ "model.gguf": new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 1]) }));
    await expectCode("BAD_MODEL_FILE", () => loadModel({ "config.json": Buffer.from(JSON.stringify(tinyConfig)), "model.safetensors": tinyWeights.subarray(0, 5000) }));
  });

  it("UNSUPPORTED_MODEL: an architecture Mnemo does not run", async () => {
    const config = { ...tinyConfig, model_type: "llama" };
    await expectCode("UNSUPPORTED_MODEL", () => loadModel({ "config.json": Buffer.from(JSON.stringify(config)), "model.safetensors": tinyWeights }));
  });

  it("BAD_INPUT: an empty source, a missing path, a bad option", async () => {
    await expectCode("BAD_INPUT", () => loadModel(""));
    await expectCode("BAD_INPUT", () => loadModel("/no/such/model/folder"));
    await expectCode("BAD_INPUT", () => drain(model.generate(prompt, { maxTokens: -1 })));
  });

  it("SHAPE_MISMATCH: weights that do not have the configured shapes", async () => {
    const config = { ...tinyConfig, n_embd: 32, n_head: 2 };
    await expectCode("SHAPE_MISMATCH", () => loadModel({ "config.json": Buffer.from(JSON.stringify(config)), "model.safetensors": tinyWeights }));
  });

  it("a vocabulary the old one-workgroup sampler refused (TOO_LARGE) now samples", async () => {
    // The sampler used to hold the vocabulary in one workgroup's memory; the parallel one
    // splits it across workgroups. TOO_LARGE itself is tested where it can still be reached
    // cheaply: tests/gpu/device.test.ts (a binding over the limit), matmul-fused (a layer norm
    // over workgroup memory).
    const limit = model.languageModel.gpu.limits.maxComputeWorkgroupStorageSize;
    const big = await loadModel(gpt2Files({ vocab: limit * 8 + 64, dim: 4, positions: 8 }));
    try {
      const ids: number[] = [];
      for await (const t of big.generate([1, 2, 3], { maxTokens: 2, stopOnEos: false })) ids.push(t.id);
      expect(ids).toHaveLength(2);
      expect(ids.every((id) => id >= 0 && id < limit * 8 + 64)).toBe(true);
    } finally {
      big.dispose();
    }
  });

  it("CONTEXT_FULL: a full context with overflow 'error'", async () => {
    const long = Array.from({ length: tinyConfig.n_positions - 2 }, (_, i) => (i * 7) % 1000);
    await expectCode("CONTEXT_FULL", () => drain(model.generate(long, { maxTokens: 8, overflow: "error", stopOnEos: false })));
  });

  it("ABORTED: an aborted signal", async () => {
    const controller = new AbortController();
    controller.abort();
    await expectCode("ABORTED", () => drain(model.generate(prompt, { signal: controller.signal })));
    await expectCode("ABORTED", () => loadModel(TINY, { signal: controller.signal }));
  });

  it("BUSY: a second call on a session that is generating", async () => {
    const session = model.session();
    const first = session.generate(prompt, { maxTokens: 4 });
    await first.next();
    await expectCode("BUSY", () => drain(session.generate(prompt, { maxTokens: 1 })));
    await first.return(undefined);
    session.dispose();
  });

  it("DISPOSED: a disposed session, a disposed model, and a session of a disposed model", async () => {
    const session = model.session();
    session.dispose();
    await expectCode("DISPOSED", () => drain(session.generate(prompt)));
    const other = await loadModel(TINY);
    const orphan = other.session();
    const running = orphan.generate(prompt, { maxTokens: 8, stopOnEos: false });
    await running.next();
    other.dispose();
    await expectCode("DISPOSED", () => running.next());
    await expectCode("DISPOSED", () => drain(orphan.generate(prompt)));
    await expectCode("DISPOSED", () => other.session());
    await expectCode("DISPOSED", () => drain(other.generate(prompt)));
    orphan.dispose();
  });

  it("UNSUPPORTED_FEATURE: kernel profiles on a device without timestamp-query", async () => {
    const { adapter } = await NODE_HOST.requestAdapter();
    const device = await adapter!.requestDevice();
    expect(device.features.has("timestamp-query")).toBe(false);
    const plain = await loadModel(TINY, { device });
    try {
      await expectCode("UNSUPPORTED_FEATURE", () => plain.session({ onKernelProfile: () => {} }));
    } finally {
      plain.dispose();
      device.destroy();
    }
  });

  it("DEVICE_LOST: every call after the device is gone", async () => {
    const { adapter } = await NODE_HOST.requestAdapter();
    const device = await adapter!.requestDevice();
    const doomed = await loadModel(TINY, { device });
    const session = doomed.session();
    device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expectCode("DEVICE_LOST", () => drain(session.generate(prompt)));
    await expectCode("DEVICE_LOST", () => drain(doomed.generate(prompt)));
  });

  it("OUT_OF_MEMORY: the device reports a failed allocation while weights upload", async () => {
    const { adapter } = await NODE_HOST.requestAdapter();
    const device = await adapter!.requestDevice();
    // No adapter here runs out of memory on a tiny model, so the device reports it: the
    // out-of-memory scope around the upload answers with an error, as a full GPU would.
    const popErrorScope = device.popErrorScope.bind(device);
    Object.defineProperty(device, "popErrorScope", {
      configurable: true,
      value: async () => (await popErrorScope()) ?? { message: "simulated: allocation failed" },
    });
    try {
      await expectCode("OUT_OF_MEMORY", () => loadModel(TINY, { device }));
    } finally {
      device.destroy();
    }
  });
});
