import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches } from "../../src/gpu/dispatch.js";
import { poolSequences, type Pooling } from "../../src/kernels/pool.js";
import { poolRef } from "../../src/kernels/reference/pool.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";
import { caught } from "../helpers/errors.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

async function run(hidden: Float32Array, starts: number[], D: number, pooling: Pooling, normalize: boolean): Promise<Float32Array> {
  const n = starts.length - 1;
  const M = starts[n];
  const bufs = [gpu.upload(hidden, "h"), gpu.upload(Uint32Array.from(starts), "s"), gpu.createStorage(n * D * 4, "o")];
  const d = poolSequences(gpu, { hidden: bufs[0], seqStart: bufs[1], out: bufs[2], M, D, nSeq: n, pooling, normalize });
  runDispatches(gpu, [d]);
  const got = await gpu.readF32(bufs[2], n * D);
  releaseDispatches(gpu, [d]);
  for (const b of bufs) gpu.pool.release(b);
  return got;
}

// Widths below, at and above one column per invocation (64), a partial last pass (100,
// 384: MiniLM's) and the widest the kernel keeps (1024); a one-row sequence.
const CASES = [
  { D: 7, lengths: [3, 1, 5] },
  { D: 64, lengths: [8] },
  { D: 100, lengths: [2, 9, 1, 4] },
  { D: 384, lengths: [5, 12] },
  { D: 1024, lengths: [3, 2] },
];

describe("poolSequences", () => {
  for (const { D, lengths } of CASES) {
    for (const pooling of ["mean", "cls"] as const) {
      for (const normalize of [true, false]) {
        it(`${pooling}${normalize ? " + L2 norm" : ""}, D=${D}, sequences of ${lengths.join(", ")}`, async () => {
          const starts = [0];
          for (const n of lengths) starts.push(starts.at(-1)! + n);
          const hidden = randomF32(starts.at(-1)! * D, 3 + D, 2);
          const got = await run(hidden, starts, D, pooling, normalize);
          expectClose(`pool ${pooling} D=${D}`, got, poolRef(hidden, starts, D, pooling, normalize), { atol: 1e-6, rtol: 1e-5 });
        });
      }
    }
  }

  it("a zero vector normalises to zeros, not NaN", async () => {
    expect(Array.from(await run(new Float32Array(2 * 8), [0, 2], 8, "mean", true))).toEqual(new Array(8).fill(0));
  });

  it("refuses a width over 1024, an unknown pooling and short buffers", () => {
    const b = (n: number) => gpu.createStorage(n * 4, "b");
    const ok = { hidden: b(4 * 64), seqStart: b(3), out: b(2 * 64), M: 4, D: 64, nSeq: 2, pooling: "mean" as const, normalize: true };
    expect(
      isMnemoError(
        caught(() => poolSequences(gpu, { ...ok, D: 1025 })),
        "UNSUPPORTED_MODEL",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => poolSequences(gpu, { ...ok, pooling: "max" as Pooling })),
        "BAD_INPUT",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => poolSequences(gpu, { ...ok, out: b(64) })),
        "SHAPE_MISMATCH",
      ),
    ).toBe(true);
  });
});
