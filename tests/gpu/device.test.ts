import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { residualAdd, gelu } from "../../src/kernels/elementwise.js";
import { MnemoError, isMnemoError } from "../../src/errors.js";
import { shaderSource } from "../../src/gpu/shader-source.js";
import { WGSL_SOURCES } from "../../src/gpu/wgsl.generated.js";
import { freshGpu, testGpu } from "../helpers/gpu.js";
import { caughtAsync } from "../helpers/errors.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe("device", () => {
  it("exposes adapter, limits and features", () => {
    expect(gpu.adapter.vendor.length + gpu.adapter.architecture.length).toBeGreaterThan(0);
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(gpu.features instanceof Set).toBe(true);
  });

  it("refuses a binding larger than maxStorageBufferBindingSize with TOO_LARGE", async () => {
    const err = await caughtAsync(() => gpu.createStorage(gpu.limits.maxStorageBufferBindingSize + 4, "huge"));
    expect(isMnemoError(err, "TOO_LARGE")).toBe(true);
    expect(String(err)).toMatch(/maxStorageBufferBindingSize/);
  });
});

describe("buffer pool", () => {
  it("reuses released buffers instead of creating new ones", () => {
    const a = gpu.createStorage(1000, "a");
    gpu.pool.release(a);
    const created = gpu.getPoolStats().created;
    const b = gpu.createStorage(1000, "b");
    expect(b).toBe(a);
    expect(gpu.getPoolStats().created).toBe(created);
    gpu.pool.release(b);
  });

  it("counts live buffers and bytes", () => {
    const before = gpu.getPoolStats();
    const x = gpu.createStorage(4096, "x");
    expect(gpu.getPoolStats().liveBuffers).toBe(before.liveBuffers + 1);
    expect(gpu.getPoolStats().liveBytes).toBe(before.liveBytes + 4096);
    gpu.pool.release(x);
    expect(gpu.getPoolStats().liveBuffers).toBe(before.liveBuffers);
  });
});

describe("pipeline cache", () => {
  it("never creates the same pipeline twice", () => {
    const a = gpu.createStorage(64, "a");
    const d1 = residualAdd(gpu, { a, b: a, out: a, n: 16 });
    const created = gpu.pipelines.created;
    const d2 = residualAdd(gpu, { a, b: a, out: a, n: 8 });
    expect(d2.pipeline).toBe(d1.pipeline);
    expect(gpu.pipelines.created).toBe(created);
    const d3 = gelu(gpu, { x: a, out: a, n: 8 });
    expect(d3.pipeline).not.toBe(d1.pipeline);
    releaseDispatches(gpu, [d1, d2, d3]);
    gpu.pool.release(a);
  });

  it("rejects an undefined shader switch instead of guessing", () => {
    expect(() => shaderSource("elementwise", {})).toThrow(/did not define/);
  });

  it("pulls shared snippets in where a file says #include, once per file", () => {
    const softmax = shaderSource("softmax");
    expect(softmax).not.toMatch(/^[ \t]*#include/m);
    expect(softmax.match(/fn workgroup_reduce\(/g)).toHaveLength(1);
    const mix = shaderSource("knn", { DISTANCES: false, TILED: false, KEYS_F16: false, TOPK: false, WITH_INDEX: false, MIX: true });
    expect(mix.match(/fn workgroup_reduce\(/g)).toHaveLength(1);
    // The include sits inside layernorm's workgroup branch: the other variant does not get it.
    expect(shaderSource("layernorm", { PER_ROW: false })).toMatch(/fn workgroup_reduce\(/);
    expect(shaderSource("layernorm", { PER_ROW: true })).not.toMatch(/fn workgroup_reduce\(/);
  });

  it("refuses an include that is not a snippet of shaders/common, and nested includes", () => {
    const sources = WGSL_SOURCES as Record<string, string>;
    const cases = {
      "test/unknown": "#include common/nope\n",
      "test/outside": "#include softmax\n",
      "common/test_nested": "#include common/workgroup_reduce\n",
      "test/nested": "#include common/test_nested\n",
    };
    Object.assign(sources, cases);
    try {
      expect(() => shaderSource("test/unknown")).toThrow(/not a snippet in shaders\/common/);
      expect(() => shaderSource("test/outside")).toThrow(/not a snippet in shaders\/common/);
      expect(() => shaderSource("test/nested")).toThrow(/may not nest/);
    } finally {
      for (const name of Object.keys(cases)) delete sources[name];
    }
  });
});

describe("readback", () => {
  it("returns exactly the bytes asked for, odd sizes included", async () => {
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    const b = gpu.upload(data, "odd");
    expect([...new Uint8Array(await gpu.readback(b, 7))]).toEqual([...data]);
    expect([...new Uint8Array(await gpu.readback(b, 3, 4))]).toEqual([5, 6, 7]);
    gpu.pool.release(b);
  });
});

describe("device loss", () => {
  it("turns a destroyed device into DEVICE_LOST for pending and later calls", async () => {
    const g = await freshGpu();
    const n = 1 << 16;
    const x = g.upload(new Float32Array(n).fill(1), "x");
    const out = g.createStorage(n * 4, "out");
    runDispatches(g, [gelu(g, { x, out, n })]);
    // The readback's map is still pending when the device goes (destroy() runs before any
    // await could let it finish): it must reject with DEVICE_LOST, not resolve or hang.
    const pending = g.readF32(out);
    g.destroy();
    const err = await caughtAsync(() => pending);
    expect(isMnemoError(err, "DEVICE_LOST"), String(err)).toBe(true);
    const later = await caughtAsync(() => g.readF32(out));
    expect(later).toBeInstanceOf(MnemoError);
    expect((later as MnemoError).code).toBe("DEVICE_LOST");
    expect(String(later)).toMatch(/Load the model again/);
    const dispatchErr = await caughtAsync(() => gelu(g, { x, out, n }));
    expect(isMnemoError(dispatchErr, "DEVICE_LOST")).toBe(true);
  });
});
