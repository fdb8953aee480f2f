// Weight matrices for the matmul tests: the encoded host data and the exact f32 values the
// GPU sees after dequantizing it.
import type { HostMatrix } from "../../src/kernels/weights.js";
import { f16BitsToF32Array, f16ToF32, f32ToF16Array } from "../../src/formats/f16.js";
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

/** GGUF blocks → the quants as integers (nibble - 8 for Q4_0) and the f32 scales. */
export function quantIntegers(type: "q8_0" | "q4_0", bytes: Uint8Array, n: number): { q: Int8Array; scales: Float32Array } {
  const blocks = n / 32;
  const blockBytes = type === "q8_0" ? 34 : 18;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = new Int8Array(n);
  const scales = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const o = b * blockBytes;
    scales[b] = f16ToF32(view.getUint16(o, true));
    for (let j = 0; j < 32; j++) {
      q[b * 32 + j] = type === "q8_0" ? view.getInt8(o + 2 + j) : ((bytes[o + 2 + (j % 16)] >> (j < 16 ? 0 : 4)) & 15) - 8;
    }
  }
  return { q, scales };
}
