// out[m, n] = act( sum_k x[m, k] * W[n, k] + bias[n] ) + residual[m, n]
// W is [N, K] row-major (output-major) in one of four encodings (see src/kernels/weights.ts):
//   W_F32  : f32 per element
//   W_F16  : two halves per u32 word, element i in word i / 2 (low half first)
//   W_Q8_0 : two planes: N*K int8 (4 per word, row-major), then from the next 256-byte
//            boundary one f32 scale per block of 32 along K (block (n, b) at n*K/32 + b)
//   W_Q4_0 : the same, the first plane 16 bytes of nibbles per block (byte j: element j in
//            the low nibble, element j + 16 in the high nibble), value q - 8
// Three paths, no barriers but LN's (on SwiftShader they cost far more than they save, GUIDE.md):
//   TILE  (M > 4, K % 4 == 0): a 16 x 4 tile of out per invocation (TM = 16 rows, 4 columns);
//   TILE4, TILE2 (M = 3..4, M = 2): 4 x 4 and 2 x 4 tiles, so a few rows cost few rows;
//   GEMV4 (M = 1, K % 4 == 0): four columns per invocation, four k per load;
//   scalar (K % 4 != 0, f32/f16 only): one column and TM rows per invocation.
// The tiles are unrolled by hand into named registers: indexed arrays of accumulators
// spill to memory on SwiftShader. A tile's accumulator is one f32 per output (a dot of four
// k per step): vec4 accumulators summed at the end hold four times the registers and ran
// 1.2-1.5x slower on SwiftShader (gutenberg's four shapes at 128 rows). Of 8, 16, 24 and 32
// rows, 16 was fastest there (a 128-token gutenberg prefill 762-801 ms against 854-878 for 8
// and 939-1144 for 24 and 32, one sitting). The one-row paths loop over their columns when the grid
// does not cover N in one pass (LN on software adapters).
//
// Two fusions, each replacing a dispatch of its own:
//   LN (M = 1 only): the GEMV multiplies x_hat = LayerNorm(x row) (gamma, beta, eps; the
//     two-pass statistics of layernorm.wgsl), which every workgroup first computes for
//     itself into workgroup memory, with two barriers. A barrier makes SwiftShader run each
//     4-invocation subgroup of a workgroup as a coroutine of its own, so software adapters
//     get a grid of a few 4-invocation workgroups that loop over the columns (see
//     src/kernels/matmul.ts). LN_OUT: workgroup 0 also writes x_hat to `normed` (the LM
//     head keeps the hidden state).
//   KV_WRITE: out rows are GPT-2's fused [q | k | v] (N = 3 * n_head * head_dim); the k and v
//     columns also go into one layer's KV cache at the row's position, in kv_cache.wgsl's
//     layout [n_head, n_ctx, head_dim] (KV_F16: halves, two per word, written by the
//     invocation owning both columns of the pair: GEMV4 and TILE paths only).
// Bindings are numbered by role; a variant declares only those it uses (the others are
// holes in its bind group), so the fused QKV GEMV binds 9 storage buffers.

override WG: u32 = 64;
override TM: u32 = 1;

#include common/matmul_io

// A row of x as the vector paths read it (four k per entry) or as the scalar path does.
#if VEC4
alias row_t = vec4<f32>;
const LANES: u32 = 4u;
#else
alias row_t = f32;
const LANES: u32 = 1u;
#endif

@group(0) @binding(0) var<storage, read> x: array<row_t>;
#if VEC4
// The vector paths' weights: common/weight4.
#else
// Scalar path: f32/f16 weights with K % 4 != 0.
#if W_F32
@group(0) @binding(1) var<storage, read> w: array<f32>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
#endif
#if LN
@group(0) @binding(5) var<storage, read> gamma: array<row_t>;
@group(0) @binding(6) var<storage, read> beta: array<row_t>;
#if LN_OUT
@group(0) @binding(7) var<storage, read_write> normed: array<row_t>;
#endif
#endif
@group(0) @binding(11) var<uniform> p: Params;

#include common/tanh
#include common/matmul_epilogue

#if VEC4
#include common/weight4
#endif

fn hsum(v: row_t) -> f32 {
#if VEC4
  return dot(v, vec4<f32>(1.0));
#else
  return v;
#endif
}

fn first_lane(v: row_t) -> f32 {
#if VEC4
  return v.x;
#else
  return v;
#endif
}

#if LN
#include common/row_stats

override XN: u32 = 1; // K / LANES
var<workgroup> x_hat: array<row_t, XN>;

// Fills x_hat with the layer norm of the row at x_offset, in layernorm.wgsl's order of
// operations (each invocation its slice, then a barrier); `first_group`: this workgroup
// also writes it to `normed`. Every invocation of the workgroup must call it.
fn normalise_row(lid: u32, first_group: bool) {
  let stats = row_stats(lid, p.x_offset / LANES);
  let n = p.K / LANES;
  let src = p.x_offset / LANES;
  for (var i = lid; i < n; i += WG) {
    let v = ((x[src + i] - stats.pivot) - stats.mean) * stats.inv_std * gamma[i] + beta[i];
    x_hat[i] = v;
#if LN_OUT
    if (first_group) {
      normed[i] = v;
    }
#endif
  }
  workgroupBarrier();
}
#endif

// Entry i of the row of x that starts at entry `base` (with LN: of x_hat).
fn x_at(base: u32, i: u32) -> row_t {
#if LN
  return x_hat[i];
#else
  return x[base + i];
#endif
}

#if VEC4
// Writes the first `cols` (1..4) columns n0.. of row m, each the sum of its vec4 accumulator.
fn store_row(m: u32, n0: u32, cols: u32, s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>, s3: vec4<f32>) {
  let ones = vec4<f32>(1.0);
  store4(m, n0, cols, vec4<f32>(dot(s0, ones), dot(s1, ones), dot(s2, ones), dot(s3, ones)));
}
#endif

#if GEMV4
#if W_Q4_0
// The 4 low and the 4 high nibbles of a Q4_0 word as values q - 8 (elements j and j + 16).
fn nibbles_low(word: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u)) - 8.0;
}
fn nibbles_high(word: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) >> vec4<u32>(4u)) & vec4<u32>(15u)) - 8.0;
}
#endif

// Four columns n0.. of the one-row product (columns past N read the last valid row and are
// never written): each activation vec4 serves four weight rows. Quantized weights are summed
// block by block and each block's sum scaled once: one load of the scale per 32 weights
// instead of one per 4 (and for Q4_0 one word per 8 weights).
fn gemv4_columns(xb: u32, n0: u32) {
  let K4 = p.K / 4u;
  let r0 = n0;
  let r1 = min(n0 + 1u, p.N - 1u);
  let r2 = min(n0 + 2u, p.N - 1u);
  let r3 = min(n0 + 3u, p.N - 1u);
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
#if W_Q8_0
  let blocks = K4 / 8u;
  for (var b = 0u; b < blocks; b++) {
    // Block b of each row: 8 quant words from w0.., its scale at block_scale(row * blocks + b).
    let w0 = (r0 * blocks + b) * 8u;
    let w1 = (r1 * blocks + b) * 8u;
    let w2 = (r2 * blocks + b) * 8u;
    let w3 = (r3 * blocks + b) * 8u;
    var t0 = vec4<f32>(0.0);
    var t1 = vec4<f32>(0.0);
    var t2 = vec4<f32>(0.0);
    var t3 = vec4<f32>(0.0);
    for (var j = 0u; j < 8u; j++) {
      let a = x_at(xb, b * 8u + j);
      t0 += a * sext8(w[w0 + j]);
      t1 += a * sext8(w[w1 + j]);
      t2 += a * sext8(w[w2 + j]);
      t3 += a * sext8(w[w3 + j]);
    }
    s0 += t0 * block_scale(r0 * blocks + b);
    s1 += t1 * block_scale(r1 * blocks + b);
    s2 += t2 * block_scale(r2 * blocks + b);
    s3 += t3 * block_scale(r3 * blocks + b);
  }
  store_row(0u, n0, min(4u, p.N - n0), s0, s1, s2, s3);
#elif W_Q4_0
  let blocks = K4 / 8u;
  for (var b = 0u; b < blocks; b++) {
    let w0 = (r0 * blocks + b) * 4u;
    let w1 = (r1 * blocks + b) * 4u;
    let w2 = (r2 * blocks + b) * 4u;
    let w3 = (r3 * blocks + b) * 4u;
    var t0 = vec4<f32>(0.0);
    var t1 = vec4<f32>(0.0);
    var t2 = vec4<f32>(0.0);
    var t3 = vec4<f32>(0.0);
    // Word j holds elements 4j..4j+3 (low nibbles) and 16+4j..16+4j+3 (high nibbles).
    for (var j = 0u; j < 4u; j++) {
      let lo = x_at(xb, b * 8u + j);
      let hi = x_at(xb, b * 8u + j + 4u);
      let q0 = w[w0 + j];
      let q1 = w[w1 + j];
      let q2 = w[w2 + j];
      let q3 = w[w3 + j];
      t0 += lo * nibbles_low(q0) + hi * nibbles_high(q0);
      t1 += lo * nibbles_low(q1) + hi * nibbles_high(q1);
      t2 += lo * nibbles_low(q2) + hi * nibbles_high(q2);
      t3 += lo * nibbles_low(q3) + hi * nibbles_high(q3);
    }
    s0 += t0 * block_scale(r0 * blocks + b);
    s1 += t1 * block_scale(r1 * blocks + b);
    s2 += t2 * block_scale(r2 * blocks + b);
    s3 += t3 * block_scale(r3 * blocks + b);
  }
  store_row(0u, n0, min(4u, p.N - n0), s0, s1, s2, s3);
#else
  // f32 / f16 weights: one f32 per column summing dot(x4, w4) in k order, as the TILE paths
  // do, so a one-row product is bit-identical to that row of a many-row one (an LSTM's
  // step-by-step path equals its batched prompt path).
  var d0 = 0.0;
  var d1 = 0.0;
  var d2 = 0.0;
  var d3 = 0.0;
  for (var k4 = 0u; k4 < K4; k4++) {
    let a = x_at(xb, k4);
    d0 += dot(a, weight4(r0, k4, K4));
    d1 += dot(a, weight4(r1, k4, K4));
    d2 += dot(a, weight4(r2, k4, K4));
    d3 += dot(a, weight4(r3, k4, K4));
  }
  store4(0u, n0, min(4u, p.N - n0), vec4<f32>(d0, d1, d2, d3));
#endif
}
#endif

#if VEC4
#else
// Column n of rows m0.. (up to TM of them), scalar loads (K % 4 != 0, f32/f16 weights).
fn scalar_column(xb: u32, n: u32, m0: u32) {
  let K = p.K;
  let rows = min(TM, p.M - m0);
  var acc: array<f32, 4>; // TM <= 4
  for (var r = 0u; r < TM; r++) {
    acc[r] = 0.0;
  }
#if W_F32
  let wbase = n * K;
  for (var k = 0u; k < K; k++) {
    let wv = w[wbase + k];
    for (var r = 0u; r < rows; r++) {
      acc[r] += x_at(xb + (m0 + r) * K, k) * wv;
    }
  }
#elif W_F16
  let wbase = n * K;
  for (var k = 0u; k < K; k++) {
    let i = wbase + k;
    let pair = unpack2x16float(w[i >> 1u]);
    let wv = select(pair.x, pair.y, (i & 1u) == 1u);
    for (var r = 0u; r < rows; r++) {
      acc[r] += x_at(xb + (m0 + r) * K, k) * wv;
    }
  }
#endif
  for (var r = 0u; r < rows; r++) {
    store(m0 + r, n, acc[r]);
  }
}
#endif

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
#if LN
  // Before any invocation leaves: the whole workgroup takes part.
  normalise_row(lid, wid.x == 0u && wid.y == 0u);
#endif
  let x_row = p.x_offset / LANES;
  let m0 = wid.z * TM;
  let K = p.K;
  let first_column = (wid.y * p.groups_x + wid.x) * WG + lid;
  let grid_columns = groups.x * groups.y * WG;
#if TILE
  // Prefill path: a 16 x 4 tile (rows m0.., columns n0..) per invocation, so each weight
  // vec4 serves 16 rows and each activation vec4 4 columns. Columns past N and rows past
  // M read the last valid one and are never written.
  let n0 = first_column * 4u;
  if (n0 >= p.N || m0 >= p.M) {
    return;
  }
  let K4 = K / 4u;
  let r0 = min(n0 + 0u, p.N - 1u);
  let r1 = min(n0 + 1u, p.N - 1u);
  let r2 = min(n0 + 2u, p.N - 1u);
  let r3 = min(n0 + 3u, p.N - 1u);
  let xb = p.x_offset / 4u;
  let x0 = xb + min(m0 + 0u, p.M - 1u) * K4;
  let x1 = xb + min(m0 + 1u, p.M - 1u) * K4;
  let x2 = xb + min(m0 + 2u, p.M - 1u) * K4;
  let x3 = xb + min(m0 + 3u, p.M - 1u) * K4;
  let x4 = xb + min(m0 + 4u, p.M - 1u) * K4;
  let x5 = xb + min(m0 + 5u, p.M - 1u) * K4;
  let x6 = xb + min(m0 + 6u, p.M - 1u) * K4;
  let x7 = xb + min(m0 + 7u, p.M - 1u) * K4;
  let x8 = xb + min(m0 + 8u, p.M - 1u) * K4;
  let x9 = xb + min(m0 + 9u, p.M - 1u) * K4;
  let x10 = xb + min(m0 + 10u, p.M - 1u) * K4;
  let x11 = xb + min(m0 + 11u, p.M - 1u) * K4;
  let x12 = xb + min(m0 + 12u, p.M - 1u) * K4;
  let x13 = xb + min(m0 + 13u, p.M - 1u) * K4;
  let x14 = xb + min(m0 + 14u, p.M - 1u) * K4;
  let x15 = xb + min(m0 + 15u, p.M - 1u) * K4;
  let rows_here = min(16u, p.M - m0);
  var s0_0 = 0.0; var s0_1 = 0.0; var s0_2 = 0.0; var s0_3 = 0.0;
  var s1_0 = 0.0; var s1_1 = 0.0; var s1_2 = 0.0; var s1_3 = 0.0;
  var s2_0 = 0.0; var s2_1 = 0.0; var s2_2 = 0.0; var s2_3 = 0.0;
  var s3_0 = 0.0; var s3_1 = 0.0; var s3_2 = 0.0; var s3_3 = 0.0;
  var s4_0 = 0.0; var s4_1 = 0.0; var s4_2 = 0.0; var s4_3 = 0.0;
  var s5_0 = 0.0; var s5_1 = 0.0; var s5_2 = 0.0; var s5_3 = 0.0;
  var s6_0 = 0.0; var s6_1 = 0.0; var s6_2 = 0.0; var s6_3 = 0.0;
  var s7_0 = 0.0; var s7_1 = 0.0; var s7_2 = 0.0; var s7_3 = 0.0;
  var s8_0 = 0.0; var s8_1 = 0.0; var s8_2 = 0.0; var s8_3 = 0.0;
  var s9_0 = 0.0; var s9_1 = 0.0; var s9_2 = 0.0; var s9_3 = 0.0;
  var s10_0 = 0.0; var s10_1 = 0.0; var s10_2 = 0.0; var s10_3 = 0.0;
  var s11_0 = 0.0; var s11_1 = 0.0; var s11_2 = 0.0; var s11_3 = 0.0;
  var s12_0 = 0.0; var s12_1 = 0.0; var s12_2 = 0.0; var s12_3 = 0.0;
  var s13_0 = 0.0; var s13_1 = 0.0; var s13_2 = 0.0; var s13_3 = 0.0;
  var s14_0 = 0.0; var s14_1 = 0.0; var s14_2 = 0.0; var s14_3 = 0.0;
  var s15_0 = 0.0; var s15_1 = 0.0; var s15_2 = 0.0; var s15_3 = 0.0;
  for (var k4 = 0u; k4 < K4; k4++) {
    let w0 = weight4(r0, k4, K4);
    let w1 = weight4(r1, k4, K4);
    let w2 = weight4(r2, k4, K4);
    let w3 = weight4(r3, k4, K4);
    // Rows past M are skipped four at a time (the tile's last row group of a forward; the
    // branches are uniform over the workgroup, which shares m0).
    let a0 = x[x0 + k4];
    s0_0 += dot(a0, w0); s0_1 += dot(a0, w1); s0_2 += dot(a0, w2); s0_3 += dot(a0, w3);
    let a1 = x[x1 + k4];
    s1_0 += dot(a1, w0); s1_1 += dot(a1, w1); s1_2 += dot(a1, w2); s1_3 += dot(a1, w3);
    let a2 = x[x2 + k4];
    s2_0 += dot(a2, w0); s2_1 += dot(a2, w1); s2_2 += dot(a2, w2); s2_3 += dot(a2, w3);
    let a3 = x[x3 + k4];
    s3_0 += dot(a3, w0); s3_1 += dot(a3, w1); s3_2 += dot(a3, w2); s3_3 += dot(a3, w3);
    if (rows_here > 4u) {
      let a4 = x[x4 + k4];
      s4_0 += dot(a4, w0); s4_1 += dot(a4, w1); s4_2 += dot(a4, w2); s4_3 += dot(a4, w3);
      let a5 = x[x5 + k4];
      s5_0 += dot(a5, w0); s5_1 += dot(a5, w1); s5_2 += dot(a5, w2); s5_3 += dot(a5, w3);
      let a6 = x[x6 + k4];
      s6_0 += dot(a6, w0); s6_1 += dot(a6, w1); s6_2 += dot(a6, w2); s6_3 += dot(a6, w3);
      let a7 = x[x7 + k4];
      s7_0 += dot(a7, w0); s7_1 += dot(a7, w1); s7_2 += dot(a7, w2); s7_3 += dot(a7, w3);
    }
    if (rows_here > 8u) {
      let a8 = x[x8 + k4];
      s8_0 += dot(a8, w0); s8_1 += dot(a8, w1); s8_2 += dot(a8, w2); s8_3 += dot(a8, w3);
      let a9 = x[x9 + k4];
      s9_0 += dot(a9, w0); s9_1 += dot(a9, w1); s9_2 += dot(a9, w2); s9_3 += dot(a9, w3);
      let a10 = x[x10 + k4];
      s10_0 += dot(a10, w0); s10_1 += dot(a10, w1); s10_2 += dot(a10, w2); s10_3 += dot(a10, w3);
      let a11 = x[x11 + k4];
      s11_0 += dot(a11, w0); s11_1 += dot(a11, w1); s11_2 += dot(a11, w2); s11_3 += dot(a11, w3);
    }
    if (rows_here > 12u) {
      let a12 = x[x12 + k4];
      s12_0 += dot(a12, w0); s12_1 += dot(a12, w1); s12_2 += dot(a12, w2); s12_3 += dot(a12, w3);
      let a13 = x[x13 + k4];
      s13_0 += dot(a13, w0); s13_1 += dot(a13, w1); s13_2 += dot(a13, w2); s13_3 += dot(a13, w3);
      let a14 = x[x14 + k4];
      s14_0 += dot(a14, w0); s14_1 += dot(a14, w1); s14_2 += dot(a14, w2); s14_3 += dot(a14, w3);
      let a15 = x[x15 + k4];
      s15_0 += dot(a15, w0); s15_1 += dot(a15, w1); s15_2 += dot(a15, w2); s15_3 += dot(a15, w3);
    }
  }
  let cols = min(4u, p.N - n0);
  store4(m0, n0, cols, vec4<f32>(s0_0, s0_1, s0_2, s0_3));
  if (1u < rows_here) { store4(m0 + 1u, n0, cols, vec4<f32>(s1_0, s1_1, s1_2, s1_3)); }
  if (2u < rows_here) { store4(m0 + 2u, n0, cols, vec4<f32>(s2_0, s2_1, s2_2, s2_3)); }
  if (3u < rows_here) { store4(m0 + 3u, n0, cols, vec4<f32>(s3_0, s3_1, s3_2, s3_3)); }
  if (4u < rows_here) { store4(m0 + 4u, n0, cols, vec4<f32>(s4_0, s4_1, s4_2, s4_3)); }
  if (5u < rows_here) { store4(m0 + 5u, n0, cols, vec4<f32>(s5_0, s5_1, s5_2, s5_3)); }
  if (6u < rows_here) { store4(m0 + 6u, n0, cols, vec4<f32>(s6_0, s6_1, s6_2, s6_3)); }
  if (7u < rows_here) { store4(m0 + 7u, n0, cols, vec4<f32>(s7_0, s7_1, s7_2, s7_3)); }
  if (8u < rows_here) { store4(m0 + 8u, n0, cols, vec4<f32>(s8_0, s8_1, s8_2, s8_3)); }
  if (9u < rows_here) { store4(m0 + 9u, n0, cols, vec4<f32>(s9_0, s9_1, s9_2, s9_3)); }
  if (10u < rows_here) { store4(m0 + 10u, n0, cols, vec4<f32>(s10_0, s10_1, s10_2, s10_3)); }
  if (11u < rows_here) { store4(m0 + 11u, n0, cols, vec4<f32>(s11_0, s11_1, s11_2, s11_3)); }
  if (12u < rows_here) { store4(m0 + 12u, n0, cols, vec4<f32>(s12_0, s12_1, s12_2, s12_3)); }
  if (13u < rows_here) { store4(m0 + 13u, n0, cols, vec4<f32>(s13_0, s13_1, s13_2, s13_3)); }
  if (14u < rows_here) { store4(m0 + 14u, n0, cols, vec4<f32>(s14_0, s14_1, s14_2, s14_3)); }
  if (15u < rows_here) { store4(m0 + 15u, n0, cols, vec4<f32>(s15_0, s15_1, s15_2, s15_3)); }
#elif TILE4
  // A few rows (speculative verification, short prefills): the 16-row tile would compute
  // rows it then throws away (on SwiftShader a 2-row forward cost as much as an 8-row one),
  // so 2 < M <= 4 gets a 4 x 4 tile.
  let n0 = first_column * 4u;
  if (n0 >= p.N || m0 >= p.M) {
    return;
  }
  let K4 = K / 4u;
  let r0 = min(n0 + 0u, p.N - 1u);
  let r1 = min(n0 + 1u, p.N - 1u);
  let r2 = min(n0 + 2u, p.N - 1u);
  let r3 = min(n0 + 3u, p.N - 1u);
  let xb = p.x_offset / 4u;
  let x0 = xb + min(m0 + 0u, p.M - 1u) * K4;
  let x1 = xb + min(m0 + 1u, p.M - 1u) * K4;
  let x2 = xb + min(m0 + 2u, p.M - 1u) * K4;
  let x3 = xb + min(m0 + 3u, p.M - 1u) * K4;
  var s0_0 = 0.0; var s0_1 = 0.0; var s0_2 = 0.0; var s0_3 = 0.0;
  var s1_0 = 0.0; var s1_1 = 0.0; var s1_2 = 0.0; var s1_3 = 0.0;
  var s2_0 = 0.0; var s2_1 = 0.0; var s2_2 = 0.0; var s2_3 = 0.0;
  var s3_0 = 0.0; var s3_1 = 0.0; var s3_2 = 0.0; var s3_3 = 0.0;
  for (var k4 = 0u; k4 < K4; k4++) {
    let w0 = weight4(r0, k4, K4);
    let w1 = weight4(r1, k4, K4);
    let w2 = weight4(r2, k4, K4);
    let w3 = weight4(r3, k4, K4);
    let a0 = x[x0 + k4];
    let a1 = x[x1 + k4];
    let a2 = x[x2 + k4];
    let a3 = x[x3 + k4];
    s0_0 += dot(a0, w0); s0_1 += dot(a0, w1); s0_2 += dot(a0, w2); s0_3 += dot(a0, w3);
    s1_0 += dot(a1, w0); s1_1 += dot(a1, w1); s1_2 += dot(a1, w2); s1_3 += dot(a1, w3);
    s2_0 += dot(a2, w0); s2_1 += dot(a2, w1); s2_2 += dot(a2, w2); s2_3 += dot(a2, w3);
    s3_0 += dot(a3, w0); s3_1 += dot(a3, w1); s3_2 += dot(a3, w2); s3_3 += dot(a3, w3);
  }
  let rows_here = min(4u, p.M - m0);
  let cols = min(4u, p.N - n0);
  store4(m0, n0, cols, vec4<f32>(s0_0, s0_1, s0_2, s0_3));
  if (1u < rows_here) { store4(m0 + 1u, n0, cols, vec4<f32>(s1_0, s1_1, s1_2, s1_3)); }
  if (2u < rows_here) { store4(m0 + 2u, n0, cols, vec4<f32>(s2_0, s2_1, s2_2, s2_3)); }
  if (3u < rows_here) { store4(m0 + 3u, n0, cols, vec4<f32>(s3_0, s3_1, s3_2, s3_3)); }
#elif TILE2
  // Two rows: a 2 x 4 tile (see TILE4).
  let n0 = first_column * 4u;
  if (n0 >= p.N || m0 >= p.M) {
    return;
  }
  let K4 = K / 4u;
  let r0 = min(n0 + 0u, p.N - 1u);
  let r1 = min(n0 + 1u, p.N - 1u);
  let r2 = min(n0 + 2u, p.N - 1u);
  let r3 = min(n0 + 3u, p.N - 1u);
  let xb = p.x_offset / 4u;
  let x0 = xb + min(m0 + 0u, p.M - 1u) * K4;
  let x1 = xb + min(m0 + 1u, p.M - 1u) * K4;
  var s0_0 = 0.0; var s0_1 = 0.0; var s0_2 = 0.0; var s0_3 = 0.0;
  var s1_0 = 0.0; var s1_1 = 0.0; var s1_2 = 0.0; var s1_3 = 0.0;
  for (var k4 = 0u; k4 < K4; k4++) {
    let w0 = weight4(r0, k4, K4);
    let w1 = weight4(r1, k4, K4);
    let w2 = weight4(r2, k4, K4);
    let w3 = weight4(r3, k4, K4);
    let a0 = x[x0 + k4];
    let a1 = x[x1 + k4];
    s0_0 += dot(a0, w0); s0_1 += dot(a0, w1); s0_2 += dot(a0, w2); s0_3 += dot(a0, w3);
    s1_0 += dot(a1, w0); s1_1 += dot(a1, w1); s1_2 += dot(a1, w2); s1_3 += dot(a1, w3);
  }
  let cols = min(4u, p.N - n0);
  store4(m0, n0, cols, vec4<f32>(s0_0, s0_1, s0_2, s0_3));
  if (m0 + 1u < p.M) { store4(m0 + 1u, n0, cols, vec4<f32>(s1_0, s1_1, s1_2, s1_3)); }
#elif GEMV4
  // Decode path (M = 1): four columns per invocation and pass of the loop, n0 = 4 · (this
  // invocation's index + passes · invocations in the grid); the grid covers N in one pass
  // except for LN on software adapters (see LN above).
  for (var n0 = first_column * 4u; n0 < p.N; n0 += grid_columns * 4u) {
    gemv4_columns(x_row, n0);
  }
#else
  // Scalar path (K % 4 != 0): one column and up to TM rows per invocation and pass.
  if (m0 >= p.M) {
    return;
  }
  for (var n = first_column; n < p.N; n += grid_columns) {
    scalar_column(x_row, n, m0);
  }
#endif
}
