// gemm (shaders/gemm.wgsl): the many-row matmul through workgroup-memory tiles, against the
// float64 reference of matmul on awkward shapes, every weight layout, both tile sides, the
// epilogues, a column window and a row offset. Its fused KV write: tests/kernels/matmul-fused.test.ts.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { gemm, gemmTile, type GemmTile } from "../../src/kernels/gemm.js";
import { uploadMatrix, releaseTensor } from "../../src/kernels/weights.js";
import { matmulRef } from "../../src/kernels/reference/matmul.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { hostMatrix, type WType } from "./host-matrix.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

interface Case {
  type: WType;
  M: number;
  N: number;
  K: number;
  tile: GemmTile;
  epilogue?: boolean;
  /** Write columns offset.. of rows `total` wide. */
  columns?: { offset: number; total: number };
  /** Rows of x to skip. */
  rowOffset?: number;
}

async function check(c: Case) {
  const { type, M, N, K, tile } = c;
  const skip = c.rowOffset ?? 0;
  const total = c.columns?.total ?? N;
  const offset = c.columns?.offset ?? 0;
  const x = randomF32((skip + M) * K, 11 + M, 1);
  const { host, exact } = hostMatrix(type, randomF32(N * K, 7 + N, 0.5));
  const bias = c.epilogue ? randomF32(total, 5, 0.5) : undefined;
  const residual = c.epilogue ? randomF32(M * total, 6, 1) : undefined;
  const w = uploadMatrix(gpu, "w", host, [N, K]);
  const gx = gpu.upload(x, "x");
  const gb = bias ? gpu.upload(bias, "b") : undefined;
  const gr = residual ? gpu.upload(residual, "r") : undefined;
  const out = gpu.upload(new Float32Array(M * total).fill(-7), "out");
  const d = gemm(gpu, { x: gx, xRowOffset: skip, w, bias: gb, residual: gr, out, M, epilogue: c.epilogue ? "gelu" : "none", outColumns: c.columns }, tile);
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(out, M * total);
  // The reference over this dispatch's columns, placed in the window; the rest stays -7.
  const sub = (a: Float32Array | undefined, rows: number) => (a ? Float32Array.from({ length: rows * N }, (_, i) => a[Math.floor(i / N) * (rows === 1 ? 0 : total) + offset + (i % N)]) : undefined);
  const part = matmulRef(x.subarray(skip * K), exact, M, N, K, { bias: bias && sub(bias, 1), residual: sub(residual, M), epilogue: c.epilogue ? "gelu" : "none" });
  const want = new Float32Array(M * total).fill(-7);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) want[m * total + offset + n] = part[m * N + n];
  const label = `gemm${tile} ${type} M=${M} N=${N} K=${K}${c.epilogue ? " bias+gelu+res" : ""}${c.columns ? ` cols ${offset}/${total}` : ""}${skip ? ` rows from ${skip}` : ""}`;
  // The bound of matmul's tests: f32 sums in another order.
  expectClose(label, got, want, { atol: 2e-6 * Math.sqrt(K) + 1e-6, rtol: 1e-5 });
  releaseDispatches(gpu, [d]);
  releaseTensor(gpu, w);
  for (const b of [gx, gb, gr, out]) if (b) gpu.pool.release(b);
}

describe("gemm on awkward shapes", () => {
  for (const tile of [32, 64] as const) {
    for (const type of ["f32", "f16"] as const) {
      for (const [M, N, K] of [
        [2, 1, 4],
        [7, 7, 20],
        [65, 257, 36],
        [3, 70, 100],
      ]) {
        it(`${type} tile ${tile} M=${M} N=${N} K=${K}`, () => check({ type, M, N, K, tile }));
      }
    }
    for (const type of ["q8_0", "q4_0"] as const) {
      for (const [M, N, K] of [
        [2, 7, 32],
        [65, 257, 96],
      ]) {
        it(`${type} tile ${tile} M=${M} N=${N} K=${K}`, () => check({ type, M, N, K, tile }));
      }
    }
    it(`GPT-2 shapes, tile ${tile}: 24 rows 768 -> 3072 (q8_0, bias + GELU + residual), 9 rows 3072 -> 768 (f16)`, async () => {
      await check({ type: "q8_0", M: 24, N: 3072, K: 768, tile, epilogue: true });
      await check({ type: "f16", M: 9, N: 768, K: 3072, tile });
    });
    it(`a column window (a part of a split matrix) and a row offset, tile ${tile}`, async () => {
      await check({ type: "f32", M: 5, N: 70, K: 64, tile, epilogue: true, columns: { offset: 64, total: 200 } });
      await check({ type: "q4_0", M: 3, N: 33, K: 64, tile, rowOffset: 4 });
    });
  }

  it("the tile side grows with the output: 32 for a few workgroups, 64 once there are 128 of them", () => {
    expect(gemmTile(128, 768)).toBe(32);
    expect(gemmTile(1024, 768)).toBe(64);
  });

  it("refuses one row, a fused layer norm and K not a multiple of 4", () => {
    const w = uploadMatrix(gpu, "w", { dtype: "f32", data: new Float32Array(2 * 6) }, [2, 6]);
    const w8 = uploadMatrix(gpu, "w8", { dtype: "f32", data: new Float32Array(2 * 8) }, [2, 8]);
    const buf = gpu.createStorage(256, "b");
    const caught = (f: () => unknown) => {
      try {
        f();
        return "none";
      } catch (e) {
        return isMnemoError(e) ? e.code : String(e);
      }
    };
    expect(caught(() => gemm(gpu, { x: buf, w: w8, out: gpu.createStorage(64, "o"), M: 1 }))).toBe("BAD_INPUT");
    expect(caught(() => gemm(gpu, { x: buf, w: w8, out: gpu.createStorage(64, "o"), M: 2, norm: { gamma: buf, beta: buf, eps: 1e-5 } }))).toBe("BAD_INPUT");
    expect(caught(() => gemm(gpu, { x: buf, w, out: gpu.createStorage(64, "o"), M: 2 }))).toBe("SHAPE_MISMATCH");
    releaseTensor(gpu, w);
    releaseTensor(gpu, w8);
  });
});
