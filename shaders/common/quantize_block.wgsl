// Shared snippet (not a kernel): a file pulls it in with the line `#include common/quantize_block`.
// Int8 quantization of one block of 32 activations, as llama.cpp quantizes them: scale =
// amax / 127, q = round(x / scale) in [-127, 127] (round half to even; all 0 when the block is
// all 0). Kept in one place so that quantize.wgsl and matmul_i8.wgsl's fused quantization give
// the same bytes for the same values. The rows it reads are vec4 rows: row_t, hsum and
// first_lane below are also what common/row_stats asks of its includer. With LN the including
// file declares `x`, `gamma`, `beta` (arrays of vec4<f32>) and includes common/row_stats.

alias row_t = vec4<f32>;
const LANES: u32 = 4u;

fn hsum(v: row_t) -> f32 {
  return dot(v, vec4<f32>(1.0));
}

fn first_lane(v: row_t) -> f32 {
  return v.x;
}

// A block's 32 quants, four per word (element 4j + i in byte i of word j): words 0..3 in
// `lo`, 4..7 in `hi`; and its scale.
struct QuantBlock {
  lo: vec4<u32>,
  hi: vec4<u32>,
  scale: f32,
}

// Four values as four int8 in one word, element i in byte i.
fn pack_i8(q: vec4<f32>) -> u32 {
  let b = vec4<u32>(bitcast<vec4<u32>>(vec4<i32>(q)) & vec4<u32>(255u));
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// The block of 32 values v0..v7 (four each), quantized.
fn quantize_block(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>) -> QuantBlock {
  let m = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))), max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
  let amax = max(max(m.x, m.y), max(m.z, m.w));
  let inv = select(0.0, 127.0 / amax, amax > 0.0);
  let lo = vec4<u32>(pack_i8(round(v0 * inv)), pack_i8(round(v1 * inv)), pack_i8(round(v2 * inv)), pack_i8(round(v3 * inv)));
  let hi = vec4<u32>(pack_i8(round(v4 * inv)), pack_i8(round(v5 * inv)), pack_i8(round(v6 * inv)), pack_i8(round(v7 * inv)));
  return QuantBlock(lo, hi, amax / 127.0);
}

#if LN
// Entry i (four values) of the normalised row starting at entry src of x, in matmul.wgsl's
// order of operations.
fn normalised(stats: RowStats, src: u32, i: u32) -> vec4<f32> {
  return ((x[src + i] - stats.pivot) - stats.mean) * stats.inv_std * gamma[i] + beta[i];
}
#endif
