/**
 * Element types of GPU tensors. f16 is stored two per u32 word (no `shader-f16` on the
 * adapters we target); q8_0 and q4_0 use GPU-friendly repacks of GGUF blocks (see
 * src/formats/quant.ts).
 */
export type DType = "f32" | "f16" | "q8_0" | "q4_0";

/** A tensor that lives in a GPU buffer, row-major. */
export interface GpuTensor {
  buffer: GPUBuffer;
  dtype: DType;
  shape: readonly number[];
  /** Bytes used in `buffer` (the buffer itself may be larger). */
  byteSize: number;
  label: string;
}
