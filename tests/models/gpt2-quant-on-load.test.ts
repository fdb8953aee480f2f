// On-load conversion of F32 safetensors (`quant` / `--quant`, and `keepTokenTableF16` /
// `--keep-token-table-f16`) on tiny-gpt2: the weight type and GPU bytes each matrix should
// take, and logits against a float64 forward pass over the weights as converted (f16-rounded,
// or Q8_0/Q4_0 blocks dequantized by the test's own GGUF block decoder). The README's
// perplexity for Q4_0 with the token table in F16 (96.08 on the bundled model) needs four
// 1024-token windows (about 5 minutes on SwiftShader), so it is not re-measured here.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { WeightType } from "../../src/base/dtype.js";
import { quantizeQ4_0, quantizeQ8_0 } from "../../src/formats/quant.js";
import { Session } from "../../src/runtime/session.js";
import { testGpu } from "../helpers/gpu.js";
import { fixture, fullForwardLogits, loadModelAt, readJsonFile } from "../helpers/models.js";
import { dequantQ4_0Blocks, dequantQ8_0Blocks, exact, maxAbsDiff, readGpt2Folder, refForward, refModel, roundF16, type MatrixView, type TinyTensors } from "../helpers/gpt2-f64.js";

type Quant = Exclude<WeightType, "f32">;

/** The runtime's conversion of one matrix as the GPU will read it, in float64. */
function viewOf(quant: Quant | "f32"): MatrixView {
  switch (quant) {
    case "f32":
      return exact;
    case "f16":
      return (_n, nk) => roundF16(nk);
    case "q8_0":
      return (_n, nk) => dequantQ8_0Blocks(quantizeQ8_0(nk), nk.length);
    case "q4_0":
      return (_n, nk) => dequantQ4_0Blocks(quantizeQ4_0(nk), nk.length);
  }
}

/** Bytes of a [N, K] matrix on the GPU: f32/f16 per element, Q8_0 9 and Q4_0 5 u32 words per 32 values (the f16 scale widened). */
function matrixBytes(type: WeightType, N: number, K: number): number {
  return { f32: 4 * N * K, f16: 2 * N * K, q8_0: (N * K * 36) / 32, q4_0: (N * K * 20) / 32 }[type];
}

// Worst |GPU − float64| logit error measured on SwiftShader (Dawn, Node 20), 24 positions;
// each bound is 5-8x its measurement. In brackets: how far the same logits are from the
// unconverted model (what the conversion itself moves them).
/** f32 activations: the reference is the float64 forward of the converted weights, which int8 activations would round away from. */
const EXACT = { decodeMatmul: "f32" } as const;

const CASES: { quant: Quant; keep: boolean; bound: number }[] = [
  { quant: "f16", keep: false, bound: 1e-5 }, // measured 1.3e-6 (moved 2.2e-3)
  { quant: "q8_0", keep: false, bound: 1e-5 }, // measured 2.0e-6 (moved 5.3e-2)
  { quant: "q4_0", keep: false, bound: 1e-5 }, // measured 1.5e-6 (moved 1.05)
  { quant: "q8_0", keep: true, bound: 1e-5 }, // measured 1.6e-6 (moved 5.2e-2)
  { quant: "q4_0", keep: true, bound: 1e-5 }, // measured 1.7e-6 (moved 0.99)
];

let gpu: Gpu;
let tiny: TinyTensors;
let ids: number[];
let unconverted: Float64Array;

beforeAll(async () => {
  gpu = await testGpu();
  tiny = await readGpt2Folder();
  ids = (await readJsonFile<{ input_ids: number[] }>(fixture("reference/tiny-gpt2.json"))).input_ids;
  unconverted = refForward(refModel(tiny), ids).logits;
});

describe("on-load conversion of tiny-gpt2 (F32 safetensors)", () => {
  for (const { quant, keep, bound } of CASES) {
    const label = `${quant}${keep ? " with the token table kept in f16" : ""}`;
    it(`${label}: weight type, GPU bytes per matrix, logits against the float64 reference of the converted weights`, async () => {
      const model = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2", { quant, keepTokenTableF16: keep, kernels: EXACT });
      const tableType: WeightType = keep && quant !== "f16" ? "f16" : quant;
      try {
        expect(model.info.weightType).toBe(quant);
        // Every matrix in `quant` except the position table (f32) and, kept, the token table.
        let bytes = matrixBytes(tableType, 1000, 64) + matrixBytes("f32", 64, 64);
        for (const [name, t] of tiny.tensors) {
          if (name === "wte.weight" || name === "wpe.weight" || /^h\.\d+\.attn\.bias$/.test(name)) continue;
          bytes += t.shape.length === 2 ? matrixBytes(quant, t.shape[1], t.shape[0]) : 4 * t.data.length;
        }
        expect(model.info.gpuBytes).toBe(bytes);

        const want = refForward(
          refModel(tiny, (name, nk, N, K) => viewOf(name === "wte.weight" ? tableType : quant)(name, nk, N, K)),
          ids,
        ).logits;
        const got = await fullForwardLogits(model, ids);
        const err = maxAbsDiff(got, want);
        const moved = maxAbsDiff(got, unconverted);
        console.log(`${label}: max |GPU − float64 (converted weights)| ${err.toExponential(2)}; from the unconverted model ${moved.toExponential(2)}`);
        expect(err).toBeLessThan(bound);
        // The conversion is visible at this bound, so a skipped one fails.
        expect(moved).toBeGreaterThan(10 * bound);
        if (keep) {
          // ... and so is the token table's type: with it quantized too, the reference moves.
          const allQuantized = maxAbsDiff(got, refForward(refModel(tiny, viewOf(quant)), ids).logits);
          console.log(`${label}: from the reference with the token table in ${quant} too ${allQuantized.toExponential(2)}`);
          expect(allQuantized).toBeGreaterThan(10 * bound);
        }
      } finally {
        model.dispose();
      }
    });
  }

  it("q4_0 with the token table in f16: decode steps (one-row GEMV, fused layer norm) match the reference too", async () => {
    const model = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2", { quant: "q4_0", keepTokenTableF16: true, kernels: EXACT });
    const ref = refModel(tiny, (name, nk, N, K) => viewOf(name === "wte.weight" ? "f16" : "q4_0")(name, nk, N, K));
    const session = new Session(model);
    await session.append(ids.slice(0, 21));
    let worst = 0;
    for (let t = 21; t <= 23; t++) {
      worst = Math.max(worst, maxAbsDiff(await session.nextTokenLogits(), refForward(ref, ids.slice(0, t)).logits.subarray((t - 1) * 1000, t * 1000)));
      if (t < 23) await session.append([ids[t]]);
    }
    session.dispose();
    model.dispose();
    console.log(`q4_0 + f16 token table, decode: max |GPU − float64| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5); // measured 1.1e-6
  });
});
