import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { matmul } from "../../src/kernels/matmul.js";
import { uploadMatrix, releaseTensor } from "../../src/kernels/weights.js";
import { matmulRef, type EpilogueRef } from "../../src/kernels/reference/matmul.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { hostMatrix, type WType } from "./host-matrix.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

async function check(type: WType, M: number, N: number, K: number, opts: { bias?: boolean; gelu?: boolean; residual?: boolean; epilogue?: EpilogueRef } = {}) {
  const epilogue = opts.epilogue ?? (opts.gelu ? "gelu" : "none");
  const x = randomF32(M * K, 11 + M, 1);
  const { host, exact } = hostMatrix(type, randomF32(N * K, 7 + N, 0.5));
  const bias = opts.bias ? randomF32(N, 5, 0.5) : undefined;
  const residual = opts.residual ? randomF32(M * N, 6, 1) : undefined;
  const w = uploadMatrix(gpu, "w", host, [N, K]);
  const gx = gpu.upload(x, "x");
  const gb = bias ? gpu.upload(bias, "b") : undefined;
  const gr = residual ? gpu.upload(residual, "r") : undefined;
  const out = gpu.createStorage(M * N * 4, "out");
  const d = matmul(gpu, { x: gx, w, bias: gb, residual: gr, out, M, epilogue });
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(out, M * N);
  const want = matmulRef(x, exact, M, N, K, { bias, residual, epilogue });
  // Float32 accumulation in a different order: error grows like sqrt(K) * eps * |terms|.
  expectClose(`matmul ${type} M=${M} N=${N} K=${K} ${epilogue}${opts.residual ? " +res" : ""}`, got, want, { atol: 2e-6 * Math.sqrt(K) + 1e-6, rtol: 1e-5 });
  releaseDispatches(gpu, [d]);
  releaseTensor(gpu, w);
  for (const b of [gx, gb, gr, out]) if (b) gpu.pool.release(b);
  return { got, want };
}

describe("matmul f32/f16 on awkward shapes", () => {
  for (const type of ["f32", "f16"] as const) {
    for (const [M, N, K] of [
      [1, 1, 1],
      [1, 7, 257],
      [3, 257, 7],
      [7, 1000, 64],
      [65, 7, 257],
      [2, 1000, 64],
      [4, 257, 64],
      [3, 7, 64],
    ]) {
      it(`${type} M=${M} N=${N} K=${K}`, () => check(type, M, N, K, { bias: true }));
    }
  }
});

describe("matmul q8_0/q4_0 (K multiple of 32)", () => {
  for (const type of ["q8_0", "q4_0"] as const) {
    for (const [M, N, K] of [
      [1, 1, 32],
      [1, 7, 96],
      [3, 257, 64],
      [65, 1000, 256],
      // The few-row tiles of a speculative verification: 2 x 4 (M = 2), 4 x 4 (M = 3, 4),
      // and 16 x 4 with its rows past M skipped (M = 9); over three row groups, the last of
      // one row (M = 33).
      [2, 257, 64],
      [4, 7, 96],
      [9, 257, 64],
      [33, 257, 96],
    ]) {
      it(`${type} M=${M} N=${N} K=${K}`, () => check(type, M, N, K, { bias: true }));
    }
  }
});

describe("matmul GPT-2 shapes", () => {
  it("768 x 3072 GEMV, f16, gelu epilogue", () => check("f16", 1, 3072, 768, { bias: true, gelu: true }));
  it("3072 -> 768 GEMV, q8_0, residual", () => check("q8_0", 1, 768, 3072, { bias: true, residual: true }));
  it("LM head 768 x 50257, f16", () => check("f16", 1, 50257, 768));
  it("LM head 768 x 50257, q8_0", () => check("q8_0", 1, 50257, 768));
  it("LM head 256 x 50257, q4_0 (gpt2-gutenberg's)", () => check("q4_0", 1, 50257, 256));
  it("prefill 24 rows x 768 -> 2304, f32", () => check("f32", 24, 2304, 768, { bias: true }));
  // 4 x 4 tiles with partial tiles in both directions (N % 4 = 3, M % 4 = 1) and every epilogue.
  it("prefill 9 rows x 768 -> 3071, f16, gelu + residual", () => check("f16", 9, 3071, 768, { bias: true, gelu: true, residual: true }));
  it("prefill 5 rows x 96 -> 6, q4_0, residual", () => check("q4_0", 5, 6, 96, { bias: true, residual: true }));
});

describe("matmul BERT epilogues (erf GELU, tanh)", () => {
  // The 16-row tile, the 2-row tile and the GEMV, each with a partial last column group.
  it("erf GELU, 13 rows x 64 -> 255, f32 (an intermediate layer)", () => check("f32", 13, 255, 64, { bias: true, epilogue: "gelu_erf" }));
  it("erf GELU, 2 rows x 96 -> 37, f16, + residual", () => check("f16", 2, 37, 96, { bias: true, epilogue: "gelu_erf", residual: true }));
  it("erf GELU, one row, q8_0", () => check("q8_0", 1, 130, 64, { bias: true, epilogue: "gelu_erf" }));
  it("tanh, 3 rows x 64 -> 64, f32 (the pooler); K % 4 != 0 (scalar path)", async () => {
    await check("f32", 3, 64, 64, { bias: true, epilogue: "tanh" });
    await check("f32", 3, 21, 7, { bias: true, epilogue: "tanh" });
  });
  it("the erf reference itself: erf(0.5), erf(-2), erf(3.5) to 1e-11", async () => {
    const { erfRef } = await import("../../src/kernels/reference/elementwise.js");
    expect(Math.abs(erfRef(0.5) - 0.5204998778130465)).toBeLessThan(1e-12);
    expect(Math.abs(erfRef(-2) + 0.9953222650189527)).toBeLessThan(1e-12);
    expect(Math.abs(erfRef(3.5) - 0.9999992569016276)).toBeLessThan(1e-11);
  });
});

describe("matmul checks its inputs", () => {
  it("detects a deliberately shifted bias (the comparison can fail)", async () => {
    const M = 2,
      N = 9,
      K = 5;
    const x = randomF32(M * K, 1);
    const wv = randomF32(N * K, 2);
    const bias = randomF32(N, 3);
    const w = uploadMatrix(gpu, "w", { dtype: "f32", data: wv }, [N, K]);
    const [gx, gb, out] = [gpu.upload(x, "x"), gpu.upload(bias, "b"), gpu.createStorage(M * N * 4, "o")];
    runDispatches(gpu, [matmul(gpu, { x: gx, w, bias: gb, out, M })]);
    const got = await gpu.readF32(out, M * N);
    const shifted = bias.map((_, i) => bias[(i + 1) % N]);
    expect(() => expectClose("shifted bias", got, matmulRef(x, wv, M, N, K, { bias: shifted }), { atol: 1e-5 })).toThrow();
  });

  it("refuses mismatched shapes with SHAPE_MISMATCH", () => {
    const w = uploadMatrix(gpu, "w", { dtype: "f32", data: new Float32Array(12) }, [3, 4]);
    const small = gpu.createStorage(8, "small"); // the pool rounds it up to 256 bytes
    const out = gpu.createStorage(4096, "out");
    let err: unknown;
    try {
      matmul(gpu, { x: small, w, out, M: 100 });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/x has 256 bytes but the shape needs 1600/);
    expect(() => matmul(gpu, { x: out, w, out, M: 1 })).toThrow(/different buffers/);
    expect(() => uploadMatrix(gpu, "bad", { dtype: "f32", data: new Float32Array(5) }, [2, 3])).toThrow(/needs 6/);
    expect(() => uploadMatrix(gpu, "badq", { dtype: "q8_0", data: new Uint8Array(34) }, [1, 33])).toThrow(/multiple of 32/);
  });
});
