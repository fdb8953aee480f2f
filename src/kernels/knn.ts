// kNN-LM search and mixture kernels (shaders/knn.wgsl): distances from queries to a shard of
// keys, a multi-pass top-k that leaves only k (distance, index) pairs per query, and the
// mixture of the neighbours' tokens into the model's logits.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { placeholderBuffer, requireBytes, requireDims } from "./common.js";

/** Squared L2 distance, or inner product (searched as its negative: smaller is nearer). */
export type KnnMetric = "l2" | "ip";

/** Most neighbours one search returns (the top-k kernel's private list). */
export const KNN_MAX_K = 256;
/** The index of an empty result slot (fewer keys than k). */
export const KNN_NO_INDEX = 0xffffffff;

const WG = 64;
const TOPK_WG = 16;

/** Arguments of {@link knnDistances}. */
export interface KnnDistancesArgs {
  /** One shard of keys [n, dims]: f32, or f16 halves packed two per u32. */
  keys: GPUBuffer;
  keyType: "f32" | "f16";
  n: number;
  dims: number;
  /** f32 [queryRow0 + rows, dims]. */
  queries: GPUBuffer;
  /** First query row to use (default 0). */
  queryRow0?: number;
  rows: number;
  /** f32 [rows, outStride]; this shard writes columns outOffset..outOffset + n - 1. */
  out: GPUBuffer;
  /** u32 [1]: columns at or beyond it are unused keys (distance 3.4e38); [2] for a causal "ring" search, live[1] the entries appended so far. */
  live: GPUBuffer;
  outStride: number;
  outOffset: number;
  metric: KnnMetric;
  /** A causal search over a growing store (see {@link KnnCausal}); default: every live key. */
  causal?: KnnCausal;
}

/**
 * A causal search: the query rows are the consecutive positions of one chunk (query row
 * queryRow0 + r is chunk row r), which a growing store of `capacity` slots appends as they
 * are fed, and each row sees what the store would hold when that row is fed alone. Keys
 * "ring": the store's slots, of which the chunk rows before r would overwrite the r oldest
 * (hidden from row r once the ring is full). Keys "chunk": the chunk's own rows; row r sees
 * rows j < r, the last `capacity` of them. The two together are what decoding the chunk one
 * token at a time would search.
 */
export interface KnnCausal {
  keys: "ring" | "chunk";
  capacity: number;
}

/** Distances from every query row to every key of one shard (smaller is nearer). */
export function knnDistances(gpu: Gpu, a: KnnDistancesArgs): KernelDispatch {
  requireDims("knnDistances", { n: a.n, dims: a.dims, rows: a.rows, outStride: a.outStride });
  if (a.keyType === "f16" && a.dims % 2 !== 0) throw new MnemoError("SHAPE_MISMATCH", `knnDistances: f16 keys need an even dims, got ${a.dims}.`);
  if (a.outOffset < 0 || a.outOffset + a.n > a.outStride) {
    throw new MnemoError("SHAPE_MISMATCH", `knnDistances: columns ${a.outOffset}..${a.outOffset + a.n - 1} do not fit a row of ${a.outStride}.`);
  }
  const keyBytes = a.n * a.dims * (a.keyType === "f16" ? 2 : 4);
  requireBytes("knnDistances", "keys", a.keys, keyBytes);
  const row0 = a.queryRow0 ?? 0;
  requireBytes("knnDistances", "queries", a.queries, (row0 + a.rows) * a.dims * 4);
  requireBytes("knnDistances", "out", a.out, a.rows * a.outStride * 4);
  requireBytes("knnDistances", "live", a.live, a.causal?.keys === "ring" ? 8 : 4);
  if (a.causal && !(Number.isInteger(a.causal.capacity) && a.causal.capacity >= 1)) {
    throw new MnemoError("BAD_INPUT", `knnDistances: a causal search needs the ring's capacity, got ${a.causal.capacity}.`);
  }
  const causal = a.causal ? (a.causal.keys === "ring" ? 1 : 2) : 0;
  // Register tiles when dims allow vec4 loads: 4 keys per invocation, and 4 queries when
  // there are several (decode has one).
  const tiled = a.dims % 4 === 0;
  const tq = tiled && a.rows > 1 ? 4 : 1;
  const groupsX = Math.ceil(a.n / (tiled ? 4 : 1) / WG);
  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groupsX > maxGroups) throw new MnemoError("TOO_LARGE", `knnDistances: a shard of ${a.n} keys needs ${groupsX} workgroups, more than ${maxGroups}.`);
  return makeDispatch(gpu, {
    kernel: `knn_distances_${a.keyType}`,
    pipeline: {
      file: "knn",
      defines: { DISTANCES: true, TILED: tiled, KEYS_F16: a.keyType === "f16", TOPK: false, WITH_INDEX: false, MIX: false },
      constants: tiled ? { WG, TQ: tq } : { WG },
    },
    bindings: [a.keys, a.queries, a.out, a.live],
    params: paramWords([a.n, a.dims, a.rows, a.outStride, a.outOffset, a.metric === "l2" ? 0 : 1, groupsX, row0, causal, a.causal?.capacity ?? 1]),
    workgroups: [groupsX, Math.ceil(a.rows / tq)],
    flops: 3 * a.n * a.dims * a.rows,
    bytes: keyBytes + a.rows * (a.dims + a.n) * 4,
  });
}

/** The recorded passes of one top-k search and where its result lands. */
export interface KnnTopKPlan {
  dispatches: KernelDispatch[];
  /** f32 [rows, k], ascending per row. */
  dist: GPUBuffer;
  /** u32 [rows, k]; {@link KNN_NO_INDEX} where a row has fewer than k candidates. */
  index: GPUBuffer;
  dispose(): void;
}

/**
 * Candidates one invocation reduces to k. At least 4k, so every pass shrinks a row 4x;
 * larger chunks insert fewer candidates in all (about k·ln(chunk/k) per chunk), so a chunk
 * grows up to 8192 while there are enough (chunk, row) pairs to keep the GPU busy.
 */
export function topKChunk(k: number, n: number, rows: number): number {
  const wanted = Math.ceil(n / Math.max(1, Math.ceil(4096 / rows)));
  return Math.max(4 * k, Math.min(8192, Math.max(512, wanted)));
}

/**
 * The k nearest of `n` distances per row (ties broken by the smaller index), as passes of
 * per-chunk insertion top-k until one chunk is left per row. Index i of the input is
 * reported as indexBase + i.
 */
export function knnTopK(gpu: Gpu, a: { dist: GPUBuffer; n: number; rows: number; k: number; indexBase?: number }): KnnTopKPlan {
  requireDims("knnTopK", { n: a.n, rows: a.rows, k: a.k });
  if (a.k > KNN_MAX_K) throw new MnemoError("BAD_INPUT", `knnTopK: k is at most ${KNN_MAX_K}, got ${a.k}.`);
  requireBytes("knnTopK", "dist", a.dist, a.n * a.rows * 4);
  const dispatches: KernelDispatch[] = [];
  const buffers: GPUBuffer[] = [];
  let inDist = a.dist;
  let inIndex: GPUBuffer | null = null;
  let n = a.n;
  try {
    for (;;) {
      const chunk = topKChunk(a.k, n, a.rows);
      const chunks = Math.ceil(n / chunk);
      const outStride = chunks * a.k;
      const outDist = gpu.createStorage(a.rows * outStride * 4, "knn.topk.dist");
      buffers.push(outDist);
      const outIndex = gpu.createStorage(a.rows * outStride * 4, "knn.topk.index");
      buffers.push(outIndex);
      const withIndex = inIndex !== null;
      const groupsX = Math.ceil(chunks / TOPK_WG);
      dispatches.push(
        makeDispatch(gpu, {
          kernel: "knn_topk",
          pipeline: { file: "knn", defines: { DISTANCES: false, TILED: false, KEYS_F16: false, TOPK: true, WITH_INDEX: withIndex, MIX: false }, constants: { WG: TOPK_WG } },
          bindings: [inDist, inIndex ?? placeholderBuffer(gpu), outDist, outIndex],
          params: paramWords([n, a.rows, chunk, a.k, n, outStride, withIndex ? 0 : (a.indexBase ?? 0), chunks]),
          workgroups: [groupsX, a.rows],
          flops: a.rows * n,
          bytes: a.rows * (n * (withIndex ? 8 : 4) + outStride * 8),
        }),
      );
      inDist = outDist;
      inIndex = outIndex;
      n = outStride;
      if (chunks === 1) return { dispatches, dist: outDist, index: outIndex, dispose: () => release(gpu, dispatches, buffers) };
    }
  } catch (e) {
    release(gpu, dispatches, buffers);
    throw e;
  }
}

function release(gpu: Gpu, dispatches: KernelDispatch[], buffers: GPUBuffer[]): void {
  releaseDispatches(gpu, dispatches);
  for (const b of buffers) gpu.pool.release(b);
}

/** Arguments of {@link knnMix}. */
export interface KnnMixArgs {
  /** f32 [row0 + rows, vocab]: the model's logits; rows row0.. become log p of the mixture. */
  logits: GPUBuffer;
  /** First logits row to mix (default 0); top-k row r goes with logits row row0 + r. */
  row0?: number;
  vocab: number;
  rows: number;
  /** The top-k result: f32 [rows, k] ascending, u32 [rows, k]. */
  topDist: GPUBuffer;
  topIndex: GPUBuffer;
  k: number;
  /** u32 [count + extra]: the token that followed each key. */
  values: GPUBuffer;
  count: number;
  /** Entries count..count + extra - 1 are valid whatever `live` says (a causal search's chunk rows; default 0). */
  extra?: number;
  /** u32 [1]: entries in use (indices at or beyond it are empty). */
  live: GPUBuffer;
  /** Weight of the memory's distribution, 0..1. */
  lambda: number;
  /** Softmax temperature over the neighbours' distances (> 0). */
  temperature: number;
}

/**
 * p = lambda * p_knn + (1 - lambda) * softmax(logits), written back as log p, where p_knn
 * gives each neighbour the weight softmax(-d / T) and sums the weights per token. Rows with
 * no valid neighbour keep the model's distribution (as log-probabilities).
 */
export function knnMix(gpu: Gpu, a: KnnMixArgs): KernelDispatch {
  requireDims("knnMix", { vocab: a.vocab, rows: a.rows, k: a.k });
  if (a.k > KNN_MAX_K) throw new MnemoError("BAD_INPUT", `knnMix: k is at most ${KNN_MAX_K}, got ${a.k}.`);
  if (!(a.lambda >= 0 && a.lambda <= 1)) throw new MnemoError("BAD_INPUT", `The memory's lambda must be in 0..1, got ${a.lambda}.`);
  if (!(a.temperature > 0) || !Number.isFinite(a.temperature)) throw new MnemoError("BAD_INPUT", `The memory's temperature must be a positive number, got ${a.temperature}.`);
  const row0 = a.row0 ?? 0;
  requireBytes("knnMix", "logits", a.logits, (row0 + a.rows) * a.vocab * 4);
  requireBytes("knnMix", "topDist", a.topDist, a.rows * a.k * 4);
  requireBytes("knnMix", "topIndex", a.topIndex, a.rows * a.k * 4);
  const extra = a.extra ?? 0;
  requireBytes("knnMix", "values", a.values, Math.max(1, a.count + extra) * 4);
  return makeDispatch(gpu, {
    kernel: "knn_mix",
    pipeline: { file: "knn", defines: { DISTANCES: false, TILED: false, KEYS_F16: false, TOPK: false, WITH_INDEX: false, MIX: true }, constants: { WG } },
    bindings: [a.logits, a.topDist, a.topIndex, a.values, a.live],
    params: paramWords([a.vocab, a.k, a.rows, a.count, { f32: a.lambda }, { f32: 1 / a.temperature }, row0, extra]),
    workgroups: [a.rows],
    flops: 6 * a.rows * a.vocab,
    bytes: 8 * a.rows * a.vocab,
  });
}
