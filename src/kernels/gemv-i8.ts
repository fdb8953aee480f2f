// Decode matmuls with int8 activations (shaders/quantize.wgsl, shaders/gemv_i8.wgsl): the
// activation row is quantized per block of 32 (optionally after its layer norm), then a
// Q8_0 / Q4_0 GEMV takes integer dot products of it with the weights' quants.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type Binding, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { QK } from "../formats/quant.js";
import { grid1d, requireBytes, requireDims } from "./common.js";
import { outColumnsOf, type FusedKvWrite, type FusedLayerNorm, type OutColumns } from "./matmul.js";
import { kvCacheBytes } from "./attention.js";
import { scalePlaneOffset } from "./weights.js";

const QUANTIZE_WG = 64;
/** The ROWS4 shape's workgroup: like matmul's GEMV4, small workgroups spread N / 4 invocations. */
const ROWS4_WG = 32;
/** The COOP shape's workgroup (at least the largest subgroup of any GPU, 64 on AMD). */
const COOP_WG = 64;

/**
 * How a GEMV with int8 activations is laid out on the adapter (shaders/gemv_i8.wgsl):
 * "rows4" an invocation per four rows walking K (fast on SwiftShader); "coop-subgroup" a
 * subgroup per four rows, lanes striding K, `subgroupAdd`; "coop-workgroup" the same with a
 * workgroup as the team and a workgroup-memory tree (adapters without subgroups).
 */
export type GemvI8Shape = "rows4" | "coop-subgroup" | "coop-workgroup";

/** The bytes of a quantized activation row block: `xq` (int8, four per word) and `xs` (f32 scales). */
export function int8ActivationBytes(M: number, K: number): { xq: number; xs: number } {
  return { xq: M * K, xs: (M * K * 4) / QK };
}

/** Whether the adapter has WGSL's packed int8 dot product (`dot4I8Packed`). */
export function hasDot4(gpu: Gpu): boolean {
  return gpu.wgslFeatures.has("packed_4x8_integer_dot_product");
}

/** The shapes this adapter can run. */
export function gemvI8Shapes(gpu: Gpu): GemvI8Shape[] {
  return gpu.features.has("subgroups") ? ["rows4", "coop-subgroup", "coop-workgroup"] : ["rows4", "coop-workgroup"];
}

/** Arguments of {@link quantizeActivations}. */
export interface QuantizeArgs {
  /** f32 [M, K] from row `xRowOffset`. */
  x: GPUBuffer;
  xRowOffset?: number;
  M: number;
  K: number;
  /** Receives M * K int8 (four per u32). */
  xq: GPUBuffer;
  /** Receives M * K / 32 f32 scales. */
  xs: GPUBuffer;
  /** M = 1: layer-normalise the row first (the steps of matmul's fused layer norm). */
  norm?: Omit<FusedLayerNorm, "grid">;
  layer?: number;
}

/** xq, xs = int8 quantization of x per block of 32 (K % 32 == 0), optionally of LayerNorm(x). */
export function quantizeActivations(gpu: Gpu, a: QuantizeArgs): KernelDispatch {
  const { M, K, norm } = a;
  requireDims("quantize", { M, K });
  if (K % QK !== 0) throw new MnemoError("SHAPE_MISMATCH", `quantize: K must be a multiple of ${QK}, got ${K}.`);
  const rowOffset = a.xRowOffset ?? 0;
  requireBytes("quantize", "x", a.x, (rowOffset + M) * K * 4);
  const bytes = int8ActivationBytes(M, K);
  requireBytes("quantize", "xq", a.xq, bytes.xq);
  requireBytes("quantize", "xs", a.xs, bytes.xs);
  if (norm) {
    if (M !== 1) throw new MnemoError("BAD_INPUT", `quantize: a layer norm needs M = 1 (one row), got M = ${M}.`);
    if (!(Number.isFinite(norm.eps) && norm.eps >= 0)) throw new MnemoError("BAD_INPUT", `quantize: the layer norm's eps must be a finite number >= 0, got ${norm.eps}.`);
    requireBytes("quantize", "gamma", norm.gamma, K * 4);
    requireBytes("quantize", "beta", norm.beta, K * 4);
    if (norm.out) requireBytes("quantize", "norm.out", norm.out, K * 4);
  }
  const { workgroups, groupsX } = norm ? { workgroups: [1, 1] as [number, number], groupsX: 1 } : grid1d(gpu, (M * K) / QK, QUANTIZE_WG);
  return makeDispatch(gpu, {
    kernel: norm ? "ln_quantize_i8" : "quantize_i8",
    layer: a.layer,
    pipeline: { file: "quantize", defines: { LN: !!norm, LN_OUT: !!norm?.out }, constants: { WG: QUANTIZE_WG } },
    bindings: [a.x, a.xq, a.xs, norm?.gamma, norm?.beta, norm?.out],
    params: paramWords([M, K, rowOffset * K, { f32: norm?.eps ?? 0 }, groupsX]),
    workgroups,
    flops: 4 * M * K,
    bytes: M * K * (4 + 1) + bytes.xs + (norm ? 8 * K : 0),
  });
}

/** Arguments of {@link gemvI8}. */
export interface GemvI8Args {
  /** One row's int8 activations and scales from {@link quantizeActivations}. */
  xq: GPUBuffer;
  xs: GPUBuffer;
  /** Q8_0 or Q4_0 weights [N, K] in the planes layout (src/kernels/weights.ts). */
  w: GpuTensor;
  bias?: GPUBuffer;
  /** f32 [N] added after the epilogue; must not be `out`. */
  residual?: GPUBuffer;
  out: GPUBuffer;
  epilogue?: "none" | "gelu" | "gelu_erf" | "tanh";
  /** GPT-2's fused QKV row: also write k and v into the cache (as matmul's `kvCache`). */
  kvCache?: FusedKvWrite;
  /** As matmul's: this dispatch's columns in a wider output (a part of a split matrix). */
  outColumns?: OutColumns;
  /** Default "rows4". */
  shape?: GemvI8Shape;
  /** Use `dot4I8Packed`; default where the adapter has it. */
  dot4?: boolean;
  layer?: number;
}

/** Storage buffers a {@link gemvI8} binds: xq, wq, ws, xs, out, and the optional ones. */
function storageBuffers(a: { bias?: unknown; residual?: unknown; kvCache?: unknown }): number {
  return 5 + Number(!!a.bias) + Number(!!a.residual) + (a.kvCache ? 3 : 0);
}

/** Whether this adapter can bind a {@link gemvI8} with these options (maxStorageBuffersPerShaderStage). */
export function canRunGemvI8(gpu: Gpu, a: { bias?: boolean; residual?: boolean; kvCache?: boolean }): boolean {
  return storageBuffers(a) <= gpu.limits.maxStorageBuffersPerShaderStage;
}

function checkGemvI8(gpu: Gpu, a: GemvI8Args, N: number, K: number, shape: GemvI8Shape, cols: OutColumns): void {
  if (a.w.dtype !== "q8_0" && a.w.dtype !== "q4_0") throw new MnemoError("UNSUPPORTED_FEATURE", `gemvI8: weights must be q8_0 or q4_0, got ${a.w.dtype}.`);
  requireDims("gemvI8", { N, K });
  const bytes = int8ActivationBytes(1, K);
  requireBytes("gemvI8", "xq", a.xq, bytes.xq);
  requireBytes("gemvI8", "xs", a.xs, bytes.xs);
  requireBytes("gemvI8", "out", a.out, cols.total * 4);
  if (a.bias) requireBytes("gemvI8", "bias", a.bias, cols.total * 4);
  if (a.kvCache && cols.total !== N) throw new MnemoError("BAD_INPUT", "gemvI8: a fused KV-cache write needs the whole output (no outColumns).");
  if (a.residual) {
    requireBytes("gemvI8", "residual", a.residual, cols.total * 4);
    if (a.residual === a.out) throw new MnemoError("BAD_INPUT", "gemvI8: residual and out must be different buffers.");
  }
  if (shape === "coop-subgroup" && !gpu.features.has("subgroups")) throw new MnemoError("UNSUPPORTED_FEATURE", "gemvI8: the coop-subgroup shape needs the adapter's `subgroups` feature.");
  if (a.dot4 && !hasDot4(gpu)) throw new MnemoError("UNSUPPORTED_FEATURE", "gemvI8: this adapter's WGSL has no packed_4x8_integer_dot_product.");
  const kv = a.kvCache;
  if (kv) {
    const D = N / 3;
    if (!Number.isInteger(D) || D % kv.headDim !== 0) throw new MnemoError("SHAPE_MISMATCH", `gemvI8: a KV-cache write needs N = 3 · nHead · headDim, got N = ${N} with headDim ${kv.headDim}.`);
    if (kv.cacheType === "f16" && kv.headDim % 2 !== 0) throw new MnemoError("UNSUPPORTED_MODEL", "gemvI8: an f16 cache needs an even head dimension.");
    requireBytes("gemvI8", "positions", kv.positions, 4);
    const cache = kvCacheBytes(D / kv.headDim, kv.nCtx, kv.headDim, kv.cacheType);
    requireBytes("gemvI8", "kCache", kv.kCache, cache);
    requireBytes("gemvI8", "vCache", kv.vCache, cache);
  }
  const n = storageBuffers(a);
  if (n > gpu.limits.maxStorageBuffersPerShaderStage) {
    throw new MnemoError("UNSUPPORTED_FEATURE", `gemvI8: this variant binds ${n} storage buffers; the adapter allows ${gpu.limits.maxStorageBuffersPerShaderStage}.`);
  }
}

/** Workgroup size and count for a shape: every shape covers ceil(N / 4) row quads. */
function gemvI8Grid(gpu: Gpu, shape: GemvI8Shape, N: number): { wg: number; groups: number } {
  const quads = Math.ceil(N / 4);
  if (shape === "rows4") return { wg: ROWS4_WG, groups: Math.ceil(quads / ROWS4_WG) };
  if (shape === "coop-workgroup") return { wg: COOP_WG, groups: quads };
  // Teams are subgroups; sized for the largest subgroup the adapter may run (teams loop over
  // quads, so a smaller subgroup is still covered, with some teams idle).
  const wg = Math.max(COOP_WG, gpu.adapter.subgroupSizes?.max ?? 0);
  const teamSize = gpu.adapter.subgroupSizes?.max ?? 32;
  return { wg, groups: Math.ceil(quads / Math.max(1, wg / teamSize)) };
}

/**
 * out[N] = epilogue(xq · wᵀ (int8 dot products, scaled per block) + bias) + residual, one row
 * (decode). Q8_0 / Q4_0 weights only.
 */
export function gemvI8(gpu: Gpu, a: GemvI8Args): KernelDispatch {
  const { w } = a;
  if (w.shape.length !== 2) throw new MnemoError("SHAPE_MISMATCH", `gemvI8: ${w.label} is not a matrix.`);
  const [N, K] = w.shape;
  const shape = a.shape ?? "rows4";
  const dot4 = a.dot4 ?? hasDot4(gpu);
  const cols = outColumnsOf("gemvI8", a, N);
  checkGemvI8(gpu, a, N, K, shape, cols);
  const dtype = w.dtype as "q8_0" | "q4_0";
  const planeOffset = scalePlaneOffset(dtype, N, K);
  const kv = a.kvCache;
  const { wg, groups } = gemvI8Grid(gpu, shape, N);
  const { workgroups, groupsX } = grid1d(gpu, groups * wg, wg);
  const bindings: (Binding | undefined)[] = [
    a.xq,
    { buffer: w.buffer, offset: 0, size: planeOffset },
    a.bias,
    a.residual,
    a.out,
    { buffer: w.buffer, offset: planeOffset, size: ((N * K) / QK) * 4 },
    a.xs,
    undefined,
    kv?.positions,
    kv?.kCache,
    kv?.vCache,
  ];
  return makeDispatch(gpu, {
    kernel: `gemv_i8_${shape}_${dtype}${kv ? "_kv" : ""}`,
    layer: a.layer,
    pipeline: {
      file: "gemv_i8",
      defines: {
        W_Q8_0: dtype === "q8_0",
        DP4: dot4,
        COOP: shape !== "rows4",
        SUBGROUPS: shape === "coop-subgroup",
        HAS_BIAS: !!a.bias,
        HAS_RESIDUAL: !!a.residual,
        GELU: a.epilogue === "gelu",
        GELU_ERF: a.epilogue === "gelu_erf",
        TANH: a.epilogue === "tanh",
        KV_WRITE: !!kv,
        KV_F16: kv?.cacheType === "f16",
      },
      constants: { WG: wg },
    },
    bindings,
    params: paramWords([1, N, K, groupsX, 0, { f32: 0 }, kv?.headDim ?? 0, kv?.nCtx ?? 0, cols.total, cols.offset]),
    workgroups,
    flops: 2 * N * K,
    bytes: w.byteSize + K + (K / QK) * 4 + 4 * N * (a.residual ? 2 : 1) + (kv ? (8 * N) / 3 : 0),
  });
}
