// Logit processing (shaders/logits.wgsl) against its references on awkward shapes: a
// vocabulary of 1, sizes either side of a 2048-token block, GPT-2's 50257; a logits row other
// than the first; ties at the top-T boundary; NaN logits; repeated generated ids; ids past
// the vocabulary (ignored); a generated count above the buffer's capacity (clamped).
import { beforeAll, describe, expect, it } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches } from "../../src/gpu/dispatch.js";
import { maskWords, decodeLogprobs, LOGPROB_MAX_TOP, logitAdjustDispatches, logprobDispatches, logprobResultWords, PENALTY_PARAMS_BYTES, writePenalties } from "../../src/kernels/logits.js";
import { adjustLogitsRef, logprobsRef } from "../../src/kernels/reference/logits.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caught } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32, rng } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

async function runAdjust(
  rows: Float32Array,
  row: number,
  N: number,
  bias: Float32Array,
  generated: number[],
  capacity: number,
  frequency: number,
  presence: number,
  count = generated.length,
  maskBits?: Uint32Array,
): Promise<Float32Array> {
  const logits = gpu.upload(rows, "logits");
  const b = gpu.upload(bias, "bias");
  const gen = gpu.upload(
    Uint32Array.from({ length: capacity }, (_, i) => generated[i] ?? 0),
    "generated",
  );
  const pen = gpu.createStorage(PENALTY_PARAMS_BYTES, "penalties");
  const out = gpu.upload(new Float32Array(N).fill(Number.NaN), "out");
  const mask = maskBits && gpu.upload(maskBits, "mask");
  writePenalties(gpu, pen, { frequency, presence, generated: count });
  const list = logitAdjustDispatches(gpu, { logits, logitsRow: row, N, bias: b, generated: gen, capacity, penalties: pen, out, mask });
  runDispatches(gpu, list);
  const result = await gpu.readF32(out, N);
  releaseDispatches(gpu, list);
  for (const x of [logits, b, gen, pen, out, mask]) if (x) gpu.pool.release(x);
  return result;
}

async function runLogprobs(rows: Float32Array, row: number, N: number, id: number, top: number) {
  const logits = gpu.upload(rows, "logits");
  const ids = gpu.upload(Uint32Array.of(7, id), "ids");
  const result = gpu.upload(new Uint32Array(logprobResultWords(top)).fill(0xdeadbeef), "result");
  const list = logprobDispatches(gpu, { logits, logitsRow: row, N, top, ids, idIndex: 1, result });
  runDispatches(gpu, list);
  const words = new Uint32Array((await gpu.readF32(result, logprobResultWords(top))).buffer);
  releaseDispatches(gpu, list);
  for (const x of [logits, ids, result]) gpu.pool.release(x);
  return decodeLogprobs(words, top);
}

function sparseBias(N: number, seed: number): Float32Array {
  const r = rng(seed);
  const bias = new Float32Array(N);
  for (let k = 0; k < Math.min(N, 12); k++) bias[Math.floor(r() * N)] = Math.fround((r() - 0.5) * 200);
  bias[N - 1] = -100;
  return bias;
}

describe("logits.bias + logits.penalize", () => {
  for (const N of [1, 7, 2047, 2049, 50257]) {
    it(`equal the reference bit for bit, N=${N}`, async () => {
      const rows = randomF32(2 * N, N, 8);
      const r = rng(N + 1);
      // Repeats, the last id, and ids past the vocabulary (ignored).
      const generated = [...Array.from({ length: 40 }, () => Math.floor(r() * Math.min(N, 9))), N - 1, N - 1, N + 3];
      const bias = sparseBias(N, N + 2);
      const got = await runAdjust(rows, 1, N, bias, generated, 64, 0.75, 0.5);
      const want = adjustLogitsRef(rows.subarray(N), bias, generated, 0.75, 0.5);
      expectClose(`adjust N=${N}`, got, want, { atol: 0 });
    });
  }

  for (const N of [33, 50257]) {
    it(`with a token mask: cleared bits give -F32_MAX (then the penalty), bit for bit, N=${N}`, async () => {
      const rows = randomF32(N, N + 5, 8);
      const r = rng(N + 6);
      const mask = Uint32Array.from({ length: maskWords(N) }, () => Math.floor(r() * 2 ** 32));
      mask[0] &= ~1; // token 0 masked, and generated: -F32_MAX minus its penalty
      const generated = [0, 0, 1, 2, 3, N - 1];
      const bias = sparseBias(N, N + 7);
      const got = await runAdjust(rows, 0, N, bias, generated, 8, 0.5, 0.25, generated.length, mask);
      const want = adjustLogitsRef(rows, bias, generated, 0.5, 0.25, mask);
      expectClose(`masked N=${N}`, got, want, { atol: 0 });
      expect(got[0]).toBeLessThan(-3e38);
    });
  }

  it("counts only the first `generated` ids, and never more than the capacity", async () => {
    const N = 300;
    const rows = randomF32(N, 3, 4);
    const bias = new Float32Array(N);
    const ids = [5, 5, 9, 5, 11, 12];
    const some = await runAdjust(rows, 0, N, bias, ids, 8, 1.5, 0.25, 3);
    expectClose("first 3", some, adjustLogitsRef(rows, bias, ids.slice(0, 3), 1.5, 0.25), { atol: 0 });
    const clamped = await runAdjust(rows, 0, N, bias, ids, 4, 1.5, 0.25, 1000);
    expectClose("capacity 4", clamped, adjustLogitsRef(rows, bias, ids.slice(0, 4), 1.5, 0.25), { atol: 0 });
    expect(some[5]).not.toBe(rows[5]);
  });

  it("refuses an out buffer that aliases an input, and non-finite penalties", async () => {
    const b = gpu.createStorage(64, "x");
    const err = caught(() =>
      logitAdjustDispatches(gpu, { logits: b, N: 4, bias: gpu.createStorage(16, "b"), generated: gpu.createStorage(16, "g"), capacity: 4, penalties: gpu.createStorage(16, "p"), out: b }),
    );
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(
      isMnemoError(
        caught(() => writePenalties(gpu, b, { frequency: Number.NaN, presence: 0, generated: 0 })),
        "BAD_INPUT",
      ),
    ).toBe(true);
  });
});

describe("logprob.blocks + logprob.merge", () => {
  // Worst errors measured on SwiftShader: 3.8e-6 (N=50257, logits up to ±8); the bound is ~5x.
  const ATOL = 2e-5;
  for (const [N, top] of [
    [1, 1],
    [9, 0],
    [2047, 5],
    [2049, LOGPROB_MAX_TOP],
    [50257, LOGPROB_MAX_TOP],
  ] as const) {
    it(`equal the reference, N=${N} top=${top}, row 1`, async () => {
      const rows = randomF32(2 * N, 17 * N, 8);
      const id = Math.floor(N / 3);
      const got = await runLogprobs(rows, 1, N, id, top);
      const want = logprobsRef(rows.subarray(N), id, top);
      expect(Math.abs(got.logprob - want.logprob), `sampled: ${got.logprob} vs ${want.logprob}`).toBeLessThan(ATOL);
      expect(Math.abs(got.logsumexp - want.logsumexp)).toBeLessThan(ATOL);
      expect(got.top.map((t) => t.id)).toEqual(want.top.map((t) => t.id));
      expectClose(
        `top N=${N}`,
        got.top.map((t) => t.logprob),
        want.top.map((t) => t.logprob),
        { atol: ATOL },
      );
    });
  }

  it("orders ties by index, puts NaN and -Infinity last, and reports fewer alternatives than asked on a tiny vocabulary", async () => {
    const N = 3000;
    const rows = randomF32(N, 5, 1);
    for (const i of [2999, 4, 2048, 700]) rows[i] = 9; // a four-way tie at the top, across blocks
    rows[10] = Number.NaN;
    rows[11] = Number.NEGATIVE_INFINITY;
    const got = await runLogprobs(rows, 0, N, 700, 6);
    expect(got.top.slice(0, 4).map((t) => t.id)).toEqual([4, 700, 2048, 2999]);
    expect(got.top.map((t) => t.id)).not.toContain(10);
    expect(got.top.map((t) => t.id)).not.toContain(11);
    expect(got.logprob).toBeCloseTo(logprobsRef(rows, 700, 6).logprob, 4);
    const tiny = await runLogprobs(Float32Array.of(1, 2, 3), 0, 3, 0, 5);
    expect(tiny.top.map((t) => t.id)).toEqual([2, 1, 0]);
  });

  it("refuses top above the limit", () => {
    const b = gpu.createStorage(64, "x");
    expect(
      isMnemoError(
        caught(() => logprobDispatches(gpu, { logits: b, N: 4, top: LOGPROB_MAX_TOP + 1, ids: gpu.createStorage(16, "i"), result: gpu.createStorage(256, "r") })),
        "BAD_INPUT",
      ),
    ).toBe(true);
  });
});
