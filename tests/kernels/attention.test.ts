import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { attention, attentionDispatches, kvWrite, kvCacheBytes, type KvCacheType } from "../../src/kernels/attention.js";
import { attentionFromCacheRef, causalAttentionRef, kvWriteRef } from "../../src/kernels/reference/attention.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { f32ToF16Array } from "../../src/formats/f16.js";
import { ATTENTION_PATHS, attentionPathName, attentionPathsFor, type AttentionPath } from "./attention-paths.js";

// Tolerances: f32 attention is compared with an f64 reference; the worst errors measured on
// SwiftShader are ~1.5e-7 absolute, so 1e-6 absolute + 1e-5 relative leaves ample room
// while still catching an off-by-one key (errors ~1e-2). The f16 cache rounds K and V to
// 11-bit mantissas: ~3e-4 measured, 2e-3 allowed.
const TOL = { atol: 1e-6, rtol: 1e-5 };
const F16_TOL = { atol: 2e-3, rtol: 1e-5 };

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

interface ChunkRun extends AttentionPath {
  nHead: number;
  headDim: number;
  nCtx: number;
  /** Rows fed per step: prefill pieces, then 1-row decode steps. */
  chunks: number[];
  cacheType?: KvCacheType;
}

/**
 * Feeds a T-row sequence through the cache step by step (kvWrite then attention each
 * step, in one submit) and returns every step's output rows, concatenated [T, D].
 */
async function runChunks(r: ChunkRun, qkv: Float32Array): Promise<Float32Array> {
  const { nHead, headDim, nCtx, cacheType } = r;
  const D = nHead * headDim;
  const T = r.chunks.reduce((a, b) => a + b, 0);
  const kCache = gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim, cacheType), "k");
  const vCache = gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim, cacheType), "v");
  const got = new Float32Array(T * D);
  let p0 = 0;
  for (const M of r.chunks) {
    const rows = gpu.upload(qkv.subarray(p0 * 3 * D, (p0 + M) * 3 * D), "qkv");
    const positions = gpu.upload(
      Uint32Array.from({ length: M }, (_, i) => p0 + i),
      "pos",
    );
    const out = gpu.createStorage(M * D * 4, "out");
    const shape = { qkv: rows, positions, kCache, vCache, M, nHead, headDim, nCtx, cacheType };
    const ds = [kvWrite(gpu, shape), ...attentionDispatches(gpu, { ...shape, out, variant: r.variant, chunk: r.chunk, queryRows: r.queryRows })];
    runDispatches(gpu, ds);
    got.set(await gpu.readF32(out, M * D), p0 * D);
    releaseDispatches(gpu, ds);
    [rows, positions, out].forEach((b) => gpu.pool.release(b));
    p0 += M;
  }
  [kCache, vCache].forEach((b) => gpu.pool.release(b));
  return got;
}

/** Runs the chunks on both paths and compares each with the full-sequence reference. */
async function checkChunks(nHead: number, headDim: number, nCtx: number, chunks: number[], cacheType: KvCacheType = "f32") {
  const D = nHead * headDim;
  const T = chunks.reduce((a, b) => a + b, 0);
  const qkv = randomF32(T * 3 * D, nHead * 31 + headDim + T, 1);
  const want = causalAttentionRef(qkv, T, nHead, headDim);
  for (const path of attentionPathsFor(headDim)) {
    const got = await runChunks({ nHead, headDim, nCtx, chunks, cacheType, ...path }, qkv);
    const label = `attention ${attentionPathName(path)} ${cacheType} heads=${nHead} hd=${headDim} nCtx=${nCtx} chunks=${chunks.join("+")}`;
    expectClose(label, got, want, cacheType === "f16" ? F16_TOL : TOL);
  }
}

/** NaN everywhere: cache slots past a query's position must never reach its output. */
function nanFilled(n: number): Float32Array {
  return new Float32Array(n).fill(Number.NaN);
}

describe("attention with a KV cache", () => {
  it("prefill of 1, 5, 24 and 129 rows from p0 = 0", async () => {
    for (const M of [1, 5, 24, 129]) await checkChunks(4, 64, 256, [M]);
  });

  it("prefill of 1, 5, 24 and 129 rows after 7 cached rows (p0 = 7)", async () => {
    for (const M of [1, 5, 24, 129]) await checkChunks(4, 64, 256, [7, M]);
  });

  it("12 heads of 64; odd head dims 1, 8, 20 and 33 (scalar tails), 128 (largest)", async () => {
    await checkChunks(12, 64, 64, [9, 1]);
    await checkChunks(3, 1, 16, [4, 1, 1]);
    await checkChunks(2, 8, 16, [3, 2]);
    await checkChunks(2, 20, 16, [5, 1]);
    await checkChunks(2, 33, 16, [5, 1]);
    await checkChunks(2, 128, 32, [6, 1]);
  });

  it("decode after a 1020-row prefill in a 1024-position cache (up to position 1023)", () => checkChunks(4, 64, 1024, [1020, 1, 1, 1, 1]));

  it("f16 cache stays within half-precision error (head dims 64 and 6)", async () => {
    await checkChunks(4, 64, 64, [10, 1, 1], "f16");
    await checkChunks(2, 6, 16, [5, 1], "f16");
  });

  it("prefill of N rows equals N single-row decode steps (within 1e-6)", async () => {
    const [nHead, headDim, nCtx, N] = [4, 64, 64, 13];
    const qkv = randomF32(N * 3 * nHead * headDim, 77, 2);
    for (const path of ATTENTION_PATHS) {
      const prefill = await runChunks({ nHead, headDim, nCtx, chunks: [N], ...path }, qkv);
      const decode = await runChunks({ nHead, headDim, nCtx, chunks: Array(N).fill(1), ...path }, qkv);
      expectClose(`prefill vs decode, ${attentionPathName(path)}`, prefill, decode, TOL);
    }
  });

  it("two query rows per invocation: scattered positions, rows ending at other keys, past the cache, NaN beyond", async () => {
    // Odd M (the last pair has one row); pairs whose rows attend to different numbers of keys,
    // either one longer; in A, NaN in every slot past the last attended one (position 40); in
    // B, a position past nCtx (clamped to its last slot). Both cache types.
    const [nHead, headDim, nCtx] = [3, 64, 64];
    const cases = [
      { positions: Uint32Array.of(5, 0, 9, 30, 33, 2, 40), filled: 41 },
      { positions: Uint32Array.of(70, 3, 63), filled: nCtx },
    ];
    const D = nHead * headDim;
    const cacheLen = nHead * nCtx * headDim;
    for (const { positions, filled } of cases) {
      const M = positions.length;
      const kHost = nanFilled(cacheLen);
      const vHost = nanFilled(cacheLen);
      const kRand = randomF32(cacheLen, 11 + M, 1.5);
      const vRand = randomF32(cacheLen, 12 + M, 1);
      for (let h = 0; h < nHead; h++) {
        const at = h * nCtx * headDim;
        kHost.set(kRand.subarray(at, at + filled * headDim), at);
        vHost.set(vRand.subarray(at, at + filled * headDim), at);
      }
      const qkv = randomF32(M * 3 * D, 13 + M, 1.5);
      const shape = { M, nHead, headDim, nCtx };
      kvWriteRef(qkv, positions, kHost, vHost, shape);
      const want = attentionFromCacheRef(qkv, positions, kHost, vHost, shape);
      for (const cacheType of ["f32", "f16"] as const) {
        // An f16 cache: halves packed two per u32, element 2i in the low bits (little-endian).
        const toCache = (host: Float32Array) => (cacheType === "f16" ? f32ToF16Array(host) : host);
        const kCache = gpu.upload(toCache(kHost), "k");
        const vCache = gpu.upload(toCache(vHost), "v");
        const gq = gpu.upload(qkv, "qkv");
        const gp = gpu.upload(positions, "pos");
        const out = gpu.createStorage(M * D * 4, "out");
        const d = attention(gpu, { qkv: gq, positions: gp, kCache, vCache, out, ...shape, cacheType, queryRows: 2 });
        runDispatches(gpu, [d]);
        expectClose(`rows2 positions ${positions.join(",")} ${cacheType}`, await gpu.readF32(out, M * D), want, cacheType === "f16" ? F16_TOL : TOL);
        releaseDispatches(gpu, [d]);
        [kCache, vCache, gq, gp, out].forEach((b) => gpu.pool.release(b));
      }
    }
  });
});

describe("decode against a given cache", () => {
  // nHead 12, headDim 64, nCtx 1024 (GPT-2 124M shapes). The cache holds random values up to
  // the position and NaN beyond it; the query row's own K/V lands at its position first.
  const [nHead, headDim, nCtx] = [12, 64, 1024];
  const D = nHead * headDim;
  const cacheLen = nHead * nCtx * headDim;
  for (const pos of [0, 1, 63, 1023]) {
    it(`one row at position ${pos}, both paths`, async () => {
      const kHost = nanFilled(cacheLen);
      const vHost = nanFilled(cacheLen);
      const kRand = randomF32(cacheLen, 5 + pos, 1.5);
      const vRand = randomF32(cacheLen, 6 + pos, 1);
      for (let h = 0; h < nHead; h++) {
        const start = h * nCtx * headDim;
        const end = start + pos * headDim; // positions 0..pos-1 are "earlier tokens"
        kHost.set(kRand.subarray(start, end), start);
        vHost.set(vRand.subarray(start, end), start);
      }
      const qkv = randomF32(3 * D, 9 + pos, 1.5);
      const positions = Uint32Array.of(pos);
      const shape = { M: 1, nHead, headDim, nCtx };
      kvWriteRef(qkv, positions, kHost, vHost, shape);
      const want = attentionFromCacheRef(qkv, positions, kHost, vHost, shape);
      for (const path of attentionPathsFor(headDim)) {
        const kCache = gpu.upload(nanFilled(cacheLen), "k");
        const vCache = gpu.upload(nanFilled(cacheLen), "v");
        // Earlier tokens via the cache buffers directly; the row itself via kvWrite.
        gpu.write(kCache, kHost);
        gpu.write(vCache, vHost);
        const gq = gpu.upload(qkv, "qkv");
        const gp = gpu.upload(positions, "pos");
        const out = gpu.createStorage(D * 4, "out");
        const args = { qkv: gq, positions: gp, kCache, vCache, out, ...shape };
        const ds = [kvWrite(gpu, args), ...attentionDispatches(gpu, { ...args, variant: path.variant, queryRows: path.queryRows })];
        runDispatches(gpu, ds);
        const got = await gpu.readF32(out, D);
        expectClose(`decode pos=${pos} ${attentionPathName(path)}`, got, want, TOL);
        releaseDispatches(gpu, ds);
        [kCache, vCache, gq, gp, out].forEach((b) => gpu.pool.release(b));
      }
    });
  }
});

describe("kvWrite", () => {
  it("writes K and V at each row's position and skips positions >= nCtx", async () => {
    const [nHead, headDim, nCtx, M] = [3, 8, 8, 4];
    const D = nHead * headDim;
    const qkv = randomF32(M * 3 * D, 123, 1);
    const positions = Uint32Array.of(2, 7, 8, 4000000000); // the last two are out of range
    const cacheLen = nHead * nCtx * headDim;
    const kWant = randomF32(cacheLen, 1, 1);
    const vWant = randomF32(cacheLen, 2, 1);
    // The cache buffers are exactly the cache size: any out-of-range write would land in
    // another row, which the comparison below would catch.
    const kCache = gpu.upload(kWant, "k");
    const vCache = gpu.upload(vWant, "v");
    const gq = gpu.upload(qkv, "qkv");
    const gp = gpu.upload(positions, "pos");
    const d = kvWrite(gpu, { qkv: gq, positions: gp, kCache, vCache, M, nHead, headDim, nCtx });
    runDispatches(gpu, [d]);
    kvWriteRef(qkv, positions, kWant, vWant, { M, nHead, headDim, nCtx });
    expectClose("kvWrite k", await gpu.readF32(kCache, cacheLen), kWant, { atol: 0 });
    expectClose("kvWrite v", await gpu.readF32(vCache, cacheLen), vWant, { atol: 0 });
    releaseDispatches(gpu, [d]);
    [kCache, vCache, gq, gp].forEach((b) => gpu.pool.release(b));
  });
});

describe("bad input", () => {
  const [nHead, headDim, nCtx, M] = [4, 64, 64, 2];
  const D = nHead * headDim;

  function shapeError(f: () => unknown): unknown {
    try {
      f();
    } catch (e) {
      return e;
    }
    return undefined;
  }

  it("refuses buffers smaller than the shape with SHAPE_MISMATCH naming the buffer", () => {
    const ok = {
      qkv: gpu.createStorage(M * 3 * D * 4, "qkv"),
      positions: gpu.createStorage(M * 4, "pos"),
      kCache: gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim), "k"),
      vCache: gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim), "v"),
      out: gpu.createStorage(M * D * 4, "out"),
    };
    // Pool buffers are rounded up to 256 bytes, so "small" is smaller than every need here.
    const small = gpu.createStorage(256, "small");
    const base = { ...ok, M, nHead, headDim, nCtx };
    const halfCache = gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim) / 2, "half");
    const cases: [string, object][] = [
      ["qkv", { qkv: small }],
      ["positions", { ...base, M: 100, qkv: gpu.createStorage(100 * 3 * D * 4, "big-qkv") }],
      ["kCache", { kCache: halfCache }],
      ["vCache", { vCache: halfCache }],
      ["out", { out: small }],
    ];
    const extra: GPUBuffer[] = [];
    for (const [name, patch] of cases) {
      const args = { ...base, ...patch };
      if (name === "positions") extra.push(args.qkv);
      const calls: [string, () => unknown][] = [
        ["attention", () => attention(gpu, args)],
        ["split", () => attentionDispatches(gpu, { ...args, variant: "split" })],
      ];
      if (name !== "out") calls.push(["kvWrite", () => kvWrite(gpu, args)]); // kvWrite has no out
      for (const [kernel, call] of calls) {
        const err = shapeError(call);
        expect(isMnemoError(err, "SHAPE_MISMATCH"), `${kernel} with a small ${name}: ${String(err)}`).toBe(true);
        expect(String(err)).toContain(name);
      }
    }
    // A cache one element short of nHead * nCtx * headDim f32 values.
    const nearly = gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim), "nearly");
    const err = shapeError(() => kvWrite(gpu, { ...base, kCache: nearly, nCtx: nCtx + 1 }));
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/kCache has \d+ bytes but the shape needs \d+/);
    [...Object.values(ok), small, halfCache, nearly, ...extra].forEach((b) => gpu.pool.release(b));
  });

  it("refuses zero or fractional dimensions and head dims over 128", () => {
    const buf = gpu.createStorage(1 << 20, "buf");
    const args = { qkv: buf, positions: buf, kCache: buf, vCache: buf, out: buf, M: 1, nHead: 1, headDim: 64, nCtx: 16 };
    expect(
      isMnemoError(
        shapeError(() => attention(gpu, { ...args, M: 0 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        shapeError(() => kvWrite(gpu, { ...args, headDim: 2.5 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        shapeError(() => attention(gpu, { ...args, headDim: 130 })),
        "UNSUPPORTED_MODEL",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        shapeError(() => attentionDispatches(gpu, { ...args, variant: "split", chunk: 0 })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    // Two query rows per invocation exist for head dimension 64 only.
    const rows2 = shapeError(() => attention(gpu, { ...args, headDim: 32, queryRows: 2 }));
    expect(isMnemoError(rows2, "BAD_INPUT"), String(rows2)).toBe(true);
    expect(String(rows2)).toContain("head dimension 64");
    gpu.pool.release(buf);
  });

  it("the split path's scratch buffer goes back to the pool with releaseDispatches", () => {
    const bufs = [M * 3 * D * 4, M * 4, kvCacheBytes(nHead, nCtx, headDim), kvCacheBytes(nHead, nCtx, headDim), M * D * 4].map((n) => gpu.createStorage(n, "b"));
    const [qkv, positions, kCache, vCache, out] = bufs;
    const before = gpu.getPoolStats().liveBuffers;
    const ds = attentionDispatches(gpu, { qkv, positions, kCache, vCache, out, M, nHead, headDim, nCtx, variant: "split" });
    expect(ds.length).toBe(2);
    // "auto": the split for decode over a long cache, one pass for many (row, head) pairs or a short cache.
    const auto = attentionDispatches(gpu, { qkv, positions, kCache, vCache, out, M: 1, nHead, headDim, nCtx });
    expect(auto.length).toBe(nCtx > 32 ? 2 : 1);
    const short = attentionDispatches(gpu, { qkv, positions, kCache, vCache, out, M: 1, nHead, headDim, nCtx, chunk: nCtx });
    expect(short.length).toBe(1);
    releaseDispatches(gpu, [...auto, ...short]);
    expect(ds.every((d) => d.flops > 0 && d.bytes > 0)).toBe(true);
    releaseDispatches(gpu, ds);
    expect(gpu.getPoolStats().liveBuffers).toBe(before);
    bufs.forEach((b) => gpu.pool.release(b));
  });
});
