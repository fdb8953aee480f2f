// The tensors a model's state is copied into when it leaves the GPU. Models produce and
// consume them (ModelState.read / write); the runtime stores them in snapshot files.

/** One tensor of a snapshot. F16 data is raw half-precision bits. */
export type SnapshotTensor = SnapshotTensorF32 | SnapshotTensorF16;

/** A float32 state tensor. */
export interface SnapshotTensorF32 {
  /** Element type. */
  dtype: "f32";
  /** Dimensions, outermost first. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
}

/** A half-precision state tensor (an f16 KV cache). */
export interface SnapshotTensorF16 {
  /** Element type. */
  dtype: "f16";
  /** Dimensions, outermost first. */
  shape: number[];
  /** The raw half-precision bits, row-major. */
  data: Uint16Array;
}
