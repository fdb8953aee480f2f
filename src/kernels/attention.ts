import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 64;
/** Largest head dimension the attention kernel keeps in registers. */
export const MAX_HEAD_DIM = 128;
/** Keys per chunk of the split (decode) path unless the caller says otherwise. */
export const DEFAULT_SPLIT_CHUNK = 32;

/** Element type of a KV cache. */
export type KvCacheType = "f32" | "f16";

/** Shapes shared by the KV-cache kernels. */
export interface AttentionShape {
  /** Fused QKV activation f32 [M, 3 * nHead * headDim]. */
  qkv: GPUBuffer;
  /** u32 [M]: absolute position of each row. */
  positions: GPUBuffer;
  /** One layer's caches, [nHead, nCtx, headDim] each. */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  M: number;
  nHead: number;
  headDim: number;
  nCtx: number;
  cacheType?: KvCacheType;
  layer?: number;
}

/** Arguments of the attention kernels: the shape plus the output f32 [M, nHead * headDim]. */
export interface AttentionArgs extends AttentionShape {
  out: GPUBuffer;
  /**
   * Deepest position this dispatch list will see, for the planned flops/bytes only (the
   * kernel reads the real positions from the GPU buffer). Defaults to nCtx.
   */
  maxPosition?: number;
  /**
   * Query rows per invocation of the one-pass kernel: 2 (head dimension 64 only) shares each
   * key and value load between two rows. Default 1.
   */
  queryRows?: 1 | 2;
}

/** Which attention code path to use; see {@link attentionDispatches}. */
export type AttentionVariant = "rows" | "split" | "auto";

/** Bytes of one layer's K (or V) cache. */
export function kvCacheBytes(nHead: number, nCtx: number, headDim: number, cacheType: KvCacheType = "f32"): number {
  return nHead * nCtx * headDim * (cacheType === "f16" ? 2 : 4);
}

function checkShape(kernel: string, a: AttentionShape): void {
  requireDims(kernel, { M: a.M, nHead: a.nHead, headDim: a.headDim, nCtx: a.nCtx });
  if (a.headDim > MAX_HEAD_DIM) throw new MnemoError("UNSUPPORTED_MODEL", `${kernel}: head dimension ${a.headDim} exceeds ${MAX_HEAD_DIM}.`);
  if (a.cacheType === "f16" && a.headDim % 2 !== 0) throw new MnemoError("UNSUPPORTED_MODEL", `${kernel}: an f16 cache needs an even head dimension.`);
  const D = a.nHead * a.headDim;
  requireBytes(kernel, "qkv", a.qkv, a.M * 3 * D * 4);
  requireBytes(kernel, "positions", a.positions, a.M * 4);
  const cache = kvCacheBytes(a.nHead, a.nCtx, a.headDim, a.cacheType);
  requireBytes(kernel, "kCache", a.kCache, cache);
  requireBytes(kernel, "vCache", a.vCache, cache);
}

/**
 * Copies the K and V parts of each qkv row into the cache at that row's position. GPT-2
 * plans write the cache in the QKV matmul's epilogue instead (`kvCache` of matmul) wherever
 * `canFuseKvWrite` allows; this kernel is the fallback and the oracle of that epilogue.
 */
export function kvWrite(gpu: Gpu, a: AttentionShape): KernelDispatch {
  checkShape("kvWrite", a);
  const f16 = a.cacheType === "f16";
  const D = a.nHead * a.headDim;
  const perRow = f16 ? D / 2 : D;
  const { workgroups, groupsX } = grid1d(gpu, a.M * perRow, WG);
  return makeDispatch(gpu, {
    kernel: `kv_write_${a.cacheType ?? "f32"}`,
    layer: a.layer,
    pipeline: { file: "kv_cache", defines: { CACHE_F16: f16 }, constants: { WG } },
    bindings: [a.qkv, a.positions, a.kCache, a.vCache],
    params: paramWords([a.M, a.nHead, a.headDim, a.nCtx, groupsX]),
    workgroups,
    flops: 0,
    bytes: a.M * D * (8 + (f16 ? 4 : 8)),
  });
}

/** The `#if` switches of shaders/attention.wgsl (every name must be given). */
function shaderDefines(a: AttentionShape, stage: "rows" | "split" | "reduce", queryRows: 1 | 2 = 1): Record<string, boolean> {
  return {
    HD64_ROWS2: queryRows === 2,
    REDUCE: stage === "reduce",
    SPLIT: stage === "split",
    HEAD_VEC4: a.headDim % 4 === 0,
    HD_LE_64: a.headDim <= 64,
    HD64: a.headDim === 64 && stage !== "reduce",
    CACHE_F16: a.cacheType === "f16",
  };
}

/** Planned QKᵀ + PV flops and cache bytes read, at the deepest position reachable. */
function plannedCost(a: AttentionArgs): { flops: number; bytes: number } {
  const D = a.nHead * a.headDim;
  const keys = Math.min(a.nCtx, a.maxPosition ?? a.nCtx);
  const cacheElem = a.cacheType === "f16" ? 2 : 4;
  return { flops: 4 * a.M * keys * D, bytes: 2 * a.M * keys * D * cacheElem + 8 * a.M * D };
}

function attentionParams(a: AttentionShape, groupsX: number, nChunks: number, chunk: number): Uint32Array {
  return paramWords([a.M, a.nHead, a.headDim, a.nCtx, { f32: 1 / Math.sqrt(a.headDim) }, groupsX, nChunks, chunk]);
}

/**
 * Causal attention in one dispatch: query row m attends to cache positions
 * 0..positions[m]. One invocation per (row, head) walks all its keys with an online
 * softmax — the prefill path (many rows keep the GPU busy). Run after {@link kvWrite} of
 * the same rows. Writes f32 [M, nHead * headDim].
 */
export function attention(gpu: Gpu, a: AttentionArgs): KernelDispatch {
  checkShape("attention", a);
  requireBytes("attention", "out", a.out, a.M * a.nHead * a.headDim * 4);
  const queryRows = a.queryRows ?? 1;
  if (queryRows !== 1 && !(queryRows === 2 && a.headDim === 64))
    throw new MnemoError("BAD_INPUT", `attention: ${queryRows} query rows per invocation need head dimension 64 (and 1 or 2 rows), got head dimension ${a.headDim}.`);
  const { workgroups, groupsX } = grid1d(gpu, Math.ceil(a.M / queryRows) * a.nHead, WG);
  return makeDispatch(gpu, {
    kernel: `attention_${queryRows === 2 ? "rows2_" : ""}${a.cacheType ?? "f32"}`,
    layer: a.layer,
    pipeline: { file: "attention", defines: shaderDefines(a, "rows", queryRows), constants: { WG } },
    bindings: [a.qkv, a.positions, a.kCache, a.vCache, a.out],
    params: attentionParams(a, groupsX, 1, a.nCtx),
    workgroups,
    ...plannedCost(a),
  });
}

/**
 * Causal attention split across the key sequence (flash-decoding): dispatch 1 runs one
 * invocation per (row, head, chunk of `chunk` keys) and writes partial softmax states to a
 * scratch buffer; dispatch 2 combines them. For decode, where M * nHead alone is far too
 * few invocations to fill a GPU. The scratch buffer is owned by the first dispatch and
 * freed by `releaseDispatches`. Same contract as {@link attention}.
 */
export function attentionSplit(gpu: Gpu, a: AttentionArgs & { chunk?: number }): KernelDispatch[] {
  checkShape("attention", a);
  const D = a.nHead * a.headDim;
  requireBytes("attention", "out", a.out, a.M * D * 4);
  const chunk = a.chunk ?? DEFAULT_SPLIT_CHUNK;
  requireDims("attention", { chunk });
  const nChunks = Math.ceil(a.nCtx / chunk);
  const kind = a.cacheType ?? "f32";
  const partialFloats = a.M * a.nHead * nChunks * (a.headDim + 2);
  const partials = gpu.createStorage(partialFloats * 4, "attention.partials");
  try {
    const split = grid1d(gpu, a.M * a.nHead * nChunks, WG);
    const first = makeDispatch(gpu, {
      kernel: `attention_split_${kind}`,
      layer: a.layer,
      pipeline: { file: "attention", defines: shaderDefines(a, "split"), constants: { WG } },
      bindings: [a.qkv, a.positions, a.kCache, a.vCache, partials],
      params: attentionParams(a, split.groupsX, nChunks, chunk),
      workgroups: split.workgroups,
      ...plannedCost(a),
    });
    first.owned.push(partials);
    const reduce = grid1d(gpu, a.M * D, WG);
    const second = makeDispatch(gpu, {
      kernel: "attention_reduce",
      layer: a.layer,
      pipeline: { file: "attention", defines: shaderDefines(a, "reduce"), constants: { WG } },
      bindings: [partials, a.out],
      params: attentionParams(a, reduce.groupsX, nChunks, chunk),
      workgroups: reduce.workgroups,
      flops: 3 * a.M * D * nChunks,
      bytes: 4 * (partialFloats + a.M * D),
    });
    return [first, second];
  } catch (err) {
    gpu.pool.release(partials);
    throw err;
  }
}

/**
 * The attention dispatches for one layer: "rows" {@link attention}, "split"
 * {@link attentionSplit}, "auto" (the default) the split where few (row, head) pairs face a
 * cache longer than one chunk (decode: 12 invocations walking 1024 keys each would leave a
 * GPU idle), else the one-pass kernel. Whether the split pays on an adapter is for a tuner
 * to measure (src/models/gpt2-tune.ts; on SwiftShader with GPT-2 124M heads the one pass
 * takes 2.2 ms against 3.9 at position 128 and 5.9 against 5.4 at 1023); a model passes
 * "rows" where it measured so.
 */
export function attentionDispatches(gpu: Gpu, a: AttentionArgs & { variant?: AttentionVariant; chunk?: number }): KernelDispatch[] {
  const variant = a.variant ?? "auto";
  const chunk = a.chunk ?? DEFAULT_SPLIT_CHUNK;
  const fewPairs = a.M * a.nHead < 256 && a.nCtx > chunk;
  const useSplit = variant === "split" || (variant === "auto" && fewPairs);
  return useSplit ? attentionSplit(gpu, { ...a, chunk }) : [attention(gpu, a)];
}
