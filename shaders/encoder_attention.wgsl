// Bidirectional scaled dot-product attention for an encoder (BERT) over a packed batch:
// the batch's sequences are concatenated row after row, unpadded, in one fused QKV
// activation [M, 3D] (row = [q | k | v], D = n_head * head_dim). Query row m attends to the
// rows key_start[m] .. key_end[m] - 1 (its own sequence): no causal mask, and no padding
// to mask, since a row never sees another sequence's rows.
//
// One invocation per (query row, head), neighbouring invocations on neighbouring rows of one
// head (they walk the same key rows), an online softmax over the keys (running max and sum,
// rescaling the accumulator when the max grows), no barriers. out is [M, D].
//
// HEAD_VEC4 (head_dim % 4 == 0): vec4 loads; otherwise guarded scalar loads.

override WG: u32 = 64;

struct Params {
  m: u32,
  n_head: u32,
  head_dim: u32,
  scale: f32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

// Most negative finite f32: exp(NEG - x) is 0, never NaN.
const NEG: f32 = -3.4028234e38;
// Up to head_dim 128 (BERT-base and MiniLM use 64).
const HD4_CAP: u32 = 32u;

#if HEAD_VEC4
@group(0) @binding(0) var<storage, read> qkv: array<vec4<f32>>;
#else
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
#endif
@group(0) @binding(1) var<storage, read> key_start: array<u32>;
@group(0) @binding(2) var<storage, read> key_end: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<private> q: array<vec4<f32>, HD4_CAP>;
var<private> acc: array<vec4<f32>, HD4_CAP>;

// 4 elements of qkv from element e, of which the first n (1..4) exist; the rest read as 0.
fn load4(e: u32, n: u32) -> vec4<f32> {
#if HEAD_VEC4
  return qkv[e / 4u];
#else
  var r = vec4<f32>(qkv[e], 0.0, 0.0, 0.0);
  if (n > 1u) { r.y = qkv[e + 1u]; }
  if (n > 2u) { r.z = qkv[e + 2u]; }
  if (n > 3u) { r.w = qkv[e + 3u]; }
  return r;
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (i >= p.m * p.n_head) {
    return;
  }
  // Neighbouring invocations: neighbouring query rows of one head.
  let h = i / p.m;
  let m = i % p.m;
  let hd = p.head_dim;
  let hd4 = (hd + 3u) / 4u;
  let D = p.n_head * hd;
  let q_base = m * 3u * D + h * hd;
  for (var c = 0u; c < hd4; c++) {
    q[c] = load4(q_base + 4u * c, hd - 4u * c) * p.scale;
    acc[c] = vec4<f32>(0.0);
  }
  var mx = NEG;
  var sum = 0.0;
  for (var j = key_start[m]; j < key_end[m]; j++) {
    let k_base = j * 3u * D + D + h * hd;
    var s = 0.0;
    for (var c = 0u; c < hd4; c++) {
      s += dot(q[c], load4(k_base + 4u * c, hd - 4u * c));
    }
    let new_max = max(mx, s);
    let rescale = exp(mx - new_max);
    let w = exp(s - new_max);
    sum = sum * rescale + w;
    mx = new_max;
    let v_base = k_base + D;
    for (var c = 0u; c < hd4; c++) {
      acc[c] = acc[c] * rescale + w * load4(v_base + 4u * c, hd - 4u * c);
    }
  }
  // An empty key range (never built by the model) writes zeros, not NaN.
  let inv = select(0.0, 1.0 / sum, sum > 0.0);
  let o = m * D + h * hd;
  for (var c = 0u; c < hd4; c++) {
    let val = acc[c] * inv;
    let n = min(4u, hd - 4u * c);
    out[o + 4u * c] = val.x;
    if (n > 1u) { out[o + 4u * c + 1u] = val.y; }
    if (n > 2u) { out[o + 4u * c + 2u] = val.z; }
    if (n > 3u) { out[o + 4u * c + 3u] = val.w; }
  }
}
