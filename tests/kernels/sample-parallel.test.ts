// The GPU sampler (sampleDispatches) id for id against its bit-exact reference
// (src/kernels/reference/sample.ts) on every path of the merge: top-k from the candidates,
// top-k above the cap, ties, nuclei small and large (the whole-vocabulary search), NaN and
// infinities, several merge sizes. tests/kernels/sample.test.ts checks greedy, seeded draws and
// the distribution against an independent float64 oracle.
import { describe, it, expect, beforeAll } from "vitest";
import { SeededRandom } from "../../src/base/random.js";
import { isMnemoError } from "../../src/errors.js";
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches } from "../../src/gpu/dispatch.js";
import { argmaxRef } from "../../src/kernels/reference/argmax.js";
import { sampleRef, sampleRefTrace } from "../../src/kernels/reference/sample.js";
import { PARALLEL_TOP_K_CAP, sampleDispatches, type SampleDispatchOptions } from "../../src/kernels/sample-parallel.js";
import { createSamplingParamsBuffer, writeSamplingParams, type SamplingParams } from "../../src/kernels/sample-params.js";
import { caught } from "../helpers/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { GpuSampler } from "../helpers/gpu-sampler.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const PLAIN: SamplingParams = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, historyLength: 0, random: 0.5 };
const CAP = PARALLEL_TOP_K_CAP;
/** The tokens the merge gathers at most before it searches the whole vocabulary (U_CAP in the shader). */
const CANDIDATES = 1024;

const sampler = (logits: Float32Array, history?: Uint32Array, options?: SampleDispatchOptions) => new GpuSampler(gpu, logits, history, options);

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

/** Checks GPU ids against the reference; returns how many were compared exactly, and the largest nucleus of top-p without top-k. */
function checkAgainstReference(logits: Float32Array, history: Uint32Array, list: readonly SamplingParams[], got: readonly number[], what: string): { exact: number; near: number; largest: number } {
  let exact = 0;
  let near = 0;
  let largest = 0;
  list.forEach((p, j) => {
    const trace = sampleRefTrace(logits, p, history);
    if (p.topP < 1 && !(p.topK > 0 && p.topK < logits.length)) largest = Math.max(largest, trace.kept.length);
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
  return { exact, near, largest };
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

/** Seeded draws against the reference; returns the largest nucleus of top-p without top-k. */
async function compareWithReference(
  vectors: Float32Array[],
  settings: Omit<SamplingParams, "random" | "historyLength">[],
  draws: number,
  seed: number,
  options: SampleDispatchOptions = {},
): Promise<number> {
  const rand = new SeededRandom(seed);
  let exact = 0;
  let near = 0;
  let largest = 0;
  for (const [v, logits] of vectors.entries()) {
    const history = historyFor(logits, rand);
    const list: SamplingParams[] = [];
    for (const base of settings) for (let d = 0; d < draws; d++) list.push({ ...base, historyLength: history.length, random: rand.next() });
    const s = sampler(logits, history, options);
    const got = await s.run(list);
    s.release();
    const r = checkAgainstReference(logits, history, list, got, `N=${logits.length} vector ${v}`);
    exact += r.exact;
    near += r.near;
    largest = Math.max(largest, r.largest);
  }
  console.log(`sampleDispatches: ${exact} draws compared exactly (all identical), ${near} within ${NEAR} of a boundary; largest nucleus without top-k ${largest}`);
  expect(exact).toBeGreaterThanOrEqual(0.75 * (exact + near));
  return largest;
}

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
    const largest = await compareWithReference([randomF32(50257, 301, 12)], grid(FULL, 0), 1, 3);
    // A nucleus larger than the candidates the merge holds: the whole-vocabulary search ran.
    expect(largest).toBeGreaterThan(CANDIDATES);
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
    const s = sampler(logits);
    const randoms = [0.02, 0.3, 0.55, 0.8, 0.97];
    const list = [5, 10, 11, 25, 40].flatMap((topK) => randoms.map((random) => ({ ...PLAIN, topK, random })));
    const got = await s.run(list);
    list.forEach((p, j) => expect(got[j], JSON.stringify(p)).toBe(sampleRef(logits, p, new Uint32Array(0))));
    expect(sampleRefTrace(logits, { ...PLAIN, topK: 5 }, new Uint32Array(0)).kept.length).toBe(10);
    expect(sampleRefTrace(logits, { ...PLAIN, topK: 11 }, new Uint32Array(0)).kept.length).toBe(40);
    s.release();
  });

  it("a vocabulary masked down to a few tokens (constrained decoding): top-k above them keeps just them", async () => {
    // -F32_MAX everywhere but 6 tokens, one far below the others (weight 0: never drawn), as
    // the logits kernel leaves a row under a grammar's mask.
    const N = 50257;
    const logits = new Float32Array(N).fill(-3.4028234663852886e38);
    const allowed = [3, 2048, 2049, 17000, 50256];
    allowed.forEach((i, k) => (logits[i] = k * 0.7 - 1));
    logits[9000] = -200;
    await compareWithReference([logits], grid({ temperature: [0.8, 1.5], topK: [1, 3, 40, CAP + 1], topP: [0.5, 0.95, 1], repetitionPenalty: [1] }, 0), 3, 9);
    const kept = sampleRefTrace(logits, { ...PLAIN, topK: 40 }, new Uint32Array(0)).kept;
    expect(kept).toEqual(allowed);
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
    const s = sampler(logits);
    expect(await s.run(list)).toEqual(await s.run(list));
    s.release();
  });
});

describe("sampleDispatches: shapes and buffers", () => {
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
        caught(() => sampleDispatches(gpu, { ...args, logitsRow: 1 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => sampleDispatches(gpu, { ...args, logitsRow: -1 })),
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

  it("logitsRow samples that row of a [rows, N] buffer (a verification step's rows), into its own outIndex", async () => {
    const N = 4099;
    const rows = [0, 1, 2].map((r) => randomF32(N, 40 + r, 4));
    const all = new Float32Array(3 * N);
    rows.forEach((r, i) => all.set(r, i * N));
    const logits = gpu.upload(all, "logits");
    const params = createSamplingParamsBuffer(gpu);
    const out = gpu.createStorage(16, "out");
    const p: SamplingParams = { ...PLAIN, temperature: 0.8, topK: 40, topP: 0.95, random: 0.37 };
    writeSamplingParams(gpu, params, p);
    const lists = [0, 1, 2].map((row) => sampleDispatches(gpu, { logits, logitsRow: row, N, params, history: params, out, outIndex: row + 1 }));
    runDispatches(gpu, lists.flat());
    const got = Array.from(await gpu.readU32(out, 4)).slice(1);
    expect(got).toEqual(rows.map((r) => sampleRef(r, p, new Uint32Array(1))));
    // Different rows give different draws here (the check is not vacuous).
    expect(new Set(got).size).toBeGreaterThan(1);
    for (const l of lists) releaseDispatches(gpu, l);
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
