import type { WeightType } from "../base/dtype.js";

/** A tensor that lives in a GPU buffer, row-major. */
export interface GpuTensor {
  buffer: GPUBuffer;
  dtype: WeightType;
  shape: readonly number[];
  /** Bytes used in `buffer` (the buffer itself may be larger). */
  byteSize: number;
  label: string;
  /**
   * A matrix too large for one binding (maxStorageBufferBindingSize) is kept as consecutive
   * row blocks, each a whole [rows, K] tensor of its own in the same layout; `buffer` is then
   * the first part's. Only kernels that say so take a split tensor (the rest refuse it).
   */
  parts?: GpuTensor[];
}
