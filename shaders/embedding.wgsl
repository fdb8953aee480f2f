// out[m, d] = tokens[ids[m], d] + positions[pos[m], d], any token-table encoding (the same
// layouts as matmul.wgsl: the tied LM head and the lookup read one table). Ids beyond the
// table are clamped: the model validates ids on the CPU, the shader only stays in bounds.
// A table split by rows across buffers (src/kernels/weights.ts) takes one dispatch per part:
// `table` holds rows row0 .. row0 + V of the V_total, and a part writes only the rows of its ids.

override WG: u32 = 64;

struct Params {
  M: u32,
  D: u32,
  V: u32,
  P: u32,
  has_pos: u32,
  groups_x: u32,
  // This part's first row, and the rows of the whole table.
  row0: u32,
  v_total: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> pos_ids: array<u32>;
#if T_F32
@group(0) @binding(2) var<storage, read> table: array<f32>;
#else
@group(0) @binding(2) var<storage, read> table: array<u32>;
#endif
@group(0) @binding(3) var<storage, read> pos_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn token_value(row: u32, col: u32) -> f32 {
#if T_F32
  return table[row * p.D + col];
#elif T_F16
  let i = row * p.D + col;
  let pair = unpack2x16float(table[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
#elif T_Q8_0
  // Planes (src/kernels/weights.ts): int8 quants, then the f32 scales from a 256-byte boundary.
  let i = row * p.D + col;
  let byte = (table[i / 4u] >> ((i % 4u) * 8u)) & 255u;
  let q = select(i32(byte), i32(byte) - 256, byte >= 128u);
  return scale_at(i / 32u, 8u) * f32(q);
#else
  let block = row * (p.D / 32u) + col / 32u;
  let within = col % 32u;
  let j = within % 16u;
  let word = table[block * 4u + j / 4u];
  let byte = (word >> ((j % 4u) * 8u)) & 255u;
  let nibble = select(byte & 15u, byte >> 4u, within >= 16u);
  return scale_at(block, 4u) * (f32(nibble) - 8.0);
#endif
}

#if T_QUANT
// The f32 scale of block `block`; the scale plane starts at the first 256-byte boundary
// after the V * D / 32 blocks of `block_words` quant words.
fn scale_at(block: u32, block_words: u32) -> f32 {
  let plane = ((p.V * (p.D / 32u) * block_words + 63u) / 64u) * 64u;
  return bitcast<f32>(table[plane + block]);
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (i >= p.M * p.D) {
    return;
  }
  let m = i / p.D;
  let d = i % p.D;
  let row = min(ids[m], p.v_total - 1u);
  if (row < p.row0 || row >= p.row0 + p.V) {
    return;
  }
  var v = token_value(row - p.row0, d);
  if (p.has_pos == 1u) {
    let prow = min(pos_ids[m], p.P - 1u);
    v += pos_table[prow * p.D + d];
  }
  out[i] = v;
}
