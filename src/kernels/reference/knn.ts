// Plain TypeScript reference of the kNN-LM kernels (f64 arithmetic, f32 results).

/** d[r, j]: squared L2 ("l2") or negative inner product ("ip") of query r and key j. */
export function knnDistancesRef(keys: Float32Array, n: number, dims: number, queries: Float32Array, rows: number, metric: "l2" | "ip"): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let i = 0; i < dims; i++) {
        const q = queries[r * dims + i];
        const k = keys[j * dims + i];
        acc += metric === "l2" ? (q - k) * (q - k) : -q * k;
      }
      out[r * n + j] = acc;
    }
  }
  return out;
}

/**
 * The k smallest (distance, index) pairs of each row, ascending, ties broken by the smaller
 * index; NaN sorts last as the largest finite f32; missing slots are (3.4028234e38, 2^32-1).
 */
export function knnTopKRef(dist: Float32Array, n: number, rows: number, k: number): { dist: Float32Array; index: Uint32Array } {
  const INF = 3.4028234663852886e38;
  const outDist = new Float32Array(rows * k).fill(INF);
  const outIndex = new Uint32Array(rows * k).fill(0xffffffff);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: n }, (_, j) => j);
    const d = (j: number) => (Number.isNaN(dist[r * n + j]) ? INF : dist[r * n + j]);
    order.sort((a, b) => d(a) - d(b) || a - b);
    for (let s = 0; s < Math.min(k, n); s++) {
      outDist[r * k + s] = d(order[s]);
      outIndex[r * k + s] = order[s];
    }
  }
  return { dist: outDist, index: outIndex };
}

/**
 * log p, p = lambda * p_knn + (1 - lambda) * softmax(logits), p_knn from softmax(-d / T)
 * over the valid neighbours (index < count), summed per token values[index].
 */
export function knnMixRef(
  logits: Float32Array,
  vocab: number,
  rows: number,
  topDist: Float32Array,
  topIndex: Uint32Array,
  k: number,
  values: Uint32Array,
  count: number,
  lambda: number,
  temperature: number,
): Float32Array {
  const out = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    const votes = new Map<number, number>();
    let total = 0;
    const d0 = topDist[r * k];
    for (let s = 0; s < k; s++) {
      const i = topIndex[r * k + s];
      if (i >= count) continue;
      const w = Math.exp((d0 - topDist[r * k + s]) / temperature);
      const t = Math.min(values[i], vocab - 1);
      votes.set(t, (votes.get(t) ?? 0) + w);
      total += w;
    }
    const lam = total > 0 ? lambda : 0;
    for (let v = 0; v < vocab; v++) {
      const p = (1 - lam) * Math.exp(row[v] - lse) + (total > 0 ? (lam * (votes.get(v) ?? 0)) / total : 0);
      out[r * vocab + v] = Math.log(p);
    }
  }
  return out;
}

/**
 * A causal search's visibility, counted in entries: a growing store of `capacity` slots
 * held `appended` entries before a chunk (entry e in slot e % capacity), and chunk row r is
 * fed after rows 0..r-1 appended theirs (entries appended..appended + r - 1). Row r sees the
 * last `capacity` entries then appended: a slot if the entry it held before the chunk is
 * still among them, chunk row j's entry if j < r and it is.
 */
export function causalVisibleRef(row: number, key: { slot: number } | { chunkRow: number }, capacity: number, appended: number): boolean {
  const oldestSeen = appended + row - capacity;
  if ("chunkRow" in key) return key.chunkRow < row && appended + key.chunkRow >= oldestSeen;
  if (key.slot >= Math.min(appended, capacity)) return false;
  // The newest entry written to this slot before the chunk.
  const entry = appended - 1 - ((appended - 1 - key.slot) % capacity);
  return entry >= oldestSeen;
}
