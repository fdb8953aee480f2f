// Host matrices → GPU tensors in the layouts the matmul and embedding shaders read.
// All matrices are [N, K] row-major (output-major, K contiguous), like nn.Linear and GGUF.
//   f32  : N*K f32.
//   f16  : N*K halves, two per u32 word, element i in word i >> 1 (low half first): the
//          bytes of a Uint16Array as they are.
//   q8_0 : per block of 32 along K, 9 u32 words: the f16 scale widened to an f32, then the
//          32 int8 values as stored in GGUF (4 per word). Blocks are row-major (n, k / 32).
//   q4_0 : per block, 5 words: f32 scale, then GGUF's 16 nibble bytes (byte j: element j
//          low nibble, element j + 16 high nibble; value = nibble - 8).
// The GGUF blocks (34 and 18 bytes) are not 4-byte aligned; widening the scale to a word
// costs 2 bytes per block and makes every load a plain aligned u32 load.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { WeightType } from "../base/dtype.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { f16ToF32 } from "../formats/f16.js";
import { Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK } from "../formats/quant.js";

/** A matrix on the CPU: f32 values, f16 bits, or GGUF block bytes. */
export type HostMatrix = { dtype: "f32"; data: Float32Array } | { dtype: "f16"; data: Uint16Array } | { dtype: "q8_0" | "q4_0"; data: Uint8Array };

/** u32 words per 32-value block on the GPU. */
export const GPU_BLOCK_WORDS = { q8_0: 9, q4_0: 5 } as const;

/** Bytes a [N, K] matrix of `dtype` takes on the GPU. */
export function gpuMatrixBytes(dtype: WeightType, N: number, K: number): number {
  switch (dtype) {
    case "f32":
      return N * K * 4;
    case "f16":
      return Math.ceil((N * K) / 2) * 4;
    default:
      return ((N * K) / QK) * GPU_BLOCK_WORDS[dtype] * 4;
  }
}

function repackBlocks(data: Uint8Array, blocks: number, blockBytes: number, words: number): Uint32Array {
  const out = new Uint32Array(blocks * words);
  const f = new Float32Array(out.buffer);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < blocks; b++) {
    const src = b * blockBytes;
    f[b * words] = f16ToF32(view.getUint16(src, true));
    for (let j = 0; j < words - 1; j++) out[b * words + 1 + j] = view.getUint32(src + 2 + j * 4, true);
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
      return repackBlocks(m.data, blocks, blockBytes, GPU_BLOCK_WORDS[m.dtype]);
    }
  }
}

/** Uploads a [N, K] matrix in its GPU layout. */
export function uploadMatrix(gpu: Gpu, label: string, m: HostMatrix, shape: readonly [number, number]): GpuTensor {
  const [N, K] = shape;
  if (!Number.isInteger(N) || !Number.isInteger(K) || N <= 0 || K <= 0) {
    throw new MnemoError("SHAPE_MISMATCH", `${label}: invalid matrix shape [${N}, ${K}].`);
  }
  const data = gpuMatrixData(m, N, K);
  const byteSize = gpuMatrixBytes(m.dtype, N, K);
  gpu.checkBindingSize(byteSize, `Matrix "${label}"`);
  const buffer = gpu.createStorage(byteSize, label);
  gpu.write(buffer, data);
  return { buffer, dtype: m.dtype, shape: [N, K], byteSize, label };
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

/** Returns a tensor's buffer to the pool. */
export function releaseTensor(gpu: Gpu, t: GpuTensor): void {
  gpu.pool.release(t.buffer);
}
