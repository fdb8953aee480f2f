// Semantic search over documents: their sentence embeddings kept in the kNN store format
// (keys = L2-normalised vectors, values = document index), searched on the GPU by inner
// product (the cosine similarity, for unit vectors) with the kNN-LM memory's kernels.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { KNN_MAX_K, KNN_NO_INDEX } from "../kernels/knn.js";
import { StepRunner } from "./step-runner.js";
import { GpuKnnStore, WorkList } from "../memory/gpu-store.js";
import type { KnnStoreData } from "../memory/store-file.js";

/** A document found by a search (Encoder.search). */
export interface DocumentHit {
  /** The document's index in the store (the order its texts were given in). */
  index: number;
  /** Cosine similarity to the query (inner product of unit vectors), highest first. */
  score: number;
}

/** A store of documents' unit vectors (`vectors[i]` is document i). */
export function documentStore(fingerprint: string, vectors: readonly Float32Array[]): KnnStoreData {
  if (vectors.length === 0) throw new MnemoError("BAD_INPUT", "A document store needs at least one document.");
  const dims = vectors[0].length;
  const keys = new Float32Array(vectors.length * dims);
  vectors.forEach((v, i) => {
    if (v.length !== dims) throw new MnemoError("SHAPE_MISMATCH", `Document ${i} has ${v.length} values, the first ${dims}.`);
    keys.set(v, i * dims);
  });
  return { fingerprint, dims, keyType: "f32", count: vectors.length, keys, values: Uint32Array.from(vectors, (_, i) => i), inputs: new Uint32Array(vectors.length) };
}

/** The `k` documents of `store` nearest to `query` (a unit vector), searched on the GPU. */
export async function searchDocumentStore(gpu: Gpu, store: KnnStoreData, query: Float32Array, k: number): Promise<DocumentHit[]> {
  if (query.length !== store.dims) throw new MnemoError("SHAPE_MISMATCH", `The query has ${query.length} values; the store's documents ${store.dims}.`);
  if (!Number.isInteger(k) || k < 1 || k > KNN_MAX_K) throw new MnemoError("BAD_INPUT", `k must be an integer in 1..${KNN_MAX_K}, got ${k}.`);
  const kk = Math.min(k, store.count);
  const gpuStore = await GpuKnnStore.upload(gpu, store);
  const work = new WorkList(gpu);
  try {
    const queries = work.own(gpu.upload(query, "search.query"));
    const { topDist, topIndex } = gpuStore.planSearch(work, queries, 0, 1, kk, "ip");
    const runner = new StepRunner(gpu);
    const step = runner.submit({ kind: "prefill", tokens: 1, dispatches: work.dispatches });
    const [dist, index] = await runner.wait(step, () => Promise.all([gpu.readF32(topDist, kk), gpu.readU32(topIndex, kk)]));
    const hits: DocumentHit[] = [];
    for (let i = 0; i < kk; i++) if (index[i] !== KNN_NO_INDEX) hits.push({ index: store.values[index[i]], score: -dist[i] });
    return hits;
  } finally {
    work.dispose();
    gpuStore.dispose();
  }
}
