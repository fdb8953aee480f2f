import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { softmax } from "../../src/kernels/softmax.js";
import { softmaxRef } from "../../src/kernels/reference/softmax.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

async function runSoftmax(x: Float32Array, M: number, N: number): Promise<Float32Array> {
  const gx = gpu.upload(x, "x");
  const go = gpu.createStorage(M * N * 4, "out");
  const d = softmax(gpu, { x: gx, out: go, M, N });
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(go, M * N);
  releaseDispatches(gpu, [d]);
  gpu.pool.release(gx);
  gpu.pool.release(go);
  return got;
}

// Probabilities are <= 1. WGSL's exp allows 3 + 2|x| ULP, and the row sum is an f32
// reduction: relative error stays around 1e-6; atol covers the tiny probabilities.
const TOL = { atol: 1e-7, rtol: 1e-5 };

describe("softmax", () => {
  for (const M of [1, 3, 17]) {
    for (const N of [1, 7, 257, 768, 1000]) {
      it(`matches the reference, M=${M} N=${N}`, async () => {
        const x = randomF32(M * N, 100 + M * N, 8);
        const got = await runSoftmax(x, M, N);
        expectClose(`softmax M=${M} N=${N}`, got, softmaxRef(x, M, N), TOL);
      });
    }
  }

  it("matches the reference over a GPT-2 vocabulary (M=3, N=50257), rows summing to 1", async () => {
    const M = 3;
    const N = 50257;
    const x = randomF32(M * N, 7, 10);
    const got = await runSoftmax(x, M, N);
    expectClose(`softmax M=${M} N=${N}`, got, softmaxRef(x, M, N), TOL);
    for (let r = 0; r < M; r++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += got[r * N + i];
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }
  });

  it("is stable for large logits (no overflow after subtracting the row max)", async () => {
    const x = Float32Array.from([1000, 999, 998, -1000, 3e38, 3e38 - 1e32, 0]);
    const got = await runSoftmax(x, 1, 7);
    expect(got.every((v) => Number.isFinite(v))).toBe(true);
    expectClose("softmax large logits", got, softmaxRef(x, 1, 7), TOL);
    const y = Float32Array.from([1000, 999, 998]);
    expectClose("softmax 1000", await runSoftmax(y, 1, 3), softmaxRef(y, 1, 3), TOL);
  });

  it("refuses bad shapes with SHAPE_MISMATCH and aliasing with BAD_INPUT", () => {
    const x = gpu.createStorage(4 * 1000, "x");
    const out = gpu.createStorage(4 * 1000, "out");
    const err = caught(() => softmax(gpu, { x, out, M: 2, N: 1000 }));
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/needs 8000/);
    expect(
      isMnemoError(
        caught(() => softmax(gpu, { x, out, M: 1, N: -3 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => softmax(gpu, { x, out: x, M: 1, N: 1000 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    gpu.pool.release(x);
    gpu.pool.release(out);
  });
});
