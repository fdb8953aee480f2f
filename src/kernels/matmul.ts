import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type Binding, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { kvCacheBytes, type KvCacheType } from "./attention.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 64;
/** The prefill tile: rows x columns of `out` per invocation (K % 4 == 0). */
const TILE_M = 16;
const TILE_N = 4;
/** Workgroup size of the decode GEMV: more, smaller workgroups spread N / 4 invocations better. */
const GEMV_WG = 32;
/** Rows per invocation on the scalar many-rows path (K % 4 != 0). */
const SCALAR_ROWS = 4;
/**
 * The "few" grid of a GEMV with a fused layer norm: 16 workgroups of 4 invocations that loop
 * over the columns. SwiftShader runs at most 16 workgroups of a dispatch at once, and runs
 * every 4-invocation subgroup of a workgroup with a barrier as a coroutine of its own (some
 * microseconds each: the LM head's 12 565 invocations lost 10+ ms per step to it).
 */
export const FEW_WG = 4;
export const FEW_GROUPS = 16;

/** A layer norm fused in front of a one-row matmul (see {@link MatmulArgs.norm}). */
export interface FusedLayerNorm {
  /** f32 [K]. */
  gamma: GPUBuffer;
  /** f32 [K]. */
  beta: GPUBuffer;
  /** Added to the variance; GPT-2 uses 1e-5. */
  eps: number;
  /** f32 [K]: also receives the normalised row (GPT-2's hidden state after ln_f). */
  out?: GPUBuffer;
  /**
   * "wide": the GEMV's usual grid, a workgroup of 32 invocations per 128 columns (hardware
   * GPUs); "few": 16 workgroups of 4 invocations looping over the columns (software
   * adapters, see FEW_WG). Default: by the adapter; tests run both.
   */
  grid?: "wide" | "few";
}

/** A KV-cache write fused into the QKV matmul's epilogue (see {@link MatmulArgs.kvCache}). */
export interface FusedKvWrite {
  /** u32 [M]: the absolute position of each row; rows at nCtx or beyond are not cached. */
  positions: GPUBuffer;
  /** One layer's caches, [nHead, nCtx, headDim] each (the layout `kvWrite` writes). */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  headDim: number;
  nCtx: number;
  cacheType?: KvCacheType;
}

/** Arguments of {@link matmul}. */
export interface MatmulArgs {
  /** f32 activations [M, K] (starting at row `xRowOffset`). */
  x: GPUBuffer;
  /** Rows of `x` to skip (the LM head of a prefill reads only the last row). */
  xRowOffset?: number;
  /** Weights [N, K] in any GPU layout of src/kernels/weights.ts. */
  w: GpuTensor;
  /** f32 [N], added to every row. */
  bias?: GPUBuffer;
  /** f32 [M, N] added after the epilogue (a residual connection); must not be `out`. */
  residual?: GPUBuffer;
  /** f32 [M, N]. */
  out: GPUBuffer;
  M: number;
  /**
   * Applied to (x·wᵀ + bias): "gelu" GPT-2's tanh GELU, "gelu_erf" BERT's erf GELU, "tanh"
   * (BERT's pooler).
   */
  epilogue?: "none" | "gelu" | "gelu_erf" | "tanh";
  /**
   * M = 1 only: multiply LayerNorm(x) instead of x, with the statistics of `layerNorm`
   * (src/kernels/layernorm.ts): one dispatch instead of two; every workgroup normalises the
   * row for itself.
   */
  norm?: FusedLayerNorm;
  /**
   * `out` rows are GPT-2's fused [q | k | v] (N = 3 · nHead · headDim): also write the k and
   * v columns into the cache, exactly where `kvWrite` (src/kernels/attention.ts) would.
   * Check {@link canFuseKvWrite} first.
   */
  kvCache?: FusedKvWrite;
  /**
   * Write columns `offset ..` of `out` rows `total` wide (bias and residual indexed alike):
   * one part of a matrix split by rows (see {@link matmulDispatches}). Default: all of out.
   */
  outColumns?: OutColumns;
  layer?: number;
}

/** Where a dispatch's N columns go in a wider output (see {@link MatmulArgs.outColumns}). */
export interface OutColumns {
  offset: number;
  total: number;
}

/**
 * Whether {@link matmul} can write the KV cache in its epilogue (`kvCache`) for this shape
 * on this device; otherwise run `kvWrite` (src/kernels/attention.ts) after the matmul. An f16
 * cache word is a column pair, which only the four-column paths own (K % 4 == 0); and the
 * variant's storage buffers (x, w, out, positions, kCache, vCache, plus bias and the layer
 * norm's gamma and beta) must fit maxStorageBuffersPerShaderStage: with a fused layer norm
 * that is 9, one above WebGPU's default limit of 8 (SwiftShader has 12, Chrome usually 10).
 */
export function canFuseKvWrite(gpu: Gpu, a: { K: number; cacheType?: KvCacheType; bias?: boolean; norm?: boolean }): boolean {
  if (a.cacheType === "f16" && a.K % 4 !== 0) return false;
  const buffers = 6 + Number(!!a.bias) + (a.norm ? 2 : 0);
  return buffers <= gpu.limits.maxStorageBuffersPerShaderStage;
}

/** The output columns of a dispatch with N weight rows, checked. */
export function outColumnsOf(kernel: string, a: { outColumns?: OutColumns; w: GpuTensor }, N: number): OutColumns {
  if (a.w.parts) throw new MnemoError("INTERNAL", `${kernel}: ${a.w.label} is split across ${a.w.parts.length} buffers; use matmulDispatches.`);
  const c = a.outColumns ?? { offset: 0, total: N };
  if (!Number.isInteger(c.offset) || c.offset < 0 || c.offset + N > c.total) {
    throw new MnemoError("SHAPE_MISMATCH", `${kernel}: columns ${c.offset}..${c.offset + N} do not fit an output ${c.total} wide.`);
  }
  return c;
}

/**
 * The checks every f32-activation matmul kernel makes of its arguments (shapes, buffer sizes,
 * the fused KV write, the adapter's storage-buffer limit); its N, K and output columns.
 */
export function checkMatmul(gpu: Gpu, kernel: string, args: MatmulArgs): { N: number; K: number; cols: OutColumns } {
  const { w, kvCache } = args;
  if (w.shape.length !== 2) throw new MnemoError("SHAPE_MISMATCH", `${kernel}: ${w.label} is not a matrix.`);
  const [N, K] = w.shape;
  const cols = outColumnsOf(kernel, args, N);
  checkInputs(args, N, K, cols);
  if (kvCache && cols.total !== N) throw new MnemoError("BAD_INPUT", `${kernel}: a fused KV-cache write needs the whole output (no outColumns).`);
  if (kvCache) checkKvCache(gpu, kvCache, args, N, K);
  const storageBuffers = matmulBindings(args).filter((b) => b).length;
  if (storageBuffers > gpu.limits.maxStorageBuffersPerShaderStage) {
    throw new MnemoError("UNSUPPORTED_FEATURE", `${kernel}: this variant binds ${storageBuffers} storage buffers; the adapter allows ${gpu.limits.maxStorageBuffersPerShaderStage}.`);
  }
  return { N, K, cols };
}

function checkInputs(args: MatmulArgs, N: number, K: number, cols: OutColumns): void {
  const { x, out, M } = args;
  requireDims("matmul", { M, N, K });
  requireBytes("matmul", "x", x, ((args.xRowOffset ?? 0) + M) * K * 4);
  requireBytes("matmul", "out", out, M * cols.total * 4);
  if (args.bias) requireBytes("matmul", "bias", args.bias, cols.total * 4);
  if (args.residual) {
    requireBytes("matmul", "residual", args.residual, M * cols.total * 4);
    if (args.residual === out) throw new MnemoError("BAD_INPUT", "matmul: residual and out must be different buffers.");
  }
  if (x === out) throw new MnemoError("BAD_INPUT", "matmul: x and out must be different buffers.");
}

function checkNorm(gpu: Gpu, norm: FusedLayerNorm, args: MatmulArgs, K: number, wg: number): void {
  if (args.M !== 1) throw new MnemoError("BAD_INPUT", `matmul: a fused layer norm needs M = 1 (one row), got M = ${args.M}.`);
  if (!(Number.isFinite(norm.eps) && norm.eps >= 0)) {
    throw new MnemoError("BAD_INPUT", `matmul: the layer norm's eps must be a finite number >= 0, got ${norm.eps}.`);
  }
  requireBytes("matmul", "gamma", norm.gamma, K * 4);
  requireBytes("matmul", "beta", norm.beta, K * 4);
  if (norm.out) {
    requireBytes("matmul", "norm.out", norm.out, K * 4);
    if (norm.out === args.x) throw new MnemoError("BAD_INPUT", "matmul: norm.out and x must be different buffers.");
  }
  // The normalised row and two partial sums per invocation.
  const bytes = 4 * (K + 2 * wg);
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  if (bytes > limit) {
    throw new MnemoError("TOO_LARGE", `matmul: a fused layer norm of ${K} values needs ${bytes} bytes of workgroup memory; this adapter has ${limit}.`);
  }
}

function checkKvCache(gpu: Gpu, kv: FusedKvWrite, args: MatmulArgs, N: number, K: number): void {
  requireDims("matmul", { headDim: kv.headDim, nCtx: kv.nCtx });
  const D = N / 3;
  if (!Number.isInteger(D) || D % kv.headDim !== 0) {
    throw new MnemoError("SHAPE_MISMATCH", `matmul: a KV-cache write needs N = 3 · nHead · headDim, got N = ${N} with headDim ${kv.headDim}.`);
  }
  if (kv.cacheType === "f16" && kv.headDim % 2 !== 0) {
    throw new MnemoError("UNSUPPORTED_MODEL", "matmul: an f16 cache needs an even head dimension.");
  }
  if (!canFuseKvWrite(gpu, { K, cacheType: kv.cacheType, bias: !!args.bias, norm: !!args.norm })) {
    throw new MnemoError("UNSUPPORTED_FEATURE", "matmul: this adapter or shape cannot write the KV cache in the matmul (see canFuseKvWrite); use kvWrite.");
  }
  requireBytes("matmul", "positions", kv.positions, args.M * 4);
  const cache = kvCacheBytes(D / kv.headDim, kv.nCtx, kv.headDim, kv.cacheType);
  requireBytes("matmul", "kCache", kv.kCache, cache);
  requireBytes("matmul", "vCache", kv.vCache, cache);
}

/** Which code path of shaders/matmul.wgsl a shape takes, and its grid. */
interface MatmulPlan {
  /** Many rows with K % 4 == 0: register tiles of `tm` x 4 (tm = 2, 4 or 8: the fewest rows that hold M, up to 8). */
  tile: boolean;
  /** One row with K % 4 == 0: four columns per invocation. Neither: the scalar path. */
  gemv4: boolean;
  /** Rows per invocation. */
  tm: number;
  wg: number;
  /** Invocations along the columns (each four of them, or one on the scalar path). */
  invocations: number;
}

/** Rows of the register tile for M rows: a 2- or 4-row tile for a few rows (a verification step), else 16. */
function tileRows(M: number): number {
  return M <= 2 ? 2 : M <= 4 ? 4 : TILE_M;
}

function planMatmul(gpu: Gpu, args: MatmulArgs, N: number, K: number): MatmulPlan {
  const M = args.M;
  // Many rows with K % 4 == 0: 16 x 4 register tiles, an invocation per four columns. On
  // SwiftShader the 8 x 4 tile was 2.5x the 1 x 4 one (fewer loads per multiply-add), and
  // 16 x 4 with one f32 accumulator per output 1.2x that (shaders/matmul.wgsl).
  const tile = M > 1 && K % 4 === 0;
  // One row (decode) with K % 4 == 0: four columns per invocation in smaller workgroups
  // (1.6x the one-column GEMV on SwiftShader: each activation load serves four rows of W).
  const gemv4 = M === 1 && K % 4 === 0;
  const tm = M === 1 ? 1 : tile ? tileRows(M) : SCALAR_ROWS;
  const columnInvocations = tile || gemv4 ? Math.ceil(N / TILE_N) : N;
  const norm = args.norm;
  if (norm && (norm.grid ?? (gpu.adapter.isSoftware ? "few" : "wide")) === "few") {
    return { tile, gemv4, tm, wg: FEW_WG, invocations: Math.min(columnInvocations, FEW_WG * FEW_GROUPS) };
  }
  return { tile, gemv4, tm, wg: gemv4 ? GEMV_WG : WG, invocations: columnInvocations };
}

/**
 * out[M, N] = epilogue(x[M, K] · w[N, K]ᵀ + bias) + residual. GEMV (M = 1): four output
 * columns per invocation; prefill (M > 1): a 16 x 4 tile of out per invocation (2 x 4 or 4 x 4
 * for M <= 4);
 * dequantizing q8_0 / q4_0 / f16 weights in registers. Optionally fused: a layer norm of
 * the row in front (`norm`, M = 1), a KV-cache write behind (`kvCache`).
 */
export function matmul(gpu: Gpu, args: MatmulArgs): KernelDispatch {
  const { w, M, norm, kvCache } = args;
  const { N, K, cols } = checkMatmul(gpu, "matmul", args);
  const plan = planMatmul(gpu, args, N, K);
  if (norm) checkNorm(gpu, norm, args, K, plan.wg);
  const bindings = matmulBindings(args);
  const { workgroups, groupsX } = grid1d(gpu, plan.invocations, plan.wg);
  const constants: Record<string, number> = { WG: plan.wg, TM: plan.tm };
  // The normalised row in workgroup memory, in entries of the path's loads.
  if (norm) constants.XN = K % 4 === 0 ? K / 4 : K;
  const xOffset = (args.xRowOffset ?? 0) * K;
  return makeDispatch(gpu, {
    kernel: `${norm ? "ln_" : ""}matmul_${M === 1 ? "gemv" : "tiled"}_${w.dtype}${kvCache ? "_kv" : ""}`,
    layer: args.layer,
    pipeline: { file: "matmul", defines: shaderDefines(args, plan, K), constants },
    bindings,
    params: paramWords([M, N, K, groupsX, xOffset, { f32: norm?.eps ?? 0 }, kvCache?.headDim ?? 0, kvCache?.nCtx ?? 0, cols.total, cols.offset]),
    workgroups: [workgroups[0], workgroups[1], Math.ceil(M / plan.tm)],
    flops: 2 * M * N * K + (norm ? 8 * K : 0),
    bytes: w.byteSize + 4 * (M * K + M * N * (args.residual ? 2 : 1)) + (norm ? 8 * K : 0) + (kvCache ? (8 * M * N) / 3 : 0),
  });
}

/**
 * {@link matmul} for any matrix, one dispatch per part of a matrix split by rows across
 * buffers (too large for one binding: see src/kernels/weights.ts), each writing its columns.
 */
export function matmulDispatches(gpu: Gpu, args: MatmulArgs): KernelDispatch[] {
  return rowParts(args).map((a) => matmul(gpu, a));
}

/** `args` once per part of a split matrix (its columns placed by outColumns), or as it is. */
export function rowParts<T extends { w: GpuTensor; outColumns?: OutColumns }>(args: T): T[] {
  const parts = args.w.parts;
  if (!parts) return [args];
  const total = args.w.shape[0];
  let offset = 0;
  return parts.map((w) => {
    const a = { ...args, w, outColumns: { offset, total } };
    offset += w.shape[0];
    return a;
  });
}

/** The weight layout's `#if` switches (shaders/common/weight4.wgsl and the matmul kernels). */
export function weightDefines(dtype: string): Record<string, boolean> {
  return { W_F32: dtype === "f32", W_F16: dtype === "f16", W_Q8_0: dtype === "q8_0", W_Q4_0: dtype === "q4_0", W_QUANT: dtype === "q8_0" || dtype === "q4_0" };
}

/** The `#if` switches of common/matmul_io and common/matmul_epilogue for these options. */
export function epilogueDefines(a: { bias?: unknown; residual?: unknown; epilogue?: MatmulArgs["epilogue"]; kvCache?: FusedKvWrite }): Record<string, boolean> {
  return {
    HAS_BIAS: !!a.bias,
    HAS_RESIDUAL: !!a.residual,
    GELU: a.epilogue === "gelu",
    GELU_ERF: a.epilogue === "gelu_erf",
    TANH: a.epilogue === "tanh",
    KV_WRITE: !!a.kvCache,
    KV_F16: a.kvCache?.cacheType === "f16",
  };
}

/** The `#if` switches of shaders/matmul.wgsl (every name must be given). */
function shaderDefines(a: MatmulArgs, plan: MatmulPlan, K: number): Record<string, boolean> {
  return {
    ...weightDefines(a.w.dtype),
    ...epilogueDefines(a),
    // Vectorised path whenever K is a multiple of 4 (rows then start 16-byte aligned);
    // always for q8_0/q4_0, whose rows are whole blocks of 32.
    VEC4: K % 4 === 0,
    TILE: plan.tile && plan.tm === TILE_M,
    TILE4: plan.tile && plan.tm === 4,
    TILE2: plan.tile && plan.tm === 2,
    GEMV4: plan.gemv4,
    LN: !!a.norm,
    LN_OUT: !!a.norm?.out,
  };
}

/** The bindings by role number (shaders/matmul.wgsl, gemm.wgsl); what a variant does not use is a hole. */
export function matmulBindings(a: MatmulArgs): (Binding | undefined)[] {
  return [a.x, a.w.buffer, a.bias, a.residual, a.out, a.norm?.gamma, a.norm?.beta, a.norm?.out, a.kvCache?.positions, a.kvCache?.kCache, a.kvCache?.vCache];
}
