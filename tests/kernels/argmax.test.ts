import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { argmax } from "../../src/kernels/argmax.js";
import { argmaxRef } from "../../src/kernels/reference/argmax.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { randomF32, rng } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

async function runArgmax(x: Float32Array, M: number, N: number, outOffset = 0): Promise<Uint32Array> {
  const gx = gpu.upload(x, "x");
  const go = gpu.upload(new Uint32Array(outOffset + M).fill(0xdeadbeef), "out");
  const d = argmax(gpu, { x: gx, out: go, M, N, outOffset });
  runDispatches(gpu, [d]);
  const got = await gpu.readU32(go, outOffset + M);
  releaseDispatches(gpu, [d]);
  gpu.pool.release(gx);
  gpu.pool.release(go);
  return got;
}

describe("argmax", () => {
  for (const M of [1, 3, 17]) {
    for (const N of [1, 7, 257, 768, 1000, 50257]) {
      if (M === 17 && N === 50257) continue; // covered by M=3; keeps SwiftShader time down
      it(`matches the reference exactly, M=${M} N=${N}`, async () => {
        const x = randomF32(M * N, 300 + M * N, 5);
        expect(Array.from(await runArgmax(x, M, N))).toEqual(Array.from(argmaxRef(x, M, N)));
      });
    }
  }

  it("breaks ties by the lowest index, even across invocations", async () => {
    const N = 50257;
    const M = 3;
    const x = new Float32Array(M * N);
    const r = rng(9);
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(r() * 5); // many ties at 4
    // Row 1: maxima only at 40000 and 513 (different invocations), row 2: all equal.
    x.fill(0, N, 2 * N);
    x[N + 40000] = 7;
    x[N + 513] = 7;
    x.fill(-2, 2 * N, 3 * N);
    const got = await runArgmax(x, M, N);
    expect(Array.from(got)).toEqual(Array.from(argmaxRef(x, M, N)));
    expect(got[1]).toBe(513);
    expect(got[2]).toBe(0);
  });

  it("ranks NaN below everything and treats -0 as +0", async () => {
    const N = 7;
    const nan = Number.NaN;
    const rows = [
      [nan, -1, nan, 3, nan, 3, 2], // 3 (first 3)
      [nan, nan, nan, nan, nan, nan, nan], // all NaN: 0
      [nan, -Infinity, nan, -Infinity, nan, nan, nan], // 1
      [-0, 0, -0, -1, -2, nan, -Infinity], // 0 (-0 == +0)
      [-5, -4, Infinity, nan, Infinity, 1, 2], // 2
    ];
    const x = Float32Array.from(rows.flat());
    const got = await runArgmax(x, rows.length, N);
    expect(Array.from(got)).toEqual([3, 0, 1, 0, 2]);
    expect(Array.from(argmaxRef(x, rows.length, N))).toEqual([3, 0, 1, 0, 2]);
  });

  it("writes at outOffset and leaves the rest of out alone", async () => {
    const x = randomF32(3 * 257, 4, 1);
    const got = await runArgmax(x, 3, 257, 5);
    expect(Array.from(got.subarray(0, 5))).toEqual(new Array(5).fill(0xdeadbeef));
    expect(Array.from(got.subarray(5))).toEqual(Array.from(argmaxRef(x, 3, 257)));
  });

  it("refuses bad shapes with SHAPE_MISMATCH", () => {
    const x = gpu.createStorage(4 * 1000, "x");
    const out = gpu.createStorage(16, "out");
    expect(
      isMnemoError(
        caught(() => argmax(gpu, { x, out, M: 2, N: 1000 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    const err = caught(() => argmax(gpu, { x, out, M: 1, N: 1000, outOffset: 64 }));
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/out has/);
    expect(
      isMnemoError(
        caught(() => argmax(gpu, { x, out, M: 1, N: 10, outOffset: -1 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => argmax(gpu, { x, out, M: 0, N: 10 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    gpu.pool.release(x);
    gpu.pool.release(out);
  });
});
