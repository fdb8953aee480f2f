// A kNN-LM memory store on the GPU, and the search-and-mix steps a forward plan appends to
// use it. Keys are split into shards that each fit one storage binding, so a store larger
// than maxStorageBufferBindingSize works; one top-k runs over the distances of all shards.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { KNN_MAX_K, KNN_NO_INDEX, knnDistances, knnMix, knnTopK, type KnnMetric } from "../kernels/knn.js";
import { checkKnnStore, type KnnStoreData } from "./store-file.js";
import type { PlanNeighbours } from "../models/types.js";

/** How a model consults its memory. */
export interface MemoryMixOptions {
  /** Neighbours per query (1..256; default 128). */
  k?: number;
  /** Softmax temperature over the neighbours' distances (default 100). */
  temperature?: number;
  /** Weight of the memory's distribution against the model's, 0..1 (default 0.2). */
  lambda?: number;
  /** "l2" (squared L2, default) or "ip" (inner product). */
  metric?: KnnMetric;
}

/**
 * Defaults: the values tuned for gpt2-gutenberg on its validation text (k 128, T 100,
 * λ 0.2, squared L2 over the hidden state after ln_f). T depends on the scale of a model's
 * hidden states; tune it for other models.
 */
export const DEFAULT_MEMORY_MIX: Required<MemoryMixOptions> = { k: 128, temperature: 100, lambda: 0.2, metric: "l2" };

/** Checks and completes mix options. */
export function memoryMixOptions(o: MemoryMixOptions = {}): Required<MemoryMixOptions> {
  const r = { ...DEFAULT_MEMORY_MIX, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
  if (!Number.isInteger(r.k) || r.k < 1 || r.k > KNN_MAX_K) throw new MnemoError("BAD_INPUT", `The memory's k must be an integer in 1..${KNN_MAX_K}, got ${r.k}.`);
  if (!(r.temperature > 0) || !Number.isFinite(r.temperature)) throw new MnemoError("BAD_INPUT", `The memory's temperature must be a positive number, got ${r.temperature}.`);
  if (!(r.lambda >= 0 && r.lambda <= 1)) throw new MnemoError("BAD_INPUT", `The memory's lambda must be in 0..1, got ${r.lambda}.`);
  if (r.metric !== "l2" && r.metric !== "ip") throw new MnemoError("BAD_INPUT", `The memory's metric must be "l2" or "ip", got ${String(r.metric)}.`);
  return r;
}

interface Shard {
  buffer: GPUBuffer;
  /** Index of the shard's first key in the store. */
  start: number;
  count: number;
}

/** Recorded GPU work plus the buffers it owns. */
export interface RecordedWork {
  readonly dispatches: readonly KernelDispatch[];
  dispose(): void;
}

/** Dispatches to encode in order, and what to free when they are no longer needed. */
export class WorkList implements RecordedWork {
  readonly dispatches: KernelDispatch[] = [];
  /** After planMix: the nearest entries of the last row mixed. */
  lastRowNeighbours?: PlanNeighbours;
  private readonly cleanups: (() => void)[] = [];

  constructor(private readonly gpu: Gpu) {}

  /** A dispatch this list records and frees. */
  add(d: KernelDispatch): void {
    this.dispatches.push(d);
    this.cleanups.push(() => releaseDispatches(this.gpu, [d]));
  }

  /** Dispatches recorded here but freed by `dispose` (their plan's own). */
  adopt(dispatches: readonly KernelDispatch[], dispose: () => void): void {
    this.dispatches.push(...dispatches);
    this.cleanups.push(dispose);
  }

  /** A buffer this list frees. */
  own(buffer: GPUBuffer): GPUBuffer {
    this.cleanups.push(() => this.gpu.pool.release(buffer));
    return buffer;
  }

  dispose(): void {
    for (const c of this.cleanups.splice(0).reverse()) c();
    this.dispatches.length = 0;
  }
}

/** A memory store uploaded to the GPU. */
export class GpuKnnStore {
  private readonly shards: Shard[] = [];
  private readonly values: GPUBuffer;
  private disposed = false;

  private constructor(
    private readonly gpu: Gpu,
    /** The store on the CPU (its inputs let callers show the text around a neighbour). */
    readonly data: KnnStoreData,
    maxShardBytes: number,
  ) {
    const keyBytes = data.dims * (data.keyType === "f16" ? 2 : 4);
    const perShard = Math.max(1, Math.floor(maxShardBytes / keyBytes));
    try {
      for (let start = 0; start < data.count; start += perShard) {
        const count = Math.min(perShard, data.count - start);
        const keys = data.keys.subarray(start * data.dims, (start + count) * data.dims);
        this.shards.push({ buffer: gpu.upload(keys, `memory.keys[${this.shards.length}]`), start, count });
      }
      this.values = gpu.upload(data.count > 0 ? data.values : new Uint32Array(1), "memory.values");
    } catch (e) {
      for (const s of this.shards) gpu.pool.release(s.buffer);
      throw e;
    }
  }

  /**
   * Uploads `data`. Shards hold at most `maxShardBytes` of keys (default: the adapter's
   * largest storage binding); OUT_OF_MEMORY when the device cannot hold the store.
   */
  static upload(gpu: Gpu, data: KnnStoreData, options: { maxShardBytes?: number } = {}): Promise<GpuKnnStore> {
    checkKnnStore(data);
    if (data.count >= KNN_NO_INDEX) throw new MnemoError("TOO_LARGE", `A memory store holds fewer than ${KNN_NO_INDEX} entries, not ${data.count}.`);
    const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    const maxShardBytes = Math.min(options.maxShardBytes ?? limit, limit);
    return gpu.allocateChecked("the memory store", () => new GpuKnnStore(gpu, data, maxShardBytes));
  }

  get count(): number {
    return this.data.count;
  }

  /** Shards the keys are split into. */
  get shardCount(): number {
    return this.shards.length;
  }

  /** Bytes on the GPU (keys and values). */
  get gpuBytes(): number {
    return this.shards.reduce((a, s) => a + s.buffer.size, 0) + this.values.size;
  }

  /**
   * Records search and mixture for logits rows row0..row0 + rows - 1 of `logits`, whose
   * queries are rows hiddenRow0.. of `hidden` ([*, dims] f32): distances to every key, the
   * k nearest, then logits ← log(λ·p_knn + (1 − λ)·softmax(logits)). Rows are searched in
   * slices whose distance matrix fits one storage binding.
   */
  planMix(
    hidden: GPUBuffer,
    hiddenRow0: number,
    logits: GPUBuffer,
    row0: number,
    rows: number,
    vocab: number,
    options: Required<MemoryMixOptions>,
  ): WorkList {
    if (this.disposed) throw new MnemoError("DISPOSED", "This memory store was disposed.");
    const gpu = this.gpu;
    const count = this.data.count;
    const k = options.k;
    const work = new WorkList(gpu);
    try {
      const bindingLimit = gpu.limits.maxStorageBufferBindingSize;
      const slice = Math.max(1, Math.min(rows, Math.floor(bindingLimit / (Math.max(count, k) * 4))));
      for (let r = 0; r < rows; r += slice) {
        const n = Math.min(slice, rows - r);
        const { topDist, topIndex } = this.planSearch(work, hidden, hiddenRow0 + r, n, k, options.metric);
        work.lastRowNeighbours = { dist: topDist, index: topIndex, byteOffset: (n - 1) * k * 4, k };
        work.add(knnMix(gpu, { logits, row0: row0 + r, vocab, rows: n, topDist, topIndex, k, values: this.values, count, lambda: options.lambda, temperature: options.temperature }));
      }
      return work;
    } catch (e) {
      work.dispose();
      throw e;
    }
  }

  /** Records distances and top-k for `rows` queries into `work`; returns where the k nearest land. */
  planSearch(work: WorkList, queries: GPUBuffer, queryRow0: number, rows: number, k: number, metric: KnnMetric): { topDist: GPUBuffer; topIndex: GPUBuffer } {
    const gpu = this.gpu;
    const count = this.data.count;
    if (count === 0) {
      // Nothing to search: every slot empty, so the mixture keeps the model's distribution.
      return {
        topDist: work.own(gpu.upload(new Float32Array(rows * k).fill(3.4e38), "memory.empty-dist")),
        topIndex: work.own(gpu.upload(new Uint32Array(rows * k).fill(KNN_NO_INDEX), "memory.empty-index")),
      };
    }
    const distances = work.own(gpu.createStorage(rows * count * 4, "memory.distances"));
    for (const s of this.shards) {
      work.add(knnDistances(gpu, { keys: s.buffer, keyType: this.data.keyType, n: s.count, dims: this.data.dims, queries, queryRow0, rows, out: distances, outStride: count, outOffset: s.start, metric }));
    }
    const top = knnTopK(gpu, { dist: distances, n: count, rows, k });
    work.adopt(top.dispatches, top.dispose);
    return { topDist: top.dist, topIndex: top.index };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.shards) this.gpu.pool.release(s.buffer);
    this.gpu.pool.release(this.values);
  }
}
