// token_nll (perplexity evaluation's per-row NLL) against its float64 reference on awkward
// shapes: one row, one token, a row count either side of the 64-invocation workgroup, the
// GPT-2 vocabulary, logits far from zero. Output slots past M start as NaN and must stay so.
import { describe, it, expect, beforeAll } from "vitest";
import { STORAGE_USAGE, type Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { tokenNll } from "../../src/kernels/token-nll.js";
import { tokenNllRef } from "../../src/kernels/reference/token-nll.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32, rng } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const PAD = 3;

/** Runs the kernel on [M, V] logits; returns the M values and the PAD slots after them. */
async function runNll(logits: Float32Array, targets: Uint32Array, M: number, V: number): Promise<{ nll: Float32Array; after: Float32Array }> {
  const gl = gpu.upload(logits, "logits");
  const gt = gpu.upload(targets, "targets");
  const go = gpu.upload(new Float32Array(M + PAD).fill(Number.NaN), "nll");
  const d = tokenNll(gpu, { logits: gl, targets: gt, out: go, M, V });
  runDispatches(gpu, [d]);
  const all = await gpu.readF32(go, M + PAD);
  releaseDispatches(gpu, [d]);
  for (const b of [gl, gt, go]) gpu.pool.release(b);
  return { nll: all.subarray(0, M), after: all.subarray(M) };
}

function randomTargets(M: number, V: number, seed: number): Uint32Array {
  const r = rng(seed);
  const t = Uint32Array.from({ length: M }, () => Math.floor(r() * V));
  // The first and last ids of the vocabulary are always among the targets.
  t[0] = V - 1;
  if (M > 1) t[M - 1] = 0;
  return t;
}

// An f32 row max, then a sequential f32 sum of V exponentials, whose rounding grows with V.
// Worst absolute error measured on SwiftShader: 1.9e-6 for V ≤ 1000, 4.4e-5 for V = 50257;
// the bounds are ~5x.
const tol = (V: number) => ({ atol: V > 1000 ? 2e-4 : 1e-5 });

describe("tokenNll reference", () => {
  it("gives log V for a uniform row and log(1 + (V − 1)e^−L) when the target leads by L", () => {
    const V = 10;
    expect(tokenNllRef(new Float32Array(V).fill(3), [4], V)[0]).toBeCloseTo(Math.log(V), 6);
    const row = new Float32Array(V);
    row[7] = 5;
    expect(tokenNllRef(row, [7], V)[0]).toBeCloseTo(Math.log(1 + (V - 1) * Math.exp(-5)), 6);
    expect(tokenNllRef(row, [2], V)[0]).toBeCloseTo(Math.log(Math.exp(5) + V - 1), 5);
  });
});

describe("token_nll kernel", () => {
  for (const [M, V] of [
    [1, 1],
    [1, 2],
    [3, 7],
    [63, 1000],
    [64, 33],
    [65, 257],
    [130, 5],
    [2, 50257],
  ] as const) {
    it(`matches the reference, M=${M} V=${V}, and writes only M values`, async () => {
      const logits = randomF32(M * V, 31 * M + V, 8);
      const targets = randomTargets(M, V, M + 7 * V);
      const { nll, after } = await runNll(logits, targets, M, V);
      expectClose(`token_nll M=${M} V=${V}`, nll, tokenNllRef(logits, targets, V), tol(V));
      expect(Array.from(after).every(Number.isNaN)).toBe(true);
      // One vocabulary entry: every NLL is exactly 0.
      if (V === 1) expect(Array.from(nll)).toEqual(new Array(M).fill(0));
    });
  }

  it("is stable for logits far from zero (the row max is subtracted), each row with its own target", async () => {
    const V = 6;
    const rows = [
      [-50, -51, -52, -53, -54, -55],
      [1e4, 1e4 - 1, 1e4 - 2, -1e4, 0, 5],
      [3e38, 3e38, -3e38, 0, 1, 2],
    ];
    const logits = Float32Array.from(rows.flat());
    const targets = Uint32Array.from([5, 1, 0]);
    const { nll } = await runNll(logits, targets, 3, V);
    const want = tokenNllRef(logits, targets, V);
    expect(Array.from(nll).every(Number.isFinite), String(nll)).toBe(true);
    expectClose("token_nll logits near -50", nll.subarray(0, 1), want.subarray(0, 1), tol(V));
    // The kernel adds log(sum) to the row max before subtracting the target's logit, so the
    // result carries the rounding of the max's magnitude: half an ulp of 1e4 is 4.9e-4
    // (measured 3.8e-4). At 3e38 only finiteness is meaningful.
    expectClose("token_nll logits near 1e4", nll.subarray(1, 2), want.subarray(1, 2), { atol: 1e-3 });
  });

  it("reads a target past the vocabulary as the last id (never outside its row)", async () => {
    const V = 5;
    const logits = randomF32(2 * V, 11, 4);
    const { nll } = await runNll(logits, Uint32Array.from([V + 3, 0xffffffff]), 2, V);
    expectClose("token_nll clamped target", nll, tokenNllRef(logits, [V - 1, V - 1], V), tol(V));
  });

  it("refuses buffers smaller than the shape and non-positive dimensions with SHAPE_MISMATCH", () => {
    // Exact sizes (the pool may round its buffers up).
    const b = gpu.device.createBuffer({ size: 4 * 12, usage: STORAGE_USAGE });
    const small = gpu.device.createBuffer({ size: 4 * 2, usage: STORAGE_USAGE });
    const err = caught(() => tokenNll(gpu, { logits: b, targets: small, out: b, M: 3, V: 4 }));
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/targets has \d+ bytes but the shape needs 12/);
    expect(
      isMnemoError(
        caught(() => tokenNll(gpu, { logits: small, targets: b, out: b, M: 2, V: 4 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => tokenNll(gpu, { logits: b, targets: b, out: b, M: 0, V: 4 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => tokenNll(gpu, { logits: b, targets: b, out: b, M: 2, V: 1.5 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    b.destroy();
    small.destroy();
  });
});
