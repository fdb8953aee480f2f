import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { residualAdd, gelu } from "../../src/kernels/elementwise.js";
import { residualAddRef, geluRef } from "../../src/kernels/reference/elementwise.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const SIZES = [1, 7, 257, 1000, 768 * 3 + 5, 1024 * 3072];

describe("residualAdd", () => {
  for (const n of SIZES) {
    it(`matches the reference, n=${n}`, async () => {
      const a = randomF32(n, 1, 4);
      const b = randomF32(n, 2, 4);
      const [ga, gb, go] = [gpu.upload(a, "a"), gpu.upload(b, "b"), gpu.createStorage(n * 4, "out")];
      const d = residualAdd(gpu, { a: ga, b: gb, out: go, n });
      runDispatches(gpu, [d]);
      const got = await gpu.readF32(go, n);
      expectClose(`residualAdd n=${n}`, got, residualAddRef(a, b), { atol: 1e-6 });
      releaseDispatches(gpu, [d]);
      [ga, gb, go].forEach((x) => gpu.pool.release(x));
    });
  }

  it("refuses buffers smaller than the shape", () => {
    const small = gpu.createStorage(16, "small");
    let err: unknown;
    try {
      residualAdd(gpu, { a: small, b: small, out: small, n: 1000 });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/needs 4000/);
    gpu.pool.release(small);
  });
});

describe("gelu", () => {
  for (const n of SIZES) {
    it(`matches the reference, n=${n}`, async () => {
      const x = randomF32(n, 3, 12);
      const [gx, go] = [gpu.upload(x, "x"), gpu.createStorage(n * 4, "out")];
      const d = gelu(gpu, { x: gx, out: go, n });
      runDispatches(gpu, [d]);
      const got = await gpu.readF32(go, n);
      expectClose(`gelu n=${n}`, got, geluRef(x), { atol: 2e-6, rtol: 1e-5 });
      releaseDispatches(gpu, [d]);
      [gx, go].forEach((b) => gpu.pool.release(b));
    });
  }
});
