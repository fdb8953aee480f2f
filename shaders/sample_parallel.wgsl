// Samples one token id from logits [N] with the whole GPU, with the rules of SamplingParams
// (src/kernels/sample-params.ts; src/kernels/reference/sample.ts is the oracle). Three
// dispatches (src/kernels/sample-parallel.ts), encoded in this order:
//   mark_history: one workgroup turns the repetition history into a bit set (only with a
//     penalty);
//   select: one workgroup per block of BLOCK tokens, in which invocation t owns the "group"
//     of tokens t, t + WIDE_WG, t + 2 WIDE_WG, ... (so neighbouring invocations read
//     neighbouring words); it writes the group's largest key (of z, the penalised, scaled,
//     clamped logit) and, without top-k, its sum of exp(z - that largest z); greedy: the
//     group's argmax;
//   merge: one workgroup does the rest, recomputing z for the few tokens it looks at.
// SwiftShader's costs shaped this: a workgroup with barriers runs as coroutines that cost per
// invocation when it starts, and workgroup memory is zeroed at a cost that grows with its size
// times the invocations. So select has no barriers and does little per token, the merge is
// one small workgroup, and its arrays live in a storage buffer (`work`).
//
// merge: the floor F is about the K-th largest group maximum, K = top-k (or CAP without
// top-k), and never above it: at least K tokens reach F, and every token that does lies in a
// "hot" group, whose maximum reaches F. U, the tokens of the hot groups that reach F, is
// gathered in index order. U holds every token of the top-k (k <= K), so:
//   - top-k <= CAP: the k-th largest key T by a 256-way radix search over U; the fewer than k
//     tokens above T are sorted, the tokens tied at T weigh the same: top-p is one walk;
//   - no top-k, top-p < 1: a 16-way search on weight over U, if U weighs enough;
//   and the draw is one walk over U in index order.
//   Otherwise (top-k > CAP, too many ties for U, a nucleus reaching below U) the same
//   searches and the draw run over the whole vocabulary in the one workgroup (up to 4
//   counting and 8 weighing passes, then the walk: slower, the same rules). Without top-k
//   and top-p, the groups' sums give each block's weight, and the block in which the draw
//   falls is walked.
// Weights and sums are f32 here and f64 in the reference: near a cumulative boundary the two
// may pick neighbouring tokens (the caveat of SamplingParams). Sums run in a fixed order, so
// the same inputs always give the same id.

const WIDE_WG: u32 = 64u;
const GROUP: u32 = 32u;
const BLOCK: u32 = WIDE_WG * GROUP;
// Invocations of the merge, set by the wrapper (few on SwiftShader, where each costs at
// launch; many on a GPU); at most MAX_MERGE_WG.
override MERGE_WG: u32 = 64u;
const MAX_MERGE_WG: u32 = 256u;
// The largest top-k served from U; also K without top-k.
const CAP: u32 = 128u;
// The most hot groups, and tokens in U, the merge holds.
const HOT_CAP: u32 = 256u;
const U_CAP: u32 = 1024u;
const BINS: u32 = 256u;
const WAYS: u32 = 16u;
const F32_MAX: f32 = 3.4028234e38;
const NONE: u32 = 0xffffffffu;

struct Shape {
  n: u32,
  out_index: u32,
  // Blocks of BLOCK tokens; there are blocks * WIDE_WG groups.
  blocks: u32,
  // First element of the row sampled: logits may hold several rows (a verification step).
  logits_offset: u32,
}

// What `select` leaves for `merge`, per group.
struct Group {
  // The largest key of the group's tokens (0 for a group past N: a number's key is never 0);
  // greedy: the key of the penalised logit.
  top: u32,
  // Greedy: the index of that token. Without top-k: the bits of the sum of exp(z - top z).
  aux: u32,
}

// The merge's arrays (storage, see above). `bins` is all zero between searches.
struct Work {
  // Two sets used in turn by consecutive search passes, so that a pass never writes what the
  // previous one may still read.
  bins: array<atomic<u32>, 2u * BINS>,
  mass_parts: array<f32, 2u * MAX_MERGE_WG * WAYS>,
  // The hot groups in group order; per block that has any, its first entry and how many.
  hot: array<u32, HOT_CAP>,
  hot_blocks: array<vec2<u32>, HOT_CAP>,
  // U in index order: keys and token indices.
  u_keys: array<u32, U_CAP>,
  u_index: array<u32, U_CAP>,
  above_keys: array<u32, CAP>,
  above_order: array<u32, CAP>,
  // One per block.
  block_mass: array<f32>,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> sp: Sampling;
@group(0) @binding(2) var<storage, read> history: array<u32>;
// The same buffer twice: atomic to mark it, plain to read it (in later dispatches), which is
// cheaper per token on SwiftShader.
@group(0) @binding(3) var<storage, read_write> marks: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> marked: array<u32>;
@group(0) @binding(5) var<storage, read_write> groups: array<Group>;
@group(0) @binding(6) var<storage, read_write> work: Work;
@group(0) @binding(7) var<storage, read_write> out: array<u32>;
@group(0) @binding(8) var<uniform> shape: Shape;

// Sampling (the parameter struct), BIG, CUTOFF, order_key, key_value, beats, penalised,
// scaled_logit, token_weight.
#include common/sampling

fn top_k_on() -> bool {
  return sp.top_k > 0u && sp.top_k < shape.n;
}

// The lowest key a search needs: tokens at or below m + CUTOFF weigh 0 and are never drawn,
// so a top-k boundary below it keeps exactly the tokens above it (as no top-k would). This
// keeps a vocabulary mostly masked out (constrained decoding: -F32_MAX) from counting as a
// heavy tie at the boundary.
fn lowest_key(m: f32) -> u32 {
  return order_key(max(-BIG, m + CUTOFF));
}

fn group_count() -> u32 {
  return shape.blocks * WIDE_WG;
}

// Token e (0 .. GROUP) of group g.
fn group_token(g: u32, e: u32) -> u32 {
  return (g / WIDE_WG) * BLOCK + e * WIDE_WG + g % WIDE_WG;
}

// ---- the history bit set ----------------------------------------------------------------------

// One workgroup clears the bit set, then marks the history ids (nothing without a penalty).
// The bit set is laid out by group: bit e of word g marks token e of group g, so that a group
// reads one word.
@compute @workgroup_size(WIDE_WG)
fn mark_history(@builtin(local_invocation_index) lid: u32) {
  if (sp.penalty == 1.0) {
    return;
  }
  for (var w = lid; w < group_count(); w += WIDE_WG) {
    atomicStore(&marks[w], 0u);
  }
  storageBarrier();
  let h = min(sp.history_length, arrayLength(&history));
  for (var j = lid; j < h; j += WIDE_WG) {
    let id = history[j];
    if (id < shape.n) {
      let at = token_place(id);
      atomicOr(&marks[at.x], 1u << at.y);
    }
  }
}

// The group of token i and its place in the group (inverse of group_token).
fn token_place(i: u32) -> vec2<u32> {
  return vec2<u32>((i / BLOCK) * WIDE_WG + i % WIDE_WG, (i % BLOCK) / WIDE_WG);
}

// The marks of group g (0 without a penalty).
fn group_marks(g: u32) -> u32 {
  return select(0u, marked[g], sp.penalty != 1.0);
}

// z of token i.
fn token_z(i: u32) -> f32 {
  let at = token_place(i);
  return scaled_logit(logits[shape.logits_offset + i], ((group_marks(at.x) >> at.y) & 1u) != 0u);
}

// How many tokens of group g (first token `first`) lie below N.
fn group_size(first: u32) -> u32 {
  return select(0u, min(GROUP, (shape.n - first + WIDE_WG - 1u) / WIDE_WG), first < shape.n);
}

// ---- select -------------------------------------------------------------------------------

fn select_greedy(g: u32, first: u32) {
  let ts = token_scale();
  let word = group_marks(g);
  let size = group_size(first);
  var bk = 0u;
  var bi = NONE;
  for (var e = 0u; e < size; e++) {
    let i = first + e * WIDE_WG;
    let k = order_key(penalised_by(logits[shape.logits_offset + i], ((word >> e) & 1u) != 0u, ts));
    if (beats(k, i, bk, bi)) {
      bk = k;
      bi = i;
    }
  }
  groups[g] = Group(bk, bi);
}

// The group's largest key, and the sum of exp(z - running max) rescaled as the max grows.
fn select_with_sum(g: u32, first: u32) {
  let ts = token_scale();
  let word = group_marks(g);
  let size = group_size(first);
  var m = -BIG;
  var s = 0.0;
  for (var e = 0u; e < size; e++) {
    let z = clamp(unclamped_z(logits[shape.logits_offset + first + e * WIDE_WG], ((word >> e) & 1u) != 0u, ts), -BIG, BIG);
    if (z > m) {
      s *= exp(m - z);
      m = z;
    }
    s += exp(z - m);
  }
  groups[g] = Group(select(0u, order_key(m), first < shape.n), bitcast<u32>(s));
}

@compute @workgroup_size(WIDE_WG)
fn select_groups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x * WIDE_WG + lid;
  let first = group_token(g, 0u);
  if (sp.temperature <= 0.0) {
    select_greedy(g, first);
  } else if (top_k_on()) {
    groups[g] = Group(select(0u, order_key(group_max_z(g, first)), first < shape.n), 0u);
  } else {
    select_with_sum(g, first);
  }
}

// The group's largest z (-BIG for a group past N). Rounding a product by a positive number
// is monotone, so the largest penalised logit times 1 / temperature, clamped, is the largest
// z: one multiply per group.
fn group_max_z(g: u32, first: u32) -> f32 {
  let size = group_size(first);
  if (size == 0u) {
    return -BIG;
  }
  let word = group_marks(g);
  let ts = token_scale();
  var top = penalised_by(sanitized(logits[shape.logits_offset + first]), (word & 1u) != 0u, ts);
  if (word == 0u) {
    for (var e = 1u; e < size; e++) {
      top = max(top, sanitized(logits[shape.logits_offset + first + e * WIDE_WG]));
    }
  } else {
    for (var e = 1u; e < size; e++) {
      top = max(top, penalised_by(sanitized(logits[shape.logits_offset + first + e * WIDE_WG]), ((word >> e) & 1u) != 0u, ts));
    }
  }
  return clamp(top * ts.inv_temperature, -BIG, BIG);
}

// ---- merge: workgroup memory (small on purpose, see above) and helpers ----------------------

// A range of tokens to walk in index order: tokens start..end with key >= keep; the goal is
// `goal` (F32_MAX: the last kept token), or random times their weight when of_total.
struct Draw {
  keep: u32,
  start: u32,
  end: u32,
  goal: f32,
  of_total: u32,
}

var<workgroup> lane_keys: array<u32, MERGE_WG>;
var<workgroup> lane_indices: array<u32, MERGE_WG>;
var<workgroup> lane_mass: array<f32, MERGE_WG>;
var<workgroup> mass_bins: array<f32, WAYS>;
var<workgroup> max_key: atomic<u32>;
var<workgroup> max_z: f32;
var<workgroup> count_total: u32;
var<workgroup> narrowed: vec3<u32>;
var<workgroup> kept_key: u32;
var<workgroup> draw: Draw;
var<workgroup> walk_last: atomic<u32>;
var<workgroup> walk_total: f32;
var<workgroup> above_count: atomic<u32>;
var<workgroup> tie_count: atomic<u32>;
var<workgroup> hot_block_count: u32;
// Count and weight search passes so far: which set of work.bins / work.mass_parts a pass uses.
var<private> count_turn: u32;
var<private> mass_turn: u32;

// Where a search looks: the group maxima, U, or every token.
const TOPS: u32 = 0u;
const IN_U: u32 = 1u;
const VOCAB: u32 = 2u;

// Offset of this invocation's `c` items when all invocations' items are laid out in
// invocation order; the total lands in count_total (read it after a barrier).
fn ordered_offset(lid: u32, c: u32) -> u32 {
  lane_keys[lid] = c;
  workgroupBarrier();
  var before = 0u;
  for (var q = 0u; q < lid; q++) {
    before += lane_keys[q];
  }
  if (lid == MERGE_WG - 1u) {
    count_total = before + c;
  }
  return before;
}

// Contiguous share [x, y) of `total` items for invocation lid.
fn share(lid: u32, total: u32) -> vec2<u32> {
  let per = (total + MERGE_WG - 1u) / MERGE_WG;
  let first = min(lid * per, total);
  return vec2<u32>(first, min(first + per, total));
}

// [lo, hi] narrowed to bin `chosen` of width 2^shift (the last of `bins` bins reaches hi).
fn narrow(lo: u32, hi: u32, chosen: u32, shift: u32, bins: u32) -> vec2<u32> {
  let width = 1u << shift;
  let offset = chosen << shift;
  var top = hi;
  if (chosen < bins - 1u && offset + width - 1u < hi - lo) {
    top = lo + offset + width - 1u;
  }
  return vec2<u32>(lo + offset, top);
}

fn zero_bins(lid: u32, bins_at: u32) {
  for (var j = lid; j < BINS; j += MERGE_WG) {
    atomicStore(&work.bins[bins_at + j], 0u);
  }
}

fn count_key(bins_at: u32, k: u32, lo: u32, shift: u32) {
  if (k >= lo) {
    atomicAdd(&work.bins[bins_at + min((k - lo) >> shift, BINS - 1u)], 1u);
  }
}

// Largest key K in [lo, hi] that at least `goal` keys of the domain reach; lo when fewer than
// `goal` reach lo. Keys are bucketed 256 ways per pass (4 passes at most); counts are exact.
// After `passes` passes it stops at the lower end of the range, which at least `goal` reach.
fn count_search(lid: u32, domain: u32, u_count: u32, lo_in: u32, hi_in: u32, goal: u32, passes: u32) -> u32 {
  var lo = lo_in;
  var hi = hi_in;
  for (var done = 0u; done < passes && lo < hi; done++) {
    let span = hi - lo;
    let bits = 32u - countLeadingZeros(span);
    let shift = select(0u, bits - 8u, bits > 8u);
    let bins_at = (count_turn & 1u) * BINS;
    count_turn++;
    // The other set, read by lid 0 in the previous pass, serves the next one.
    zero_bins(lid, BINS - bins_at);
    if (domain == TOPS) {
      for (var g = lid; g < group_count(); g += MERGE_WG) {
        count_key(bins_at, groups[g].top, lo, shift);
      }
    } else if (domain == IN_U) {
      for (var r = lid; r < u_count; r += MERGE_WG) {
        count_key(bins_at, work.u_keys[r], lo, shift);
      }
    } else {
      for (var i = lid; i < shape.n; i += MERGE_WG) {
        count_key(bins_at, order_key(token_z(i)), lo, shift);
      }
    }
    storageBarrier();
    if (lid == 0u) {
      // Keys reaching lo + (j << shift) = sum of bins j..; take the largest j that reaches goal.
      var acc = 0u;
      var chosen = 0u;
      for (var j = BINS - 1u; j > 0u; j--) {
        acc += atomicLoad(&work.bins[bins_at + j]);
        if ((j << shift) <= span && acc >= goal) {
          chosen = j;
          break;
        }
      }
      let reach = select(acc + atomicLoad(&work.bins[bins_at]), acc, chosen > 0u);
      narrowed = vec3<u32>(narrow(lo, hi, chosen, shift, BINS), reach);
    }
    let r = workgroupUniformLoad(&narrowed);
    if (r.z < goal) {
      return lo;
    }
    lo = r.x;
    hi = r.y;
  }
  return lo;
}

fn add_weight(bins: ptr<function, array<f32, WAYS>>, k: u32, lo: u32, shift: u32, m: f32) {
  if (k >= lo) {
    (*bins)[min((k - lo) >> shift, WAYS - 1u)] += token_weight(key_value(k), m);
  }
}

// Largest key K in [lo, hi] such that the keys of the domain (U or every token) reaching K
// weigh at least the goal: `goal`, or with `of_first` top_p times the weight of the keys
// reaching lo. Returns 0 when the keys reaching lo weigh less than the goal. 16 ways per pass
// (8 passes at most); the sums run in a fixed order.
fn mass_search(lid: u32, domain: u32, u_count: u32, lo_in: u32, hi_in: u32, goal_in: f32, of_first: bool, m: f32) -> u32 {
  var lo = lo_in;
  var hi = hi_in;
  var goal = goal_in;
  var first = true;
  loop {
    let span = hi - lo;
    let bits = 32u - countLeadingZeros(span);
    let shift = select(0u, bits - 4u, bits > 4u);
    // Zeroed explicitly: SwiftShader keeps a loop body's uninitialised array from the last pass.
    var local = array<f32, WAYS>();
    if (domain == IN_U) {
      for (var r = lid; r < u_count; r += MERGE_WG) {
        add_weight(&local, work.u_keys[r], lo, shift, m);
      }
    } else {
      for (var i = lid; i < shape.n; i += MERGE_WG) {
        add_weight(&local, order_key(token_z(i)), lo, shift, m);
      }
    }
    let parts = (mass_turn & 1u) * MERGE_WG * WAYS;
    mass_turn++;
    for (var j = 0u; j < WAYS; j++) {
      work.mass_parts[parts + lid * WAYS + j] = local[j];
    }
    storageBarrier();
    if (lid < WAYS) {
      var sum = 0.0;
      for (var q = 0u; q < MERGE_WG; q++) {
        sum += work.mass_parts[parts + q * WAYS + lid];
      }
      mass_bins[lid] = sum;
    }
    let bins = workgroupUniformLoad(&mass_bins);
    if (first) {
      var all = 0.0;
      for (var j = 0u; j < WAYS; j++) {
        all += bins[j];
      }
      if (of_first) {
        goal = sp.top_p * all;
      }
      if (all < goal) {
        return 0u;
      }
      first = false;
    }
    var acc = 0.0;
    var chosen = 0u;
    for (var j = WAYS - 1u; j > 0u; j--) {
      acc += bins[j];
      if ((j << shift) <= span && acc >= goal) {
        chosen = j;
        break;
      }
    }
    let r = narrow(lo, hi, chosen, shift, WAYS);
    lo = r.x;
    hi = r.y;
    if (lo >= hi) {
      break;
    }
  }
  return lo;
}

fn kept_weight(i: u32, keep: u32, m: f32) -> f32 {
  let z = token_z(i);
  if (order_key(z) < keep) {
    return 0.0;
  }
  return token_weight(z, m);
}

// Weight of group g's tokens, from its sum (without top-k).
fn group_weight(g: u32, m: f32) -> f32 {
  let e = groups[g];
  let d = key_value(e.top) - m;
  return select(0.0, bitcast<f32>(e.aux) * exp(d), d > CUTOFF);
}

// Inverse CDF over the kept tokens of d.start .. d.end in index order: each invocation owns a
// contiguous chunk, lid 0 scans the chunk sums, the owner of the goal walks its chunk.
fn walk(lid: u32, d: Draw, m: f32) {
  let mine = share(lid, d.end - d.start) + d.start;
  var s = 0.0;
  var last = 0u; // 1 + index of the chunk's last kept token, 0 if none
  for (var i = mine.x; i < mine.y; i++) {
    let w = kept_weight(i, d.keep, m);
    if (w > 0.0) {
      s += w;
      last = i + 1u;
    }
  }
  lane_mass[lid] = s;
  atomicMax(&walk_last, last);
  workgroupBarrier();
  if (lid == 0u) {
    // Exclusive scan in place: lane_mass[t] becomes the weight before chunk t.
    var acc = 0.0;
    for (var t = 0u; t < MERGE_WG; t++) {
      let v = lane_mass[t];
      lane_mass[t] = acc;
      acc += v;
    }
    walk_total = acc;
  }
  let total = workgroupUniformLoad(&walk_total);
  let goal = select(d.goal, sp.random * total, d.of_total != 0u);
  let before = lane_mass[lid];
  if (s > 0.0 && goal >= before && goal < before + s) {
    var cum = before;
    var chosen = last - 1u;
    for (var i = mine.x; i < mine.y; i++) {
      let w = kept_weight(i, d.keep, m);
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
  if (lid == 0u && !(goal < total)) {
    out[shape.out_index] = atomicLoad(&walk_last) - 1u;
  }
}

// ---- merge: steps ---------------------------------------------------------------------------

fn merge_greedy(lid: u32) {
  var bk = 0u;
  var bi = NONE;
  for (var g = lid; g < group_count(); g += MERGE_WG) {
    let e = groups[g];
    if (beats(e.top, e.aux, bk, bi)) {
      bk = e.top;
      bi = e.aux;
    }
  }
  lane_keys[lid] = bk;
  lane_indices[lid] = bi;
  workgroupBarrier();
  if (lid == 0u) {
    for (var q = 1u; q < MERGE_WG; q++) {
      if (beats(lane_keys[q], lane_indices[q], bk, bi)) {
        bk = lane_keys[q];
        bi = lane_indices[q];
      }
    }
    out[shape.out_index] = bi;
  }
}

// The largest z of all tokens (and the first set of work.bins zeroed).
fn largest_z(lid: u32) -> f32 {
  var top = 0u;
  for (var g = lid; g < group_count(); g += MERGE_WG) {
    top = max(top, groups[g].top);
  }
  atomicMax(&max_key, top);
  zero_bins(lid, 0u);
  storageBarrier();
  workgroupBarrier();
  if (lid == 0u) {
    max_z = key_value(atomicLoad(&max_key));
  }
  return workgroupUniformLoad(&max_z);
}

// work.block_mass: each block's weight, from its groups' sums (without top-k); returns their
// total.
fn block_weights(lid: u32, m: f32) -> f32 {
  for (var b = lid; b < shape.blocks; b += MERGE_WG) {
    var w = 0.0;
    for (var t = 0u; t < WIDE_WG; t++) {
      w += group_weight(b * WIDE_WG + t, m);
    }
    work.block_mass[b] = w;
  }
  storageBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var b = 0u; b < shape.blocks; b++) {
      total += work.block_mass[b];
    }
    walk_total = total;
  }
  return workgroupUniformLoad(&walk_total);
}

// Without top-k and top-p: the block in which random times the total weight falls (past the
// end, by rounding: the last block with weight, and its last token), walked token by token.
fn draw_everything(lid: u32, m: f32) {
  let total = block_weights(lid, m);
  if (lid == 0u) {
    let goal = sp.random * total;
    var before = 0.0;
    var chosen = 0u;
    var local_goal = F32_MAX;
    for (var b = 0u; b < shape.blocks; b++) {
      let w = work.block_mass[b];
      if (w > 0.0) {
        chosen = b;
        if (goal < before + w) {
          local_goal = goal - before;
          break;
        }
        before += w;
      }
    }
    draw = Draw(order_key(-BIG), chosen * BLOCK, min(chosen * BLOCK + BLOCK, shape.n), local_goal, 0u);
  }
  walk(lid, workgroupUniformLoad(&draw), m);
}

// The hot groups (maximum >= floor_key) in group order into work.hot, and the hot blocks
// (first entry, count) into work.hot_blocks; returns how many hot groups (more than HOT_CAP:
// too many to hold, and work.hot is incomplete).
fn collect_hot(lid: u32, floor_key: u32) -> u32 {
  let mine = share(lid, group_count());
  var c = 0u;
  for (var g = mine.x; g < mine.y; g++) {
    c += select(0u, 1u, groups[g].top >= floor_key);
  }
  var at = ordered_offset(lid, c);
  for (var g = mine.x; g < mine.y; g++) {
    if (groups[g].top >= floor_key) {
      if (at < HOT_CAP) {
        work.hot[at] = g;
      }
      at++;
    }
  }
  storageBarrier();
  let n_hot = workgroupUniformLoad(&count_total);
  if (lid == 0u && n_hot <= HOT_CAP) {
    var blocks = 0u;
    var h = 0u;
    while (h < n_hot) {
      let b = work.hot[h] / WIDE_WG;
      var end = h + 1u;
      while (end < n_hot && work.hot[end] / WIDE_WG == b) {
        end++;
      }
      work.hot_blocks[blocks] = vec2<u32>(h, end - h);
      blocks++;
      h = end;
    }
    hot_block_count = blocks;
  }
  storageBarrier();
  return n_hot;
}

// U: the tokens of the hot groups whose key reaches floor_key, in index order, into
// work.u_keys and work.u_index; returns how many (more than U_CAP: too many to hold). Row e
// of a hot block is token e of each of its hot groups, in group order: rows in order are
// tokens in index order.
fn collect_u(lid: u32, floor_key: u32) -> u32 {
  let rows = share(lid, workgroupUniformLoad(&hot_block_count) * GROUP);
  var c = 0u;
  for (var row = rows.x; row < rows.y; row++) {
    let run = work.hot_blocks[row / GROUP];
    for (var h = run.x; h < run.x + run.y; h++) {
      let i = group_token(work.hot[h], row % GROUP);
      c += select(0u, 1u, i < shape.n && order_key(token_z(i)) >= floor_key);
    }
  }
  var at = ordered_offset(lid, c);
  for (var row = rows.x; row < rows.y; row++) {
    let run = work.hot_blocks[row / GROUP];
    for (var h = run.x; h < run.x + run.y; h++) {
      let i = group_token(work.hot[h], row % GROUP);
      if (i < shape.n) {
        let k = order_key(token_z(i));
        if (k >= floor_key) {
          if (at < U_CAP) {
            work.u_keys[at] = k;
            work.u_index[at] = i;
          }
          at++;
        }
      }
    }
  }
  storageBarrier();
  return workgroupUniformLoad(&count_total);
}

// Top-p over the top-k tokens of U (t: the k-th largest key): the fewer than k keys above t,
// sorted, then the tie at t, whose tokens weigh the same. Returns the smallest kept key.
fn top_p_within_top_k(lid: u32, u_count: u32, t: u32, m: f32) -> u32 {
  for (var r = lid; r < u_count; r += MERGE_WG) {
    let k = work.u_keys[r];
    if (k > t) {
      let slot = atomicAdd(&above_count, 1u);
      if (slot < CAP) {
        work.above_keys[slot] = k;
      }
    } else if (k == t) {
      atomicAdd(&tie_count, 1u);
    }
  }
  workgroupBarrier();
  storageBarrier();
  let n = min(atomicLoad(&above_count), CAP);
  // above_order: largest key first (ties by slot; equal keys weigh the same, so their order
  // changes no sum).
  for (var a = lid; a < n; a += MERGE_WG) {
    let ka = work.above_keys[a];
    var rank = 0u;
    for (var b = 0u; b < n; b++) {
      let kb = work.above_keys[b];
      rank += select(0u, 1u, kb > ka || (kb == ka && b < a));
    }
    work.above_order[rank] = a;
  }
  storageBarrier();
  if (lid == 0u) {
    var all = 0.0;
    for (var r = 0u; r < n; r++) {
      all += token_weight(key_value(work.above_keys[work.above_order[r]]), m);
    }
    all += f32(atomicLoad(&tie_count)) * token_weight(key_value(t), m);
    let goal = sp.top_p * all;
    var cum = 0.0;
    var keep = t;
    for (var r = 0u; r < n; r++) {
      let k = work.above_keys[work.above_order[r]];
      cum += token_weight(key_value(k), m);
      let run_ends = r + 1u == n || work.above_keys[work.above_order[r + 1u]] != k;
      if (run_ends && cum >= goal) {
        keep = k;
        break;
      }
    }
    kept_key = keep;
  }
  return workgroupUniformLoad(&kept_key);
}

// Lid 0: the draw over the tokens of U that reach keep, in index order.
fn draw_from_u(u_count: u32, keep: u32, m: f32) {
  var total = 0.0;
  for (var r = 0u; r < u_count; r++) {
    let k = work.u_keys[r];
    if (k >= keep) {
      total += token_weight(key_value(k), m);
    }
  }
  let goal = sp.random * total;
  var cum = 0.0;
  var chosen = NONE;
  for (var r = 0u; r < u_count; r++) {
    let k = work.u_keys[r];
    let w = select(0.0, token_weight(key_value(k), m), k >= keep);
    if (w > 0.0) {
      chosen = r;
      cum += w;
      if (goal < cum) {
        break;
      }
    }
  }
  out[shape.out_index] = work.u_index[chosen];
}

// Top-k <= CAP, or top-p without top-k, from U; false when U cannot serve (too many hot groups
// or tokens, or a nucleus that reaches below U): the caller then uses the whole vocabulary.
fn sample_from_u(lid: u32, m: f32) -> bool {
  let k_on = top_k_on();
  let hi = order_key(m);
  // Two passes resolve the floor to 16 bits of the key: close enough, and never too high.
  let floor_key = count_search(lid, TOPS, 0u, lowest_key(m), hi, select(CAP, sp.top_k, k_on), 2u);
  let n_hot = collect_hot(lid, floor_key);
  if (n_hot > HOT_CAP) {
    return false;
  }
  let u_count = collect_u(lid, floor_key);
  if (u_count > U_CAP) {
    return false;
  }
  var keep = 0u;
  if (k_on) {
    keep = count_search(lid, IN_U, u_count, floor_key, hi, sp.top_k, 4u);
    if (sp.top_p < 1.0) {
      keep = top_p_within_top_k(lid, u_count, keep, m);
    }
  } else {
    let goal = sp.top_p * block_weights(lid, m);
    keep = mass_search(lid, IN_U, u_count, floor_key, hi, goal, false, m);
    if (keep == 0u) {
      return false;
    }
  }
  if (lid == 0u) {
    draw_from_u(u_count, keep, m);
  }
  return true;
}

// Top-k and top-p searched, and the draw walked, over every token in one workgroup.
fn sample_from_vocabulary(lid: u32, m: f32) {
  let hi = order_key(m);
  var keep = lowest_key(m);
  if (top_k_on()) {
    keep = count_search(lid, VOCAB, 0u, keep, hi, sp.top_k, 4u);
  }
  if (sp.top_p < 1.0) {
    keep = mass_search(lid, VOCAB, 0u, keep, hi, 0.0, true, m);
  }
  walk(lid, Draw(keep, 0u, shape.n, 0.0, 1u), m);
}

@compute @workgroup_size(MERGE_WG)
fn merge(@builtin(local_invocation_index) lid: u32) {
  if (sp.temperature <= 0.0) {
    merge_greedy(lid);
    return;
  }
  let m = largest_z(lid);
  if (!top_k_on() && sp.top_p >= 1.0) {
    draw_everything(lid, m);
  } else if ((top_k_on() && sp.top_k > CAP) || !sample_from_u(lid, m)) {
    sample_from_vocabulary(lid, m);
  }
}
