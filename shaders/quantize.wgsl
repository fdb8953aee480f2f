// Int8 activations for the int8 tiles (matmul_i8.wgsl's TILE), per block of 32 along K as
// common/quantize_block says (one-row GEMVs quantize their row themselves). xq[m, k / 4]
// holds four q (element 4j + i in byte i of word j), xs[m, k / 32] the scales. K % 32 == 0.
// Without LN: one invocation per block. LN: each row is first layer-normalised (gamma, beta,
// eps): a workgroup owns a row, with row_stats.wgsl's statistics as matmul.wgsl's fused layer
// norm takes them (GPUs), or, LN_PER_ROW, an invocation owns a row and loops (SwiftShader, where
// a barrier costs more than the row). LN_OUT: the normalised rows also go to `normed` (GPT-2
// keeps the hidden state after ln_f); block (m, b) is entries 8 (m K/32 + b).. of both.

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

#if LN
#include common/row_stats
#endif

#include common/quantize_block

// Quantizes the 8 entries (32 values) v of block `block` (m * K / 32 + b); LN_OUT: also
// stores them in `normed` (its entries block * 8 ..).
fn store_block(block: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>) {
  let qb = quantize_block(v0, v1, v2, v3, v4, v5, v6, v7);
  let w = block * 8u;
  xq[w] = qb.lo.x;
  xq[w + 1u] = qb.lo.y;
  xq[w + 2u] = qb.lo.z;
  xq[w + 3u] = qb.lo.w;
  xq[w + 4u] = qb.hi.x;
  xq[w + 5u] = qb.hi.y;
  xq[w + 6u] = qb.hi.z;
  xq[w + 7u] = qb.hi.w;
  xs[block] = qb.scale;
#if LN
#if LN_OUT
  normed[w] = v0;
  normed[w + 1u] = v1;
  normed[w + 2u] = v2;
  normed[w + 3u] = v3;
  normed[w + 4u] = v4;
  normed[w + 5u] = v5;
  normed[w + 6u] = v6;
  normed[w + 7u] = v7;
#endif
#endif
}

#if LN
// Quantizes block b of row m (its entries start at src) after the layer norm.
fn store_normalised_block(stats: RowStats, src: u32, m: u32, b: u32) {
  let e = b * 8u;
  store_block(
    m * (p.K / 32u) + b,
    normalised(stats, src, e), normalised(stats, src, e + 1u), normalised(stats, src, e + 2u), normalised(stats, src, e + 3u),
    normalised(stats, src, e + 4u), normalised(stats, src, e + 5u), normalised(stats, src, e + 6u), normalised(stats, src, e + 7u),
  );
}

#if LN_PER_ROW
// The row's statistics by one invocation, serial and barrier-free (layernorm.wgsl's PER_ROW:
// on SwiftShader a barrier costs more than a row of arithmetic); relative to the first element.
fn serial_row_stats(src: u32) -> RowStats {
  let n = p.K / 4u;
  let pivot = x[src].x;
  var s = 0.0;
  for (var i = 0u; i < n; i++) {
    s += hsum(x[src + i] - pivot);
  }
  let mean = s / f32(p.K);
  var q = 0.0;
  for (var i = 0u; i < n; i++) {
    let d = (x[src + i] - pivot) - mean;
    q += hsum(d * d);
  }
  return RowStats(pivot, mean, inverseSqrt(q / f32(p.K) + p.eps));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Invocation m owns row m.
  let m = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (m >= p.M) {
    return;
  }
  let src = (p.x_offset + m * p.K) / 4u;
  let stats = serial_row_stats(src);
  for (var b = 0u; b < p.K / 32u; b++) {
    store_normalised_block(stats, src, m, b);
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Workgroup m owns row m (the same m for the whole workgroup, so its barrier is uniform).
  let m = wid.y * p.groups_x + wid.x;
  if (m >= p.M) {
    return;
  }
  let src = (p.x_offset + m * p.K) / 4u;
  let stats = row_stats(lid, src);
  for (var b = lid; b < p.K / 32u; b += WG) {
    store_normalised_block(stats, src, m, b);
  }
}
#endif
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
