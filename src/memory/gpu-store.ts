// A kNN-LM memory store on the GPU, and the search-and-mix steps a forward plan appends to
// use it. Keys are split into shards that each fit one storage binding, so a store larger
// than maxStorageBufferBindingSize works; one top-k runs over the distances of all shards.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { readAll, type Readout } from "../gpu/readback.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { KNN_MAX_K, KNN_NO_INDEX, knnDistances, knnMix, knnTopK, type KnnCausal, type KnnMetric } from "../kernels/knn.js";
import { checkKnnStore, type KeyType, type KnnStoreData } from "./store-file.js";
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

/**
 * Rows of one chunk a causal search covers at most (planMix's `causal`): a growing store
 * keeps value slots for the chunk's own entries after its ring.
 */
export const CAUSAL_CHUNK_ROWS = 64;

interface Shard {
  buffer: GPUBuffer;
  /** Index of the shard's first key in the store. */
  start: number;
  count: number;
}

/** Dispatches to encode in order, and what to free when they are no longer needed. */
export class WorkList {
  readonly dispatches: KernelDispatch[] = [];
  /** After planMix: the nearest entries of the last row mixed. */
  lastRowNeighbours?: PlanNeighbours;
  /** After planMix: the slices of rows searched together (row r's k nearest at word (r - row0) * k of its buffers). */
  readonly slices: { row0: number; rows: number; dist: GPUBuffer; index: GPUBuffer; k: number }[] = [];
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

  /** After planMix: where row `row` (counted from the first row mixed) has its k nearest entries. */
  neighboursOf(row: number): PlanNeighbours {
    const s = this.slices.find((x) => row >= x.row0 && row < x.row0 + x.rows);
    if (!s) throw new MnemoError("INTERNAL", `No memory search covers row ${row}.`);
    return { dist: s.dist, index: s.index, byteOffset: (row - s.row0) * s.k * 4, k: s.k };
  }

  dispose(): void {
    for (const c of this.cleanups.splice(0).reverse()) c();
    this.dispatches.length = 0;
  }
}

/**
 * A memory store on the GPU. A static store holds the entries of a store file; a growing
 * store (a session's memory of what it has read) starts empty with room for `capacity`
 * f32 entries and is filled by `append` as a ring: when full, the oldest entries are
 * overwritten. Searches always cover every slot; `live` tells the kernels which are filled.
 */
export class GpuKnnStore {
  private readonly shards: Shard[] = [];
  private readonly values: GPUBuffer;
  private readonly live: GPUBuffer;
  /** Token after each slot's key, and the token at its position (CPU copies, for describe). */
  readonly slotValues: Uint32Array;
  readonly slotInputs: Uint32Array;
  /** Entries appended so far (a growing store); the count for a static one. */
  private appended: number;
  private disposed = false;

  private constructor(
    private readonly gpu: Gpu,
    readonly fingerprint: string,
    readonly dims: number,
    readonly keyType: KeyType,
    /** Slots: the entry count of a static store, the ring size of a growing one. */
    readonly capacity: number,
    readonly growing: boolean,
    keys: Float32Array | Uint16Array | null,
    values: Uint32Array,
    inputs: Uint32Array,
    maxShardBytes: number,
  ) {
    const keyBytes = dims * (keyType === "f16" ? 2 : 4);
    const perShard = Math.max(1, Math.floor(maxShardBytes / keyBytes));
    this.slotValues = values;
    this.slotInputs = inputs;
    this.appended = growing ? 0 : capacity;
    const owned: GPUBuffer[] = [];
    try {
      for (let start = 0; start < capacity; start += perShard) {
        const count = Math.min(perShard, capacity - start);
        const label = `memory.keys[${this.shards.length}]`;
        const buffer = keys ? gpu.upload(keys.subarray(start * dims, (start + count) * dims), label) : gpu.createStorage(count * keyBytes, label);
        owned.push(buffer);
        this.shards.push({ buffer, start, count });
      }
      // A growing store's values are followed by a causal search's chunk rows (writeChunkValues).
      const valueSlots = growing ? capacity + CAUSAL_CHUNK_ROWS : Math.max(1, capacity);
      this.values = gpu.createStorage(valueSlots * 4, "memory.values");
      owned.push(this.values);
      if (capacity > 0) gpu.write(this.values, values);
      this.live = gpu.upload(this.liveWords(), "memory.live");
    } catch (e) {
      for (const b of owned) gpu.pool.release(b);
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
    return gpu.allocateChecked(
      "the memory store",
      () => new GpuKnnStore(gpu, data.fingerprint, data.dims, data.keyType, data.count, false, data.keys, data.values, data.inputs, shardLimit(gpu, options.maxShardBytes)),
    );
  }

  /** An empty growing store of `capacity` f32 entries of `dims` (a session's memory). */
  static growing(gpu: Gpu, o: { fingerprint: string; dims: number; capacity: number; maxShardBytes?: number }): Promise<GpuKnnStore> {
    if (!Number.isInteger(o.capacity) || o.capacity < 1 || o.capacity >= KNN_NO_INDEX) {
      throw new MnemoError("BAD_INPUT", `A growing memory's capacity must be an integer in 1..${KNN_NO_INDEX - 1}, got ${o.capacity}.`);
    }
    return gpu.allocateChecked(
      "the session's memory",
      () => new GpuKnnStore(gpu, o.fingerprint, o.dims, "f32", o.capacity, true, null, new Uint32Array(o.capacity), new Uint32Array(o.capacity), shardLimit(gpu, o.maxShardBytes)),
    );
  }

  /** What the kernels' `live` holds: the filled entries, then the entries ever appended (a causal search's ring ages). */
  private liveWords(): Uint32Array {
    return Uint32Array.of(this.count, this.appended >>> 0);
  }

  /** Filled entries. */
  get count(): number {
    return Math.min(this.appended, this.capacity);
  }

  /** Entries ever appended to a growing store (the oldest are overwritten once it is full). */
  get totalAppended(): number {
    return this.appended;
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
   * Appends `rows` f32 rows of `hidden` (from byte `hiddenOffset`) as keys, with their next
   * tokens and input tokens, into the next ring slots: copy commands on `encoder` (no
   * readback) plus queue writes of the values and the live count.
   */
  append(encoder: GPUCommandEncoder, hidden: GPUBuffer, hiddenOffset: number, values: readonly number[], inputs: readonly number[]): void {
    if (!this.growing) throw new MnemoError("INTERNAL", "Only a growing memory takes appends.");
    const rowBytes = this.dims * 4;
    // One copy and one value write per run of slots that stays inside a shard and does not
    // wrap around the ring (a prefill chunk appends up to a thousand rows at once).
    for (let r = 0; r < values.length; ) {
      const slot = this.appended % this.capacity;
      const shard = this.shards.find((s) => slot >= s.start && slot < s.start + s.count)!;
      const run = Math.min(values.length - r, shard.start + shard.count - slot);
      encoder.copyBufferToBuffer(hidden, hiddenOffset + r * rowBytes, shard.buffer, (slot - shard.start) * rowBytes, run * rowBytes);
      this.slotValues.set(values.slice(r, r + run), slot);
      this.slotInputs.set(inputs.slice(r, r + run), slot);
      this.gpu.write(this.values, this.slotValues.subarray(slot, slot + run), slot * 4);
      this.appended += run;
      r += run;
    }
    this.gpu.write(this.live, this.liveWords());
  }

  /**
   * The tokens after a causal search's chunk rows (row j's entry holds `values[j]`, the
   * token fed after it), read by the next search planned with `causal`.
   */
  writeChunkValues(values: readonly number[]): void {
    if (!this.growing) throw new MnemoError("INTERNAL", "Only a growing memory searches a chunk's own rows.");
    if (values.length > CAUSAL_CHUNK_ROWS) throw new MnemoError("INTERNAL", `A causal search covers at most ${CAUSAL_CHUNK_ROWS} chunk rows, not ${values.length}.`);
    if (values.length > 0) this.gpu.write(this.values, Uint32Array.from(values), this.capacity * 4);
  }

  /** Every slot's key, value and input, and how many were appended (a session snapshot). */
  /** The key regions {@link read} copies (one per shard), for a caller that batches reads. */
  readout(): Readout<{ keys: Float32Array; values: Uint32Array; inputs: Uint32Array; appended: number }> {
    const shards = [...this.shards];
    return {
      regions: shards.map((s) => ({ buffer: s.buffer, offset: 0, size: s.count * this.dims * 4 })),
      decode: (parts) => {
        const keys = new Float32Array(this.capacity * this.dims);
        shards.forEach((s, i) => keys.set(new Float32Array(parts[i].slice().buffer), s.start * this.dims));
        return { keys, values: this.slotValues.slice(), inputs: this.slotInputs.slice(), appended: this.appended };
      },
    };
  }

  async read(): Promise<{ keys: Float32Array; values: Uint32Array; inputs: Uint32Array; appended: number }> {
    const [state] = await readAll(this.gpu, [this.readout()]);
    return state;
  }

  /** Restores what `read` returned (same capacity and dims). */
  write(state: { keys: Float32Array; values: Uint32Array; inputs: Uint32Array; appended: number }): void {
    if (state.keys.length !== this.capacity * this.dims || state.values.length !== this.capacity || state.inputs.length !== this.capacity) {
      throw new MnemoError(
        "SHAPE_MISMATCH",
        `The snapshot's memory has ${state.values.length} slots of ${state.keys.length / Math.max(1, state.values.length)} values; this session's memory ${this.capacity} of ${this.dims}.`,
      );
    }
    for (const s of this.shards) this.gpu.write(s.buffer, state.keys.subarray(s.start * this.dims, (s.start + s.count) * this.dims));
    this.slotValues.set(state.values);
    this.slotInputs.set(state.inputs);
    this.gpu.write(this.values, state.values);
    this.appended = state.appended;
    this.gpu.write(this.live, this.liveWords());
  }

  /** Copies this growing store into `other` (a fork), on the GPU. */
  copyTo(encoder: GPUCommandEncoder, other: GpuKnnStore): void {
    this.shards.forEach((s, i) => encoder.copyBufferToBuffer(s.buffer, 0, other.shards[i].buffer, 0, s.buffer.size));
    encoder.copyBufferToBuffer(this.values, 0, other.values, 0, this.values.size);
    encoder.copyBufferToBuffer(this.live, 0, other.live, 0, this.live.size);
    other.slotValues.set(this.slotValues);
    other.slotInputs.set(this.slotInputs);
    other.appended = this.appended;
  }

  /**
   * Records search and mixture for logits rows row0..row0 + rows - 1 of `logits`, whose
   * queries are rows hiddenRow0.. of `hidden` ([*, dims] f32): distances to every key, the
   * k nearest, then logits ← log(λ·p_knn + (1 − λ)·softmax(logits)). Rows are searched in
   * slices whose distance matrix fits one storage binding.
   *
   * `causal` (a growing store; hiddenRow0 0): the rows are consecutive positions this store
   * appends as they are fed, and each row searches what decoding them one at a time would
   * find: the entries of the rows before it too (keys: their hidden rows; values: what
   * writeChunkValues wrote), less the oldest slots they would overwrite. The entries are
   * not appended; the caller appends the rows it keeps. A static store ignores it.
   */
  planMix(hidden: GPUBuffer, hiddenRow0: number, logits: GPUBuffer, row0: number, rows: number, vocab: number, options: Required<MemoryMixOptions>, causal = false): WorkList {
    if (this.disposed) throw new MnemoError("DISPOSED", "This memory store was disposed.");
    const chunkKeys = causal && this.growing ? rows - 1 : 0;
    if (chunkKeys > 0 && hiddenRow0 !== 0) throw new MnemoError("INTERNAL", "A causal memory search needs every row's hidden state.");
    if (chunkKeys > CAUSAL_CHUNK_ROWS) throw new MnemoError("INTERNAL", `A causal memory search covers at most ${CAUSAL_CHUNK_ROWS + 1} rows, not ${rows}.`);
    const gpu = this.gpu;
    const count = this.capacity;
    const k = options.k;
    const work = new WorkList(gpu);
    try {
      const bindingLimit = gpu.limits.maxStorageBufferBindingSize;
      const slice = Math.max(1, Math.min(rows, Math.floor(bindingLimit / (Math.max(count + chunkKeys, k) * 4))));
      for (let r = 0; r < rows; r += slice) {
        const n = Math.min(slice, rows - r);
        const { topDist, topIndex } = this.planSearch(work, hidden, hiddenRow0 + r, n, k, options.metric, causal && this.growing ? { chunkKeys } : undefined);
        work.lastRowNeighbours = { dist: topDist, index: topIndex, byteOffset: (n - 1) * k * 4, k };
        work.slices.push({ row0: r, rows: n, dist: topDist, index: topIndex, k });
        const mix = { logits, row0: row0 + r, vocab, rows: n, topDist, topIndex, k, values: this.values, count, extra: chunkKeys, live: this.live };
        work.add(knnMix(gpu, { ...mix, lambda: options.lambda, temperature: options.temperature }));
      }
      return work;
    } catch (e) {
      work.dispose();
      throw e;
    }
  }

  /**
   * Records distances and top-k for `rows` queries into `work`; returns where the k nearest
   * land. With `causal` (a growing store), queries are chunk rows queryRow0.. of `queries`,
   * whose first `chunkKeys` rows are searched too, as entries count.. (see planMix).
   */
  planSearch(work: WorkList, queries: GPUBuffer, queryRow0: number, rows: number, k: number, metric: KnnMetric, causal?: { chunkKeys: number }): { topDist: GPUBuffer; topIndex: GPUBuffer } {
    const gpu = this.gpu;
    const count = this.capacity;
    const chunkKeys = causal?.chunkKeys ?? 0;
    const stride = count + chunkKeys;
    if (count === 0) {
      // Nothing to search: every slot empty, so the mixture keeps the model's distribution.
      return {
        topDist: work.own(gpu.upload(new Float32Array(rows * k).fill(3.4e38), "memory.empty-dist")),
        topIndex: work.own(gpu.upload(new Uint32Array(rows * k).fill(KNN_NO_INDEX), "memory.empty-index")),
      };
    }
    const distances = work.own(gpu.createStorage(rows * stride * 4, "memory.distances"));
    // What the shards' searches and the chunk rows' search share: the queries and one output row per query.
    const search = { dims: this.dims, queries, queryRow0, rows, out: distances, outStride: stride, live: this.live, metric };
    const ring: KnnCausal | undefined = causal && { keys: "ring", capacity: count };
    for (const s of this.shards) {
      work.add(knnDistances(gpu, { ...search, keys: s.buffer, keyType: this.keyType, n: s.count, outOffset: s.start, causal: ring }));
    }
    if (chunkKeys > 0) {
      const chunk: KnnCausal = { keys: "chunk", capacity: count };
      work.add(knnDistances(gpu, { ...search, keys: queries, keyType: "f32", n: chunkKeys, outOffset: count, causal: chunk }));
    }
    const top = knnTopK(gpu, { dist: distances, n: stride, rows, k });
    work.adopt(top.dispatches, top.dispose);
    return { topDist: top.dist, topIndex: top.index };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.shards) this.gpu.pool.release(s.buffer);
    this.gpu.pool.release(this.values);
    this.gpu.pool.release(this.live);
  }
}

function shardLimit(gpu: Gpu, wanted?: number): number {
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  return Math.min(wanted ?? limit, limit);
}
