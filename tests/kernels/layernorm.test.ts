import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { layerNorm, type LayerNormVariant } from "../../src/kernels/layernorm.js";
import { layerNormRef } from "../../src/kernels/reference/layernorm.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

/** Runs the GPU kernel on host data and returns its output. */
async function runLayerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, M: number, D: number, variant?: LayerNormVariant) {
  const bufs = [gpu.upload(x, "x"), gpu.upload(gamma, "gamma"), gpu.upload(beta, "beta"), gpu.createStorage(M * D * 4, "out")];
  const d = layerNorm(gpu, { x: bufs[0], gamma: bufs[1], beta: bufs[2], out: bufs[3], M, D, eps: 1e-5, variant });
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(bufs[3], M * D);
  releaseDispatches(gpu, [d]);
  bufs.forEach((b) => gpu.pool.release(b));
  return got;
}

// Outputs are O(1..5) (normalised values times gamma in [-2, 2]); measured worst abs
// error ~1e-6 (f32 mean, variance and products). D = 1 normalises to exactly 0, so every
// output equals beta.
const TOL = { atol: 5e-6, rtol: 1e-5 };

describe("layerNorm", () => {
  for (const variant of ["workgroup", "per-row"] as const) {
    for (const [M, D] of [
      [1, 1],
      [1, 768],
      [3, 7],
      [3, 257],
      [17, 1000],
      [17, 768],
      [33, 255],
    ]) {
      it(`${variant}: matches the reference, M=${M} D=${D}`, async () => {
        const x = randomF32(M * D, 10 + M + D, 3);
        const gamma = randomF32(D, 20 + D, 2);
        const beta = randomF32(D, 30 + D, 0.5);
        const got = await runLayerNorm(x, gamma, beta, M, D, variant);
        expectClose(`layerNorm ${variant} M=${M} D=${D}`, got, layerNormRef(x, gamma, beta, M, D, 1e-5), TOL);
      });
    }
  }

  it("per-row variant: rows past 16 per workgroup and a large common offset", async () => {
    const M = 37;
    const D = 96;
    const x = randomF32(M * D, 9, 0.01).map((v) => v + 1000);
    const gamma = randomF32(D, 8, 1);
    const beta = randomF32(D, 7, 1);
    const got = await runLayerNorm(x, gamma, beta, M, D, "per-row");
    expectClose("layerNorm per-row offset 1000", got, layerNormRef(x, gamma, beta, M, D, 1e-5), { atol: 5e-6, rtol: 1e-5 });
  });

  it("keeps precision for rows with a large common offset (two-pass variance)", async () => {
    const M = 3;
    const D = 768;
    const x = randomF32(M * D, 5, 0.01).map((v) => v + 1000);
    const gamma = new Float32Array(D).fill(1);
    const beta = new Float32Array(D);
    const got = await runLayerNorm(x, gamma, beta, M, D);
    // A one-pass E[x^2] - E[x]^2 in f32 loses everything here (1e6 vs a variance of 3e-5).
    expectClose("layerNorm offset 1000", got, layerNormRef(x, gamma, beta, M, D, 1e-5), { atol: 5e-6, rtol: 1e-5 });
  });

  it("handles GPT-2 sized prefill (M=64, D=768) and a constant row", async () => {
    const M = 64;
    const D = 768;
    const x = randomF32(M * D, 77, 4);
    x.fill(2.5, 0, D); // row 0 constant: variance 0, output = beta
    const gamma = randomF32(D, 78, 1);
    const beta = randomF32(D, 79, 1);
    const got = await runLayerNorm(x, gamma, beta, M, D);
    expectClose("layerNorm M=64 D=768", got, layerNormRef(x, gamma, beta, M, D, 1e-5), TOL);
    expectClose("layerNorm constant row", got.subarray(0, D), beta, { atol: 1e-6 });
  });

  it("refuses bad shapes with SHAPE_MISMATCH and aliasing with BAD_INPUT", () => {
    const x = gpu.createStorage(4 * 768, "x");
    const g = gpu.createStorage(4 * 768, "g");
    const out = gpu.createStorage(4 * 768, "out");
    const small = gpu.createStorage(16, "small");
    const base = { x, gamma: g, beta: g, out, M: 1, D: 768, eps: 1e-5 };
    const tooSmallX = caught(() => layerNorm(gpu, { ...base, M: 2 }));
    expect(isMnemoError(tooSmallX, "SHAPE_MISMATCH")).toBe(true);
    expect(String(tooSmallX)).toMatch(/x has .* needs 6144/);
    expect(
      isMnemoError(
        caught(() => layerNorm(gpu, { ...base, gamma: small })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => layerNorm(gpu, { ...base, beta: small })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => layerNorm(gpu, { ...base, D: 0 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => layerNorm(gpu, { ...base, M: 1.5 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => layerNorm(gpu, { ...base, out: x })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => layerNorm(gpu, { ...base, eps: Number.NaN })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    [x, g, out, small].forEach((b) => gpu.pool.release(b));
  });
});
