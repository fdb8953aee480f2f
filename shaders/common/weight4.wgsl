// Shared snippet (not a kernel): a file pulls it in with the line `#include common/weight4`.
// Reading W [N, K] in the GPU layouts of src/kernels/weights.ts four weights at a time
// (K % 4 == 0), shared by matmul.wgsl's vector paths and gemm.wgsl: the binding `w` (role 1)
// in the word type of its layout, and its decoding. The including file declares its W_*
// switches and a uniform `p` with N and K.

#if W_F32
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
#elif W_F16
@group(0) @binding(1) var<storage, read> w: array<vec2<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif

// Four int8 in a word (element i in byte i) as f32.
fn sext8(word: u32) -> vec4<f32> {
  let v = bitcast<vec4<i32>>(vec4<u32>(word << 24u, word << 16u, word << 8u, word)) >> vec4<u32>(24u);
  return vec4<f32>(v);
}

#if W_Q8_0
// Words of quants per block of 32 (the first plane).
const BLOCK_WORDS: u32 = 8u;
#elif W_Q4_0
const BLOCK_WORDS: u32 = 4u;
#endif

#if W_QUANT
// The scale of block `block` (n * K / 32 + b): the second plane starts at the first 256-byte
// boundary after the quants (src/kernels/weights.ts).
fn block_scale(block: u32) -> f32 {
  let plane = ((p.N * (p.K / 32u) * BLOCK_WORDS + 63u) / 64u) * 64u;
  return bitcast<f32>(w[plane + block]);
}
#endif

// Four consecutive weights W[row, 4·k4 .. 4·k4 + 3] as f32, whatever the encoding.
fn weight4(row: u32, k4: u32, K4: u32) -> vec4<f32> {
#if W_F32
  return w[row * K4 + k4];
#elif W_F16
  let pair = w[row * K4 + k4];
  return vec4<f32>(unpack2x16float(pair.x), unpack2x16float(pair.y));
#elif W_Q8_0
  return sext8(w[row * K4 + k4]) * block_scale(row * (K4 / 8u) + k4 / 8u);
#else
  let block = row * (K4 / 8u) + k4 / 8u;
  let j = k4 % 8u;
  let word = w[block * 4u + j % 4u] >> select(0u, 4u, j >= 4u);
  return (vec4<f32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u)) - 8.0) * block_scale(block);
#endif
}
