// Causal scaled dot-product attention against a KV cache laid out [n_head, n_ctx, head_dim].
// One invocation per (query row m, head h): it walks keys 0..positions[m] with an online
// softmax (running max and sum), so no barriers and no score matrix. Query row m of head h
// is qkv[m, h*head_dim ..] (the Q part of the fused c_attn output).

override WG: u32 = 64;
const MAX_HEAD_DIM: u32 = 128u;

struct Params {
  m: u32,
  n_head: u32,
  head_dim: u32,
  n_ctx: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
#if CACHE_F16
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;
#else
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn k_at(i: u32) -> f32 {
#if CACHE_F16
  let pair = unpack2x16float(k_cache[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
#else
  return k_cache[i];
#endif
}

fn v_at(i: u32) -> f32 {
#if CACHE_F16
  let pair = unpack2x16float(v_cache[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
#else
  return v_cache[i];
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x;
  if (idx >= p.m * p.n_head) {
    return;
  }
  let m = idx / p.n_head;
  let h = idx % p.n_head;
  let hd = p.head_dim;
  let d_model = p.n_head * hd;
  let last = min(positions[m], p.n_ctx - 1u);
  var q: array<f32, MAX_HEAD_DIM>;
  var acc: array<f32, MAX_HEAD_DIM>;
  let q_base = m * 3u * d_model + h * hd;
  for (var d = 0u; d < hd; d++) {
    q[d] = qkv[q_base + d] * p.scale;
    acc[d] = 0.0;
  }
  var running_max = -3.0e38;
  var running_sum = 0.0;
  let head_base = h * p.n_ctx * hd;
  for (var t = 0u; t <= last; t++) {
    let kb = head_base + t * hd;
    var s = 0.0;
    for (var d = 0u; d < hd; d++) {
      s += q[d] * k_at(kb + d);
    }
    let new_max = max(running_max, s);
    let correction = exp(running_max - new_max);
    let w = exp(s - new_max);
    running_sum = running_sum * correction + w;
    for (var d = 0u; d < hd; d++) {
      acc[d] = acc[d] * correction + w * v_at(kb + d);
    }
    running_max = new_max;
  }
  let inv = 1.0 / running_sum;
  let o_base = m * d_model + h * hd;
  for (var d = 0u; d < hd; d++) {
    out[o_base + d] = acc[d] * inv;
  }
}
