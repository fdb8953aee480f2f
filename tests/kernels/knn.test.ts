// kNN-LM kernels against their TypeScript references: distances (f32 and f16 keys, L2 and
// inner product, shards writing into one row), top-k (exact, ties broken by index, across
// several passes) and the mixture p = lambda * p_knn + (1 - lambda) * p_lm.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { knnDistances, knnMix, knnTopK, KNN_NO_INDEX } from "../../src/kernels/knn.js";
import { causalVisibleRef, knnDistancesRef, knnMixRef, knnTopKRef } from "../../src/kernels/reference/knn.js";
import { f16BitsToF32Array, f32ToF16Array } from "../../src/formats/f16.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32, rng } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

/** Small integers: every distance is exact in f32, so exact ties are common and testable. */
function integerKeys(n: number, seed: number, range = 4): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.floor(r() * (2 * range + 1)) - range);
}

async function distances(
  keys: Float32Array,
  n: number,
  dims: number,
  queries: Float32Array,
  rows: number,
  o: { keyType: "f32" | "f16"; metric: "l2" | "ip"; shards: number; live?: number },
): Promise<Float32Array> {
  const out = gpu.createStorage(rows * n * 4, "out");
  const q = gpu.upload(queries, "queries");
  const live = gpu.upload(Uint32Array.of(o.live ?? n), "live");
  const owned: GPUBuffer[] = [out, q, live];
  const per = Math.ceil(n / o.shards);
  const ds = [];
  for (let start = 0; start < n; start += per) {
    const count = Math.min(per, n - start);
    const slice = keys.subarray(start * dims, (start + count) * dims);
    const k = gpu.upload(o.keyType === "f16" ? f32ToF16Array(slice) : slice, "keys");
    owned.push(k);
    ds.push(knnDistances(gpu, { keys: k, keyType: o.keyType, n: count, dims, queries: q, rows, out, outStride: n, outOffset: start, live, metric: o.metric }));
  }
  runDispatches(gpu, ds);
  const got = await gpu.readF32(out, rows * n);
  releaseDispatches(gpu, ds);
  for (const b of owned) gpu.pool.release(b);
  return got;
}

async function topK(dist: Float32Array, n: number, rows: number, k: number): Promise<{ dist: Float32Array; index: Uint32Array; passes: number }> {
  const input = gpu.upload(dist, "dist");
  const plan = knnTopK(gpu, { dist: input, n, rows, k });
  runDispatches(gpu, plan.dispatches);
  const out = { dist: await gpu.readF32(plan.dist, rows * k), index: await gpu.readU32(plan.index, rows * k), passes: plan.dispatches.length };
  plan.dispose();
  gpu.pool.release(input);
  return out;
}

describe("knn distances", () => {
  for (const [keyType, metric, n, dims, rows, shards] of [
    ["f32", "l2", 1, 7, 1, 1],
    ["f32", "l2", 333, 7, 3, 2],
    ["f32", "ip", 2049, 64, 2, 3],
    ["f16", "l2", 333, 6, 3, 1],
    ["f16", "ip", 1000, 256, 1, 4],
    ["f16", "l2", 1001, 12, 5, 2],
    ["f32", "l2", 3, 4, 6, 1],
  ] as const) {
    it(`${keyType} keys, ${metric}, ${n} keys x ${dims} in ${shards} shard(s), ${rows} queries`, async () => {
      const keys = randomF32(n * dims, n + dims, 2);
      const queries = randomF32(rows * dims, 7 * rows + dims, 2);
      const got = await distances(keys, n, dims, queries, rows, { keyType, metric, shards });
      const refKeys = keyType === "f16" ? f16BitsToF32Array(f32ToF16Array(keys)) : keys;
      expectClose(`${keyType} ${metric}`, got, knnDistancesRef(refKeys, n, dims, queries, rows, metric), { atol: 1e-4, rtol: 1e-5 });
    });
  }

  it("keys at or beyond the live count get the largest distance (a growing store)", async () => {
    const [n, dims, rows] = [40, 8, 5];
    const keys = randomF32(n * dims, 3);
    const queries = randomF32(rows * dims, 4);
    for (const dimsCase of [dims, 7]) {
      const got = await distances(keys.subarray(0, n * dimsCase), n, dimsCase, queries.subarray(0, rows * dimsCase), rows, { keyType: "f32", metric: "l2", shards: 2, live: 23 });
      const ref = knnDistancesRef(keys.subarray(0, n * dimsCase), n, dimsCase, queries.subarray(0, rows * dimsCase), rows, "l2");
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < n; j++) {
          if (j < 23) expect(Math.abs(got[r * n + j] - ref[r * n + j])).toBeLessThan(1e-4);
          else expect(got[r * n + j]).toBe(3.4028234663852886e38);
        }
      }
    }
  });

  /**
   * A causal search as a verification runs it: `capacity` ring slots (in 2 shards) that held
   * `appended` entries, then the chunk's own first rows - 1 rows as keys, into one row of
   * capacity + rows - 1 distances per chunk row.
   */
  async function causalDistances(ring: Float32Array, capacity: number, appended: number, chunk: Float32Array, rows: number, dims: number): Promise<Float32Array> {
    const stride = capacity + rows - 1;
    const out = gpu.createStorage(rows * stride * 4, "out");
    const q = gpu.upload(chunk, "chunk");
    const live = gpu.upload(Uint32Array.of(Math.min(appended, capacity), appended), "live");
    const owned: GPUBuffer[] = [out, q, live];
    const per = Math.ceil(capacity / 2);
    const ds = [];
    for (let start = 0; start < capacity; start += per) {
      const count = Math.min(per, capacity - start);
      const k = gpu.upload(ring.subarray(start * dims, (start + count) * dims), "keys");
      owned.push(k);
      const shard = { keys: k, keyType: "f32", n: count, dims, queries: q, rows, out, outStride: stride, outOffset: start, live, metric: "l2" } as const;
      ds.push(knnDistances(gpu, { ...shard, causal: { keys: "ring", capacity } }));
    }
    if (rows > 1) {
      const own = { keys: q, keyType: "f32", n: rows - 1, dims, queries: q, rows, out, outStride: stride, outOffset: capacity, live, metric: "l2" } as const;
      ds.push(knnDistances(gpu, { ...own, causal: { keys: "chunk", capacity } }));
    }
    runDispatches(gpu, ds);
    const got = await gpu.readF32(out, rows * stride);
    releaseDispatches(gpu, ds);
    for (const b of owned) gpu.pool.release(b);
    return got;
  }

  // Ring 37: part filled, filled during the chunk, exactly full, wrapped; a ring smaller than the chunk.
  for (const [capacity, appended, rows, dims] of [
    [37, 10, 5, 12],
    [37, 34, 6, 7],
    [37, 37, 5, 12],
    [37, 100, 9, 7],
    [3, 11, 7, 4],
  ] as const) {
    it(`causal search: ring of ${capacity} after ${appended} appends, a chunk of ${rows} rows x ${dims}: each row sees what decoding would`, async () => {
      const ring = randomF32(capacity * dims, capacity + appended, 2);
      const chunk = randomF32(rows * dims, rows + dims, 2);
      const got = await causalDistances(ring, capacity, appended, chunk, rows, dims);
      const toRing = knnDistancesRef(ring, capacity, dims, chunk, rows, "l2");
      const toChunk = knnDistancesRef(chunk, rows, dims, chunk, rows, "l2");
      const stride = capacity + rows - 1;
      let seen = 0;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < stride; j++) {
          const key = j < capacity ? { slot: j } : { chunkRow: j - capacity };
          const want = !causalVisibleRef(r, key, capacity, appended) ? 3.4028234663852886e38 : j < capacity ? toRing[r * capacity + j] : toChunk[r * rows + j - capacity];
          const g = got[r * stride + j];
          if (want > 1e38) expect(g, `row ${r} key ${j} hidden`).toBe(want);
          else expect(Math.abs(g - want), `row ${r} key ${j}`).toBeLessThan(1e-4);
          if (want < 1e38) seen++;
        }
      }
      // Every row sees min(capacity, entries then appended) keys.
      const expected = Array.from({ length: rows }, (_, r) => Math.min(capacity, appended + r)).reduce((a, b) => a + b, 0);
      expect(seen).toBe(expected);
    });
  }

  it("refuses odd f16 dims and columns that do not fit the row", () => {
    const b = gpu.createStorage(4096, "b");
    expect(
      isMnemoError(
        caught(() => knnDistances(gpu, { keys: b, keyType: "f16", n: 2, dims: 3, queries: b, rows: 1, out: b, outStride: 2, outOffset: 0, live: b, metric: "l2" })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => knnDistances(gpu, { keys: b, keyType: "f32", n: 4, dims: 2, queries: b, rows: 1, out: b, outStride: 5, outOffset: 2, live: b, metric: "l2" })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    gpu.pool.release(b);
  });
});

describe("knn top-k", () => {
  for (const [n, rows, k] of [
    [5, 2, 8],
    [1000, 3, 1],
    [1000, 1, 7],
    [5000, 2, 128],
    [70_000, 1, 128],
    [9000, 2, 256],
  ] as const) {
    it(`n=${n}, rows=${rows}, k=${k}: equal to the reference, ties broken by index`, async () => {
      // Few distinct values: long runs of exact ties that cross chunk and pass boundaries.
      const r = rng(n + k);
      const dist = Float32Array.from({ length: n * rows }, () => Math.floor(r() * 40) / 8);
      if (n > 10) dist[3] = NaN; // sorts last
      const got = await topK(dist, n, rows, k);
      const ref = knnTopKRef(dist, n, rows, k);
      expect(Array.from(got.index)).toEqual(Array.from(ref.index));
      expect(Array.from(got.dist)).toEqual(Array.from(ref.dist));
      if (n < k) expect(got.index[n]).toBe(KNN_NO_INDEX);
      if (n === 70_000) expect(got.passes).toBeGreaterThanOrEqual(3); // one row: small chunks, several passes
    });
  }

  it("distances then top-k on random integer keys equal the reference search exactly", async () => {
    const n = 3000;
    const dims = 16;
    const rows = 3;
    const keys = integerKeys(n * dims, 5);
    const queries = integerKeys(rows * dims, 6);
    for (const keyType of ["f32", "f16"] as const) {
      const d = await distances(keys, n, dims, queries, rows, { keyType, metric: "l2", shards: 2 });
      const got = await topK(d, n, rows, 64);
      const ref = knnTopKRef(knnDistancesRef(keys, n, dims, queries, rows, "l2"), n, rows, 64);
      expect(Array.from(got.index), keyType).toEqual(Array.from(ref.index));
      expect(Array.from(got.dist), keyType).toEqual(Array.from(ref.dist));
    }
  });

  it("refuses k above the kernel's limit", () => {
    const b = gpu.createStorage(4096, "b");
    expect(
      isMnemoError(
        caught(() => knnTopK(gpu, { dist: b, n: 10, rows: 1, k: 257 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    gpu.pool.release(b);
  });
});

describe("knn mixture", () => {
  async function mix(
    logits: Float32Array,
    vocab: number,
    rows: number,
    topDist: Float32Array,
    topIndex: Uint32Array,
    k: number,
    values: Uint32Array,
    lambda: number,
    temperature: number,
    liveCount?: number,
  ): Promise<Float32Array> {
    const l = gpu.upload(logits, "logits");
    const td = gpu.upload(topDist, "top-dist");
    const ti = gpu.upload(topIndex, "top-index");
    const v = gpu.upload(values, "values");
    const live = gpu.upload(Uint32Array.of(liveCount ?? values.length), "live");
    const d = knnMix(gpu, { logits: l, vocab, rows, topDist: td, topIndex: ti, k, values: v, count: values.length, live, lambda, temperature });
    runDispatches(gpu, [d]);
    const got = await gpu.readF32(l, rows * vocab);
    releaseDispatches(gpu, [d]);
    for (const b of [l, td, ti, v, live]) gpu.pool.release(b);
    return got;
  }

  for (const [vocab, rows, k, lambda, temperature] of [
    [1000, 3, 128, 0.25, 100],
    [1000, 2, 7, 0.9, 0.5],
    [50257, 1, 128, 0.2, 10],
    [37, 2, 256, 0, 1],
  ] as const) {
    it(`vocab ${vocab}, ${rows} rows, k=${k}, lambda ${lambda}, T ${temperature}: p within 1e-5 of the reference`, async () => {
      const r = rng(vocab + k);
      const logits = randomF32(rows * vocab, vocab, 6);
      const count = 500;
      // Neighbours share tokens (few distinct values); some slots are empty.
      const values = Uint32Array.from({ length: count }, () => Math.floor(r() * Math.min(vocab, 20)));
      const topIndex = Uint32Array.from({ length: rows * k }, (_, i) => (i % 11 === 10 ? KNN_NO_INDEX : Math.floor(r() * count)));
      const topDist = new Float32Array(rows * k);
      for (let row = 0; row < rows; row++) {
        let d = 50 + r() * 10;
        for (let s = 0; s < k; s++) topDist[row * k + s] = d += r() * 3;
      }
      const got = await mix(logits, vocab, rows, topDist, topIndex, k, values, lambda, temperature);
      const ref = knnMixRef(logits, vocab, rows, topDist, topIndex, k, values, count, lambda, temperature);
      expectClose("p", got.map(Math.exp), ref.map(Math.exp), { atol: 1e-5 });
      expectClose("log p", got, ref, { atol: 2e-4, rtol: 1e-4 });
      for (let row = 0; row < rows; row++) {
        const total = got.subarray(row * vocab, (row + 1) * vocab).reduce((a, x) => a + Math.exp(x), 0);
        expect(Math.abs(total - 1)).toBeLessThan(1e-4);
      }
    });
  }

  it("entries at or beyond the live count do not vote", async () => {
    const vocab = 30;
    const logits = randomF32(vocab, 8, 3);
    const topIndex = Uint32Array.of(0, 5, 1, 6);
    const topDist = Float32Array.of(1, 2, 3, 4);
    const values = Uint32Array.of(3, 4, 9, 9, 9, 7, 8);
    const got = await mix(logits, vocab, 1, topDist, topIndex, 4, values, 0.5, 1, 2);
    // Only entries 0 and 1 are live: the same as a store of those two.
    const ref = knnMixRef(logits, vocab, 1, topDist, topIndex, 4, values, 2, 0.5, 1);
    expectClose("live-limited mixture", got, ref, { atol: 1e-5, rtol: 1e-5 });
  });

  it("extra entries after the store's (a causal search's chunk rows) vote whatever the live count", async () => {
    const vocab = 30;
    const logits = randomF32(vocab, 9, 3);
    const l = gpu.upload(logits, "logits");
    const td = gpu.upload(Float32Array.of(1, 1.5, 2, 3, 4), "top-dist");
    // Slots 0, 1 live; 2, 3 empty; 4, 5 the extra entries; 6 beyond them.
    const ti = gpu.upload(Uint32Array.of(4, 0, 2, 5, 6), "top-index");
    const v = gpu.upload(Uint32Array.of(3, 4, 9, 9, 7, 8, 11), "values");
    const live = gpu.upload(Uint32Array.of(2, 2), "live");
    const d = knnMix(gpu, { logits: l, vocab, rows: 1, topDist: td, topIndex: ti, k: 5, values: v, count: 4, extra: 2, live, lambda: 0.5, temperature: 1 });
    runDispatches(gpu, [d]);
    const got = await gpu.readF32(l, vocab);
    releaseDispatches(gpu, [d]);
    for (const b of [l, td, ti, v, live]) gpu.pool.release(b);
    // The same as a store of entries 0, 1, 4, 5 (values 3, 4, 7, 8).
    const ref = knnMixRef(logits, vocab, 1, Float32Array.of(1, 1.5, 3, 4), Uint32Array.of(2, 0, 3, 9), 4, Uint32Array.of(3, 4, 7, 8), 4, 0.5, 1);
    expectClose("mixture with extra entries", got, ref, { atol: 1e-5, rtol: 1e-5 });
  });

  it("a row without valid neighbours keeps the model's distribution", async () => {
    const vocab = 50;
    const logits = randomF32(vocab, 3, 4);
    const got = await mix(logits, vocab, 1, new Float32Array(4).fill(3.4e38), new Uint32Array(4).fill(KNN_NO_INDEX), 4, new Uint32Array([1]), 0.5, 1);
    const ref = knnMixRef(logits, vocab, 1, new Float32Array(4), new Uint32Array(4).fill(KNN_NO_INDEX), 4, new Uint32Array([1]), 1, 0.5, 1);
    expectClose("log p_lm", got, ref, { atol: 1e-5, rtol: 1e-5 });
  });

  it("refuses lambda outside 0..1 and a non-positive temperature", () => {
    const b = gpu.createStorage(4096, "b");
    const args = { logits: b, vocab: 4, rows: 1, topDist: b, topIndex: b, k: 2, values: b, count: 1, live: b };
    expect(
      isMnemoError(
        caught(() => knnMix(gpu, { ...args, lambda: 1.5, temperature: 1 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => knnMix(gpu, { ...args, lambda: 0.5, temperature: 0 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    gpu.pool.release(b);
  });
});
