// Three public functions no other test calls: isWebGpuAvailable (both entries),
// clearModelCache (with a Cache Storage stand-in around real loadModel() downloads over
// HTTP; Node has no Cache Storage), and a session's onKernelProfile callback.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { clearModelCache, isWebGpuAvailable as browserIsWebGpuAvailable, loadModel as browserLoadModel, type KernelProfile } from "../../src/index.js";
import { isWebGpuAvailable, loadModel } from "../../src/node.js";
import { installNodeHost } from "../../src/host.js";
import { NODE_HOST } from "../../src/node-host.js";
import { MODEL_CACHE_NAME, type FileProgress } from "../../src/loading/cache.js";
import type { Gpu } from "../../src/gpu/device.js";
import { testGpu } from "../helpers/gpu.js";
import { ROOT } from "../helpers/models.js";

const TINY = join(ROOT, "tests/fixtures/models/tiny-gpt2");
let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe("isWebGpuAvailable", () => {
  it("is true through the Node entry, and in the browser entry only with navigator.gpu or the Node host", () => {
    const g = globalThis as { navigator?: unknown };
    const navigator = Object.getOwnPropertyDescriptor(g, "navigator");
    try {
      Object.defineProperty(g, "navigator", { value: {}, configurable: true, writable: true });
      installNodeHost(undefined);
      expect(browserIsWebGpuAvailable()).toBe(false);
      Object.defineProperty(g, "navigator", { value: { gpu: {} }, configurable: true, writable: true });
      expect(browserIsWebGpuAvailable()).toBe(true);
      Object.defineProperty(g, "navigator", { value: {}, configurable: true, writable: true });
      installNodeHost(NODE_HOST);
      expect(browserIsWebGpuAvailable()).toBe(true);
      // The Node entry installs its host itself (a bundler may have dropped its top level).
      installNodeHost(undefined);
      expect(isWebGpuAvailable()).toBe(true);
      expect(browserIsWebGpuAvailable()).toBe(true);
    } finally {
      if (navigator) Object.defineProperty(g, "navigator", navigator);
      else delete g.navigator;
      installNodeHost(NODE_HOST);
    }
  });
});

/** A Cache Storage stand-in: named buckets of URL → bytes, with the methods Mnemo calls. */
function memoryCacheStorage() {
  const buckets = new Map<string, Map<string, Uint8Array>>();
  const bucket = (name: string) => {
    let b = buckets.get(name);
    if (!b) buckets.set(name, (b = new Map()));
    return b;
  };
  return {
    buckets,
    storage: {
      open: async (name: string) => {
        const b = bucket(name);
        return {
          match: async (url: string) => (b.has(url) ? new Response(b.get(url)! as Uint8Array<ArrayBuffer>) : undefined),
          put: async (url: string, res: Response) => void b.set(url, new Uint8Array(await res.arrayBuffer())),
          delete: async (url: string) => b.delete(url),
        };
      },
      delete: async (name: string) => buckets.delete(name),
      has: async (name: string) => buckets.has(name),
      keys: async () => [...buckets.keys()],
    },
  };
}

describe("clearModelCache", () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const name = (req.url ?? "/").split("/").pop()!;
      requests.push(name);
      try {
        const bytes = await readFile(join(TINY, name));
        res.writeHead(200, { "content-length": bytes.byteLength }).end(bytes);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tiny/`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  it("resolves to false where there is no Cache Storage (Node)", async () => {
    expect(typeof (globalThis as { caches?: unknown }).caches).toBe("undefined");
    expect(await clearModelCache()).toBe(false);
  });

  it("deletes Mnemo's bucket (and no other), so the next load downloads again", async () => {
    const { buckets, storage } = memoryCacheStorage();
    (globalThis as { caches?: unknown }).caches = storage;
    await (await storage.open("another-app")).put("http://x/y", new Response("kept"));
    const load = async () => {
      const seen: FileProgress[] = [];
      const before = requests.length;
      const model = await browserLoadModel(base, { device: gpu.device, onProgress: (p) => seen.push(p) });
      expect(model.info.vocabSize).toBe(1000);
      model.dispose();
      const weights = seen.filter((p) => p.file === "model.safetensors").at(-1);
      return { fromCache: weights?.fromCache, downloaded: requests.slice(before).filter((n) => n === "model.safetensors").length };
    };
    try {
      expect(await load()).toEqual({ fromCache: false, downloaded: 1 });
      expect([...(buckets.get(MODEL_CACHE_NAME)?.keys() ?? [])]).toContain(`${base}model.safetensors`);
      expect(await load()).toEqual({ fromCache: true, downloaded: 0 });
      expect(await clearModelCache()).toBe(true);
      expect([...buckets.keys()]).toEqual(["another-app"]);
      expect(await load()).toEqual({ fromCache: false, downloaded: 1 });
      // Nothing left to delete is not an error.
      expect(await clearModelCache()).toBe(true);
      expect(await clearModelCache()).toBe(false);
    } finally {
      delete (globalThis as { caches?: unknown }).caches;
    }
  });
});

describe("onKernelProfile", () => {
  it("delivers one profile per step: the prefill, then each decode step with every dispatch of it timed", async () => {
    const model = await loadModel(TINY, { device: gpu.device });
    // SwiftShader (CI) and Chromium expose timestamp-query; without it session() refuses (error-codes.test.ts).
    expect(model.info.hasTimestamps).toBe(true);
    const profiles: KernelProfile[] = [];
    const session = model.session({ onKernelProfile: (p) => profiles.push(p) });
    const ids: number[] = [];
    for await (const t of session.generate([5, 6, 7, 8, 9], { greedy: true, maxTokens: 4, stopOnEos: false })) ids.push(t.id);
    session.dispose();
    model.dispose();

    expect(ids).toHaveLength(4);
    const calls = (p: KernelProfile, sampler: boolean) => p.kernels.filter((k) => k.kernel.startsWith("sample") === sampler).reduce((n, k) => n + k.callsPerStep, 0);
    console.log(`profiles: ${profiles.map((p) => `${p.kind} (${calls(p, false)} + ${calls(p, true)} sampler dispatches, ${p.gpuMs.toFixed(2)} ms)`).join(", ")}`);
    expect(profiles[0].kind).toBe("prefill");
    expect(calls(profiles[0], false)).toBeGreaterThan(0);
    for (const p of profiles) {
      expect(p.gpuMs).toBeGreaterThan(0);
      expect(p.gpuMs).toBeCloseTo(
        p.kernels.reduce((s, k) => s + k.msPerStep, 0),
        9,
      );
      for (let i = 1; i < p.kernels.length; i++) expect(p.kernels[i - 1].msPerStep).toBeGreaterThanOrEqual(p.kernels[i].msPerStep);
    }
    // Each of the 4 tokens is sampled in one profiled step; tokens 2..4 each need a decode
    // step that feeds the previous one: 1 embedding + 2 layers × 5 + the fused ln_f/LM-head GEMV
    // (+ 2 where the tuner measured the split attention faster: its combine per layer).
    expect(profiles.filter((p) => calls(p, true) > 0)).toHaveLength(4);
    const forwards = profiles.filter((p) => p.kind === "decode" && calls(p, false) > 0);
    expect(forwards).toHaveLength(3);
    const split = model.info.kernels?.attention?.variant === "split";
    for (const p of forwards) {
      expect(calls(p, false)).toBe(split ? 14 : 12);
      expect(p.kernels.map((k) => k.kernel)).toEqual(expect.arrayContaining(["embedding_f32", split ? "attention_split_f32" : "attention_f32"]));
    }
  });
});
