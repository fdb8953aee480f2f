import { describe, it, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../src/gpu/dispatch.js";
import { embedding } from "../../src/kernels/embedding.js";
import { uploadMatrix, releaseTensor, type HostMatrix } from "../../src/kernels/weights.js";
import { embeddingRef } from "../../src/kernels/reference/embedding.js";
import { f16BitsToF32Array, f32ToF16Array } from "../../src/formats/f16.js";
import { quantizeQ8_0, quantizeQ4_0, dequantizeQ8_0, dequantizeQ4_0 } from "../../src/formats/quant.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32, rng } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

function table(type: "f32" | "f16" | "q8_0" | "q4_0", v: Float32Array): { host: HostMatrix; exact: Float32Array } {
  if (type === "f32") return { host: { dtype: "f32", data: v }, exact: v };
  if (type === "f16") {
    const b = f32ToF16Array(v);
    return { host: { dtype: "f16", data: b }, exact: f16BitsToF32Array(b) };
  }
  const q = type === "q8_0" ? quantizeQ8_0(v) : quantizeQ4_0(v);
  return { host: { dtype: type, data: q }, exact: type === "q8_0" ? dequantizeQ8_0(q, v.length) : dequantizeQ4_0(q, v.length) };
}

describe("embedding", () => {
  const cases: ["f32" | "f16" | "q8_0" | "q4_0", number, number, number, boolean][] = [
    ["f32", 1, 7, 1, true],
    ["f32", 257, 7, 5, false],
    ["f16", 1000, 257, 3, true],
    ["f16", 50257, 64, 24, true],
    ["q8_0", 1000, 64, 7, true],
    ["q8_0", 50257, 256, 24, true],
    ["q4_0", 257, 96, 9, true],
  ];
  for (const [type, V, D, M, withPos] of cases) {
    it(`${type} V=${V} D=${D} M=${M}${withPos ? " +pos" : ""}`, async () => {
      const r = rng(V + D);
      const ids = Uint32Array.from({ length: M }, () => Math.floor(r() * V));
      const positions = Uint32Array.from({ length: M }, (_, i) => (i * 3) % 64);
      const { host, exact } = table(type, randomF32(V * D, 4, 0.5));
      const posTable = randomF32(64 * D, 5, 0.1);
      const t = uploadMatrix(gpu, "wte", host, [V, D]);
      const p = withPos ? uploadMatrix(gpu, "wpe", { dtype: "f32", data: posTable }, [64, D]) : undefined;
      const [gi, gp, out] = [gpu.upload(ids, "ids"), gpu.upload(positions, "pos"), gpu.createStorage(M * D * 4, "out")];
      const d = embedding(gpu, { ids: gi, positions: gp, tokenTable: t, positionTable: p, out, M });
      runDispatches(gpu, [d]);
      const want = embeddingRef(ids, positions, exact, withPos ? posTable : null, D);
      expectClose(`embedding ${type} V=${V} D=${D} M=${M}`, await gpu.readF32(out, M * D), want, { atol: 1e-6, rtol: 1e-6 });
      releaseDispatches(gpu, [d]);
      releaseTensor(gpu, t);
      if (p) releaseTensor(gpu, p);
      [gi, gp, out].forEach((b) => gpu.pool.release(b));
    });
  }
});
