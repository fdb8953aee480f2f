// KV-cache write for GPT-2 attention: copies the K and V parts of every row of the fused
// QKV activation [M, 3D] (row = [q | k | v], D = n_head * head_dim) into one layer's cache
// at that row's absolute position. Cache layout: [n_head, n_ctx, head_dim], so the keys of
// one head are contiguous and the attention loop walks them in order.
// GPT-2 plans use it only where the QKV matmul cannot write the cache in its epilogue
// (`canFuseKvWrite` in src/kernels/matmul.ts: too few storage bindings, or f16 with K % 4 != 0).
// CACHE_F16: the cache holds halves, two per u32 word (element 2i in the low 16 bits);
// each invocation then writes one whole word (a pair of elements), so no two invocations
// share a word. head_dim must be even for that variant.
// Positions >= n_ctx are skipped (never written out of bounds).

override WG: u32 = 64;

struct Params {
  m: u32,
  n_head: u32,
  head_dim: u32,
  n_ctx: u32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
#if CACHE_F16
@group(0) @binding(2) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<u32>;
#else
@group(0) @binding(2) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<f32>;
#endif
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let d_model = p.n_head * p.head_dim;
#if CACHE_F16
  let per_row = d_model / 2u;
#else
  let per_row = d_model;
#endif
  let i = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (i >= p.m * per_row) {
    return;
  }
  let m = i / per_row;
  let pos = positions[m];
  if (pos >= p.n_ctx) {
    return;
  }
#if CACHE_F16
  let e = (i % per_row) * 2u; // first of the pair within the row's D columns
#else
  let e = i % per_row;
#endif
  let h = e / p.head_dim;
  let d = e % p.head_dim;
  let dst = (h * p.n_ctx + pos) * p.head_dim + d;
  let src = m * 3u * d_model + e;
#if CACHE_F16
  k_cache[dst / 2u] = pack2x16float(vec2<f32>(qkv[src + d_model], qkv[src + d_model + 1u]));
  v_cache[dst / 2u] = pack2x16float(vec2<f32>(qkv[src + 2u * d_model], qkv[src + 2u * d_model + 1u]));
#else
  k_cache[dst] = qkv[src + d_model];
  v_cache[dst] = qkv[src + 2u * d_model];
#endif
}
