// Int8 activations for the quantized GEMV (gemv_i8.wgsl), as llama.cpp quantizes them: per
// block of 32 along K, scale = amax / 127 and q = round(x / scale) in [-127, 127] (all 0 when
// the block is all 0). xq[m, k / 4] holds four q (element 4j + i in byte i of word j),
// xs[m, k / 32] the scales. K % 32 == 0.
// Without LN: one invocation per block. LN (M = 1): the row is first layer-normalised (gamma,
// beta, eps) with row_stats.wgsl's statistics, as matmul.wgsl's fused layer norm does; one
// workgroup then owns the row, each invocation its blocks. LN_OUT: the
// normalised row also goes to `normed` (GPT-2 keeps the hidden state after ln_f).

override WG: u32 = 64;

struct Params {
  M: u32,
  K: u32,
  // First element of x to read (row offset * K).
  x_offset: u32,
  eps: f32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

alias row_t = vec4<f32>;
const LANES: u32 = 4u;

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> xq: array<u32>;
@group(0) @binding(2) var<storage, read_write> xs: array<f32>;
#if LN
@group(0) @binding(3) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> beta: array<vec4<f32>>;
#if LN_OUT
@group(0) @binding(5) var<storage, read_write> normed: array<vec4<f32>>;
#endif
#endif
@group(0) @binding(6) var<uniform> p: Params;

fn hsum(v: row_t) -> f32 {
  return dot(v, vec4<f32>(1.0));
}

fn first_lane(v: row_t) -> f32 {
  return v.x;
}

#if LN
#include common/row_stats
#endif

// Four values as four int8 in one word, element i in byte i.
fn pack_i8(q: vec4<f32>) -> u32 {
  let b = vec4<u32>(bitcast<vec4<u32>>(vec4<i32>(q)) & vec4<u32>(255u));
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// Quantizes the 8 entries (32 values) v of block `block` (m * K / 32 + b).
fn store_block(block: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>) {
  let m = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))), max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
  let amax = max(max(m.x, m.y), max(m.z, m.w));
  let scale = amax / 127.0;
  let inv = select(0.0, 127.0 / amax, amax > 0.0);
  let w = block * 8u;
  xq[w] = pack_i8(round(v0 * inv));
  xq[w + 1u] = pack_i8(round(v1 * inv));
  xq[w + 2u] = pack_i8(round(v2 * inv));
  xq[w + 3u] = pack_i8(round(v3 * inv));
  xq[w + 4u] = pack_i8(round(v4 * inv));
  xq[w + 5u] = pack_i8(round(v5 * inv));
  xq[w + 6u] = pack_i8(round(v6 * inv));
  xq[w + 7u] = pack_i8(round(v7 * inv));
  xs[block] = scale;
}

#if LN
// Entry i (four values) of the normalised row, in matmul.wgsl's order of operations (LN_OUT:
// also stored; each entry belongs to one block, so to one invocation).
fn normalised(stats: RowStats, src: u32, i: u32) -> vec4<f32> {
  let v = ((x[src + i] - stats.pivot) - stats.mean) * stats.inv_std * gamma[i] + beta[i];
#if LN_OUT
  normed[i] = v;
#endif
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let stats = row_stats(lid);
  let src = p.x_offset / 4u;
  for (var b = lid; b < p.K / 32u; b += WG) {
    let e = b * 8u;
    store_block(
      b,
      normalised(stats, src, e), normalised(stats, src, e + 1u), normalised(stats, src, e + 2u), normalised(stats, src, e + 3u),
      normalised(stats, src, e + 4u), normalised(stats, src, e + 5u), normalised(stats, src, e + 6u), normalised(stats, src, e + 7u),
    );
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let block = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (block >= p.M * (p.K / 32u)) {
    return;
  }
  let e = p.x_offset / 4u + block * 8u;
  store_block(block, x[e], x[e + 1u], x[e + 2u], x[e + 3u], x[e + 4u], x[e + 5u], x[e + 6u], x[e + 7u]);
}
#endif
