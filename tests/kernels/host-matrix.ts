// Weight matrices for the matmul tests: the encoded host data and the exact f32 values the
// GPU sees after dequantizing it.
import type { HostMatrix } from "../../src/kernels/weights.js";
import { f16BitsToF32Array, f32ToF16Array } from "../../src/formats/f16.js";
import { quantizeQ8_0, quantizeQ4_0, dequantizeQ8_0, dequantizeQ4_0 } from "../../src/formats/quant.js";

export type WType = "f32" | "f16" | "q8_0" | "q4_0";

/** The matrix in `type` and the exact f32 values the GPU should see (dequantized). */
export function hostMatrix(type: WType, values: Float32Array): { host: HostMatrix; exact: Float32Array } {
  switch (type) {
    case "f32":
      return { host: { dtype: "f32", data: values }, exact: values };
    case "f16": {
      const bits = f32ToF16Array(values);
      return { host: { dtype: "f16", data: bits }, exact: f16BitsToF32Array(bits) };
    }
    case "q8_0": {
      const q = quantizeQ8_0(values);
      return { host: { dtype: "q8_0", data: q }, exact: dequantizeQ8_0(q, values.length) };
    }
    case "q4_0": {
      const q = quantizeQ4_0(values);
      return { host: { dtype: "q4_0", data: q }, exact: dequantizeQ4_0(q, values.length) };
    }
  }
}
