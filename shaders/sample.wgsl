// Samples one token id from logits [N] on the GPU, so a decode step reads back 4 bytes.
// One workgroup of WG invocations loops over the vocabulary several times:
//   1. mark the ids of the repetition-penalty history in a workgroup bit set;
//   2. temperature <= 0: greedy argmax of the penalised logits (lowest index on ties,
//      NaN below everything, as argmax.wgsl), done;
//   3. z = clamp(penalised logit * (1 / temperature), -1e30, 1e30) (NaN and -inf -> -1e30,
//      +inf -> 1e30), m = max z;
//   4. top-k threshold: the k-th largest z, found exactly by a 16-ary search on the order
//      key of z (8 counting passes at most); every z equal to it is kept;
//   5. top-p threshold: the largest z value t such that the weights of kept tokens with
//      z >= t reach top_p times the weight of all top-k tokens (same search on weights);
//      weights are exp(z - m), or 0 where z - m <= -80;
//   6. inverse CDF in index order: each invocation owns a contiguous chunk, one invocation
//      scans the chunk sums, the owner of goal = random * total walks its chunk.
// Everything is O(N) per pass, about 20 passes at most. src/kernels/reference/sample.ts
// implements the same rules on the CPU.

override WG: u32 = 256;
const WAYS: u32 = 16u;
// Words of the history bit set: ceil(N / 32), set by the wrapper.
override MASK_WORDS: u32 = 1;

struct Shape {
  n: u32,
  out_index: u32,
  chunk: u32,
  _pad: u32,
}

// Sampling (the parameter struct), BIG, CUTOFF, order_key, beats, scaled_logit, token_weight.
#include common/sampling

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> sp: Sampling;
@group(0) @binding(2) var<storage, read> history: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<uniform> shape: Shape;

var<workgroup> seen: array<atomic<u32>, MASK_WORDS>;
var<workgroup> part_u: array<u32, WG>;
var<workgroup> part_i: array<u32, WG>;
var<workgroup> part_v: array<vec4<f32>, WG>;
var<workgroup> fan_v: array<vec4<f32>, FAN>;
var<workgroup> total_v: vec4<f32>;
var<workgroup> fan_u: array<u32, FAN>;
var<workgroup> fan_i: array<u32, FAN>;
var<workgroup> last_kept: atomic<u32>;

// ---- reductions (two levels: WG -> FAN -> 1, three barriers) --------------------------

// workgroup_reduce (f32 max or sum) and its scratch arrays partial, fan, total; FAN.
#include common/workgroup_reduce

fn sum_vec4(lid: u32, v: vec4<f32>) -> vec4<f32> {
  part_v[lid] = v;
  workgroupBarrier();
  if (lid < FAN) {
    let per = WG / FAN;
    var s = vec4<f32>();
    for (var j = 0u; j < per; j++) {
      s += part_v[lid * per + j];
    }
    fan_v[lid] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = vec4<f32>();
    for (var j = 0u; j < FAN; j++) {
      s += fan_v[j];
    }
    total_v = s;
  }
  return workgroupUniformLoad(&total_v);
}

// ---- values ---------------------------------------------------------------------------

fn in_history(i: u32) -> bool {
  return (atomicLoad(&seen[i >> 5u]) & (1u << (i & 31u))) != 0u;
}

// Sanitised, penalised, temperature-scaled logit.
fn scaled(i: u32) -> f32 {
  return scaled_logit(logits[i], in_history(i));
}

// Unnormalised probability of token i if its key reaches `keep`, else 0.
fn weight(i: u32, keep: u32, m: f32) -> f32 {
  let z = scaled(i);
  if (order_key(z) < keep) {
    return 0.0;
  }
  return token_weight(z, m);
}

// ---- steps ----------------------------------------------------------------------------

fn mark_history(lid: u32) {
  let h = min(sp.history_length, arrayLength(&history));
  for (var j = lid; j < h; j += WG) {
    let id = history[j];
    if (id < shape.n) {
      atomicOr(&seen[id >> 5u], 1u << (id & 31u));
    }
  }
}

fn greedy(lid: u32) {
  var bk = 0u;
  var bi = 0xffffffffu;
  for (var i = lid; i < shape.n; i += WG) {
    let k = order_key(penalised(logits[i], in_history(i)));
    if (beats(k, i, bk, bi)) {
      bk = k;
      bi = i;
    }
  }
  part_u[lid] = bk;
  part_i[lid] = bi;
  workgroupBarrier();
  if (lid < FAN) {
    let per = WG / FAN;
    bk = 0u;
    bi = 0xffffffffu;
    for (var j = 0u; j < per; j++) {
      let t = lid * per + j;
      if (beats(part_u[t], part_i[t], bk, bi)) {
        bk = part_u[t];
        bi = part_i[t];
      }
    }
    fan_u[lid] = bk;
    fan_i[lid] = bi;
  }
  workgroupBarrier();
  if (lid == 0u) {
    for (var j = 0u; j < FAN; j++) {
      if (beats(fan_u[j], fan_i[j], bk, bi)) {
        bk = fan_u[j];
        bi = fan_i[j];
      }
    }
    out[shape.out_index] = bi;
  }
}

// Per-thread histogram of the tokens with key >= lo in WAYS bins of 2^shift keys (the last
// bin open-ended): each token adds 1 (counting) or its weight (use_mass). Summed over the
// workgroup; every invocation gets the same, uniform, bins.
fn histogram(lid: u32, lo: u32, shift: u32, use_mass: bool, m: f32) -> array<f32, WAYS> {
  var local: array<f32, WAYS>;
  for (var i = lid; i < shape.n; i += WG) {
    let z = scaled(i);
    let k = order_key(z);
    if (k >= lo) {
      let bin = min((k - lo) >> shift, WAYS - 1u);
      var v = 1.0;
      if (use_mass) {
        v = token_weight(z, m);
      }
      local[bin] += v;
    }
  }
  var bins: array<f32, WAYS>;
  for (var q = 0u; q < WAYS; q += 4u) {
    let t = sum_vec4(lid, vec4<f32>(local[q], local[q + 1u], local[q + 2u], local[q + 3u]));
    bins[q] = t.x;
    bins[q + 1u] = t.y;
    bins[q + 2u] = t.z;
    bins[q + 3u] = t.w;
  }
  return bins;
}

// Largest key K in [lo, hi] with stat(K) >= goal, where stat(K) is the count (or, with
// use_mass, the weight) of the tokens whose key is >= K: non-increasing in K, and
// stat(lo) >= goal on entry. A WAYS-ary search: each pass over the vocabulary narrows the
// range 16-fold, so 8 passes at most for 32-bit keys (a bisection needs 32). Counts are
// exact in f32 (N < 2^24). With use_mass, goal is top_p times stat(lo) from the first pass.
fn search(lid: u32, lo_in: u32, hi_in: u32, count_goal: f32, use_mass: bool, m: f32) -> u32 {
  var lo = lo_in;
  var hi = hi_in;
  var goal = count_goal;
  var first = true;
  while (lo < hi) {
    let span = hi - lo;
    let bits = 32u - countLeadingZeros(span);
    let shift = select(0u, bits - 4u, bits > 4u);
    let bins = histogram(lid, lo, shift, use_mass, m);
    if (use_mass && first) {
      var all = 0.0;
      for (var j = 0u; j < WAYS; j++) {
        all += bins[j];
      }
      goal = sp.top_p * all;
    }
    first = false;
    // stat(lo + j << shift) = sum of bins j..WAYS-1; take the largest j that reaches goal.
    var acc = 0.0;
    var chosen = 0u;
    for (var j = WAYS - 1u; j > 0u; j--) {
      acc += bins[j];
      if ((j << shift) <= span && acc >= goal) {
        chosen = j;
        break;
      }
    }
    let width = 1u << shift;
    let offset = chosen << shift;
    if (chosen < WAYS - 1u && offset + width - 1u < span) {
      hi = lo + offset + width - 1u;
    }
    lo = lo + offset;
  }
  return lo;
}

// Inverse CDF over the kept tokens in index order; writes the id.
fn pick(lid: u32, keep: u32, m: f32) {
  let start = min(lid * shape.chunk, shape.n);
  let end = min(start + shape.chunk, shape.n);
  var s = 0.0;
  var last = 0u; // 1 + index of the last positive weight in the chunk, 0 if none
  for (var i = start; i < end; i++) {
    let w = weight(i, keep, m);
    if (w > 0.0) {
      s += w;
      last = i + 1u;
    }
  }
  partial[lid] = s;
  atomicMax(&last_kept, last);
  workgroupBarrier();
  if (lid == 0u) {
    // Exclusive scan in place: partial[t] becomes the mass before chunk t.
    var acc = 0.0;
    for (var t = 0u; t < WG; t++) {
      let v = partial[t];
      partial[t] = acc;
      acc += v;
    }
    total = acc;
  }
  workgroupBarrier();
  let kept_mass = workgroupUniformLoad(&total);
  let goal = sp.random * kept_mass;
  let before = partial[lid];
  if (s > 0.0 && goal >= before && goal < before + s) {
    var cum = before;
    var chosen = last - 1u;
    for (var i = start; i < end; i++) {
      let w = weight(i, keep, m);
      if (w > 0.0) {
        cum += w;
        if (goal < cum) {
          chosen = i;
          break;
        }
      }
    }
    out[shape.out_index] = chosen;
  }
  if (lid == 0u && !(goal < kept_mass)) {
    // random * kept_mass rounded up to kept_mass: the last kept token.
    out[shape.out_index] = atomicLoad(&last_kept) - 1u;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (sp.penalty != 1.0) {
    mark_history(lid);
  }
  workgroupBarrier();
  if (sp.temperature <= 0.0) {
    greedy(lid);
    return;
  }

  var mx = -BIG;
  for (var i = lid; i < shape.n; i += WG) {
    mx = max(mx, scaled(i));
  }
  let m = workgroup_reduce(lid, mx, true);
  let key_max = order_key(m);

  var keep = order_key(-BIG);
  if (sp.top_k > 0u && sp.top_k < shape.n) {
    keep = search(lid, keep, key_max, f32(sp.top_k), false, m);
  }
  if (sp.top_p < 1.0) {
    keep = search(lid, keep, key_max, 0.0, true, m);
  }
  pick(lid, keep, m);
}
