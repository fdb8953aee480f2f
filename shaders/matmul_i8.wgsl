// Matmuls of int8 activations with Q8_0 / Q4_0 weights:
//   out[m, n] = epilogue( sum over blocks b of ws[n, b] * xs[m, b] * sum_j q[n, 32b + j] * xq[m, 32b + j] )
// The weights are in the planes layout of src/kernels/weights.ts, bound twice: the quants as
// `wq` (16 bytes per load) and, from its 256-aligned offset, the scale plane as `ws`. The
// 32-term integer dot products are exact; only the per-block scaling is floating point.
// The activations (four int8 per word, one f32 scale per 32) are quantized as
// common/quantize_block says: for many rows by quantize.wgsl into xq, xs; for one row by each
// workgroup itself, from the f32 row x into workgroup memory (LN: layer-normalised first, with
// matmul.wgsl's row statistics; LN_OUT: workgroup 0 also keeps the normalised row in `normed`),
// which saves a dispatch per matmul and costs each workgroup one pass over a row of K.
// DP4: the products use dot4I8Packed (WGSL's packed_4x8_integer_dot_product); otherwise the
// bytes are sign-extended and dotted as vec4<i32>, the same integers.
// One row (decode), two shapes of the same sum (the tuner picks one, src/models/gpt2-tune.ts):
//   ROWS4: an invocation per four rows of W walks all of K; each activation load serves four
//     rows. A few invocations loop over the row quads (the fast shape on SwiftShader, where
//     loads bound a GEMV and every 4-invocation group of a workgroup with a barrier costs a
//     coroutine: src/kernels/matmul.ts, FEW_WG).
//   COOP: a team of lanes per four rows of W, the lanes striding along K a block (32 values)
//     at a time, so neighbouring lanes read neighbouring 32-byte blocks of a row; the partial
//     sums meet in subgroupAdd (SUBGROUPS: a team is a subgroup) or in a workgroup-memory tree
//     (a team is the workgroup). Teams loop over row quads, so any subgroup size is covered.
// Many rows (prefill), TILE: an invocation per TM rows of x by four rows of W (TM = 2, 4 or 8),
//   each block of weights loaded once for all TM rows, the accumulators in named registers.
// The epilogue (bias, GELU, residual, KV-cache write) is matmul.wgsl's (common/matmul_epilogue).
#if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
#endif

override WG: u32 = 64;
override TM: u32 = 8;
// One row: its 16-byte chunks of quants (K / 16) and its blocks (K / 32).
override KCHUNKS: u32 = 48u;
override KBLOCKS: u32 = 24u;

#include common/matmul_io

#if TILE
@group(0) @binding(0) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> xs: array<f32>;
#else
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
#if LN
@group(0) @binding(12) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> beta: array<vec4<f32>>;
#if LN_OUT
@group(0) @binding(14) var<storage, read_write> normed: array<vec4<f32>>;
#endif
#endif
#endif
@group(0) @binding(1) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> ws: array<f32>;
// The uniform comes after every role's binding (makeDispatch appends it: 12-14 are the fused
// layer norm's, numbered past matmul.wgsl's roles).
@group(0) @binding(15) var<uniform> p: Params;

#include common/tanh
#include common/matmul_epilogue

#if TILE
#else
#if LN
#include common/row_stats
#endif
#include common/quantize_block

// The workgroup's copy of the quantized row.
var<workgroup> row_q: array<vec4<u32>, KCHUNKS>;
var<workgroup> row_s: array<f32, KBLOCKS>;

#if LN
var<private> ln_stats: RowStats;
#endif

// Entry i (four values) of the row to quantize, the row starting at entry src of x.
fn row_entry(src: u32, i: u32) -> vec4<f32> {
#if LN
  return normalised(ln_stats, src, i);
#else
  return x[src + i];
#endif
}

// Quantizes the row into row_q / row_s, an invocation per block; `keep`: also store the
// normalised row (LN_OUT). Every invocation of the workgroup must call it (it has barriers).
fn quantize_row(lid: u32, keep: bool) {
  let src = p.x_offset / 4u;
#if LN
  ln_stats = row_stats(lid, src);
#endif
  for (var b = lid; b < p.K / 32u; b += WG) {
    let e = 8u * b;
    let v0 = row_entry(src, e); let v1 = row_entry(src, e + 1u); let v2 = row_entry(src, e + 2u); let v3 = row_entry(src, e + 3u);
    let v4 = row_entry(src, e + 4u); let v5 = row_entry(src, e + 5u); let v6 = row_entry(src, e + 6u); let v7 = row_entry(src, e + 7u);
    let qb = quantize_block(v0, v1, v2, v3, v4, v5, v6, v7);
    row_q[2u * b] = qb.lo;
    row_q[2u * b + 1u] = qb.hi;
    row_s[b] = qb.scale;
#if LN_OUT
    if (keep) {
      normed[e] = v0; normed[e + 1u] = v1; normed[e + 2u] = v2; normed[e + 3u] = v3;
      normed[e + 4u] = v4; normed[e + 5u] = v5; normed[e + 6u] = v6; normed[e + 7u] = v7;
    }
#endif
  }
  workgroupBarrier();
}
#endif

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

#if TILE
#else
// The integer dot products of block b of the quantized row with W rows r (four of them), as
// f32, times their scales.
fn block_terms(r: vec4<u32>, b: u32) -> vec4<f32> {
  let nb = p.K / 32u;
#if W_Q8_0
  let a0 = row_q[2u * b];
  let a1 = row_q[2u * b + 1u];
  let d = vec4<i32>(
    chunk_dot(r.x, 2u * b, a0) + chunk_dot(r.x, 2u * b + 1u, a1),
    chunk_dot(r.y, 2u * b, a0) + chunk_dot(r.y, 2u * b + 1u, a1),
    chunk_dot(r.z, 2u * b, a0) + chunk_dot(r.z, 2u * b + 1u, a1),
    chunk_dot(r.w, 2u * b, a0) + chunk_dot(r.w, 2u * b + 1u, a1),
  );
#else
  let lo = row_q[2u * b];
  let hi = row_q[2u * b + 1u];
  let a8 = block_sum8(lo, hi);
  let d = vec4<i32>(block_dot_q4(r.x, b, lo, hi, a8), block_dot_q4(r.y, b, lo, hi, a8), block_dot_q4(r.z, b, lo, hi, a8), block_dot_q4(r.w, b, lo, hi, a8));
#endif
  let scales = vec4<f32>(ws[r.x * nb + b], ws[r.y * nb + b], ws[r.z * nb + b], ws[r.w * nb + b]);
  return vec4<f32>(d) * scales * row_s[b];
}
#endif

// Rows n0.. (four; past N the last row is read again and never written).
fn quad_rows(n0: u32) -> vec4<u32> {
  let last = p.N - 1u;
  return vec4<u32>(min(n0, last), min(n0 + 1u, last), min(n0 + 2u, last), min(n0 + 3u, last));
}

#if TILE
// Block b of activation row m against four W rows (their chunks w*a, w*b and scales):
// the four scaled sums.
fn tile_terms(m: u32, b: u32, w0a: vec4<u32>, w0b: vec4<u32>, w1a: vec4<u32>, w1b: vec4<u32>, w2a: vec4<u32>, w2b: vec4<u32>, w3a: vec4<u32>, w3b: vec4<u32>, scales: vec4<f32>) -> vec4<f32> {
  let nb = p.K / 32u;
  let a = xq[m * (p.K / 16u) + 2u * b];
  let c = xq[m * (p.K / 16u) + 2u * b + 1u];
#if W_Q8_0
  let d = vec4<i32>(dot16(w0a, a) + dot16(w0b, c), dot16(w1a, a) + dot16(w1b, c), dot16(w2a, a) + dot16(w2b, c), dot16(w3a, a) + dot16(w3b, c));
#else
  // Q4_0: w*a are the block's low nibbles (elements 0..15), w*b unused; see block_dot_q4.
  let mask = vec4<u32>(0x0f0f0f0fu);
  let a8 = block_sum8(a, c);
  let d = vec4<i32>(
    dot16(w0a & mask, a) + dot16((w0a >> vec4<u32>(4u)) & mask, c) - a8,
    dot16(w1a & mask, a) + dot16((w1a >> vec4<u32>(4u)) & mask, c) - a8,
    dot16(w2a & mask, a) + dot16((w2a >> vec4<u32>(4u)) & mask, c) - a8,
    dot16(w3a & mask, a) + dot16((w3a >> vec4<u32>(4u)) & mask, c) - a8,
  );
#endif
  return vec4<f32>(d) * scales * xs[m * nb + b];
}

// Chunk `c` of W row r: for Q8_0, 16 of its int8 (two per block); for Q4_0, block c whole.
fn w_chunk(r: u32, c: u32) -> vec4<u32> {
#if W_Q8_0
  return wq[r * (p.K / 16u) + c];
#else
  return wq[r * (p.K / 32u) + c];
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = ((wid.y * p.groups_x + wid.x) * WG + lid) * 4u;
  let m0 = wid.z * TM;
  if (n0 >= p.N || m0 >= p.M) {
    return;
  }
  let r = quad_rows(n0);
  let nb = p.K / 32u;
  // Rows past M are skipped (a verification's few rows rarely fill the tile; the branches
  // are uniform over the workgroup, which shares m0).
  let last = p.M - 1u;
  let rows = min(TM, p.M - m0);
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
  for (var b = 0u; b < nb; b++) {
#if W_Q8_0
    let w0a = w_chunk(r.x, 2u * b); let w0b = w_chunk(r.x, 2u * b + 1u);
    let w1a = w_chunk(r.y, 2u * b); let w1b = w_chunk(r.y, 2u * b + 1u);
    let w2a = w_chunk(r.z, 2u * b); let w2b = w_chunk(r.z, 2u * b + 1u);
    let w3a = w_chunk(r.w, 2u * b); let w3b = w_chunk(r.w, 2u * b + 1u);
#else
    let w0a = w_chunk(r.x, b); let w1a = w_chunk(r.y, b); let w2a = w_chunk(r.z, b); let w3a = w_chunk(r.w, b);
    let w0b = w0a; let w1b = w1a; let w2b = w2a; let w3b = w3a;
#endif
    let sc = vec4<f32>(ws[r.x * nb + b], ws[r.y * nb + b], ws[r.z * nb + b], ws[r.w * nb + b]);
    a0 += tile_terms(m0, b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc);
    if (TM > 1u && rows > 1u) { a1 += tile_terms(min(m0 + 1u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
    if (TM > 2u && rows > 2u) { a2 += tile_terms(min(m0 + 2u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
    if (TM > 2u && rows > 3u) { a3 += tile_terms(min(m0 + 3u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
    if (TM > 4u && rows > 4u) { a4 += tile_terms(min(m0 + 4u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
    if (TM > 4u && rows > 5u) { a5 += tile_terms(min(m0 + 5u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
    if (TM > 4u && rows > 6u) { a6 += tile_terms(min(m0 + 6u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
    if (TM > 4u && rows > 7u) { a7 += tile_terms(min(m0 + 7u, last), b, w0a, w0b, w1a, w1b, w2a, w2b, w3a, w3b, sc); }
  }
  let cols = min(4u, p.N - n0);
  store4(m0, n0, cols, a0);
  if (rows > 1u) { store4(m0 + 1u, n0, cols, a1); }
  if (rows > 2u) { store4(m0 + 2u, n0, cols, a2); }
  if (rows > 3u) { store4(m0 + 3u, n0, cols, a3); }
  if (rows > 4u) { store4(m0 + 4u, n0, cols, a4); }
  if (rows > 5u) { store4(m0 + 5u, n0, cols, a5); }
  if (rows > 6u) { store4(m0 + 6u, n0, cols, a6); }
  if (rows > 7u) { store4(m0 + 7u, n0, cols, a7); }
}
#elif COOP
#if SUBGROUPS
@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) team_size: u32,
) {
  quantize_row(lid, wid.x == 0u && wid.y == 0u);
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
  quantize_row(lid, wid.x == 0u && wid.y == 0u);
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
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  quantize_row(lid, wid.x == 0u && wid.y == 0u);
  let invocations = groups.x * groups.y * WG;
  let quads = (p.N + 3u) / 4u;
  for (var q = (wid.y * p.groups_x + wid.x) * WG + lid; q < quads; q += invocations) {
    let n0 = q * 4u;
    let r = quad_rows(n0);
    var t = vec4<f32>(0.0);
    for (var b = 0u; b < p.K / 32u; b++) {
      t += block_terms(r, b);
    }
    store4(0u, n0, min(4u, p.N - n0), t);
  }
}
#endif
