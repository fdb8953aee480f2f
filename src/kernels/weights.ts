// Host matrices → GPU tensors in the layouts the matmul and embedding shaders read.
// All matrices are [N, K] row-major (output-major, K contiguous), like nn.Linear and GGUF.
//   f32  : N*K f32.
//   f16  : N*K halves, two per u32 word, element i in word i >> 1 (low half first): the
//          bytes of a Uint16Array as they are.
//   q8_0 : two planes in one buffer. First the quants: N*K int8, element (n, k) at byte
//          n*K + k (GGUF's 32 per block, blocks row-major (n, k / 32)); then, from the first
//          256-byte boundary after them, one f32 scale per block (GGUF's f16 widened), block
//          (n, b) at index n*K/32 + b.
//   q4_0 : the same two planes: GGUF's 16 nibble bytes per block (byte j: element j low
//          nibble, element j + 16 high nibble; value = nibble - 8), N*K/2 bytes, then the
//          f32 scales from the next 256-byte boundary.
// GGUF interleaves a 2-byte scale with each block (34 and 18 bytes), which allows nothing
// wider than byte loads; the planes make every row of quants 16-byte aligned (K % 32 == 0),
// so a shader can read 16 int8 (32 int4) in one vec4<u32> load, and the scale plane can be
// bound on its own (offset 256-aligned, as WebGPU requires of a binding offset).
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { WeightType } from "../base/dtype.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { f16ToF32 } from "../formats/f16.js";
import { Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK } from "../formats/quant.js";

/** A matrix on the CPU: f32 values, f16 bits, or GGUF block bytes. */
export type HostMatrix = { dtype: "f32"; data: Float32Array } | { dtype: "f16"; data: Uint16Array } | { dtype: "q8_0" | "q4_0"; data: Uint8Array };

/** Quant bytes per 32-value block (the planes layout's first plane). */
const QUANT_BYTES = { q8_0: 32, q4_0: 16 } as const;
/** WebGPU's minStorageBufferOffsetAlignment, at most 256 on every adapter. */
const PLANE_ALIGN = 256;

/** Byte offset of the scale plane of a [N, K] quantized matrix (see the layout above). */
export function scalePlaneOffset(dtype: "q8_0" | "q4_0", N: number, K: number): number {
  const quantBytes = ((N * K) / QK) * QUANT_BYTES[dtype];
  return Math.ceil(quantBytes / PLANE_ALIGN) * PLANE_ALIGN;
}

/** Bytes a [N, K] matrix of `dtype` takes on the GPU. */
export function gpuMatrixBytes(dtype: WeightType, N: number, K: number): number {
  switch (dtype) {
    case "f32":
      return N * K * 4;
    case "f16":
      return Math.ceil((N * K) / 2) * 4;
    default:
      return scalePlaneOffset(dtype, N, K) + ((N * K) / QK) * 4;
  }
}

/** GGUF blocks (scale, quants) → the two planes: quants, then f32 scales at `scaleOffset`. */
function repackPlanes(data: Uint8Array, blocks: number, blockBytes: number, quantBytes: number, scaleOffset: number): Uint8Array {
  const out = new Uint8Array(scaleOffset + blocks * 4);
  const scales = new Float32Array(out.buffer, scaleOffset, blocks);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < blocks; b++) {
    const src = b * blockBytes;
    scales[b] = f16ToF32(view.getUint16(src, true));
    out.set(data.subarray(src + 2, src + 2 + quantBytes), b * quantBytes);
  }
  return out;
}

/** The bytes to upload for `m` in the GPU layout described above. */
export function gpuMatrixData(m: HostMatrix, N: number, K: number): ArrayBufferView {
  const n = N * K;
  switch (m.dtype) {
    case "f32":
    case "f16":
      if (m.data.length !== n) {
        throw new MnemoError("SHAPE_MISMATCH", `Matrix [${N}, ${K}] needs ${n} ${m.dtype} values, got ${m.data.length}.`);
      }
      return m.data;
    case "q8_0":
    case "q4_0": {
      if (K % QK !== 0) throw new MnemoError("BAD_INPUT", `${m.dtype} needs K to be a multiple of ${QK}, got ${K}.`);
      const blockBytes = m.dtype === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
      const blocks = n / QK;
      if (m.data.byteLength !== blocks * blockBytes) {
        throw new MnemoError("SHAPE_MISMATCH", `Matrix [${N}, ${K}] in ${m.dtype} needs ${blocks * blockBytes} bytes, got ${m.data.byteLength}.`);
      }
      return repackPlanes(m.data, blocks, blockBytes, QUANT_BYTES[m.dtype], scalePlaneOffset(m.dtype, N, K));
    }
  }
}

/**
 * Uploads a [N, K] matrix in its GPU layout. One larger than the adapter's
 * maxStorageBufferBindingSize (a 124M token table in f32 is 154 MB; many browsers allow 128
 * MiB) is split by rows into parts of a multiple of 64 rows, each a whole matrix of its own
 * (`parts`), so every part binds and an output column offset stays 256-byte aligned.
 */
export function uploadMatrix(gpu: Gpu, label: string, m: HostMatrix, shape: readonly [number, number]): GpuTensor {
  const [N, K] = shape;
  if (!Number.isInteger(N) || !Number.isInteger(K) || N <= 0 || K <= 0) {
    throw new MnemoError("SHAPE_MISMATCH", `${label}: invalid matrix shape [${N}, ${K}].`);
  }
  const byteSize = gpuMatrixBytes(m.dtype, N, K);
  const limit = gpu.limits.maxStorageBufferBindingSize;
  if (byteSize <= limit) return uploadWhole(gpu, label, m, N, K);
  // Rows per part, in steps of 64: 64 rows' bytes (their scale plane padded) fit that often.
  const rows = Math.floor(limit / gpuMatrixBytes(m.dtype, 64, K)) * 64;
  if (rows < 64) throw new MnemoError("TOO_LARGE", `Matrix "${label}": 64 rows of ${K} are more than this adapter's maxStorageBufferBindingSize (${limit}).`);
  const parts: GpuTensor[] = [];
  try {
    for (let first = 0; first < N; first += rows) {
      const n = Math.min(rows, N - first);
      parts.push(uploadWhole(gpu, `${label}[${first}..${first + n})`, rowSlice(m, first, n, K), n, K));
    }
  } catch (e) {
    for (const p of parts) gpu.pool.release(p.buffer);
    throw e;
  }
  return { buffer: parts[0].buffer, dtype: m.dtype, shape: [N, K], byteSize: parts.reduce((a, p) => a + p.byteSize, 0), label, parts };
}

function uploadWhole(gpu: Gpu, label: string, m: HostMatrix, N: number, K: number): GpuTensor {
  const data = gpuMatrixData(m, N, K);
  const byteSize = gpuMatrixBytes(m.dtype, N, K);
  gpu.checkBindingSize(byteSize, `Matrix "${label}"`);
  const buffer = gpu.createStorage(byteSize, label);
  gpu.write(buffer, data);
  return { buffer, dtype: m.dtype, shape: [N, K], byteSize, label };
}

/** Rows first .. first + n of a host matrix (GGUF blocks never straddle rows: K % 32 == 0). */
function rowSlice(m: HostMatrix, first: number, n: number, K: number): HostMatrix {
  switch (m.dtype) {
    case "f32":
      return { dtype: "f32", data: m.data.subarray(first * K, (first + n) * K) };
    case "f16":
      return { dtype: "f16", data: m.data.subarray(first * K, (first + n) * K) };
    default: {
      const rowBytes = (K / QK) * (m.dtype === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES);
      return { dtype: m.dtype, data: m.data.subarray(first * rowBytes, (first + n) * rowBytes) };
    }
  }
}

/** Uploads an f32 vector (biases, norm gains). */
export function uploadVector(gpu: Gpu, label: string, data: Float32Array): GpuTensor {
  const buffer = gpu.upload(data, label);
  return { buffer, dtype: "f32", shape: [data.length], byteSize: data.byteLength, label };
}

/** Transposes a [K, N] row-major matrix (HF Conv1D) to [N, K]. */
export function transposeToNK<T extends Float32Array | Uint16Array>(data: T, K: number, N: number): T {
  if (data.length !== K * N) throw new MnemoError("SHAPE_MISMATCH", `transpose: ${data.length} values is not [${K}, ${N}].`);
  const out = new (data.constructor as { new (n: number): T })(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) out[n * K + k] = data[row + n];
  }
  return out;
}

/** Returns a tensor's buffers (every part of a split one) to the pool. */
export function releaseTensor(gpu: Gpu, t: GpuTensor): void {
  for (const p of t.parts ?? [t]) gpu.pool.release(p.buffer);
}
