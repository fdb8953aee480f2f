// The GPU sampler (sampleDispatches) against the sampling rules as documented, computed
// independently in float64 by tests/helpers/sampling-oracle.ts (which imports nothing from
// src/): greedy is the argmax, seeded draws follow the inverse CDF, and many draws follow the
// analytic distribution (chi-square). tests/kernels/sample-parallel.test.ts checks the same
// kernel id for id against its bit-exact reference (src/kernels/reference/sample.ts).
import { describe, it, expect, beforeAll } from "vitest";
import { SeededRandom } from "../../src/base/random.js";
import { isMnemoError } from "../../src/errors.js";
import type { Gpu } from "../../src/gpu/device.js";
import { createSamplingParamsBuffer, SAMPLING_PARAMS_BYTES, writeSamplingParams, type SamplingParams } from "../../src/kernels/sample-params.js";
import { caught } from "../helpers/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { GpuSampler } from "../helpers/gpu-sampler.js";
import { randomF32 } from "../helpers/random.js";
import { chiSquare, chiSquareLimit, drawIndex, greedyIndex, samplingDistribution } from "../helpers/sampling-oracle.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const PLAIN: SamplingParams = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, historyLength: 0, random: 0.5 };
/** The tokens the merge gathers at most before it searches the whole vocabulary (U_CAP in shaders/sample_parallel.wgsl). */
const CANDIDATES = 1024;

const sampler = (logits: Float32Array, history?: Uint32Array) => new GpuSampler(gpu, logits, history);

/** GPT-2-like logits: normal with standard deviation `sd` (Box-Muller on a seeded generator). */
function gaussianLogits(n: number, seed: number, sd: number): Float32Array {
  const r = new SeededRandom(seed);
  return Float32Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next()));
}

describe("sample: greedy", () => {
  for (const N of [1, 7, 257, 2049, 50257]) {
    it(`temperature <= 0 is the argmax (ties to the lowest index, NaN lowest), N=${N}`, async () => {
      const vectors = [randomF32(N, 500 + N, 10), randomF32(N, 600 + N, 3).map((x) => Math.round(x))];
      if (N > 2) vectors.push(randomF32(N, 700 + N, 1).map((x, i) => (i % 3 === 0 ? Number.NaN : x)));
      for (const logits of vectors) {
        const s = sampler(logits);
        const got = await s.run([
          { ...PLAIN, temperature: 0 },
          { ...PLAIN, temperature: -1, topK: 5, topP: 0.5, random: 0.99 },
        ]);
        const want = greedyIndex(logits, { ...PLAIN, temperature: 0 });
        expect(got).toEqual([want, want]);
        s.release();
      }
    });
  }

  it("applies the repetition penalty once per distinct id, ignoring ids >= N", async () => {
    const logits = Float32Array.from([1.7, 1.2, -0.5, 0.3, 1.0]);
    // Once: 1.7 / 1.3 = 1.31 > 1.2 -> 0. Twice would give 1.01 < 1.2 -> 1.
    const s = sampler(logits, Uint32Array.from([0, 0, 0, 99, 4]));
    const greedy = { ...PLAIN, temperature: 0, repetitionPenalty: 1.3 };
    const got = await s.run([
      { ...greedy, historyLength: 3 },
      { ...greedy, repetitionPenalty: 1.5, historyLength: 1 }, // 1.13 < 1.2 -> 1
      { ...greedy, repetitionPenalty: 1.5, historyLength: 0 }, // no history -> 0
    ]);
    expect(got).toEqual([0, 1, 0]);
    s.release();
  });

  it("penalises history ids in every block of a large vocabulary", async () => {
    const N = 50257;
    const logits = randomF32(N, 11, 1);
    // The leaders, penalised away one after another.
    const leaders = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 6);
    const history = Uint32Array.from(leaders);
    const s = sampler(logits, history);
    const list = leaders.map((_, h) => ({ ...PLAIN, temperature: 0, repetitionPenalty: 50, historyLength: h }));
    expect(await s.run(list)).toEqual(leaders);
    expect(list.map((p) => greedyIndex(logits, p, history))).toEqual(leaders);
    s.release();
  });
});

describe("sample: small cases worked by hand", () => {
  it("top-k keeps every value tied with the k-th largest; top-p 0 keeps only the maximum", async () => {
    const logits = Float32Array.from([1, 3, 2, 3, 2, 0, 2]);
    const s = sampler(logits);
    const randoms = [0.01, 0.3, 0.6, 0.99];
    const got = await s.run([
      ...randoms.map((random) => ({ ...PLAIN, topK: 3, random })), // keeps 3, 3 and all three 2s
      ...randoms.map((random) => ({ ...PLAIN, topP: 0, random })), // keeps the two 3s
      ...randoms.map((random) => ({ ...PLAIN, topK: 1, random })), // both 3s (tie)
    ]);
    // Kept 1, 2, 3, 4, 6 with weights e, 1, e, 1, 1 (times e^2): cumulative 0.32, 0.44, 0.76, 0.88, 1.
    expect(got.slice(0, 4)).toEqual([1, 1, 3, 6]);
    expect(samplingDistribution(logits, { ...PLAIN, topK: 3 }).kept).toEqual([1, 2, 3, 4, 6]);
    expect(got.slice(4, 8)).toEqual([1, 1, 3, 3]);
    expect(got.slice(8, 12)).toEqual([1, 1, 3, 3]);
    s.release();
  });

  it("treats NaN and -Infinity logits as never drawn and +Infinity as certain", async () => {
    const nan = Number.NaN;
    const a = sampler(Float32Array.from([nan, -Infinity, 0.5, nan, 0.2]));
    const gotA = await a.run([0.01, 0.5, 0.999].flatMap((random) => [0, 1, 3].map((topK) => ({ ...PLAIN, topK, random }))));
    expect(gotA.every((id) => id === 2 || id === 4)).toBe(true);
    a.release();
    const b = sampler(Float32Array.from([3, Infinity, 1e30, nan]));
    // +Infinity is clamped to 1e30, the same as logit 2: the two split the mass.
    expect(await b.run([0.01, 0.999].map((random) => ({ ...PLAIN, random })))).toEqual([1, 2]);
    b.release();
  });

  it("N=1 always gives 0", async () => {
    const s = sampler(Float32Array.from([-3]));
    expect(await s.run([PLAIN, { ...PLAIN, random: 0.9, topK: 1, topP: 0.5 }, { ...PLAIN, temperature: 0 }])).toEqual([0, 0, 0]);
    s.release();
  });
});

/** Temperature 0.7 / 1, top-k off / 1 / 40 / 200, top-p 0.5 / 0.9 / off, penalty off / 1.3. */
function grid(historyLength: number): Omit<SamplingParams, "random">[] {
  const list: Omit<SamplingParams, "random">[] = [];
  for (const temperature of [0.7, 1])
    for (const topK of [0, 1, 40, 200]) for (const topP of [0.5, 0.9, 1]) for (const repetitionPenalty of [1, 1.3]) list.push({ temperature, topK, topP, repetitionPenalty, historyLength });
  return list;
}

// The GPU computes z = l * f32(1 / temperature) in f32 and sums weights in f32 (relative error
// of a sum over 50257 weights ~1e-6); the oracle works in f64. Where `random` or the top-p
// target lies within NEAR of a cumulative boundary the two may differ: the GPU's pick must then
// be the oracle's or its neighbour in the kept order (not checked when the top-p cut itself is
// that close). Everywhere else the ids must be identical, and at least 75% of the draws must be
// such exact comparisons.
const NEAR = 1e-5;

/** Seeded draws against the oracle's inverse CDF; returns the largest nucleus of top-p without top-k. */
async function compareWithOracle(vectors: Float32Array[], draws: number, seed: number): Promise<number> {
  const rand = new SeededRandom(seed);
  let exact = 0;
  let near = 0;
  let largest = 0;
  for (const [v, logits] of vectors.entries()) {
    const N = logits.length;
    const history = Uint32Array.from({ length: 64 }, () => Math.floor(rand.next() * N * 1.05)); // some >= N
    history[0] = greedyIndex(logits, { ...PLAIN, temperature: 0 }); // the penalty hits the leader
    const list: SamplingParams[] = [];
    for (const base of grid(history.length)) for (let d = 0; d < draws; d++) list.push({ ...base, random: rand.next() });
    const s = sampler(logits, history);
    const got = await s.run(list);
    s.release();
    list.forEach((p, j) => {
      const dist = samplingDistribution(logits, p, history);
      if (p.topP < 1 && !(p.topK > 0 && p.topK < N)) largest = Math.max(largest, dist.kept.length);
      const want = drawIndex(dist, p.random);
      const where = `N=${N} vector ${v} params ${JSON.stringify(p)}: GPU picked ${got[j]}, oracle ${want.index} (kept ${dist.kept.length})`;
      if (want.margin >= NEAR && dist.topPMargin >= NEAR) {
        exact++;
        expect(got[j], where).toBe(want.index);
        return;
      }
      near++;
      if (dist.topPMargin < NEAR || got[j] === want.index) return;
      const rank = dist.kept.indexOf(want.index);
      expect([dist.kept[rank - 1], dist.kept[rank + 1], dist.kept[dist.kept.length - 1]], `${where}, not a neighbour`).toContain(got[j]);
    });
  }
  console.log(`sample vs oracle: ${exact} draws compared exactly (all identical), ${near} within ${NEAR} of a boundary; largest nucleus without top-k ${largest}`);
  expect(exact).toBeGreaterThanOrEqual(0.75 * (exact + near));
  return largest;
}

describe("sample: seeded draws follow the rules (float64 oracle)", () => {
  it("N=7: 12 logit vectors x 48 parameter sets", async () => {
    await compareWithOracle(
      Array.from({ length: 12 }, (_, v) => randomF32(7, 100 + v, 3)),
      1,
      1,
    );
  });

  it("N=257: 2 vectors x 48 x 2 draws", async () => {
    await compareWithOracle([randomF32(257, 201, 12), randomF32(257, 202, 3)], 2, 2);
  });

  it("N=50257, GPT-2-like and spread logits, nuclei of thousands of tokens included: 2 vectors x 48", async () => {
    const largest = await compareWithOracle([gaussianLogits(50257, 301, 2.5), randomF32(50257, 302, 3)], 1, 3);
    // Top-p without top-k kept more tokens than the candidates hold: the whole-vocabulary path ran.
    expect(largest).toBeGreaterThan(CANDIDATES);
  });
});

/** `draws` draws with `base` (random numbers from `rand`); their counts per id, and the oracle's distribution. */
async function histogram(logits: Float32Array, base: Omit<SamplingParams, "random">, draws: number, rand: SeededRandom, history?: Uint32Array) {
  const s = sampler(logits, history);
  const got = await s.run(Array.from({ length: draws }, () => ({ ...base, random: rand.next() })));
  s.release();
  const counts = new Float64Array(logits.length);
  for (const id of got) counts[id]++;
  return { counts, expected: samplingDistribution(logits, base, history) };
}

describe("sample: distribution", () => {
  it("matches the analytic probabilities over 600 draws (N=5)", async () => {
    const logits = Float32Array.from([1, 2, 0.5, -1, 1.5]);
    const history = Uint32Array.from([1, 4]);
    const settings: Omit<SamplingParams, "random">[] = [
      { ...PLAIN, temperature: 1 },
      { ...PLAIN, temperature: 0.7, topK: 3 },
      { ...PLAIN, temperature: 1, topP: 0.8 },
      { ...PLAIN, temperature: 0.8, topK: 4, topP: 0.9, repetitionPenalty: 1.3, historyLength: 2 },
    ];
    // The oracle by hand for the first: softmax of the logits.
    const e = [...logits].map(Math.exp);
    const sum = e.reduce((a, b) => a + b, 0);
    samplingDistribution(logits, settings[0]).probabilities.forEach((p, i) => expect(p).toBeCloseTo(e[i] / sum, 12));
    const rand = new SeededRandom(42);
    for (const base of settings) {
      const { counts, expected } = await histogram(logits, base, 600, rand, history);
      const c = chiSquare(counts, expected.probabilities);
      console.log(`sample N=5 ${JSON.stringify(base)}: counts ${[...counts]}, expected ${[...expected.probabilities].map((p) => (p * 600).toFixed(1))}, chi2 ${c.chi2.toFixed(2)} (${c.df} df)`);
      expect(c.impossible).toBe(0);
      // P(chi2 > limit) = 0.001 for a correct sampler.
      expect(c.chi2).toBeLessThan(chiSquareLimit(c.df));
    }
  });

  it("matches at the demo's settings (temperature 0.8, top-k 40, top-p 0.95) over GPT-2-sized logits", async () => {
    const logits = gaussianLogits(50257, 401, 2.5);
    const base = { ...PLAIN, temperature: 0.8, topK: 40, topP: 0.95 };
    const { counts, expected } = await histogram(logits, base, 600, new SeededRandom(402));
    const c = chiSquare(counts, expected.probabilities);
    console.log(`sample N=50257 demo settings: ${expected.kept.length} kept, chi2 ${c.chi2.toFixed(2)} (${c.df} df)`);
    expect(c.impossible).toBe(0);
    expect(c.chi2).toBeLessThan(chiSquareLimit(c.df));
  });

  it("top-p without top-k over a nucleus of ~10000 tokens (the whole-vocabulary search) matches too", async () => {
    // Normal logits of deviation 2.5: the weights e^z put the mass at z ~ N(6.25, 2.5^2), so top-p
    // 0.95 keeps the tokens above ~2.1, a fifth of the vocabulary: far more than the candidates.
    const logits = gaussianLogits(50257, 403, 2.5);
    const base = { ...PLAIN, topP: 0.95 };
    const draws = 400;
    const { counts, expected } = await histogram(logits, base, draws, new SeededRandom(404));
    expect(expected.kept.length).toBeGreaterThan(5 * CANDIDATES);
    // Ids are too many to count one by one: 8 bins of about equal probability, by logit.
    const byLogit = [...expected.kept].sort((a, b) => logits[b] - logits[a]);
    const binCounts = new Float64Array(8);
    const binProbabilities = new Float64Array(8);
    let cum = 0;
    for (const i of byLogit) {
      const bin = Math.min(7, Math.floor(cum * 8));
      cum += expected.probabilities[i];
      binCounts[bin] += counts[i];
      binProbabilities[bin] += expected.probabilities[i];
    }
    const outside = counts.reduce((a, n, i) => a + (expected.probabilities[i] === 0 ? n : 0), 0);
    const c = chiSquare(binCounts, binProbabilities);
    console.log(`sample N=50257 top-p 0.95 alone: ${expected.kept.length} kept, bins ${[...binCounts]}, chi2 ${c.chi2.toFixed(2)} (${c.df} df)`);
    expect(outside).toBe(0);
    expect(c.chi2).toBeLessThan(chiSquareLimit(c.df));
  });
});

describe("sample: parameters", () => {
  it("refuses bad sampling parameters with BAD_INPUT", () => {
    const params = createSamplingParamsBuffer(gpu);
    expect(params.size).toBeGreaterThanOrEqual(SAMPLING_PARAMS_BYTES);
    const bad: Partial<SamplingParams>[] = [
      { temperature: Number.NaN },
      { temperature: 1e-45 },
      { topK: 1.5 },
      { topP: Number.NaN },
      { repetitionPenalty: 0 },
      { repetitionPenalty: -1 },
      { historyLength: -1 },
      { random: 1 },
      { random: -0.1 },
    ];
    for (const b of bad) {
      const err = caught(() => writeSamplingParams(gpu, params, { ...PLAIN, ...b }));
      expect(isMnemoError(err, "BAD_INPUT"), JSON.stringify(b)).toBe(true);
    }
    gpu.pool.release(params);
  });

  it("SeededRandom is deterministic and uniform-looking", () => {
    const a = new SeededRandom(7);
    const b = new SeededRandom(7);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(new SeededRandom(8).next()).not.toBe(xs[0]);
  });
});
