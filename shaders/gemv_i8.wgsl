// One-row matmul (decode) of int8 activations with Q8_0 / Q4_0 weights:
//   out[n] = epilogue( sum over blocks b of ws[n, b] * xs[b] * sum_j q[n, 32b + j] * xq[32b + j] )
// xq, xs come from quantize.wgsl (four int8 per word, one f32 scale per 32); the weights are in
// the planes layout of src/kernels/weights.ts, bound twice: the quants as `wq` (16 bytes per
// load) and, from its 256-aligned offset, the scale plane as `ws`. The 32-term integer dot
// products are exact; only the per-block scaling is floating point.
// DP4: the products use dot4I8Packed (WGSL's packed_4x8_integer_dot_product); otherwise the
// bytes are sign-extended and dotted as vec4<i32>, the same integers.
// Two shapes of the same sum (src/kernels/gemv-i8.ts picks one by measurement):
//   ROWS4: an invocation per four rows walks all of K; each activation load serves four rows
//     (the fast shape on SwiftShader, where loads bound a GEMV and barriers are dear).
//   COOP: a team of lanes per four rows, the lanes striding along K a block (32 values) at a
//     time, so neighbouring lanes read neighbouring 32-byte blocks of a row; the partial sums
//     meet in subgroupAdd (SUBGROUPS: a team is a subgroup) or in a workgroup-memory tree (a
//     team is the workgroup). Teams loop over row quads, so any subgroup size is covered.
// The epilogue (bias, GELU, residual, KV-cache write) is matmul.wgsl's (common/matmul_epilogue).
#if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
#endif

override WG: u32 = 64;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  groups_x: u32,
  x_offset: u32,
  eps: f32,
  head_dim: u32,
  n_ctx: u32,
  // The output's row width and this dispatch's first column in it (common/matmul_epilogue).
  out_cols: u32,
  out_col0: u32,
}

@group(0) @binding(0) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> wq: array<vec4<u32>>;
#if HAS_BIAS
@group(0) @binding(2) var<storage, read> bias: array<f32>;
#endif
#if HAS_RESIDUAL
@group(0) @binding(3) var<storage, read> residual: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> ws: array<f32>;
@group(0) @binding(6) var<storage, read> xs: array<f32>;
#if KV_WRITE
@group(0) @binding(8) var<storage, read> positions: array<u32>;
#if KV_F16
@group(0) @binding(9) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(10) var<storage, read_write> v_cache: array<u32>;
#else
@group(0) @binding(9) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(10) var<storage, read_write> v_cache: array<f32>;
#endif
#endif
@group(0) @binding(11) var<uniform> p: Params;

#include common/tanh
#include common/matmul_epilogue

// sum of 4 int8 products of two words (byte i with byte i).
fn dot4(a: u32, b: u32) -> i32 {
#if DP4
  return dot4I8Packed(a, b);
#else
  let sa = bitcast<vec4<i32>>(vec4<u32>(a << 24u, a << 16u, a << 8u, a)) >> vec4<u32>(24u);
  let sb = bitcast<vec4<i32>>(vec4<u32>(b << 24u, b << 16u, b << 8u, b)) >> vec4<u32>(24u);
  return dot(sa, sb);
#endif
}

// 16 int8 products.
fn dot16(w: vec4<u32>, a: vec4<u32>) -> i32 {
  return dot4(w.x, a.x) + dot4(w.y, a.y) + dot4(w.z, a.z) + dot4(w.w, a.w);
}

#if W_Q8_0
// The integer dot product of chunk c (16 values) of row r with the activations' chunk `a`.
fn chunk_dot(r: u32, c: u32, a: vec4<u32>) -> i32 {
  return dot16(wq[r * (p.K / 16u) + c], a);
}
#else
// The integer dot product of Q4_0 block b of row r (values nibble - 8) with the activations'
// chunks lo (elements 0..15: the low nibbles) and hi (16..31: the high nibbles); a8 is
// 8 * (the sum of those 32 activations), the "- 8" of every nibble.
fn block_dot_q4(r: u32, b: u32, lo: vec4<u32>, hi: vec4<u32>, a8: i32) -> i32 {
  let w = wq[r * (p.K / 32u) + b];
  let mask = vec4<u32>(0x0f0f0f0fu);
  return dot16(w & mask, lo) + dot16((w >> vec4<u32>(4u)) & mask, hi) - a8;
}

// 8 * the sum of the 32 activations of block b.
fn block_sum8(lo: vec4<u32>, hi: vec4<u32>) -> i32 {
  let eights = vec4<u32>(0x08080808u);
  return dot16(eights, lo) + dot16(eights, hi);
}
#endif

// The integer dot products of block b for rows r (four of them), as f32, times their scales.
fn block_terms(r: vec4<u32>, b: u32) -> vec4<f32> {
  let nb = p.K / 32u;
#if W_Q8_0
  let a0 = xq[2u * b];
  let a1 = xq[2u * b + 1u];
  let d = vec4<i32>(
    chunk_dot(r.x, 2u * b, a0) + chunk_dot(r.x, 2u * b + 1u, a1),
    chunk_dot(r.y, 2u * b, a0) + chunk_dot(r.y, 2u * b + 1u, a1),
    chunk_dot(r.z, 2u * b, a0) + chunk_dot(r.z, 2u * b + 1u, a1),
    chunk_dot(r.w, 2u * b, a0) + chunk_dot(r.w, 2u * b + 1u, a1),
  );
#else
  let lo = xq[2u * b];
  let hi = xq[2u * b + 1u];
  let a8 = block_sum8(lo, hi);
  let d = vec4<i32>(block_dot_q4(r.x, b, lo, hi, a8), block_dot_q4(r.y, b, lo, hi, a8), block_dot_q4(r.z, b, lo, hi, a8), block_dot_q4(r.w, b, lo, hi, a8));
#endif
  let scales = vec4<f32>(ws[r.x * nb + b], ws[r.y * nb + b], ws[r.z * nb + b], ws[r.w * nb + b]);
  return vec4<f32>(d) * scales * xs[b];
}

// Rows n0.. (four; past N the last row is read again and never written).
fn quad_rows(n0: u32) -> vec4<u32> {
  let last = p.N - 1u;
  return vec4<u32>(min(n0, last), min(n0 + 1u, last), min(n0 + 2u, last), min(n0 + 3u, last));
}

#if COOP
#if SUBGROUPS
@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) team_size: u32,
) {
  // A team is a subgroup (subgroups of a 1-D workgroup are its consecutive invocations).
  let teams_per_group = WG / team_size;
  let team = (wid.y * p.groups_x + wid.x) * teams_per_group + lid / team_size;
  let teams = groups.x * groups.y * teams_per_group;
  let quads = (p.N + 3u) / 4u;
  for (var q = team; q < quads; q += teams) {
    let r = quad_rows(q * 4u);
    var t = vec4<f32>(0.0);
    for (var b = lane; b < p.K / 32u; b += team_size) {
      t += block_terms(r, b);
    }
    let sum = subgroupAdd(t);
    if (lane == 0u) {
      store4(0u, q * 4u, min(4u, p.N - q * 4u), sum);
    }
  }
}
#else
// A team is the workgroup; its partial sums meet in a tree in workgroup memory.
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let team = wid.y * p.groups_x + wid.x;
  let teams = groups.x * groups.y;
  let quads = (p.N + 3u) / 4u;
  for (var q = team; q < quads; q += teams) {
    let r = quad_rows(q * 4u);
    var t = vec4<f32>(0.0);
    for (var b = lid; b < p.K / 32u; b += WG) {
      t += block_terms(r, b);
    }
    partial[lid] = t;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
      if (lid < half) {
        partial[lid] += partial[lid + half];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      store4(0u, q * 4u, min(4u, p.N - q * 4u), partial[0]);
    }
    workgroupBarrier();
  }
}
#endif
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = ((wid.y * p.groups_x + wid.x) * WG + lid) * 4u;
  if (n0 >= p.N) {
    return;
  }
  let r = quad_rows(n0);
  var t = vec4<f32>(0.0);
  for (var b = 0u; b < p.K / 32u; b++) {
    t += block_terms(r, b);
  }
  store4(0u, n0, min(4u, p.N - n0), t);
}
#endif
