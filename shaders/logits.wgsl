// Logit processing around sampling (wrappers: src/kernels/logits.ts; the oracle:
// src/kernels/reference/logits.ts). Four entry points:
//   logits_bias: out[i] = logits[offset + i] + bias[i], one invocation per token (the dense
//     bias holds a request's logit_bias, zero elsewhere); with a mask (constrained decoding),
//     tokens whose bit is clear become -F32_MAX instead (never drawn);
//   logits_penalize: one invocation per generated position j; the first occurrence of each
//     id subtracts frequency * count + presence from out[id], so every id is written by one
//     invocation and the result does not depend on scheduling;
//   logprob_blocks: one workgroup per BLOCK tokens: the block's largest logit, its sum of
//     exp(l - largest), and its T highest tokens (value descending, then index ascending);
//   logprob_merge: one workgroup: logsumexp over the blocks, the log-probability of the
//     sampled token, and the T highest tokens overall.
// The top-T search picks, T times, the highest token strictly below the previous pick in that
// order, so it needs no marks and no sorting: T reductions of (value, index) pairs per block.
// NaN and -inf logits count as -F32_MAX (weight 0, ranked last), +inf as F32_MAX.

const F32_MAX: f32 = 3.4028234e38;
const NONE: u32 = 0xffffffffu;
const WG: u32 = 64u;
const GROUP: u32 = 32u;
const BLOCK: u32 = WG * GROUP;
const FAN: u32 = 8u;

struct Shape {
  n: u32,
  // First element of the logits row read (logits may hold several rows).
  offset: u32,
  // Highest tokens reported (0..MAX_TOP), and blocks of BLOCK tokens.
  top: u32,
  blocks: u32,
  // logits_penalize: positions of `generated` it may read; logprob_merge: the sampled id's slot.
  capacity: u32,
  out_index: u32,
  // logits_bias: 1 when `mask` applies.
  masked: u32,
  _pad1: u32,
}

// Written by the CPU before each step.
struct Penalties {
  frequency: f32,
  presence: f32,
  // Ids of `generated` that count (the tokens generated so far by the call).
  generated: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> generated: array<u32>;
@group(0) @binding(4) var<storage, read> penalties: Penalties;
// Per block: (largest, sum of exp) and T (value, index) candidates, as u32 words.
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> candidates: array<vec2<u32>>;
@group(0) @binding(7) var<storage, read> ids: array<u32>;
// [sampled log-probability, logsumexp, T ids, T log-probabilities], as u32 words.
@group(0) @binding(8) var<storage, read_write> result: array<u32>;
// One bit per token (bit i % 32 of word i / 32): set where the token is allowed.
@group(0) @binding(9) var<storage, read> mask: array<u32>;
@group(0) @binding(10) var<uniform> shape: Shape;

// NaN and -inf as -F32_MAX, +inf as F32_MAX, by their bits (float compares with NaN are not
// reliable on every backend).
fn clean(l: f32) -> f32 {
  let bits = bitcast<u32>(l);
  if ((bits & 0x7f800000u) == 0x7f800000u) {
    return select(-F32_MAX, F32_MAX, bits == 0x7f800000u);
  }
  return l;
}

// Whether (av, ai) ranks above (bv, bi): higher value, then lower index.
fn ranks_above(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
  return av > bv || (av == bv && ai < bi);
}

@compute @workgroup_size(256)
fn logits_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * 256u;
  if (i >= shape.n) {
    return;
  }
  var v = logits[shape.offset + i] + bias[i];
  if (shape.masked != 0u && ((mask[i >> 5u] >> (i & 31u)) & 1u) == 0u) {
    v = -F32_MAX;
  }
  out[i] = v;
}

@compute @workgroup_size(64)
fn logits_penalize(@builtin(global_invocation_id) gid: vec3<u32>) {
  let count = min(penalties.generated, shape.capacity);
  let j = gid.x;
  if (j >= count) {
    return;
  }
  let id = generated[j];
  if (id >= shape.n) {
    return;
  }
  for (var k = 0u; k < j; k++) {
    if (generated[k] == id) {
      return;
    }
  }
  var c = 1u;
  for (var k = j + 1u; k < count; k++) {
    c += select(0u, 1u, generated[k] == id);
  }
  out[id] = out[id] - (f32(c) * penalties.frequency + penalties.presence);
}

var<workgroup> part_v: array<f32, WG>;
var<workgroup> part_i: array<u32, WG>;
var<workgroup> fan_v: array<f32, FAN>;
var<workgroup> fan_i: array<u32, FAN>;
var<workgroup> best: vec2<u32>;
var<workgroup> total: f32;

// The highest (value, index) pair of the workgroup, uniform to everyone (has barriers).
fn reduce_pair(lid: u32, v: f32, i: u32) -> vec2<u32> {
  part_v[lid] = v;
  part_i[lid] = i;
  workgroupBarrier();
  if (lid < FAN) {
    let per = WG / FAN;
    var bv = part_v[lid * per];
    var bi = part_i[lid * per];
    for (var k = 1u; k < per; k++) {
      let cv = part_v[lid * per + k];
      let ci = part_i[lid * per + k];
      if (ranks_above(cv, ci, bv, bi)) {
        bv = cv;
        bi = ci;
      }
    }
    fan_v[lid] = bv;
    fan_i[lid] = bi;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var bv = fan_v[0];
    var bi = fan_i[0];
    for (var k = 1u; k < FAN; k++) {
      if (ranks_above(fan_v[k], fan_i[k], bv, bi)) {
        bv = fan_v[k];
        bi = fan_i[k];
      }
    }
    best = vec2<u32>(bitcast<u32>(bv), bi);
  }
  return workgroupUniformLoad(&best);
}

// Max (is_max) or sum of `v` over the workgroup, uniform to everyone (has barriers).
fn reduce_f32(lid: u32, v: f32, is_max: bool) -> f32 {
  part_v[lid] = v;
  workgroupBarrier();
  if (lid < FAN) {
    let per = WG / FAN;
    var s = part_v[lid * per];
    for (var k = 1u; k < per; k++) {
      let e = part_v[lid * per + k];
      s = select(s + e, max(s, e), is_max);
    }
    fan_v[lid] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = fan_v[0];
    for (var k = 1u; k < FAN; k++) {
      s = select(s + fan_v[k], max(s, fan_v[k]), is_max);
    }
    total = s;
  }
  return workgroupUniformLoad(&total);
}

@compute @workgroup_size(64)
fn logprob_blocks(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let base = wid.x * BLOCK;
  var m = -F32_MAX;
  for (var k = 0u; k < GROUP; k++) {
    let i = base + k * WG + lid;
    if (i < shape.n) {
      m = max(m, clean(logits[shape.offset + i]));
    }
  }
  let block_max = reduce_f32(lid, m, true);
  var s = 0.0;
  for (var k = 0u; k < GROUP; k++) {
    let i = base + k * WG + lid;
    if (i < shape.n) {
      s += exp(clean(logits[shape.offset + i]) - block_max);
    }
  }
  let block_sum = reduce_f32(lid, s, false);
  if (lid == 0u) {
    stats[wid.x] = vec2<f32>(block_max, block_sum);
  }
  // The previous pick: only tokens ranking below it remain (none picked yet: all remain).
  var last_v = F32_MAX;
  var last_i = NONE;
  var first = true;
  for (var r = 0u; r < shape.top; r++) {
    var bv = -F32_MAX;
    var bi = NONE;
    for (var k = 0u; k < GROUP; k++) {
      let i = base + k * WG + lid;
      if (i < shape.n) {
        let v = clean(logits[shape.offset + i]);
        if ((first || ranks_above(last_v, last_i, v, i)) && ranks_above(v, i, bv, bi)) {
          bv = v;
          bi = i;
        }
      }
    }
    let pick = reduce_pair(lid, bv, bi);
    if (lid == 0u) {
      candidates[wid.x * shape.top + r] = pick;
    }
    last_v = bitcast<f32>(pick.x);
    last_i = pick.y;
    first = false;
  }
}

@compute @workgroup_size(64)
fn logprob_merge(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var m = -F32_MAX;
  for (var b = lid; b < shape.blocks; b += WG) {
    m = max(m, stats[b].x);
  }
  let all_max = reduce_f32(lid, m, true);
  var s = 0.0;
  for (var b = lid; b < shape.blocks; b += WG) {
    s += stats[b].y * exp(stats[b].x - all_max);
  }
  let lse = all_max + log(reduce_f32(lid, s, false));
  if (lid == 0u) {
    let id = min(ids[shape.out_index], shape.n - 1u);
    result[0] = bitcast<u32>(clean(logits[shape.offset + id]) - lse);
    result[1] = bitcast<u32>(lse);
  }
  let count = shape.blocks * shape.top;
  var last_v = F32_MAX;
  var last_i = NONE;
  var first = true;
  for (var r = 0u; r < shape.top; r++) {
    var bv = -F32_MAX;
    var bi = NONE;
    for (var c = lid; c < count; c += WG) {
      let cand = candidates[c];
      let v = bitcast<f32>(cand.x);
      if (cand.y != NONE && (first || ranks_above(last_v, last_i, v, cand.y)) && ranks_above(v, cand.y, bv, bi)) {
        bv = v;
        bi = cand.y;
      }
    }
    let pick = reduce_pair(lid, bv, bi);
    if (lid == 0u) {
      result[2u + r] = pick.y;
      result[2u + shape.top + r] = bitcast<u32>(bitcast<f32>(pick.x) - lse);
    }
    last_v = bitcast<f32>(pick.x);
    last_i = pick.y;
    first = false;
  }
}
