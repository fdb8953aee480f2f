import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { attention, kvWrite, kvCacheBytes, type KvCacheType } from "../../src/kernels/attention.js";
import { causalAttentionRef } from "../../src/kernels/reference/attention.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

/**
 * Feeds a T-row sequence through the cache in chunks (prefill pieces, then single-row
 * decode steps) and compares every output row with the full-sequence reference.
 */
async function runChunks(nHead: number, headDim: number, nCtx: number, chunks: number[], cacheType: KvCacheType = "f32", tol = 1e-6) {
  const D = nHead * headDim;
  const T = chunks.reduce((a, b) => a + b, 0);
  const qkv = randomF32(T * 3 * D, nHead * 31 + headDim, 1);
  const want = causalAttentionRef(qkv, T, nHead, headDim);
  const kCache = gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim, cacheType), "k");
  const vCache = gpu.createStorage(kvCacheBytes(nHead, nCtx, headDim, cacheType), "v");
  const got = new Float32Array(T * D);
  let p0 = 0;
  for (const M of chunks) {
    const rows = gpu.upload(qkv.subarray(p0 * 3 * D, (p0 + M) * 3 * D), "qkv");
    const positions = gpu.upload(Uint32Array.from({ length: M }, (_, i) => p0 + i), "pos");
    const out = gpu.createStorage(M * D * 4, "out");
    const shape = { qkv: rows, positions, kCache, vCache, M, nHead, headDim, nCtx, cacheType };
    const ds = [kvWrite(gpu, shape), attention(gpu, { ...shape, out })];
    runDispatches(gpu, ds);
    got.set(await gpu.readF32(out, M * D), p0 * D);
    releaseDispatches(gpu, ds);
    [rows, positions, out].forEach((b) => gpu.pool.release(b));
    p0 += M;
  }
  [kCache, vCache].forEach((b) => gpu.pool.release(b));
  expectClose(`attention ${cacheType} heads=${nHead} hd=${headDim} chunks=${chunks.join("+")}`, got, want, { atol: tol, rtol: 1e-5 });
}

describe("attention with a KV cache", () => {
  it("prefill of 1, 5, 24 and 129 rows at once", async () => {
    for (const M of [1, 5, 24, 129]) await runChunks(4, 64, 256, [M]);
  });
  it("prefill after a cached prefix (p0 = 7), then decode steps", () => runChunks(4, 64, 64, [7, 5, 1, 1, 1]));
  it("12 heads of 64, odd head dims 1 and 8", async () => {
    await runChunks(12, 64, 32, [9, 1]);
    await runChunks(3, 1, 16, [4, 1, 1]);
    await runChunks(2, 8, 16, [3, 2]);
  });
  it("decode deep in a 1024-position cache", () => runChunks(4, 64, 1024, [1020, 1, 1, 1, 1]));
  it("f16 cache stays within half-precision error", () => runChunks(4, 64, 64, [10, 1, 1], "f16", 2e-3));

  it("prefill of N rows equals N single-row decode steps", async () => {
    // Both paths are compared with the same reference; here directly with each other too.
    await runChunks(4, 16, 32, [12]);
    await runChunks(4, 16, 32, Array(12).fill(1));
  });

  it("refuses a cache smaller than nHead * nCtx * headDim", () => {
    const small = gpu.createStorage(1024, "small");
    const qkv = gpu.createStorage(3 * 256 * 4, "qkv");
    const pos = gpu.createStorage(4, "pos");
    let err: unknown;
    try {
      kvWrite(gpu, { qkv, positions: pos, kCache: small, vCache: small, M: 1, nHead: 4, headDim: 64, nCtx: 64 });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "SHAPE_MISMATCH")).toBe(true);
    expect(String(err)).toMatch(/kCache/);
    [small, qkv, pos].forEach((b) => gpu.pool.release(b));
  });
});
