// GGUF (ggml) block quantization on the CPU, bit for bit as llama.cpp writes it:
//   Q8_0: 34 bytes per 32 values: f16 scale d = amax / 127, then 32 int8 q = round(x / d).
//   Q4_0: 18 bytes per 32 values: f16 scale d = max / -8 (max = the value of largest
//         magnitude, with its sign), then 16 bytes; byte j holds element j in its low
//         nibble and element j + 16 in its high nibble, each q = x / d + 8 in 0..15.
import { MnemoError } from "../errors.js";
import { f16ToF32, f32ToF16 } from "./f16.js";

export const QK = 32;
export const Q8_0_BLOCK_BYTES = 34;
export const Q4_0_BLOCK_BYTES = 18;

function checkLength(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n % QK !== 0) {
    throw new MnemoError("BAD_INPUT", `${what}: ${n} values is not a multiple of the block size ${QK}.`);
  }
}

function checkBytes(what: string, bytes: Uint8Array, n: number, blockBytes: number): void {
  checkLength(what, n);
  if (bytes.byteLength < (n / QK) * blockBytes) {
    throw new MnemoError("BAD_INPUT", `${what}: ${bytes.byteLength} bytes cannot hold ${n} values (${(n / QK) * blockBytes} needed).`);
  }
}

/** Bytes of `n` values in a GGUF block format. */
export function quantizedBytes(type: "q8_0" | "q4_0", n: number): number {
  checkLength(type, n);
  return (n / QK) * (type === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES);
}

/** Quantizes f32 values into Q8_0 blocks (llama.cpp's quantize_row_q8_0_ref). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  checkLength("quantizeQ8_0", x.length);
  const blocks = x.length / QK;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const q = new Int8Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const x0 = b * QK;
    let amax = 0;
    for (let i = 0; i < QK; i++) amax = Math.max(amax, Math.abs(x[x0 + i]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16(d), true);
    for (let i = 0; i < QK; i++) {
      // roundf: halves away from zero.
      const v = Math.fround(x[x0 + i] * id);
      q[o + 2 + i] = v < 0 ? -Math.round(-v) : Math.round(v);
    }
  }
  return out;
}

/** Quantizes f32 values into Q4_0 blocks (llama.cpp's quantize_row_q4_0_ref). */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  checkLength("quantizeQ4_0", x.length);
  const blocks = x.length / QK;
  const out = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    let max = 0;
    for (let i = 0; i < QK; i++) {
      const v = x[b * QK + i];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * Q4_0_BLOCK_BYTES, f32ToF16(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(x[b * QK + j] * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(x[b * QK + j + 16] * id) + 8.5)));
      out[b * Q4_0_BLOCK_BYTES + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

/** Dequantizes `n` values of Q8_0 blocks. */
export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  checkBytes("dequantizeQ8_0", bytes, n, Q8_0_BLOCK_BYTES);
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const d = f16ToF32(view.getUint16(b * Q8_0_BLOCK_BYTES, true));
    for (let i = 0; i < QK; i++) out[b * QK + i] = d * view.getInt8(b * Q8_0_BLOCK_BYTES + 2 + i);
  }
  return out;
}

/** Dequantizes `n` values of Q4_0 blocks. */
export function dequantizeQ4_0(bytes: Uint8Array, n: number): Float32Array {
  checkBytes("dequantizeQ4_0", bytes, n, Q4_0_BLOCK_BYTES);
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const d = f16ToF32(view.getUint16(b * Q4_0_BLOCK_BYTES, true));
    for (let j = 0; j < QK / 2; j++) {
      const q = bytes[b * Q4_0_BLOCK_BYTES + 2 + j];
      out[b * QK + j] = d * ((q & 0x0f) - 8);
      out[b * QK + j + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}
