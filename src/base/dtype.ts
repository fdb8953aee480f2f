/**
 * Element types of weight matrices (and so of GPU tensors). f16 is stored two per u32 word
 * (no `shader-f16` on the adapters we target); q8_0 and q4_0 use GPU-friendly repacks of
 * GGUF blocks (see src/kernels/weights.ts and src/formats/quant.ts).
 */
export type WeightType = "f32" | "f16" | "q8_0" | "q4_0";

/**
 * The same union as {@link WeightType}, under the name `loadModel({ quant })` was first typed
 * with. Kept because the package exports it; new code says WeightType.
 */
export type WeightQuant = WeightType;
