// Int8 activations (quantize.wgsl) and the int8 GEMV (matmul_i8.wgsl) against their float64
// references, every shape and with and without dot4I8Packed, on awkward sizes. The GEMV
// quantizes its row itself with quantize.wgsl's steps (common/quantize_block), so its
// reference takes the row's quants from quantizeActivations: the same bytes.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { gemvI8, gemvI8Shapes, gemvI8WorkgroupSize, hasDot4, int8ActivationBytes, matmulI8, quantizeActivations, type GemvI8Shape } from "../../src/kernels/matmul-i8.js";
import { uploadMatrix, releaseTensor } from "../../src/kernels/weights.js";
import { createInt8Scratch, decodeMatmul, prefillMatmul } from "../../src/kernels/matmul-variants.js";
import type { GpuTensor } from "../../src/gpu/tensor.js";
import { gemvI8Ref, quantizeRowsRef } from "../../src/kernels/reference/matmul-i8.js";
import { layerNormRef } from "../../src/kernels/reference/layernorm.js";
import type { LayerNormVariant } from "../../src/kernels/layernorm.js";
import { geluRef } from "../../src/kernels/reference/elementwise.js";
import { quantizeQ4_0, quantizeQ8_0 } from "../../src/formats/quant.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { quantIntegers } from "./host-matrix.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

async function quantizeOnGpu(x: Float32Array, M: number, K: number, norm?: { gamma: Float32Array; beta: Float32Array; eps: number }, lnVariant?: LayerNormVariant) {
  const gx = gpu.upload(x, "x");
  const bytes = int8ActivationBytes(M, K);
  const xq = gpu.createStorage(bytes.xq, "xq");
  const xs = gpu.createStorage(bytes.xs, "xs");
  const gg = norm ? gpu.upload(norm.gamma, "g") : undefined;
  const gb = norm ? gpu.upload(norm.beta, "b") : undefined;
  const normed = norm ? gpu.createStorage(M * K * 4, "normed") : undefined;
  const d = quantizeActivations(gpu, { x: gx, M, K, xq, xs, norm: norm ? { gamma: gg!, beta: gb!, eps: norm.eps, out: normed } : undefined, lnVariant });
  runDispatches(gpu, [d]);
  const q = new Int8Array(await gpu.readback(xq, bytes.xq));
  const scales = await gpu.readF32(xs, bytes.xs / 4);
  const n = normed ? await gpu.readF32(normed, M * K) : undefined;
  releaseDispatches(gpu, [d]);
  for (const b of [gx, gg, gb, normed]) if (b) gpu.pool.release(b);
  return { q, scales, normed: n, xq, xs };
}

/** The GPU's quantization equals the reference up to one step where x · 127 / amax lands on a tie. */
function expectQuantized(label: string, got: { q: Int8Array; scales: Float32Array }, x: Float32Array, M: number, K: number) {
  const want = quantizeRowsRef(x, M, K);
  expectClose(`${label} scales`, got.scales, want.scales, { atol: 0, rtol: 1e-6 });
  let off = 0;
  for (let i = 0; i < want.q.length; i++) {
    const d = Math.abs(got.q[i] - want.q[i]);
    expect(d, `${label} element ${i}`).toBeLessThanOrEqual(1);
    off += d;
  }
  expect(off, `${label}: elements one step off`).toBeLessThanOrEqual(Math.ceil(want.q.length / 1000));
  // Dequantized, within half a step of x.
  for (let i = 0; i < x.length; i++) expect(Math.abs(got.q[i] * got.scales[i >> 5] - x[i])).toBeLessThanOrEqual(got.scales[i >> 5] * 0.5 * (1 + 1e-5) + 1e-12);
}

describe("quantizeActivations", () => {
  for (const [M, K] of [
    [1, 32],
    [3, 96],
    [7, 768],
  ]) {
    it(`M=${M} K=${K}`, async () => {
      const x = randomF32(M * K, 3 + K, 2);
      x.fill(0, 0, 32); // an all-zero block: scale 0, quants 0
      const got = await quantizeOnGpu(x, M, K);
      expectQuantized(`quantize M=${M} K=${K}`, got, x, M, K);
      expect(got.scales[0]).toBe(0);
      gpu.pool.release(got.xq);
      gpu.pool.release(got.xs);
    });
  }

  for (const lnVariant of ["workgroup", "per-row"] as const) {
    it(`with the layer norm in front (K=768, an offset row), and the normalised row kept (${lnVariant})`, async () => {
      const K = 768;
      const x = randomF32(K, 91, 3).map((v) => v + 40);
      const gamma = randomF32(K, 92, 1);
      const beta = randomF32(K, 93, 0.5);
      const got = await quantizeOnGpu(x, 1, K, { gamma, beta, eps: 1e-5 }, lnVariant);
      const normed = layerNormRef(x, gamma, beta, 1, K, 1e-5);
      expectClose(`ln_quantize normed (${lnVariant})`, got.normed!, normed, { atol: 5e-6, rtol: 1e-5 });
      // Normalised rows: measured 4.8e-7 (per-row, K = 768); the bound is 5e-6. Quantized from
      // the GPU's own normalised row (the reference of the quantization step).
      expectQuantized(`ln_quantize (${lnVariant})`, got, got.normed!, 1, K);
      gpu.pool.release(got.xq);
      gpu.pool.release(got.xs);
    });

    it(`with the layer norm over several rows (M=3, K=96; M=70, K=64) (${lnVariant})`, async () => {
      for (const [M, K] of [
        [3, 96],
        [70, 64],
      ]) {
        const x = randomF32(M * K, 94, 2).map((v, i) => v + (i % 7));
        const gamma = randomF32(K, 95, 1);
        const beta = randomF32(K, 96, 0.5);
        const got = await quantizeOnGpu(x, M, K, { gamma, beta, eps: 1e-5 }, lnVariant);
        expectClose(`ln_quantize normed M=${M} (${lnVariant})`, got.normed!, layerNormRef(x, gamma, beta, M, K, 1e-5), { atol: 5e-6, rtol: 1e-5 });
        expectQuantized(`ln_quantize M=${M} (${lnVariant})`, got, got.normed!, M, K);
        gpu.pool.release(got.xq);
        gpu.pool.release(got.xs);
      }
    });
  }

  it("refuses K not a multiple of 32", () => {
    const x = gpu.createStorage(4 * 64 * 2, "x");
    const xq = gpu.createStorage(128, "xq");
    const xs = gpu.createStorage(64, "xs");
    const attempt = (f: () => unknown, code: string) => {
      try {
        f();
        expect.unreachable();
      } catch (e) {
        expect(isMnemoError(e) && e.code).toBe(code);
      }
    };
    attempt(() => quantizeActivations(gpu, { x, M: 1, K: 48, xq, xs }), "SHAPE_MISMATCH");
    attempt(() => quantizeActivations(gpu, { x, M: 1, K: 64, xq, xs, norm: { gamma: x, beta: x, eps: -1 } }), "BAD_INPUT");
    for (const b of [x, xq, xs]) gpu.pool.release(b);
  });
});

interface GemvCase {
  type: "q8_0" | "q4_0";
  N: number;
  K: number;
  shape: GemvI8Shape;
  dot4: boolean;
  epilogue?: boolean;
  /** Layer-normalise the row inside the GEMV (and keep the normalised row). */
  norm?: boolean;
}

async function checkGemv(c: GemvCase) {
  const { type, N, K } = c;
  const values = randomF32(N * K, 17 + N, 0.5);
  const blocks = type === "q8_0" ? quantizeQ8_0(values) : quantizeQ4_0(values);
  const weights = quantIntegers(type, blocks, N * K);
  const w = uploadMatrix(gpu, "w", { dtype: type, data: blocks }, [N, K]);
  const x = randomF32(K, 5 + K, 1).map((v) => (c.norm ? v + 30 : v));
  const gx = gpu.upload(x, "x");
  const gamma = randomF32(K, 6, 1);
  const beta = randomF32(K, 7, 0.5);
  const norm = c.norm ? { gamma: gpu.upload(gamma, "g"), beta: gpu.upload(beta, "b"), eps: 1e-5, out: gpu.createStorage(K * 4, "normed") } : undefined;
  const bias = c.epilogue ? randomF32(N, 8, 0.5) : undefined;
  const residual = c.epilogue ? randomF32(N, 9, 1) : undefined;
  const gb = bias ? gpu.upload(bias, "bias") : undefined;
  const gr = residual ? gpu.upload(residual, "res") : undefined;
  const out = gpu.createStorage(N * 4, "out");
  const args = { x: gx, norm, w, bias: gb, residual: gr, out, epilogue: c.epilogue ? ("gelu" as const) : ("none" as const), shape: c.shape, dot4: c.dot4 };
  const d = gemvI8(gpu, args);
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(out, N);
  const label = `gemv_i8 ${type} ${c.shape} dot4=${c.dot4} N=${N} K=${K}${c.epilogue ? " bias+gelu+res" : ""}${c.norm ? " ln" : ""}`;
  // The row the GEMV quantized: x, or the normalised row it kept (against the reference layer norm).
  let row: Float32Array = x;
  if (norm) {
    row = await gpu.readF32(norm.out, K);
    expectClose(`${label} normed`, row, layerNormRef(x, gamma, beta, 1, K, 1e-5), { atol: 5e-6, rtol: 1e-5 });
    // Without the kept row: the same sums.
    const out2 = gpu.createStorage(N * 4, "out2");
    const d2 = gemvI8(gpu, { ...args, norm: { ...norm, out: undefined }, out: out2 });
    runDispatches(gpu, [d2]);
    expect(Array.from(await gpu.readF32(out2, N)), `${label} without the kept row`).toEqual(Array.from(got));
    releaseDispatches(gpu, [d2]);
    gpu.pool.release(out2);
  }
  const act = await quantizeOnGpu(row, 1, K);
  const sums = gemvI8Ref(act.q, act.scales, weights.q, weights.scales, N, K);
  // The integer products are exact; the per-block scaling and the sum over blocks are f32,
  // so the error is a few ulps of the sum of |terms| (Q4_0 scales may be negative). Measured:
  // at most 2.3e-8 of it (3072 x 768 rows4); the bound is 2e-7.
  const magnitude = gemvI8Ref(act.q.map(Math.abs), act.scales, weights.q.map(Math.abs), weights.scales.map(Math.abs), N, K);
  let want: Float64Array | Float32Array = sums;
  let tol = Math.max(...magnitude) * 2e-7;
  if (c.epilogue) {
    const pre = new Float32Array(N);
    for (let n = 0; n < N; n++) pre[n] = sums[n] + bias![n];
    want = geluRef(pre).map((v, n) => v + residual![n]);
    tol += 1e-6;
  }
  expectClose(label, got, want, { atol: tol });
  releaseDispatches(gpu, [d]);
  releaseTensor(gpu, w);
  for (const b of [gx, norm?.gamma, norm?.beta, norm?.out, act.xq, act.xs, gb, gr, out]) if (b) gpu.pool.release(b);
}

describe("gemvI8 on awkward shapes", () => {
  const shapes: [number, number][] = [
    [1, 32],
    [7, 96],
    [257, 64],
    [3072, 768],
  ];
  for (const type of ["q8_0", "q4_0"] as const) {
    for (const shape of ["rows4", "coop-subgroup", "coop-workgroup"] as const) {
      for (const dot4 of [true, false]) {
        for (const [N, K] of shapes) {
          it(`${type} ${shape} dot4=${dot4} N=${N} K=${K}`, async (ctx) => {
            if (!gemvI8Shapes(gpu).includes(shape) || (dot4 && !hasDot4(gpu))) ctx.skip();
            await checkGemv({ type, N, K, shape, dot4 });
          });
        }
      }
    }
  }

  it("LM-head shapes: 50257 x 768 (q8_0) and 50257 x 256 (q4_0), the fast shapes", async () => {
    for (const shape of ["rows4", "coop-subgroup"] as const) {
      if (!gemvI8Shapes(gpu).includes(shape)) continue;
      await checkGemv({ type: "q8_0", N: 50257, K: 768, shape, dot4: hasDot4(gpu) });
      await checkGemv({ type: "q4_0", N: 50257, K: 256, shape, dot4: hasDot4(gpu) });
    }
  }, 120_000);

  it("the epilogue: bias, GELU and a residual (every shape)", async () => {
    for (const shape of gemvI8Shapes(gpu)) await checkGemv({ type: "q8_0", N: 257, K: 96, shape, dot4: hasDot4(gpu), epilogue: true });
  });

  it("the layer norm fused in front, the normalised row kept (every shape; fewer and more blocks than invocations)", async () => {
    for (const shape of gemvI8Shapes(gpu)) {
      await checkGemv({ type: "q8_0", N: 7, K: 96, shape, dot4: hasDot4(gpu), norm: true });
      await checkGemv({ type: "q4_0", N: 65, K: 3072, shape, dot4: hasDot4(gpu), norm: true, epilogue: true });
    }
  }, 60_000);

  it("refuses f16 weights, a residual that is the output and a row over workgroup memory", () => {
    const w = uploadMatrix(gpu, "w16", { dtype: "f16", data: new Uint16Array(64) }, [2, 32]);
    const buf = gpu.createStorage(256, "b");
    try {
      gemvI8(gpu, { x: buf, w, out: buf });
      expect.unreachable();
    } catch (e) {
      expect(isMnemoError(e) && e.code).toBe("UNSUPPORTED_FEATURE");
    }
    const wq = uploadMatrix(gpu, "w8", { dtype: "q8_0", data: quantizeQ8_0(new Float32Array(64)) }, [2, 32]);
    const other = gpu.createStorage(256, "row");
    try {
      gemvI8(gpu, { x: other, w: wq, out: buf, residual: buf });
      expect.unreachable();
    } catch (e) {
      expect(isMnemoError(e) && (e.message.match(/residual and out/) ? e.code : e.message)).toBe("BAD_INPUT");
    }
    gpu.pool.release(other);
    // The row may not be an output (other workgroups still read it).
    for (const bad of [
      { x: buf, w: wq, out: buf },
      { x: buf, w: wq, out: gpu.createStorage(256, "o"), norm: { gamma: buf, beta: buf, eps: 1e-5, out: buf } },
    ]) {
      try {
        gemvI8(gpu, bad);
        expect.unreachable();
      } catch (e) {
        expect(isMnemoError(e) && e.code).toBe("BAD_INPUT");
      }
    }
    // A row too long for the workgroup's copy of it.
    const K = 32 * Math.ceil(gpu.limits.maxComputeWorkgroupStorageSize / 32);
    const wide = uploadMatrix(gpu, "wide", { dtype: "q8_0", data: quantizeQ8_0(new Float32Array(K)) }, [1, K]);
    const row = gpu.createStorage(K * 4, "row");
    try {
      gemvI8(gpu, { x: row, w: wide, out: buf });
      expect.unreachable();
    } catch (e) {
      expect(isMnemoError(e) && e.code).toBe("UNSUPPORTED_FEATURE");
    }
    releaseTensor(gpu, wide);
    gpu.pool.release(row);
    releaseTensor(gpu, w);
    releaseTensor(gpu, wq);
    gpu.pool.release(buf);
  });
});

describe("decodeMatmul's int8 variants on a matrix split by rows", () => {
  it("each part quantizes the row again and the first keeps the normalised row: the unsplit GEMV's values", async () => {
    const [N, K, first] = [200, 96, 128];
    const values = randomF32(N * K, 41, 0.5);
    const whole = uploadMatrix(gpu, "w", { dtype: "q8_0", data: quantizeQ8_0(values) }, [N, K]);
    const parts = [
      uploadMatrix(gpu, "w0", { dtype: "q8_0", data: quantizeQ8_0(values.subarray(0, first * K)) }, [first, K]),
      uploadMatrix(gpu, "w1", { dtype: "q8_0", data: quantizeQ8_0(values.subarray(first * K)) }, [N - first, K]),
    ];
    const split: GpuTensor = { ...whole, buffer: parts[0].buffer, parts };
    const x = gpu.upload(
      randomF32(K, 42, 1).map((v) => v + 5),
      "x",
    );
    const gamma = gpu.upload(randomF32(K, 43, 1), "g");
    const beta = gpu.upload(randomF32(K, 44, 0.5), "b");
    const run = async (w: GpuTensor, variant: "i8-rows4" | "i8-coop-workgroup") => {
      const out = gpu.createStorage(N * 4, "out");
      const normed = gpu.createStorage(K * 4, "normed");
      const ds = decodeMatmul(gpu, { x, w, out, M: 1, norm: { gamma, beta, eps: 1e-5, out: normed } }, variant);
      runDispatches(gpu, ds);
      const got = { ds: ds.length, out: Array.from(await gpu.readF32(out, N)), normed: Array.from(await gpu.readF32(normed, K)) };
      releaseDispatches(gpu, ds);
      gpu.pool.release(out);
      gpu.pool.release(normed);
      return got;
    };
    for (const variant of ["i8-rows4", "i8-coop-workgroup"] as const) {
      const a = await run(whole, variant);
      const b = await run(split, variant);
      expect([a.ds, b.ds]).toEqual([1, 2]);
      expect(b.out, variant).toEqual(a.out);
      expect(b.normed, variant).toEqual(a.normed);
    }
    releaseTensor(gpu, whole);
    releaseTensor(gpu, split);
    for (const b of [x, gamma, beta]) gpu.pool.release(b);
  });
});

describe("matmulI8 (many rows) on awkward shapes", () => {
  /** Tiles of M rows against the one-row reference, row by row. */
  async function checkTiles(type: "q8_0" | "q4_0", M: number, N: number, K: number, dot4: boolean, epilogue = false) {
    const blocks = type === "q8_0" ? quantizeQ8_0(randomF32(N * K, 27 + N, 0.5)) : quantizeQ4_0(randomF32(N * K, 27 + N, 0.5));
    const weights = quantIntegers(type, blocks, N * K);
    const w = uploadMatrix(gpu, "w", { dtype: type, data: blocks }, [N, K]);
    const x = randomF32(M * K, 15 + M, 1);
    const act = await quantizeOnGpu(x, M, K);
    const bias = epilogue ? randomF32(N, 18, 0.5) : undefined;
    const residual = epilogue ? randomF32(M * N, 19, 1) : undefined;
    const gb = bias ? gpu.upload(bias, "bias") : undefined;
    const gr = residual ? gpu.upload(residual, "res") : undefined;
    const out = gpu.createStorage(M * N * 4, "out");
    const d = matmulI8(gpu, { xq: act.xq, xs: act.xs, M, w, bias: gb, residual: gr, out, epilogue: epilogue ? "gelu" : "none", dot4 });
    runDispatches(gpu, [d]);
    const got = await gpu.readF32(out, M * N);
    const want = new Float64Array(M * N);
    let worst = 0;
    for (let m = 0; m < M; m++) {
      const q = act.q.subarray(m * K, (m + 1) * K);
      const sc = act.scales.subarray((m * K) / 32, ((m + 1) * K) / 32);
      let row: ArrayLike<number> = gemvI8Ref(q, sc, weights.q, weights.scales, N, K);
      if (epilogue) row = geluRef(Float32Array.from(row, (v, n) => v + bias![n])).map((v, n) => v + residual![m * N + n]);
      want.set(row, m * N);
      const magnitude = gemvI8Ref(q.map(Math.abs), sc, weights.q.map(Math.abs), weights.scales.map(Math.abs), N, K);
      worst = Math.max(worst, ...magnitude);
    }
    // The bound of the one-row kernel (2e-7 of the largest sum of |terms|), plus the GELU's.
    expectClose(`matmul_i8 tiles ${type} dot4=${dot4} M=${M} N=${N} K=${K}${epilogue ? " bias+gelu+res" : ""}`, got, want, { atol: worst * 2e-7 + (epilogue ? 1e-6 : 0) });
    releaseDispatches(gpu, [d]);
    releaseTensor(gpu, w);
    for (const b of [act.xq, act.xs, gb, gr, out]) if (b) gpu.pool.release(b);
  }

  for (const type of ["q8_0", "q4_0"] as const) {
    for (const dot4 of [true, false]) {
      for (const [M, N, K] of [
        [2, 7, 32],
        [3, 257, 96],
        [7, 1, 64],
        [65, 257, 32],
        [9, 3072, 768],
      ]) {
        it(`${type} dot4=${dot4} M=${M} N=${N} K=${K}`, async (ctx) => {
          if (dot4 && !hasDot4(gpu)) ctx.skip();
          await checkTiles(type, M, N, K, dot4);
        });
      }
    }
  }

  it("the epilogue over tiles: bias, GELU and a residual", () => checkTiles("q8_0", 11, 257, 96, hasDot4(gpu), true));

  it("refuses one row (gemvI8's)", () => {
    const buf = gpu.createStorage(256, "b");
    const wq = uploadMatrix(gpu, "w8", { dtype: "q8_0", data: quantizeQ8_0(new Float32Array(64)) }, [2, 32]);
    try {
      matmulI8(gpu, { xq: buf, xs: buf, w: wq, out: buf, M: 1 });
      expect.unreachable();
    } catch (e) {
      expect(isMnemoError(e) && e.code).toBe("BAD_INPUT");
    }
    releaseTensor(gpu, wq);
    gpu.pool.release(buf);
  });
});

describe("many rows quantized as decode quantizes one (a speculative verification's rows)", () => {
  for (const shape of ["rows4", "coop-workgroup"] as const) {
    it(`with the GEMV's row statistics (${shape}): the normalised rows equal one-row GEMVs' bit for bit, and so the products`, async () => {
      const [M, N, K] = [6, 64, 768];
      const w = uploadMatrix(gpu, "w", { dtype: "q8_0", data: quantizeQ8_0(randomF32(N * K, 61, 1)) }, [N, K]);
      // A large common offset: the statistics' rounding then shows in the normalised values.
      const rows = randomF32(M * K, 62, 3).map((v, i) => v + 40 + (i % 5));
      const gamma = gpu.upload(randomF32(K, 63, 1), "g");
      const beta = gpu.upload(randomF32(K, 64, 0.5), "b");
      const norm = { gamma, beta, eps: 1e-5 };
      // One-row GEMVs, row by row.
      const gemvOut: number[] = [];
      const gemvNormed: number[] = [];
      for (let m = 0; m < M; m++) {
        const x = gpu.upload(rows.subarray(m * K, (m + 1) * K), "x");
        const out = gpu.createStorage(N * 4, "out");
        const normed = gpu.createStorage(K * 4, "normed");
        const ds = decodeMatmul(gpu, { x, w, out, M: 1, norm: { ...norm, out: normed } }, `i8-${shape}`);
        runDispatches(gpu, ds);
        gemvOut.push(...(await gpu.readF32(out, N)));
        gemvNormed.push(...(await gpu.readF32(normed, K)));
        releaseDispatches(gpu, ds);
        for (const b of [x, out, normed]) gpu.pool.release(b);
      }
      const x = gpu.upload(rows, "x");
      // The quantization's normalised rows, with and without the GEMV's statistics.
      const normedRows = async (statsWorkgroupSize?: number) => {
        const scratch = createInt8Scratch(gpu, K, M);
        const normed = gpu.createStorage(M * K * 4, "normed");
        const d = quantizeActivations(gpu, { x, M, K, xq: scratch.xq, xs: scratch.xs, norm: { ...norm, out: normed }, statsWorkgroupSize });
        runDispatches(gpu, [d]);
        const got = Array.from(await gpu.readF32(normed, M * K));
        releaseDispatches(gpu, [d]);
        for (const b of [scratch.xq, scratch.xs, normed]) gpu.pool.release(b);
        return got;
      };
      expect(await normedRows(gemvI8WorkgroupSize(gpu, shape))).toEqual(gemvNormed);
      // The adapter's default statistics round differently (so the comparison above can fail).
      expect(await normedRows()).not.toEqual(gemvNormed);
      // The many-row int8 product quantized that way equals the GEMVs': bit for bit where the
      // GEMV sums the blocks in order as the tiles do (rows4), else up to the order of the
      // block sums (the coop team's tree; the integer dot products are the same).
      const scratch = createInt8Scratch(gpu, K, M);
      const out = gpu.createStorage(M * N * 4, "out");
      const unused = gpu.createStorage(4, "unused");
      const ds = prefillMatmul(gpu, { x, w, out, M, norm }, "i8", unused, scratch, shape);
      runDispatches(gpu, ds);
      const got = await gpu.readF32(out, M * N);
      if (shape === "rows4") expect(Array.from(got)).toEqual(gemvOut);
      else expectClose(`i8 tiles vs ${shape}`, got, Float32Array.from(gemvOut), { atol: 2e-5, rtol: 1e-6 });
      gpu.pool.release(unused);
      releaseDispatches(gpu, ds);
      for (const b of [x, gamma, beta, out, scratch.xq, scratch.xs]) gpu.pool.release(b);
      releaseTensor(gpu, w);
    });
  }
});
