import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches } from "../../src/gpu/dispatch.js";
import { encoderAttention } from "../../src/kernels/encoder-attention.js";
import { encoderAttentionRef } from "../../src/kernels/reference/encoder-attention.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { caught } from "../helpers/errors.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

/** Row ranges of sequences of these lengths packed one after another. */
function ranges(lengths: number[]): { start: number[]; end: number[] } {
  const start: number[] = [];
  const end: number[] = [];
  let s = 0;
  for (const n of lengths) {
    for (let i = 0; i < n; i++) {
      start.push(s);
      end.push(s + n);
    }
    s += n;
  }
  return { start, end };
}

async function run(qkv: Float32Array, r: { start: number[]; end: number[] }, nHead: number, hd: number): Promise<Float32Array> {
  const M = r.start.length;
  const bufs = [gpu.upload(qkv, "qkv"), gpu.upload(Uint32Array.from(r.start), "ks"), gpu.upload(Uint32Array.from(r.end), "ke"), gpu.createStorage(M * nHead * hd * 4, "out")];
  const d = encoderAttention(gpu, { qkv: bufs[0], keyStart: bufs[1], keyEnd: bufs[2], out: bufs[3], M, nHead, headDim: hd });
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(bufs[3], M * nHead * hd);
  releaseDispatches(gpu, [d]);
  for (const b of bufs) gpu.pool.release(b);
  return got;
}

// Odd head dims take the scalar loads (3, 7), the others vec4 (4, 64); sequence lengths
// include 1 (a row attending only to itself) and a batch of one.
const CASES = [
  { lengths: [5], nHead: 1, hd: 3 },
  { lengths: [1, 4, 2], nHead: 2, hd: 7 },
  { lengths: [3, 1, 6, 2], nHead: 4, hd: 4 },
  { lengths: [17, 9, 1, 30], nHead: 4, hd: 64 },
  { lengths: [70], nHead: 3, hd: 16 },
];

describe("encoderAttention", () => {
  for (const { lengths, nHead, hd } of CASES) {
    it(`matches the reference: sequences of ${lengths.join(", ")}, ${nHead} heads of ${hd}`, async () => {
      const r = ranges(lengths);
      const M = r.start.length;
      const qkv = randomF32(M * 3 * nHead * hd, 7 + M + hd, 1.5);
      const got = await run(qkv, r, nHead, hd);
      expectClose(`encoder attention ${lengths}`, got, encoderAttentionRef(qkv, r.start, r.end, M, nHead, hd), { atol: 2e-6, rtol: 1e-5 });
    });
  }

  it("a sequence's output does not depend on its neighbours in the batch (no leak across sequences)", async () => {
    const nHead = 2;
    const hd = 8;
    const D = nHead * hd;
    const lengths = [4, 6, 3];
    const r = ranges(lengths);
    const qkv = randomF32(13 * 3 * D, 99, 1);
    const batched = await run(qkv, r, nHead, hd);
    // The middle sequence alone (rows 4..9), and with its neighbours' rows replaced by huge values.
    const alone = await run(qkv.slice(4 * 3 * D, 10 * 3 * D), ranges([6]), nHead, hd);
    const poisoned = qkv.slice();
    poisoned.fill(1e30, 0, 4 * 3 * D);
    poisoned.fill(-1e30, 10 * 3 * D);
    const withPoison = await run(poisoned, r, nHead, hd);
    expect(Array.from(batched.subarray(4 * D, 10 * D))).toEqual(Array.from(alone));
    expect(Array.from(withPoison.subarray(4 * D, 10 * D))).toEqual(Array.from(alone));
  });

  it("refuses short buffers and head dims over 128", () => {
    const b = (n: number) => gpu.createStorage(n * 4, "b");
    const ok = { qkv: b(4 * 3 * 64), keyStart: b(4), keyEnd: b(4), out: b(4 * 64), M: 4, nHead: 2, headDim: 32 };
    expect(
      isMnemoError(
        caught(() => encoderAttention(gpu, { ...ok, out: b(64) })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => encoderAttention(gpu, { ...ok, nHead: 1, headDim: 256 })),
        "UNSUPPORTED_MODEL",
      ),
    ).toBe(true);
  });
});
