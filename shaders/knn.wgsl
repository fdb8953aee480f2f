// kNN-LM external memory: the search (distances, top-k) and the mixture of the neighbours'
// tokens into the model's distribution.
//
// Variants:
//   DISTANCES   d[row, offset + j] = distance from query row to key j of one key shard.
//               Squared L2 (metric 0) or negative inner product (metric 1), so smaller is
//               nearer for both; keys at or beyond live[0] (not filled yet) get the largest
//               finite f32, as do keys a causal search hides from a row (below). No barriers.
//     TILED     dims % 4 == 0: 4 keys x TQ queries per invocation; otherwise one
//               invocation per (key, query).
//     KEYS_F16  keys hold halves packed two per u32 (dims must be even).
//   TOPK        the K smallest (distance, index) pairs of each chunk of a row, sorted
//               ascending, ties broken by the smaller index. One invocation per (chunk, row)
//               keeps a max-heap of the best K (no barriers, which are very expensive on
//               SwiftShader); repeated passes over the candidates reduce every row to K.
//     WITH_INDEX the input holds (distance, index) candidates of an earlier pass; without
//               it the index is the position in the row plus index_base.
//   MIX         one workgroup per row: logits[row] becomes log p with
//               p = lambda * p_knn + (1 - lambda) * softmax(logits), p_knn = softmax(-d / T)
//               over the valid neighbours, each voting for its key's value (token).

override WG: u32 = 64;

// Largest K a TOPK invocation keeps (its private list).
const K_MAX: u32 = 256u;
// An empty slot: never a valid key (stores hold fewer than 2^32 - 1 entries).
const NO_INDEX: u32 = 0xffffffffu;
const INF: f32 = 3.4028234e38;

#if DISTANCES
struct Params {
  n: u32,          // keys in this shard
  dims: u32,
  rows: u32,       // queries
  out_stride: u32, // distances per output row (all shards)
  out_offset: u32, // where this shard's distances start in a row
  metric: u32,     // 0: squared L2, 1: negative inner product
  groups_x: u32,
  query_row0: u32, // first query row to use
  // Causal search: the query rows are consecutive positions of one chunk (row query_row0 + r
  // is chunk row r) that a growing store appends as they are fed, and each row must see the
  // store as it would when fed alone. 0: off (every live key). 1: these keys are the ring's
  // slots, live[1] entries appended before the chunk; the entries of chunk rows before r
  // overwrite the r oldest slots, so a slot whose age (0 = the oldest, the next to be
  // overwritten) is below r is hidden. 2: these keys are the chunk's own rows; row r sees
  // rows j < r, the last `ring` of them.
  causal: u32,
  ring: u32,       // the ring's capacity (causal search)
  _pad0: u32,
  _pad1: u32,
}

#if KEYS_F16
@group(0) @binding(0) var<storage, read> keys: array<u32>;
#else
@group(0) @binding(0) var<storage, read> keys: array<f32>;
#endif
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
// live[0]: keys in use (a growing store fills its shard over time); keys at or beyond it
// get the largest distance and are never written with a real one.
@group(0) @binding(3) var<storage, read> live: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

// Whether query row `row` of this dispatch sees key `j` of this shard.
fn key_visible(row: u32, j: u32) -> bool {
  let chunk_row = p.query_row0 + row;
  if (p.causal == 2u) {
    return j < chunk_row && j + p.ring >= chunk_row;
  }
  let slot = p.out_offset + j;
  if (slot >= live[0]) {
    return false;
  }
  if (p.causal == 0u) {
    return true;
  }
  let age = (slot + p.ring - live[1] % p.ring) % p.ring;
  return age >= chunk_row;
}

#if TILED
// Register tiles: 4 keys x TQ queries per invocation (dims % 4 == 0), so each loaded key
// serves TQ queries and each loaded query 4 keys (memory-bound otherwise).
override TQ: u32 = 4u;

fn key4(j: u32, i: u32) -> vec4<f32> {
#if KEYS_F16
  let w = (j * p.dims + i) / 2u;
  return vec4<f32>(unpack2x16float(keys[w]), unpack2x16float(keys[w + 1u]));
#else
  let w = j * p.dims + i;
  return vec4<f32>(keys[w], keys[w + 1u], keys[w + 2u], keys[w + 3u]);
#endif
}

fn query4(row: u32, i: u32) -> vec4<f32> {
  let w = (p.query_row0 + row) * p.dims + i;
  return vec4<f32>(queries[w], queries[w + 1u], queries[w + 2u], queries[w + 3u]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j0 = (wid.x * WG + lid) * 4u;
  let r0 = wid.y * TQ;
  if (j0 >= p.n || r0 >= p.rows) {
    return;
  }
  var acc: array<f32, 16>;
  for (var t = 0u; t < 16u; t++) {
    acc[t] = 0.0;
  }
  for (var i = 0u; i < p.dims; i += 4u) {
    // Out-of-range keys and queries repeat the last one; their results are not written.
    let k0 = key4(min(j0, p.n - 1u), i);
    let k1 = key4(min(j0 + 1u, p.n - 1u), i);
    let k2 = key4(min(j0 + 2u, p.n - 1u), i);
    let k3 = key4(min(j0 + 3u, p.n - 1u), i);
    for (var r = 0u; r < TQ; r++) {
      let q = query4(min(r0 + r, p.rows - 1u), i);
      if (p.metric == 0u) {
        let d0 = q - k0;
        let d1 = q - k1;
        let d2 = q - k2;
        let d3 = q - k3;
        acc[r * 4u] += dot(d0, d0);
        acc[r * 4u + 1u] += dot(d1, d1);
        acc[r * 4u + 2u] += dot(d2, d2);
        acc[r * 4u + 3u] += dot(d3, d3);
      } else {
        acc[r * 4u] -= dot(q, k0);
        acc[r * 4u + 1u] -= dot(q, k1);
        acc[r * 4u + 2u] -= dot(q, k2);
        acc[r * 4u + 3u] -= dot(q, k3);
      }
    }
  }
  for (var r = 0u; r < TQ; r++) {
    for (var c = 0u; c < 4u; c++) {
      if (r0 + r < p.rows && j0 + c < p.n) {
        out[(r0 + r) * p.out_stride + p.out_offset + j0 + c] = select(INF, acc[r * 4u + c], key_visible(r0 + r, j0 + c));
      }
    }
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * WG + lid;
  let row = wid.y;
  if (j >= p.n || row >= p.rows) {
    return;
  }
  let q = (p.query_row0 + row) * p.dims;
  var acc = 0.0;
#if KEYS_F16
  let base = j * (p.dims / 2u);
  for (var i = 0u; i < p.dims / 2u; i++) {
    let k = unpack2x16float(keys[base + i]);
    let x = vec2<f32>(queries[q + 2u * i], queries[q + 2u * i + 1u]);
    if (p.metric == 0u) {
      let d = x - k;
      acc += dot(d, d);
    } else {
      acc -= dot(x, k);
    }
  }
#else
  let base = j * p.dims;
  for (var i = 0u; i < p.dims; i++) {
    let k = keys[base + i];
    let x = queries[q + i];
    if (p.metric == 0u) {
      acc += (x - k) * (x - k);
    } else {
      acc -= x * k;
    }
  }
#endif
  out[row * p.out_stride + p.out_offset + j] = select(INF, acc, key_visible(row, j));
}
#endif
#endif

#if TOPK
struct Params {
  n: u32,           // candidates per input row
  rows: u32,
  chunk: u32,       // candidates one invocation reduces
  k: u32,           // kept per chunk (<= K_MAX)
  in_stride: u32,
  out_stride: u32,  // = chunks * k
  index_base: u32,  // first pass: index of candidate 0
  chunks: u32,
}

@group(0) @binding(0) var<storage, read> in_dist: array<f32>;
// Candidates' indices (WITH_INDEX); the first pass gets a placeholder.
@group(0) @binding(1) var<storage, read> in_index: array<u32>;
@group(0) @binding(2) var<storage, read_write> out_dist: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_index: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

// (da, ia) comes before (db, ib): nearer first, then the smaller index.
fn before(da: f32, ia: u32, db: f32, ib: u32) -> bool {
  return da < db || (da == db && ia < ib);
}

// The k best candidates so far as a max-heap (the worst kept at the root): a candidate
// that beats the root replaces it in O(log k), where a sorted list would shift O(k)
// entries (dynamically indexed private memory is slow on SwiftShader).
var<private> heap_d: array<f32, K_MAX>;
var<private> heap_i: array<u32, K_MAX>;

// Places (d, i) at `pos` and sifts it down within the first `size` slots.
fn sift_down(start: u32, size: u32, d: f32, i: u32) {
  var pos = start;
  loop {
    let l = 2u * pos + 1u;
    if (l >= size) {
      break;
    }
    // The worse child: it is the one that may move up.
    var c = l;
    if (l + 1u < size && before(heap_d[l], heap_i[l], heap_d[l + 1u], heap_i[l + 1u])) {
      c = l + 1u;
    }
    if (!before(d, i, heap_d[c], heap_i[c])) {
      break;
    }
    heap_d[pos] = heap_d[c];
    heap_i[pos] = heap_i[c];
    pos = c;
  }
  heap_d[pos] = d;
  heap_i[pos] = i;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Keeps in_index statically used in both variants so they share one binding layout.
  // Never taken: k >= 1.
  if (p.k == 0u) {
    out_index[0] = in_index[0];
  }
  let c = wid.x * WG + lid;
  let row = wid.y;
  if (c >= p.chunks || row >= p.rows) {
    return;
  }
  // Empty slots are the worst possible entries, so the filled array is already a heap.
  for (var s = 0u; s < p.k; s++) {
    heap_d[s] = INF;
    heap_i[s] = NO_INDEX;
  }
  let start = c * p.chunk;
  let end = min(start + p.chunk, p.n);
  for (var t = start; t < end; t++) {
    var d = in_dist[row * p.in_stride + t];
#if WITH_INDEX
    let i = in_index[row * p.in_stride + t];
#else
    let i = p.index_base + t;
#endif
    // NaN (a broken key) sorts last, as the largest finite distance.
    if (d != d) {
      d = INF;
    }
    if (i != NO_INDEX && before(d, i, heap_d[0], heap_i[0])) {
      sift_down(0u, p.k, d, i);
    }
  }
  // Heap sort: the root is the worst of the remaining, so the output fills from the end.
  let o = row * p.out_stride + c * p.k;
  for (var size = p.k; size > 0u; size--) {
    out_dist[o + size - 1u] = heap_d[0];
    out_index[o + size - 1u] = heap_i[0];
    let last = size - 1u;
    sift_down(0u, last, heap_d[last], heap_i[last]);
  }
}
#endif

#if MIX
struct Params {
  vocab: u32,
  k: u32,
  rows: u32,
  count: u32,       // entries in the store (valid indices are < count)
  lambda: f32,
  inv_temp: f32,
  row0: u32,        // first logits row to mix (the top-k rows start at 0)
  extra: u32,       // entries after the store's (a causal search's chunk rows): count..count + extra - 1
}

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> top_dist: array<f32>;
@group(0) @binding(2) var<storage, read> top_index: array<u32>;
@group(0) @binding(3) var<storage, read> values: array<u32>;
// live[0]: entries in use; indices at or beyond it (or beyond count) are empty slots, but
// for the `extra` entries after count.
@group(0) @binding(4) var<storage, read> live: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

#include common/workgroup_reduce

// Per neighbour: its token (NO_INDEX when invalid), its weight, and the model's logit of it.
var<workgroup> token: array<u32, K_MAX>;
var<workgroup> weight: array<f32, K_MAX>;
var<workgroup> lm_logit: array<f32, K_MAX>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  if (row >= p.rows) {
    return;
  }
  let base = (p.row0 + row) * p.vocab;
  let nb = row * p.k;

  // log-sum-exp of the model's logits.
  var mx = -INF;
  for (var v = lid; v < p.vocab; v += WG) {
    mx = max(mx, logits[base + v]);
  }
  mx = workgroup_reduce(lid, mx, true);
  var sum = 0.0;
  for (var v = lid; v < p.vocab; v += WG) {
    sum += exp(logits[base + v] - mx);
  }
  let lse = mx + log(workgroup_reduce(lid, sum, false));

  // Neighbour weights: softmax(-d / T) over the valid ones; top_dist is ascending, so the
  // first valid distance is the smallest and every exponent is <= 0.
  let d0 = top_dist[nb];
  let valid = min(p.count, live[0]);
  var wsum = 0.0;
  for (var s = lid; s < p.k; s += WG) {
    let i = top_index[nb + s];
    var w = 0.0;
    var t = NO_INDEX;
    if (i < valid || (i >= p.count && i - p.count < p.extra)) {
      t = min(values[i], p.vocab - 1u);
      w = exp((d0 - top_dist[nb + s]) * p.inv_temp);
      lm_logit[s] = logits[base + t];
    }
    token[s] = t;
    weight[s] = w;
    wsum += w;
  }
  wsum = workgroup_reduce(lid, wsum, false);
  // No valid neighbour (an empty store): the model's distribution alone.
  let lambda = select(0.0, p.lambda, wsum > 0.0);
  let keep = 1.0 - lambda;

  // Every token: log((1 - lambda) * p_lm). All reads of logits happened above.
  let log_keep = select(-INF, log(keep), keep > 0.0);
  for (var v = lid; v < p.vocab; v += WG) {
    logits[base + v] = log_keep + logits[base + v] - lse;
  }
  storageBarrier();
  workgroupBarrier();

  // Tokens with votes: the first neighbour of each token writes its whole mixture.
  for (var s = lid; s < p.k; s += WG) {
    let t = token[s];
    if (t == NO_INDEX) {
      continue;
    }
    var first = true;
    var votes = 0.0;
    for (var r = 0u; r < p.k; r++) {
      if (token[r] == t) {
        votes += weight[r];
        first = first && r >= s;
      }
    }
    if (first) {
      let p_lm = exp(lm_logit[s] - lse);
      logits[base + t] = log(keep * p_lm + lambda * votes / wsum);
    }
  }
}
#endif
