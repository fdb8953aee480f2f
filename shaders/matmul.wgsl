// out[m, n] = act( sum_k x[m, k] * W[n, k] + bias[n] ) + residual[m, n]
// W is [N, K] row-major (output-major) in one of four encodings (see src/kernels/weights.ts):
//   W_F32  : f32 per element
//   W_F16  : two halves per u32 word, element i in word i / 2 (low half first)
//   W_Q8_0 : 9 words per block of 32 along K: f32 scale, then 32 int8 (4 per word)
//   W_Q4_0 : 5 words per block of 32 along K: f32 scale, then 16 bytes of nibbles
//            (byte j: element j in the low nibble, element j + 16 in the high nibble), value q - 8
// Each invocation owns one output column n and TM consecutive rows m: it reads its weight
// row once for TM activation rows (TM = 1 is the GEMV path). No barriers: on SwiftShader they
// cost far more than they save (shared GUIDE.md).

override WG: u32 = 64;
override TM: u32 = 1;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  groups_x: u32,
  // First element of x to read (row offset * K): lets the LM head read only the last row.
  x_offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

#if VEC4
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
#if W_F32
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
#elif W_F16
@group(0) @binding(1) var<storage, read> w: array<vec2<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
#else
// Scalar path: f32/f16 weights with K % 4 != 0.
@group(0) @binding(0) var<storage, read> x: array<f32>;
#if W_F32
@group(0) @binding(1) var<storage, read> w: array<f32>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
#endif
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn gelu(v: f32) -> f32 {
  let inner = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  let t = clamp(inner, -15.0, 15.0);
  let e = exp(2.0 * t);
  return 0.5 * v * (1.0 + (e - 1.0) / (e + 1.0));
}

fn sext8(word: u32) -> vec4<f32> {
  let v = bitcast<vec4<i32>>(vec4<u32>(word << 24u, word << 16u, word << 8u, word)) >> vec4<u32>(24u);
  return vec4<f32>(v);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * p.groups_x + wid.x) * WG + lid;
  let m0 = wid.z * TM;
  if (n >= p.N || m0 >= p.M) {
    return;
  }
  let rows = min(TM, p.M - m0);
  var acc: array<f32, 4>; // TM <= 4
  for (var r = 0u; r < TM; r++) {
    acc[r] = 0.0;
  }
  let K = p.K;
#if VEC4
  // K % 4 == 0 (always for q8_0/q4_0: K is whole blocks of 32): x is read as vec4, four rows
  // in registers. Rows past M read row M - 1 (in bounds) and are never written.
  let K4 = K / 4u;
  let xb = p.x_offset / 4u;
  let x0 = xb + m0 * K4;
  let x1 = xb + min(m0 + 1u, p.M - 1u) * K4;
  let x2 = xb + min(m0 + 2u, p.M - 1u) * K4;
  let x3 = xb + min(m0 + 3u, p.M - 1u) * K4;
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
#if W_Q8_0
  let blocks = K / 32u;
  for (var b = 0u; b < blocks; b++) {
    let base = (n * blocks + b) * 9u;
    let d = bitcast<f32>(w[base]);
    for (var j = 0u; j < 8u; j++) {
      let wv = sext8(w[base + 1u + j]) * d;
      let k4 = b * 8u + j;
      s0 += wv * x[x0 + k4];
      if (TM == 4u) {
        s1 += wv * x[x1 + k4];
        s2 += wv * x[x2 + k4];
        s3 += wv * x[x3 + k4];
      }
    }
  }
#elif W_Q4_0
  let blocks = K / 32u;
  for (var b = 0u; b < blocks; b++) {
    let base = (n * blocks + b) * 5u;
    let d = bitcast<f32>(w[base]);
    for (var j = 0u; j < 4u; j++) {
      let word = w[base + 1u + j];
      let lo = (vec4<f32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u)) - 8.0) * d;
      let hi = (vec4<f32>(vec4<u32>(word >> 4u, word >> 12u, word >> 20u, word >> 28u) & vec4<u32>(15u)) - 8.0) * d;
      let klo = b * 8u + j;
      let khi = klo + 4u;
      s0 += lo * x[x0 + klo] + hi * x[x0 + khi];
      if (TM == 4u) {
        s1 += lo * x[x1 + klo] + hi * x[x1 + khi];
        s2 += lo * x[x2 + klo] + hi * x[x2 + khi];
        s3 += lo * x[x3 + klo] + hi * x[x3 + khi];
      }
    }
  }
#else
  for (var k4 = 0u; k4 < K4; k4++) {
#if W_F32
    let wv = w[n * K4 + k4];
#else
    let pair = w[n * K4 + k4];
    let wv = vec4<f32>(unpack2x16float(pair.x), unpack2x16float(pair.y));
#endif
    s0 += wv * x[x0 + k4];
    if (TM == 4u) {
      s1 += wv * x[x1 + k4];
      s2 += wv * x[x2 + k4];
      s3 += wv * x[x3 + k4];
    }
  }
#endif
  let ones = vec4<f32>(1.0);
  acc[0] = dot(s0, ones);
  acc[1] = dot(s1, ones);
  acc[2] = dot(s2, ones);
  acc[3] = dot(s3, ones);
#elif W_F32
  // Scalar paths (K % 4 != 0).
  let wbase = n * K;
  for (var k = 0u; k < K; k++) {
    let wv = w[wbase + k];
    for (var r = 0u; r < rows; r++) {
      acc[r] += x[p.x_offset + (m0 + r) * K + k] * wv;
    }
  }
#elif W_F16
  let wbase = n * K;
  for (var k = 0u; k < K; k++) {
    let i = wbase + k;
    let pair = unpack2x16float(w[i >> 1u]);
    let wv = select(pair.x, pair.y, (i & 1u) == 1u);
    for (var r = 0u; r < rows; r++) {
      acc[r] += x[p.x_offset + (m0 + r) * K + k] * wv;
    }
  }
#endif
  for (var r = 0u; r < rows; r++) {
    var v = acc[r];
#if HAS_BIAS
    v += bias[n];
#endif
#if GELU
    v = gelu(v);
#endif
#if HAS_RESIDUAL
    v += residual[(m0 + r) * p.N + n];
#endif
    out[(m0 + r) * p.N + n] = v;
  }
  // Keeps bias and residual statically used in every variant so that all variants share
  // one binding layout (unused ones get a small placeholder buffer). Never taken: N >= 1.
  if (p.N == 0u) {
    out[0] = bias[0] + residual[0];
  }
}
