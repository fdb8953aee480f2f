// Matmuls with int8 activations (shaders/quantize.wgsl, shaders/matmul_i8.wgsl): activation
// rows are quantized per block of 32 (optionally after their layer norm), then a Q8_0 / Q4_0
// matmul takes integer dot products of them with the weights' quants: `gemvI8` for one row
// (decode; each workgroup quantizes the f32 row itself, so a GEMV is one dispatch), and
// `quantizeActivations` then `matmulI8` for many (prefill).
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type Binding, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { QK } from "../formats/quant.js";
import { grid1d, requireBytes, requireDims } from "./common.js";
import type { LayerNormVariant } from "./layernorm.js";
import { epilogueDefines, FEW_GROUPS, FEW_WG, outColumnsOf, type FusedKvWrite, type FusedLayerNorm, type OutColumns } from "./matmul.js";
import { kvCacheBytes } from "./attention.js";
import { scalePlaneOffset } from "./weights.js";

const QUANTIZE_WG = 64;
/** The COOP shape's workgroup (at least the largest subgroup of any GPU, 64 on AMD). */
const COOP_WG = 64;
/** The tiled (many-row) path's workgroup. */
const TILE_WG = 64;

/**
 * How a GEMV with int8 activations is laid out on the adapter (shaders/matmul_i8.wgsl):
 * "rows4" an invocation per four rows walking K, a few invocations looping over the rows
 * (fast on SwiftShader); "coop-subgroup" a
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
  /** Layer-normalise each row first (the steps of matmul's fused layer norm). */
  norm?: Omit<FusedLayerNorm, "grid">;
  /**
   * With `norm`: "workgroup" a workgroup per row (hardware GPUs), "per-row" an invocation per
   * row and no barrier (software adapters); default as `layerNorm`'s, by the adapter.
   */
  lnVariant?: LayerNormVariant;
  /**
   * With `norm`: a workgroup of this many invocations per row, whose row statistics, and so
   * quantized bytes, are then bit-identical to a one-row int8 GEMV's with that workgroup size
   * ({@link gemvI8WorkgroupSize}): a speculative verification quantizes its rows as decode does.
   */
  statsWorkgroupSize?: number;
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
    if (!(Number.isFinite(norm.eps) && norm.eps >= 0)) throw new MnemoError("BAD_INPUT", `quantize: the layer norm's eps must be a finite number >= 0, got ${norm.eps}.`);
    requireBytes("quantize", "gamma", norm.gamma, K * 4);
    requireBytes("quantize", "beta", norm.beta, K * 4);
    if (norm.out) requireBytes("quantize", "norm.out", norm.out, M * K * 4);
  }
  // LN: a workgroup or an invocation per row; otherwise an invocation per block.
  const likeGemv = norm ? a.statsWorkgroupSize : undefined;
  const perRow = !!norm && likeGemv === undefined && (a.lnVariant ?? (gpu.adapter.isSoftware ? "per-row" : "workgroup")) === "per-row";
  const { workgroups, groupsX } = norm && !perRow ? grid1d(gpu, M, 1) : grid1d(gpu, perRow ? M : (M * K) / QK, QUANTIZE_WG);
  return makeDispatch(gpu, {
    kernel: norm ? "ln_quantize_i8" : "quantize_i8",
    layer: a.layer,
    pipeline: { file: "quantize", defines: { LN: !!norm, LN_OUT: !!norm?.out, LN_PER_ROW: perRow }, constants: { WG: likeGemv ?? QUANTIZE_WG } },
    bindings: [a.x, a.xq, a.xs, norm?.gamma, norm?.beta, norm?.out],
    params: paramWords([M, K, rowOffset * K, { f32: norm?.eps ?? 0 }, groupsX]),
    workgroups,
    flops: 4 * M * K,
    bytes: M * K * (4 + 1) + bytes.xs + (norm ? 8 * K + (norm.out ? 4 * M * K : 0) : 0),
  });
}

/** What {@link gemvI8} (one row) and {@link matmulI8} (M rows) take besides their activations. */
export interface MatmulI8Common {
  /** Q8_0 or Q4_0 weights [N, K] in the planes layout (src/kernels/weights.ts). */
  w: GpuTensor;
  bias?: GPUBuffer;
  /** f32 [M, N] added after the epilogue; must not be `out`. */
  residual?: GPUBuffer;
  out: GPUBuffer;
  epilogue?: "none" | "gelu" | "gelu_erf" | "tanh";
  /** GPT-2's fused QKV rows: also write k and v into the cache (as matmul's `kvCache`). */
  kvCache?: FusedKvWrite;
  /** As matmul's: this dispatch's columns in a wider output (a part of a split matrix). */
  outColumns?: OutColumns;
  /** Use `dot4I8Packed`; default where the adapter has it. */
  dot4?: boolean;
  layer?: number;
}

/** Arguments of {@link gemvI8}: one f32 row, quantized by the kernel. */
export interface GemvI8Args extends MatmulI8Common {
  /** f32 [K]: the row (row `xRowOffset` of x). */
  x: GPUBuffer;
  /** Rows of `x` to skip (a prefill's LM head reads only the last row). */
  xRowOffset?: number;
  /** Layer-normalise the row before quantizing it (matmul's fused layer norm; `grid` is not used). */
  norm?: Omit<FusedLayerNorm, "grid">;
  /** Default "rows4". */
  shape?: GemvI8Shape;
}

/** Arguments of {@link matmulI8}: M rows already quantized. */
export interface TiledI8Args extends MatmulI8Common {
  /** The rows' int8 activations and scales from {@link quantizeActivations}. */
  xq: GPUBuffer;
  xs: GPUBuffer;
  /** Rows of activations (2 or more; one row is {@link gemvI8}'s). */
  M: number;
}

/** What decides an int8 matmul's bindings: its optional inputs, and for one row its layer norm. */
interface I8Bindings {
  bias?: unknown;
  residual?: unknown;
  kvCache?: unknown;
  /** One row (gemvI8): x in place of xq and xs, and the layer norm's gamma, beta (and out). */
  row?: { norm?: { out?: unknown } };
}

/** Storage buffers an int8 matmul binds: wq, ws, out, xq and xs (or one row's x), and the optional ones. */
function storageBuffers(a: I8Bindings): number {
  const activations = a.row ? 1 + (a.row.norm ? 2 + Number(!!a.row.norm.out) : 0) : 2;
  return 3 + activations + Number(!!a.bias) + Number(!!a.residual) + (a.kvCache ? 3 : 0);
}

/** Workgroup memory a one-row shape takes for a row of K: its quants and scales, and the layer norm's slices. */
function gemvI8WorkgroupBytes(K: number, wg: number, norm: boolean): number {
  return K + (K / QK) * 4 + (norm ? 8 * wg : 0);
}

/**
 * Whether this adapter can bind an int8 matmul with these options (maxStorageBuffersPerShaderStage)
 * and, for one row of K (`row`), hold it in workgroup memory.
 */
export function canRunGemvI8(gpu: Gpu, a: { bias?: boolean; residual?: boolean; kvCache?: boolean; row?: { K: number; norm?: { out?: boolean } } }): boolean {
  const fitsRow = !a.row || gemvI8WorkgroupBytes(a.row.K, Math.max(COOP_WG, gpu.adapter.subgroupSizes?.max ?? 0), !!a.row.norm) <= gpu.limits.maxComputeWorkgroupStorageSize;
  return fitsRow && storageBuffers(a) <= gpu.limits.maxStorageBuffersPerShaderStage;
}

function checkI8(gpu: Gpu, kernel: string, a: GemvI8Args | TiledI8Args, M: number, N: number, K: number, cols: OutColumns, shape?: GemvI8Shape): void {
  if (a.w.dtype !== "q8_0" && a.w.dtype !== "q4_0") throw new MnemoError("UNSUPPORTED_FEATURE", `${kernel}: weights must be q8_0 or q4_0, got ${a.w.dtype}.`);
  requireDims(kernel, { M, N, K });
  if ("x" in a) {
    requireBytes(kernel, "x", a.x, ((a.xRowOffset ?? 0) + 1) * K * 4);
    // Every workgroup reads the whole row while others write: none of the outputs may be it.
    if (a.x === a.out || a.x === a.norm?.out) throw new MnemoError("BAD_INPUT", `${kernel}: x must not be out or norm.out.`);
    if (a.norm) {
      if (!(Number.isFinite(a.norm.eps) && a.norm.eps >= 0)) throw new MnemoError("BAD_INPUT", `${kernel}: the layer norm's eps must be a finite number >= 0, got ${a.norm.eps}.`);
      requireBytes(kernel, "gamma", a.norm.gamma, K * 4);
      requireBytes(kernel, "beta", a.norm.beta, K * 4);
      if (a.norm.out) requireBytes(kernel, "norm.out", a.norm.out, K * 4);
    }
  } else {
    const bytes = int8ActivationBytes(M, K);
    requireBytes(kernel, "xq", a.xq, bytes.xq);
    requireBytes(kernel, "xs", a.xs, bytes.xs);
  }
  requireBytes(kernel, "out", a.out, M * cols.total * 4);
  if (a.bias) requireBytes(kernel, "bias", a.bias, cols.total * 4);
  if (a.kvCache && cols.total !== N) throw new MnemoError("BAD_INPUT", `${kernel}: a fused KV-cache write needs the whole output (no outColumns).`);
  if (a.residual) {
    requireBytes(kernel, "residual", a.residual, M * cols.total * 4);
    if (a.residual === a.out) throw new MnemoError("BAD_INPUT", `${kernel}: residual and out must be different buffers.`);
  }
  if (shape === "coop-subgroup" && !gpu.features.has("subgroups")) throw new MnemoError("UNSUPPORTED_FEATURE", `${kernel}: the coop-subgroup shape needs the adapter's \`subgroups\` feature.`);
  if (a.dot4 && !hasDot4(gpu)) throw new MnemoError("UNSUPPORTED_FEATURE", `${kernel}: this adapter's WGSL has no packed_4x8_integer_dot_product.`);
  const kv = a.kvCache;
  if (kv) {
    const D = N / 3;
    if (!Number.isInteger(D) || D % kv.headDim !== 0) throw new MnemoError("SHAPE_MISMATCH", `${kernel}: a KV-cache write needs N = 3 · nHead · headDim, got N = ${N} with headDim ${kv.headDim}.`);
    if (kv.cacheType === "f16" && kv.headDim % 2 !== 0) throw new MnemoError("UNSUPPORTED_MODEL", `${kernel}: an f16 cache needs an even head dimension.`);
    requireBytes(kernel, "positions", kv.positions, M * 4);
    const cache = kvCacheBytes(D / kv.headDim, kv.nCtx, kv.headDim, kv.cacheType);
    requireBytes(kernel, "kCache", kv.kCache, cache);
    requireBytes(kernel, "vCache", kv.vCache, cache);
  }
  const n = storageBuffers({ ...a, row: "x" in a ? { norm: a.norm } : undefined });
  if (n > gpu.limits.maxStorageBuffersPerShaderStage) {
    throw new MnemoError("UNSUPPORTED_FEATURE", `${kernel}: this variant binds ${n} storage buffers; the adapter allows ${gpu.limits.maxStorageBuffersPerShaderStage}.`);
  }
}

/** The workgroup size of a one-row int8 GEMV of `shape` (its row statistics are taken over it). */
export function gemvI8WorkgroupSize(gpu: Gpu, shape: GemvI8Shape): number {
  return gemvI8Grid(gpu, shape, 4).wg;
}

/** Workgroup size and count for a one-row shape: every shape covers ceil(N / 4) row quads. */
function gemvI8Grid(gpu: Gpu, shape: GemvI8Shape, N: number): { wg: number; groups: number } {
  const quads = Math.ceil(N / 4);
  // Few invocations looping over the quads: every one of a 4-invocation group with a barrier
  // is a coroutine on SwiftShader (FEW_WG), and this is its shape.
  if (shape === "rows4") return { wg: FEW_WG, groups: Math.min(FEW_GROUPS, Math.ceil(quads / FEW_WG)) };
  if (shape === "coop-workgroup") return { wg: COOP_WG, groups: quads };
  // Teams are subgroups; sized for the largest subgroup the adapter may run (teams loop over
  // quads, so a smaller subgroup is still covered, with some teams idle).
  const wg = Math.max(COOP_WG, gpu.adapter.subgroupSizes?.max ?? 0);
  const teamSize = gpu.adapter.subgroupSizes?.max ?? 32;
  return { wg, groups: Math.ceil(quads / Math.max(1, wg / teamSize)) };
}

/** Rows of x per invocation of the tiled path: the fewest of 2, 4, 8 that hold M (up to 8). */
function tileRows(M: number): number {
  return M <= 2 ? 2 : M <= 4 ? 4 : 8;
}

/**
 * out[N] = epilogue(q(x) · wᵀ (int8 dot products, scaled per block) + bias) + residual for one
 * f32 row x (decode), q(x) its int8 quantization (of LayerNorm(x) with `norm`), taken by each
 * workgroup in workgroup memory. Q8_0 / Q4_0 weights only.
 */
export function gemvI8(gpu: Gpu, a: GemvI8Args): KernelDispatch {
  return i8Dispatch(gpu, a, 1, a.shape ?? "rows4");
}

/**
 * out[M, N] = epilogue(xq · wᵀ + bias) + residual for M >= 2 rows (prefill, verification):
 * an invocation per 2, 4 or 8 rows by four columns. Q8_0 / Q4_0 weights only.
 */
export function matmulI8(gpu: Gpu, a: TiledI8Args): KernelDispatch {
  if (!(Number.isInteger(a.M) && a.M >= 2)) throw new MnemoError("BAD_INPUT", `matmulI8: M must be an integer >= 2 (one row is gemvI8's), got ${a.M}.`);
  return i8Dispatch(gpu, a, a.M);
}

/** One int8 matmul dispatch: one row in `shape`, or M rows as tiles (`shape` undefined). */
function i8Dispatch(gpu: Gpu, a: GemvI8Args | TiledI8Args, M: number, shape?: GemvI8Shape): KernelDispatch {
  const { w } = a;
  const kernel = shape ? "gemvI8" : "matmulI8";
  if (w.shape.length !== 2) throw new MnemoError("SHAPE_MISMATCH", `${kernel}: ${w.label} is not a matrix.`);
  const [N, K] = w.shape;
  const dot4 = a.dot4 ?? hasDot4(gpu);
  const cols = outColumnsOf(kernel, a, N);
  checkI8(gpu, kernel, a, M, N, K, cols, shape);
  const row = "x" in a ? a : undefined;
  const norm = row?.norm;
  const dtype = w.dtype as "q8_0" | "q4_0";
  const planeOffset = scalePlaneOffset(dtype, N, K);
  const kv = a.kvCache;
  const tm = shape ? 1 : tileRows(M);
  const { wg, groups } = shape ? gemvI8Grid(gpu, shape, N) : { wg: TILE_WG, groups: Math.ceil(Math.ceil(N / 4) / TILE_WG) };
  if (shape && gemvI8WorkgroupBytes(K, wg, !!norm) > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new MnemoError(
      "UNSUPPORTED_FEATURE",
      `${kernel}: a row of ${K} needs ${gemvI8WorkgroupBytes(K, wg, !!norm)} bytes of workgroup memory; the adapter has ${gpu.limits.maxComputeWorkgroupStorageSize}.`,
    );
  }
  const { workgroups, groupsX } = grid1d(gpu, groups * wg, wg);
  const bindings: (Binding | undefined)[] = [
    row ? row.x : (a as TiledI8Args).xq,
    { buffer: w.buffer, offset: 0, size: planeOffset },
    a.bias,
    a.residual,
    a.out,
    { buffer: w.buffer, offset: planeOffset, size: ((N * K) / QK) * 4 },
    row ? undefined : (a as TiledI8Args).xs,
    undefined,
    kv?.positions,
    kv?.kCache,
    kv?.vCache,
    undefined,
    norm?.gamma,
    norm?.beta,
    norm?.out,
  ];
  const activationBytes = row ? K * 4 + (norm ? 8 * K + (norm.out ? 4 * K : 0) : 0) : M * (K + (K / QK) * 4);
  return makeDispatch(gpu, {
    kernel: `${shape ? `gemv_i8_${shape}` : "matmul_i8_tiled"}_${dtype}${kv ? "_kv" : ""}`,
    layer: a.layer,
    pipeline: {
      file: "matmul_i8",
      defines: {
        W_Q8_0: dtype === "q8_0",
        DP4: dot4,
        TILE: !shape,
        COOP: !!shape && shape !== "rows4",
        SUBGROUPS: shape === "coop-subgroup",
        LN: !!norm,
        LN_OUT: !!norm?.out,
        ...epilogueDefines(a),
      },
      constants: shape ? { WG: wg, KCHUNKS: K / 16, KBLOCKS: K / QK } : { WG: wg, TM: tm },
    },
    bindings,
    params: paramWords([M, N, K, groupsX, (row?.xRowOffset ?? 0) * K, { f32: norm?.eps ?? 0 }, kv?.headDim ?? 0, kv?.nCtx ?? 0, cols.total, cols.offset]),
    workgroups: [workgroups[0], workgroups[1], Math.ceil(M / tm)],
    flops: 2 * M * N * K,
    bytes: w.byteSize + activationBytes + 4 * M * N * (a.residual ? 2 : 1) + (kv ? (8 * M * N) / 3 : 0),
  });
}
