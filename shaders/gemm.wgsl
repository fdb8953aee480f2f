// out[m, n] = act( sum_k x[m, k] * W[n, k] + bias[n] ) + residual[m, n] for many rows
// (prefill) on hardware GPUs: matmul.wgsl's product and epilogue, shaped for a GPU's memory.
// A workgroup owns a TS x TS tile of out (TS = 32 or 64) and walks K 16 values at a time: its
// invocations first copy that slice of TS rows of x and TS rows of W (dequantized, any layout
// of common/weight4) into workgroup memory, a vec4 each, neighbours reading neighbouring
// words; after a barrier each invocation multiplies its 4 x 4 block of out from there.
// Every value of x and W loaded from memory serves TS multiply-adds instead of 4 or 8 (the
// barrier-free register tiles of matmul.wgsl, which stay for software adapters, where a
// barrier costs a coroutine per 4 invocations).
// An invocation's block: rows 4·ty.. (x reads are broadcasts across a row of invocations) and
// the column pairs 2·tx and TS/2 + 2·tx (W reads from neighbouring lanes are neighbouring
// vec4 pairs; an f16 KV-cache word is a column pair, owned whole). K % 4 == 0; rows past M
// and columns past N read the last valid one and are never written.
// Bindings as matmul.wgsl's, by role: common/matmul_io and common/weight4 (no layer norm: a
// prefill normalises its rows first).

override TS: u32 = 32u;
// Invocations: (TS / 4)^2, each a 4 x 4 block.
override WG: u32 = 64u;
// A K step: 16 values, four vec4 per row.
const KQ: u32 = 4u;

#include common/matmul_io

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(11) var<uniform> p: Params;

#include common/tanh
#include common/matmul_epilogue
#include common/weight4

// The K step's slices: x as [row][k] (entry row * KQ + k), W as [k][column] (entry
// k * TS + column), so that the reads of the multiply below are broadcasts or neighbours.
var<workgroup> x_tile: array<vec4<f32>, TS * KQ>;
var<workgroup> w_tile: array<vec4<f32>, TS * KQ>;

// Writes columns n, n + 1 of row m (those below N), and with an f16 cache their word.
fn store_pair(m: u32, n: u32, v: vec2<f32>) {
  if (n >= p.N) {
    return;
  }
  let v0 = store(m, n, v.x);
  if (n + 1u >= p.N) {
    return;
  }
  let v1 = store(m, n + 1u, v.y);
#if KV_WRITE
#if KV_F16
  cache_store_pair(m, n, v0, v1);
#endif
#endif
}

// Row m of the block (if below M): its four sums, columns c0, c0 + 1, c1, c1 + 1.
fn store_row(m: u32, c0: u32, c1: u32, s: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  store_pair(m, c0, s.xy);
  store_pair(m, c1, s.zw);
}

// One row of x against the block's four columns.
fn row_terms(a: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(a, w0), dot(a, w1), dot(a, w2), dot(a, w3));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n_tile = (wid.y * p.groups_x + wid.x) * TS;
  let m_tile = wid.z * TS;
  let K4 = p.K / 4u;
  let side = TS / 4u;
  let tx = lid % side;
  let ty = lid / side;
  // This invocation's columns within the tile (two pairs) and first row.
  let cl0 = 2u * tx;
  let cl1 = TS / 2u + 2u * tx;
  let rl = 4u * ty;
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K4; k0 += KQ) {
    // Entry e of each slice: row (or column) e / KQ, vec4 e % KQ of the step.
    for (var e = lid; e < TS * KQ; e += WG) {
      let r = e / KQ;
      let k4 = k0 + e % KQ;
      let inside = k4 < K4;
      let kc = min(k4, K4 - 1u);
      let xm = min(m_tile + r, p.M - 1u);
      let wn = min(n_tile + r, p.N - 1u);
      x_tile[e] = select(vec4<f32>(0.0), x[p.x_offset / 4u + xm * K4 + kc], inside);
      w_tile[(e % KQ) * TS + r] = select(vec4<f32>(0.0), weight4(wn, kc, K4), inside);
    }
    workgroupBarrier();
    for (var k = 0u; k < KQ; k++) {
      let w0 = w_tile[k * TS + cl0];
      let w1 = w_tile[k * TS + cl0 + 1u];
      let w2 = w_tile[k * TS + cl1];
      let w3 = w_tile[k * TS + cl1 + 1u];
      s0 += row_terms(x_tile[(rl + 0u) * KQ + k], w0, w1, w2, w3);
      s1 += row_terms(x_tile[(rl + 1u) * KQ + k], w0, w1, w2, w3);
      s2 += row_terms(x_tile[(rl + 2u) * KQ + k], w0, w1, w2, w3);
      s3 += row_terms(x_tile[(rl + 3u) * KQ + k], w0, w1, w2, w3);
    }
    workgroupBarrier();
  }
  let c0 = n_tile + cl0;
  let c1 = n_tile + cl1;
  store_row(m_tile + rl, c0, c1, s0);
  store_row(m_tile + rl + 1u, c0, c1, s1);
  store_row(m_tile + rl + 2u, c0, c1, s2);
  store_row(m_tile + rl + 3u, c0, c1, s3);
}
