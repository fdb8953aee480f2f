import type { WeightType } from "../base/dtype.js";

/** A tensor that lives in a GPU buffer, row-major. */
export interface GpuTensor {
  buffer: GPUBuffer;
  dtype: WeightType;
  shape: readonly number[];
  /** Bytes used in `buffer` (the buffer itself may be larger). */
  byteSize: number;
  label: string;
}
