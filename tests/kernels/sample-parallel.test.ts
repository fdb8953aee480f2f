import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches, type KernelDispatch } from "../../src/gpu/dispatch.js";
import { writeSamplingParams, createSamplingParamsBuffer, SeededRandom, type SamplingParams } from "../../src/kernels/sample.js";
import { sampleDispatches, PARALLEL_TOP_K_CAP, type SampleDispatchOptions } from "../../src/kernels/sample-parallel.js";
import { sampleRef, sampleRefTrace } from "../../src/kernels/reference/sample.js";
import { argmaxRef } from "../../src/kernels/reference/argmax.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const PLAIN: SamplingParams = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, historyLength: 0, random: 0.5 };
const CAP = PARALLEL_TOP_K_CAP;

/**
 * One logits vector on the GPU; `run` draws once per parameter set with `sampleDispatches`
 * (each into its own out slot, params rewritten between submits) and reads all ids at once.
 */
class ParallelSampler {
  readonly logits: GPUBuffer;
  readonly params: GPUBuffer;
  readonly history: GPUBuffer;
  readonly n: number;

  constructor(
    logits: Float32Array,
    history: Uint32Array = new Uint32Array(1),
    private readonly options: SampleDispatchOptions = {},
  ) {
    this.n = logits.length;
    this.logits = gpu.upload(logits, "logits");
    this.params = createSamplingParamsBuffer(gpu);
    this.history = gpu.upload(history.length ? history : new Uint32Array(1), "history");
  }

  async run(list: readonly SamplingParams[]): Promise<number[]> {
    const out = gpu.createStorage(4 * list.length, "out");
    const lists: KernelDispatch[][] = [];
    list.forEach((p, j) => {
      const dispatches = sampleDispatches(gpu, { logits: this.logits, N: this.n, params: this.params, history: this.history, out, outIndex: j }, this.options);
      lists.push(dispatches);
      writeSamplingParams(gpu, this.params, p);
      runDispatches(gpu, dispatches);
    });
    const ids = Array.from(await gpu.readU32(out, list.length));
    for (const d of lists) releaseDispatches(gpu, d);
    gpu.pool.release(out);
    return ids;
  }

  release(): void {
    [this.logits, this.params, this.history].forEach((b) => gpu.pool.release(b));
  }
}

/** Every combination of the given values (temperature, top-k, top-p, penalty). */
function grid(values: { temperature: number[]; topK: number[]; topP: number[]; repetitionPenalty: number[] }, historyLength: number): Omit<SamplingParams, "random">[] {
  const list: Omit<SamplingParams, "random">[] = [];
  for (const temperature of values.temperature)
    for (const topK of values.topK) for (const topP of values.topP) for (const repetitionPenalty of values.repetitionPenalty) list.push({ temperature, topK, topP, repetitionPenalty, historyLength });
  return list;
}

/** Top-k 1 / 40 / the cap / just above it / far above it / off; top-p 0.5 / 0.95 / 1. */
const FULL = { temperature: [0.7, 1], topK: [0, 1, 40, CAP, CAP + 1, 1000], topP: [0.5, 0.95, 1], repetitionPenalty: [1, 1.3] };

// Tolerance, as in sample.test.ts: GPU sums are f32 in another order than the f64 reference.
// When `random * S` or the top-p target lies within NEAR (relative to the kept weight) of a
// cumulative boundary, the GPU may pick the neighbour in the kept order, and near a top-p
// boundary the kept set may differ by the boundary token (then the pick is not checked);
// everywhere else the index must be identical, and at least 75% of the draws must be such
// exact comparisons.
const NEAR = 1e-5;

/** Checks GPU ids against the reference; returns how many were compared exactly. */
function checkAgainstReference(logits: Float32Array, history: Uint32Array, list: readonly SamplingParams[], got: readonly number[], what: string): { exact: number; near: number } {
  let exact = 0;
  let near = 0;
  list.forEach((p, j) => {
    const trace = sampleRefTrace(logits, p, history);
    const where = `${what} params ${JSON.stringify(p)}: GPU picked ${got[j]}, reference ${trace.index} (kept ${trace.kept.length})`;
    if (trace.cdfMargin >= NEAR && trace.topPMargin >= NEAR) {
      exact++;
      if (got[j] !== trace.index) throw new Error(where);
      return;
    }
    near++;
    if (trace.topPMargin < NEAR || got[j] === trace.index) return;
    const rank = trace.kept.indexOf(trace.index);
    const neighbours = [trace.kept[rank - 1], trace.kept[rank + 1], trace.kept[trace.kept.length - 1]];
    if (!neighbours.includes(got[j])) throw new Error(`${where}, not a neighbour`);
  });
  return { exact, near };
}

/** A history of 64 ids, some >= N, hitting the current leader so that the penalty matters. */
function historyFor(logits: Float32Array, rand: SeededRandom): Uint32Array {
  const n = logits.length;
  const history = new Uint32Array(64);
  for (let j = 0; j < history.length; j++) history[j] = Math.floor(rand.next() * n * 1.05);
  history[0] = argmaxRef(logits, 1, n)[0];
  return history;
}

/** Logits whose nucleus is small: `peaks` tokens far above uniform noise (so the candidates hold it). */
function peakedLogits(n: number, seed: number, peaks: number): Float32Array {
  const logits = randomF32(n, seed, 2);
  const rand = new SeededRandom(seed + 1);
  for (let j = 0; j < peaks; j++) logits[Math.floor(rand.next() * n)] += 8 + 2 * rand.next();
  return logits;
}

async function compareWithReference(vectors: Float32Array[], settings: Omit<SamplingParams, "random" | "historyLength">[], draws: number, seed: number, options: SampleDispatchOptions = {}) {
  const rand = new SeededRandom(seed);
  let exact = 0;
  let near = 0;
  for (const [v, logits] of vectors.entries()) {
    const history = historyFor(logits, rand);
    const list: SamplingParams[] = [];
    for (const base of settings) for (let d = 0; d < draws; d++) list.push({ ...base, historyLength: history.length, random: rand.next() });
    const s = new ParallelSampler(logits, history, options);
    const got = await s.run(list);
    s.release();
    const r = checkAgainstReference(logits, history, list, got, `N=${logits.length} vector ${v}`);
    exact += r.exact;
    near += r.near;
  }
  console.log(`sampleDispatches: ${exact} draws compared exactly (all identical), ${near} within ${NEAR} of a boundary`);
  expect(exact).toBeGreaterThanOrEqual(0.75 * (exact + near));
}

describe("sampleDispatches: greedy", () => {
  for (const N of [1, 7, 257, 2049, 50257]) {
    it(`temperature 0 equals argmax (ties to the lowest index, NaN lowest), N=${N}`, async () => {
      const vectors = [randomF32(N, 500 + N, 10), randomF32(N, 600 + N, 3).map((x) => Math.round(x))];
      if (N > 2) vectors.push(randomF32(N, 700 + N, 1).map((x, i) => (i % 3 === 0 ? Number.NaN : x)));
      for (const logits of vectors) {
        const s = new ParallelSampler(logits);
        const got = await s.run([
          { ...PLAIN, temperature: 0 },
          { ...PLAIN, temperature: -1, topK: 5, topP: 0.5, random: 0.99 },
        ]);
        const want = argmaxRef(logits, 1, N)[0];
        expect(got).toEqual([want, want]);
        s.release();
      }
    });
  }

  it("applies the repetition penalty once per distinct id, ignoring ids >= N", async () => {
    const logits = Float32Array.from([1.7, 1.2, -0.5, 0.3, 1.0]);
    const s = new ParallelSampler(logits, Uint32Array.from([0, 0, 0, 99, 4]));
    const greedy = { ...PLAIN, temperature: 0, repetitionPenalty: 1.3 };
    const got = await s.run([
      { ...greedy, historyLength: 3 },
      { ...greedy, repetitionPenalty: 1.5, historyLength: 1 },
      { ...greedy, repetitionPenalty: 1.5, historyLength: 0 },
    ]);
    expect(got).toEqual([0, 1, 0]);
    s.release();
  });

  it("penalises history ids in every block of a large vocabulary", async () => {
    const N = 50257;
    const logits = randomF32(N, 11, 1);
    // The leaders of several blocks, penalised away one after another.
    const leaders = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 6);
    const s = new ParallelSampler(logits, Uint32Array.from(leaders));
    const list = leaders.map((_, h) => ({ ...PLAIN, temperature: 0, repetitionPenalty: 50, historyLength: h }));
    const got = await s.run(list);
    expect(got).toEqual(list.map((p) => sampleRef(logits, p, Uint32Array.from(leaders))));
    expect(new Set(got).size).toBe(leaders.length);
    s.release();
  });
});

describe("sampleDispatches: same index as the reference", () => {
  it("N=7: 20 logit vectors x 72 parameter sets", async () => {
    await compareWithReference(
      Array.from({ length: 20 }, (_, v) => randomF32(7, 100 + v, 3)),
      grid(FULL, 0),
      1,
      1,
    );
  });

  it("N=257: 3 vectors x 72 x 2 draws", async () => {
    await compareWithReference([randomF32(257, 201, 12), randomF32(257, 202, 3), peakedLogits(257, 203, 5)], grid(FULL, 0), 2, 2);
  });

  it("N=4097 (a last block of one token): 2 vectors x 72", async () => {
    await compareWithReference([randomF32(4097, 251, 12), peakedLogits(4097, 252, 12)], grid(FULL, 0), 1, 9);
  });

  it("N=50257, spread logits (large nuclei): 72 parameter sets", async () => {
    await compareWithReference([randomF32(50257, 301, 12)], grid(FULL, 0), 1, 3);
  });

  it("N=50257, peaked logits (small nuclei, served from the candidates): 72 x 2", async () => {
    await compareWithReference([peakedLogits(50257, 302, 30)], grid(FULL, 0), 2, 4);
  });

  it("N=50257 with heavily tied logits (top-k thresholds inside runs of equal values)", async () => {
    const logits = randomF32(50257, 303, 12).map((x) => Math.round(x * 2) / 2);
    await compareWithReference([logits], grid({ ...FULL, temperature: [1], repetitionPenalty: [1] }, 0), 2, 5);
  });

  it("top-k ties across groups and blocks are all kept", async () => {
    const N = 50257;
    const logits = randomF32(N, 304, 4);
    // 10 tokens tied at 9 and 30 at 8.5, spread over the vocabulary.
    for (let j = 0; j < 40; j++) logits[(j * 1237 + 17) % N] = j < 10 ? 9 : 8.5;
    const s = new ParallelSampler(logits);
    const randoms = [0.02, 0.3, 0.55, 0.8, 0.97];
    const list = [5, 10, 11, 25, 40].flatMap((topK) => randoms.map((random) => ({ ...PLAIN, topK, random })));
    const got = await s.run(list);
    list.forEach((p, j) => expect(got[j], JSON.stringify(p)).toBe(sampleRef(logits, p, new Uint32Array(0))));
    expect(sampleRefTrace(logits, { ...PLAIN, topK: 5 }, new Uint32Array(0)).kept.length).toBe(10);
    expect(sampleRefTrace(logits, { ...PLAIN, topK: 11 }, new Uint32Array(0)).kept.length).toBe(40);
    s.release();
  });

  it("top-k keeps every value tied with the k-th largest; top-p 0 keeps only the maximum", async () => {
    const logits = Float32Array.from([1, 3, 2, 3, 2, 0, 2]);
    const s = new ParallelSampler(logits);
    const randoms = [0.01, 0.3, 0.6, 0.99];
    const got = await s.run([
      ...randoms.map((random) => ({ ...PLAIN, topK: 3, random })),
      ...randoms.map((random) => ({ ...PLAIN, topP: 0, random })),
      ...randoms.map((random) => ({ ...PLAIN, topK: 1, random })),
    ]);
    expect(got.slice(0, 4)).toEqual(randoms.map((random) => sampleRef(logits, { ...PLAIN, topK: 3, random }, new Uint32Array(0))));
    expect(new Set(got.slice(0, 4)).size).toBeGreaterThan(2);
    expect(got.slice(4, 8)).toEqual([1, 1, 3, 3]);
    expect(got.slice(8, 12)).toEqual([1, 1, 3, 3]);
    s.release();
  });

  it("treats NaN and -Infinity logits as never drawn and +Infinity as certain", async () => {
    const nan = Number.NaN;
    const a = new ParallelSampler(Float32Array.from([nan, -Infinity, 0.5, nan, 0.2]));
    const gotA = await a.run([0.01, 0.5, 0.999].flatMap((random) => [0, 1, 3].map((topK) => ({ ...PLAIN, topK, random }))));
    expect(gotA.every((id) => id === 2 || id === 4)).toBe(true);
    a.release();
    const b = new ParallelSampler(Float32Array.from([3, Infinity, 1e30, nan]));
    expect(await b.run([0.01, 0.999].map((random) => ({ ...PLAIN, random })))).toEqual([1, 2]);
    b.release();
  });

  it("NaN and ±Infinity spread over N=50257 follow the reference", async () => {
    const N = 50257;
    const rand = new SeededRandom(305);
    const finite = randomF32(N, 305, 6);
    const withInfinity = Float32Array.from(finite);
    const withoutInfinity = Float32Array.from(finite);
    for (let j = 0; j < 2000; j++) {
      const i = Math.floor(rand.next() * N);
      const special = j % 2 === 0 ? Number.NaN : -Infinity;
      withInfinity[i] = special;
      withoutInfinity[i] = special;
    }
    for (const i of [77, 30001, 50256]) withInfinity[i] = Infinity;
    await compareWithReference([withInfinity, withoutInfinity], grid({ ...FULL, temperature: [0.8] }, 0), 1, 6);
  });

  it("the merge gives the reference's ids with 16 and 256 invocations too", async () => {
    const settings = grid({ temperature: [0.8], topK: [0, 40, CAP + 1], topP: [0.5, 0.95, 1], repetitionPenalty: [1, 1.3] }, 0);
    for (const mergeWorkgroupSize of [16, 256]) {
      await compareWithReference([randomF32(257, 401, 12), peakedLogits(50257, 402, 30), randomF32(50257, 403, 12)], settings, 1, 7, { mergeWorkgroupSize });
    }
  });

  it("gives the same ids when run again on the same inputs", async () => {
    const logits = randomF32(50257, 404, 12);
    const rand = new SeededRandom(8);
    const list = grid({ ...FULL, temperature: [0.8], repetitionPenalty: [1] }, 0).map((p) => ({ ...p, random: rand.next() }));
    const s = new ParallelSampler(logits);
    expect(await s.run(list)).toEqual(await s.run(list));
    s.release();
  });
});

describe("sampleDispatches: distribution", () => {
  it("matches the analytic probabilities over 600 draws (N=5)", async () => {
    const logits = Float32Array.from([1, 2, 0.5, -1, 1.5]);
    const rand = new SeededRandom(42);
    const draws = 600;
    const settings: Omit<SamplingParams, "random">[] = [
      { ...PLAIN, temperature: 1 },
      { ...PLAIN, temperature: 0.7, topK: 3 },
      { ...PLAIN, temperature: 1, topP: 0.8 },
    ];
    const s = new ParallelSampler(logits);
    for (const base of settings) {
      const got = await s.run(Array.from({ length: draws }, () => ({ ...base, random: rand.next() })));
      const probs = new Array(5).fill(0);
      const trace = sampleRefTrace(logits, { ...base, random: 0 }, new Uint32Array(0));
      trace.kept.forEach((id, j) => (probs[id] = trace.probabilities[j]));
      const counts = new Array(5).fill(0);
      for (const id of got) counts[id]++;
      let chi2 = 0;
      for (let i = 0; i < 5; i++) {
        if (probs[i] === 0) expect(counts[i]).toBe(0);
        else chi2 += (counts[i] - draws * probs[i]) ** 2 / (draws * probs[i]);
      }
      // 4 or fewer degrees of freedom: P(chi2 > 20) < 0.0005 for a correct sampler.
      console.log(`sampleDispatches N=5 ${JSON.stringify(base)}: counts ${counts}, expected ${probs.map((p) => (p * draws).toFixed(1))}, chi2 ${chi2.toFixed(2)}`);
      expect(chi2).toBeLessThan(20);
    }
    s.release();
  });
});

describe("sampleDispatches: shapes and buffers", () => {
  it("N=1 always gives 0", async () => {
    const s = new ParallelSampler(Float32Array.from([-3]));
    expect(await s.run([PLAIN, { ...PLAIN, random: 0.9, topK: 1, topP: 0.5 }, { ...PLAIN, temperature: 0 }])).toEqual([0, 0, 0]);
    s.release();
  });

  it("refuses bad shapes with SHAPE_MISMATCH and aliased or bad arguments with BAD_INPUT", () => {
    const logits = gpu.createStorage(4 * 1000, "logits");
    const params = createSamplingParamsBuffer(gpu);
    const out = gpu.createStorage(16, "out");
    const args = { logits, N: 1000, params, history: params, out };
    expect(
      isMnemoError(
        caught(() => sampleDispatches(gpu, { ...args, N: 2000 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => sampleDispatches(gpu, { ...args, N: 0 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => sampleDispatches(gpu, { ...args, outIndex: 64 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => sampleDispatches(gpu, { ...args, out: logits })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => sampleDispatches(gpu, args, { mergeWorkgroupSize: 48 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    [logits, params, out].forEach((b) => gpu.pool.release(b));
  });

  it("releaseDispatches frees its scratch buffers", () => {
    const logits = gpu.createStorage(4 * 50257, "logits");
    const params = createSamplingParamsBuffer(gpu);
    const out = gpu.createStorage(4, "out");
    const before = gpu.getPoolStats().liveBuffers;
    const dispatches = sampleDispatches(gpu, { logits, N: 50257, params, history: params, out });
    expect(dispatches.map((d) => d.kernel)).toEqual(["sample.mark_history", "sample.select", "sample.merge"]);
    expect(gpu.getPoolStats().liveBuffers).toBeGreaterThan(before);
    releaseDispatches(gpu, dispatches);
    expect(gpu.getPoolStats().liveBuffers).toBe(before);
    [logits, params, out].forEach((b) => gpu.pool.release(b));
  });
});
