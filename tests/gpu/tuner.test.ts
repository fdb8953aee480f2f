// The kernel tuner: it keeps the fastest candidate, a second choice from the same store
// measures nothing, and a choice stored for another adapter (or for a variant no longer
// offered, or an unreadable store) is measured again.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { KernelDispatch } from "../../src/gpu/dispatch.js";
import { adapterKey, KernelTuner } from "../../src/gpu/tuner.js";
import { memoryTunerStore, type TunerStore } from "../../src/base/tuner-store.js";
import { matmul } from "../../src/kernels/matmul.js";
import { uploadMatrix, releaseTensor } from "../../src/kernels/weights.js";
import type { GpuTensor } from "../../src/gpu/tensor.js";
import { testGpu } from "../helpers/gpu.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
let w: GpuTensor;
let x: GPUBuffer;
let out: GPUBuffer;
beforeAll(async () => {
  gpu = await testGpu();
  w = uploadMatrix(gpu, "w", { dtype: "f32", data: randomF32(2048 * 512, 1, 0.1) }, [2048, 512]);
  x = gpu.upload(randomF32(512, 2, 1), "x");
  out = gpu.createStorage(2048 * 4, "out");
  return () => {
    releaseTensor(gpu, w);
    gpu.pool.release(x);
    gpu.pool.release(out);
  };
});

/**
 * "once": one GEMV; "eightfold": the same GEMV eight times, so it costs several times as much
 * (three times was not enough margin: on a busy 2-core CI machine it once measured faster).
 */
function candidates(): Map<string, () => KernelDispatch[]> {
  const gemv = () => matmul(gpu, { x, w, out, M: 1 });
  return new Map([
    ["eightfold", () => Array.from({ length: 8 }, gemv)],
    ["once", () => [gemv()]],
  ]);
}

describe("KernelTuner", () => {
  it("keeps the fastest candidate and a second tuner on the same store measures nothing", async () => {
    const store = memoryTunerStore();
    const first = new KernelTuner(gpu, store);
    const choice = await first.choose("gemv 2048x512", candidates());
    expect(choice.variant).toBe("once");
    expect(choice.cached).toBe(false);
    expect(Object.keys(choice.timingsMs).sort()).toEqual(["eightfold", "once"]);
    expect(choice.timingsMs.once).toBeLessThan(choice.timingsMs.eightfold);
    expect(first.runs).toBeGreaterThan(0);
    const second = new KernelTuner(gpu, store);
    const again = await second.choose("gemv 2048x512", candidates());
    expect(again).toEqual({ ...choice, cached: true });
    expect(second.runs).toBe(0);
  });

  it("does not use a choice stored for another adapter, or for a variant not offered now", async () => {
    const other = JSON.stringify({ "other|adapter": { "gemv 2048x512": { variant: "eightfold", timingsMs: {} } }, [adapterKey(gpu)]: { "gemv 2048x512": { variant: "retired", timingsMs: {} } } });
    const store: TunerStore = memoryTunerStore();
    await store.save(other);
    const tuner = new KernelTuner(gpu, store);
    const choice = await tuner.choose("gemv 2048x512", candidates());
    expect(choice).toMatchObject({ variant: "once", cached: false });
    expect(tuner.runs).toBeGreaterThan(0);
    // The other adapter's entry survives the rewrite.
    const saved = JSON.parse((await store.load())!);
    expect(saved["other|adapter"]["gemv 2048x512"].variant).toBe("eightfold");
    expect(saved[adapterKey(gpu)]["gemv 2048x512"].variant).toBe("once");
  });

  it("measures again when the store holds something unreadable, and rewrites it", async () => {
    const store = memoryTunerStore();
    await store.save("{ not json");
    const choice = await new KernelTuner(gpu, store).choose("gemv 2048x512", candidates());
    expect(choice.cached).toBe(false);
    expect(JSON.parse((await store.load())!)[adapterKey(gpu)]["gemv 2048x512"].variant).toBe("once");
  });

  it("keepFirst: the first candidate stays unless another is faster by that share", async () => {
    // "eightfold" first: "once" takes a fraction of its time (at most an eighth plus the submit),
    // so it wins a 10% margin and loses a 95% one (it would have to run in a twentieth).
    const first = new Map([...candidates()]);
    const wins = await new KernelTuner(gpu, memoryTunerStore()).choose("gemv 2048x512", first, { keepFirst: 0.1 });
    expect(wins.variant).toBe("once");
    const kept = await new KernelTuner(gpu, memoryTunerStore()).choose("gemv 2048x512", first, { keepFirst: 0.95 });
    expect(kept.variant).toBe("eightfold");
    expect(kept.timingsMs.once).toBeLessThan(kept.timingsMs.eightfold);
  });

  it("releases every candidate's uniform buffers", async () => {
    const before = gpu.getPoolStats();
    const made: KernelDispatch[][] = [];
    const tracked = new Map([...candidates()].map(([name, build]) => [name, () => (made.push(build()), made[made.length - 1])] as const));
    await new KernelTuner(gpu, memoryTunerStore()).choose("gemv 2048x512", tracked);
    expect(made.length).toBe(2);
    expect(gpu.getPoolStats().liveBuffers).toBe(before.liveBuffers);
  });
});
