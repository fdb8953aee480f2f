// The fused variants of matmul (shaders/matmul.wgsl LN and KV_WRITE) against what they
// replace: LayerNorm then matmul (layerNormRef → matmulRef, and the unfused GPU kernels),
// and for the KV-cache write, the kv_write kernel run on the matmul's own output, compared
// bit for bit on caches filled with NaN so that a stray or missing write shows.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { canFuseKvWrite, matmul, type FusedLayerNorm } from "../../src/kernels/matmul.js";
import { layerNorm } from "../../src/kernels/layernorm.js";
import { kvCacheBytes, kvWrite, type KvCacheType } from "../../src/kernels/attention.js";
import { gemm, type GemmTile } from "../../src/kernels/gemm.js";
import { uploadMatrix, releaseTensor } from "../../src/kernels/weights.js";
import { matmulRef } from "../../src/kernels/reference/matmul.js";
import { layerNormRef } from "../../src/kernels/reference/layernorm.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { Scope } from "../helpers/gpu-scope.js";
import { caught } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { hostMatrix, type WType } from "./host-matrix.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const EPS = 1e-5;
const GRIDS = ["wide", "few"] as const;
type Grid = (typeof GRIDS)[number];

interface NormCase {
  type: WType;
  N: number;
  K: number;
  grid: Grid;
  bias?: boolean;
  gelu?: boolean;
  residual?: boolean;
  /** Also write the normalised row to a buffer (the LM head's hidden state). */
  keepNormed?: boolean;
  /** Rows of x before the one that is read (xRowOffset). */
  rowOffset?: number;
  /** Added to every x value (a large common offset). */
  offset?: number;
}

/**
 * Runs the fused layer norm + GEMV and, on the same inputs, layerNorm then the plain GEMV;
 * returns both outputs with the f64 references.
 */
async function runNormCase(c: NormCase) {
  const { N, K } = c;
  const rows = (c.rowOffset ?? 0) + 1;
  const x = randomF32(rows * K, 31 + K, 2).map((v) => v + (c.offset ?? 0));
  const gamma = randomF32(K, 32 + K, 1.5);
  const beta = randomF32(K, 33 + K, 0.5);
  const { host, exact } = hostMatrix(c.type, randomF32(N * K, 34 + N, 0.5));
  const bias = c.bias ? randomF32(N, 35, 0.5) : undefined;
  const residual = c.residual ? randomF32(N, 36, 1) : undefined;
  const s = new Scope(gpu);
  const w = uploadMatrix(gpu, "w", host, [N, K]);
  const gx = s.upload(x);
  const [gg, gbeta] = [s.upload(gamma), s.upload(beta)];
  const gb = bias ? s.upload(bias) : undefined;
  const gr = residual ? s.upload(residual) : undefined;
  const [fusedOut, plainOut, normed, h] = [s.storage(N * 4), s.storage(N * 4), s.storage(K * 4), s.storage(K * 4)];
  const common = { w, bias: gb, residual: gr, M: 1, epilogue: c.gelu ? ("gelu" as const) : ("none" as const) };
  const norm: FusedLayerNorm = { gamma: gg, beta: gbeta, eps: EPS, out: c.keepNormed ? normed : undefined, grid: c.grid };
  s.run(matmul(gpu, { ...common, x: gx, xRowOffset: c.rowOffset, out: fusedOut, norm }));
  // The unfused pair, for the "matches what it replaces" comparison.
  const row = s.upload(x.subarray((rows - 1) * K));
  s.run(layerNorm(gpu, { x: row, gamma: gg, beta: gbeta, out: h, M: 1, D: K, eps: EPS }), matmul(gpu, { ...common, x: h, out: plainOut }));
  const lnWant = layerNormRef(x.subarray((rows - 1) * K), gamma, beta, 1, K, EPS);
  const result = {
    fused: await gpu.readF32(fusedOut, N),
    plain: await gpu.readF32(plainOut, N),
    normed: c.keepNormed ? await gpu.readF32(normed, K) : undefined,
    want: matmulRef(lnWant, exact, 1, N, K, { bias, residual, gelu: c.gelu }),
    lnWant,
    inputs: { row: x.subarray((rows - 1) * K), gamma, beta, exact },
  };
  releaseTensor(gpu, w);
  s.release();
  return result;
}

function label(c: NormCase): string {
  const extras = [c.bias && "bias", c.gelu && "gelu", c.residual && "+res", c.keepNormed && "normed", c.rowOffset && `row ${c.rowOffset}`, c.offset && `offset ${c.offset}`];
  return `ln+matmul ${c.type} N=${c.N} K=${c.K} ${c.grid} grid ${extras.filter(Boolean).join(" ")}`;
}

/** Checks a fused case against the f64 reference and against the unfused kernels. */
async function checkNorm(c: NormCase) {
  const r = await runNormCase(c);
  // x̂ is O(1..3); f32 accumulation error grows like sqrt(K) (as in matmul.test.ts).
  expectClose(label(c), r.fused, r.want, { atol: 5e-6 * Math.sqrt(c.K) + 1e-6, rtol: 1e-5 });
  // The same statistics as the layer norm kernel: only summation order differs.
  expectClose(`${label(c)} vs unfused`, r.fused, r.plain, { atol: 1e-6 * Math.sqrt(c.K), rtol: 1e-6 });
  if (r.normed) expectClose(`${label(c)} normed row`, r.normed, r.lnWant, { atol: 5e-6, rtol: 1e-5 });
}

describe("matmul with a fused layer norm (M = 1)", () => {
  const shapes: [WType, number, number][] = [
    ["f32", 1, 7],
    ["f32", 257, 7],
    ["f32", 7, 257],
    ["f32", 2304, 768],
    ["f16", 7, 7],
    ["f16", 1, 257],
    ["f16", 257, 768],
    ["q8_0", 1, 32],
    ["q8_0", 7, 96],
    ["q8_0", 2304, 768],
    ["q4_0", 7, 32],
    ["q4_0", 257, 768],
  ];
  for (const grid of GRIDS) {
    for (const [type, N, K] of shapes) {
      it(`${type} N=${N} K=${K}, ${grid} grid, bias`, () => checkNorm({ type, N, K, grid, bias: true }));
    }
    it(`GPT-2 c_fc 768 -> 3072, q8_0, bias + GELU, ${grid} grid`, () => checkNorm({ type: "q8_0", N: 3072, K: 768, grid, bias: true, gelu: true }));
    it(`residual, no bias, f16 K=257 and f32 K=768, ${grid} grid`, async () => {
      await checkNorm({ type: "f16", N: 9, K: 257, grid, residual: true });
      await checkNorm({ type: "f32", N: 130, K: 768, grid, residual: true });
    });
    it(`keeps the normalised row of the last of 3 rows (xRowOffset), K = 7 and 768, ${grid} grid`, async () => {
      await checkNorm({ type: "f32", N: 5, K: 7, grid, keepNormed: true, rowOffset: 2 });
      await checkNorm({ type: "q8_0", N: 300, K: 768, grid, keepNormed: true, rowOffset: 2 });
    });
    it(`a large common offset (1000) keeps its precision, ${grid} grid`, () => checkNorm({ type: "f16", N: 64, K: 768, grid, bias: true, offset: 1000 }));
  }

  it("GPT-2 LM head: 768 -> 50257, q8_0, hidden state kept", () => checkNorm({ type: "q8_0", N: 50257, K: 768, grid: gpu.adapter.isSoftware ? "few" : "wide", keepNormed: true }));

  it("the comparison can fail: a shifted gamma is caught", async () => {
    const c: NormCase = { type: "f32", N: 7, K: 96, grid: "few" };
    const r = await runNormCase(c);
    const { row, gamma, beta, exact } = r.inputs;
    const shiftedGamma = gamma.map((_, i) => gamma[(i + 1) % c.K]);
    const shifted = matmulRef(layerNormRef(row, shiftedGamma, beta, 1, c.K, EPS), exact, 1, c.N, c.K);
    expect(() => expectClose("shifted gamma", r.fused, shifted, { atol: 1e-5 })).toThrow();
  });
});

interface KvCase {
  type: WType;
  K: number;
  nHead: number;
  headDim: number;
  nCtx: number;
  positions: number[];
  cacheType: KvCacheType;
  /** With a fused layer norm (M = 1 only). */
  norm?: Grid;
  /** Run gemm (workgroup-memory tiles of this side) instead of matmul. */
  gemm?: GemmTile;
}

/** The NaN word of a cache type (f32 NaN, or two f16 NaN halves). */
function nanWord(cacheType: KvCacheType): number {
  return cacheType === "f16" ? 0x7e007e00 : 0x7fc00000;
}

/**
 * A cache buffer with NaN in every word, the pool's rounding past the cache's size
 * included, so that a write anywhere but a cache slot shows too.
 */
function nanCache(s: Scope, c: KvCase): GPUBuffer {
  const b = s.storage(kvCacheBytes(c.nHead, c.nCtx, c.headDim, c.cacheType), "cache");
  gpu.write(b, new Uint32Array(b.size / 4).fill(nanWord(c.cacheType)));
  return b;
}

/** Words of `cache` that are no longer the NaN fill. */
function written(cache: Uint32Array, fill: number): number {
  return cache.reduce((n, w) => n + (w === fill ? 0 : 1), 0);
}

/**
 * The fused matmul writes out and the caches; kv_write then copies the same `out` into a
 * second pair of NaN-filled caches. Both pairs must agree bit for bit, and out must match
 * the reference matmul.
 */
async function checkKv(c: KvCase) {
  const M = c.positions.length;
  const D = c.nHead * c.headDim;
  const N = 3 * D;
  const K = c.K;
  const x = randomF32(M * K, 41 + K, 1);
  const gamma = randomF32(K, 42, 1.5);
  const beta = randomF32(K, 43, 0.5);
  const { host, exact } = hostMatrix(c.type, randomF32(N * K, 44 + N, 0.5));
  const bias = randomF32(N, 45, 0.5);
  const s = new Scope(gpu);
  const w = uploadMatrix(gpu, "w", host, [N, K]);
  const positions = s.upload(Uint32Array.from(c.positions));
  const [fusedK, fusedV, refK, refV] = [0, 1, 2, 3].map(() => nanCache(s, c));
  const out = s.storage(M * N * 4);
  const norm = c.norm ? { gamma: s.upload(gamma), beta: s.upload(beta), eps: EPS, grid: c.norm } : undefined;
  const kvCache = { positions, kCache: fusedK, vCache: fusedV, headDim: c.headDim, nCtx: c.nCtx, cacheType: c.cacheType };
  const args = { x: s.upload(x), w, bias: s.upload(bias), out, M, norm, kvCache };
  s.run(c.gemm ? gemm(gpu, args, c.gemm) : matmul(gpu, args));
  s.run(kvWrite(gpu, { qkv: out, positions, kCache: refK, vCache: refV, M, nHead: c.nHead, headDim: c.headDim, nCtx: c.nCtx, cacheType: c.cacheType }));
  const name = `${c.gemm ? `gemm${c.gemm} ` : ""}qkv+kv ${c.type} M=${M} K=${K} heads=${c.nHead}x${c.headDim} ${c.cacheType}${c.norm ? ` ln ${c.norm}` : ""}`;
  const input = c.norm ? layerNormRef(x, gamma, beta, M, K, EPS) : x;
  expectClose(`${name} out`, await gpu.readF32(out, M * N), matmulRef(input, exact, M, N, K, { bias }), {
    atol: 5e-6 * Math.sqrt(K) + 1e-6,
    rtol: 1e-5,
  });
  const fill = nanWord(c.cacheType);
  const rowsInCache = c.positions.filter((p) => p < c.nCtx).length;
  const wordsPerRow = c.cacheType === "f16" ? D / 2 : D;
  for (const [which, fused, ref] of [
    ["k", fusedK, refK],
    ["v", fusedV, refV],
  ] as const) {
    const got = await gpu.readU32(fused);
    const want = await gpu.readU32(ref);
    expect(written(want, fill), `${name}: kv_write filled ${which} for ${rowsInCache} rows`).toBe(rowsInCache * wordsPerRow);
    let firstDiff = -1;
    for (let i = 0; i < want.length && firstDiff < 0; i++) if (got[i] !== want[i]) firstDiff = i;
    expect(firstDiff, `${name}: first ${which}-cache word that differs from kv_write's`).toBe(-1);
  }
  releaseTensor(gpu, w);
  s.release();
}

describe("matmul with a fused KV-cache write", () => {
  it("decode (GEMV) with a fused layer norm, GPT-2 124M heads, f32 and f16 caches, both grids", async () => {
    for (const cacheType of ["f32", "f16"] as const) {
      for (const grid of GRIDS) {
        await checkKv({ type: "q8_0", K: 768, nHead: 12, headDim: 64, nCtx: 128, positions: [70], cacheType, norm: grid });
      }
    }
  });

  it("decode at the last position and past the cache (nothing written)", async () => {
    await checkKv({ type: "f32", K: 64, nHead: 2, headDim: 8, nCtx: 16, positions: [15], cacheType: "f16", norm: "few" });
    await checkKv({ type: "f32", K: 64, nHead: 2, headDim: 8, nCtx: 16, positions: [16], cacheType: "f32", norm: "wide" });
  });

  it("heads of 6 (D = 18: four-column groups straddle the q/k and k/v boundaries)", async () => {
    for (const cacheType of ["f32", "f16"] as const) {
      await checkKv({ type: "q4_0", K: 96, nHead: 3, headDim: 6, nCtx: 12, positions: [5], cacheType, norm: "few" });
      await checkKv({ type: "f16", K: 96, nHead: 3, headDim: 6, nCtx: 12, positions: [3, 11, 0, 7, 12, 9, 1, 2, 4], cacheType });
    }
  });

  it("scalar paths (K = 7 and 257): f32 cache, one row with a layer norm and several rows; odd head dims", async () => {
    await checkKv({ type: "f32", K: 7, nHead: 3, headDim: 5, nCtx: 8, positions: [6], cacheType: "f32", norm: "few" });
    await checkKv({ type: "f16", K: 257, nHead: 2, headDim: 7, nCtx: 8, positions: [4], cacheType: "f32", norm: "wide" });
    await checkKv({ type: "f32", K: 7, nHead: 3, headDim: 5, nCtx: 8, positions: [2, 7, 9, 0, 5], cacheType: "f32" });
  });

  it("prefill (tiled) at GPT-2 124M shapes: 5 rows at scattered positions, one past the cache", async () => {
    for (const cacheType of ["f32", "f16"] as const) {
      await checkKv({ type: "q8_0", K: 768, nHead: 12, headDim: 64, nCtx: 1024, positions: [5, 70, 3, 1030, 1023], cacheType });
    }
  });

  it("prefill through gemm's workgroup tiles (32 and 64): scattered positions, one past the cache, heads of 6", async () => {
    for (const cacheType of ["f32", "f16"] as const) {
      for (const tile of [32, 64] as const) {
        await checkKv({ type: "q8_0", K: 768, nHead: 12, headDim: 64, nCtx: 1024, positions: [5, 70, 3, 1030, 1023], cacheType, gemm: tile });
        await checkKv({ type: "f16", K: 96, nHead: 3, headDim: 6, nCtx: 12, positions: [3, 11, 0, 7, 12, 9, 1, 2, 4], cacheType, gemm: tile });
      }
    }
  });
});

describe("fused matmul variants check their inputs", () => {
  it("refuses what the fused variants cannot do", () => {
    const s = new Scope(gpu);
    const w = uploadMatrix(gpu, "w", { dtype: "f32", data: new Float32Array(54 * 7) }, [54, 7]);
    const big = s.storage(1 << 16);
    const [x, out, g] = [s.storage(1 << 12), s.storage(1 << 12), s.storage(1 << 12)];
    const norm = { gamma: g, beta: g, eps: EPS };
    const kv = { positions: big, kCache: big, vCache: big, headDim: 6, nCtx: 8 };
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 2, norm })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 1, norm: { ...norm, out: x } })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 1, norm: { ...norm, eps: Number.NaN } })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    const small = s.storage(16); // the pool rounds it up to 256 bytes
    const wide = uploadMatrix(gpu, "wide", { dtype: "f32", data: new Float32Array(2 * 768) }, [2, 768]);
    expect(String(caught(() => matmul(gpu, { x: big, w: wide, out, M: 1, norm: { ...norm, beta: small } })))).toMatch(/beta has 256 bytes/);
    releaseTensor(gpu, wide);
    // The normalised row lives in workgroup memory (32 KiB on SwiftShader).
    const long = uploadMatrix(gpu, "long", { dtype: "f32", data: new Float32Array(8200) }, [1, 8200]);
    const longNorm = { gamma: big, beta: big, eps: EPS };
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x: big, w: long, out, M: 1, norm: longNorm })),
        "TOO_LARGE",
      ),
    ).toBe(true);
    releaseTensor(gpu, long);
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 1, kvCache: { ...kv, headDim: 4 } })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 1, kvCache: { ...kv, kCache: small } })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    // An f16 cache word is a column pair: only the four-column paths own both (K % 4 == 0).
    expect(canFuseKvWrite(gpu, { K: 7, cacheType: "f16" })).toBe(false);
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 1, kvCache: { ...kv, cacheType: "f16" } })),
        "UNSUPPORTED_FEATURE",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => matmul(gpu, { x, w, out, M: 1, kvCache: { ...kv, headDim: 9, cacheType: "f16" } })),
        "UNSUPPORTED_MODEL",
      ),
    ).toBe(true);
    releaseTensor(gpu, w);
    s.release();
  });

  it("canFuseKvWrite counts the variant's storage buffers against the adapter's limit", () => {
    const withLimit = (n: number) => ({ ...gpu, limits: { ...gpu.limits, maxStorageBuffersPerShaderStage: n } }) as unknown as Gpu;
    // x, w, bias, out, positions, k, v = 7; with a layer norm, gamma and beta too = 9.
    expect(canFuseKvWrite(withLimit(8), { K: 768, bias: true })).toBe(true);
    expect(canFuseKvWrite(withLimit(8), { K: 768, bias: true, norm: true })).toBe(false);
    expect(canFuseKvWrite(withLimit(9), { K: 768, bias: true, norm: true, cacheType: "f16" })).toBe(true);
  });
});
