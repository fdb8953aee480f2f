import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d, requireBytes, requireDims } from "./common.js";

const WG = 64;
/** Largest head dimension the attention kernel keeps in registers. */
export const MAX_HEAD_DIM = 128;

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

/** Copies the K and V parts of each qkv row into the cache at that row's position. */
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

/**
 * Causal attention: query row m attends to cache positions 0..positions[m]. Run after
 * {@link kvWrite} of the same rows. Writes f32 [M, nHead * headDim].
 */
export function attention(gpu: Gpu, a: AttentionShape & { out: GPUBuffer; maxPosition?: number }): KernelDispatch {
  checkShape("attention", a);
  const D = a.nHead * a.headDim;
  requireBytes("attention", "out", a.out, a.M * D * 4);
  const f16 = a.cacheType === "f16";
  // Planned cost at the deepest position this dispatch can reach (for the profiler).
  const keys = Math.min(a.nCtx, a.maxPosition ?? a.nCtx);
  return makeDispatch(gpu, {
    kernel: `attention_${a.cacheType ?? "f32"}`,
    layer: a.layer,
    pipeline: { file: "attention", defines: { CACHE_F16: f16 }, constants: { WG } },
    bindings: [a.qkv, a.positions, a.kCache, a.vCache, a.out],
    params: paramWords([a.M, a.nHead, a.headDim, a.nCtx, { f32: 1 / Math.sqrt(a.headDim) }]),
    workgroups: [Math.ceil((a.M * a.nHead) / WG)],
    flops: 4 * a.M * keys * D,
    bytes: a.M * keys * D * (f16 ? 4 : 8),
  });
}
