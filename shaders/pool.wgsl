// Sentence embeddings from an encoder's packed hidden states [M, D] (the batch's sequences
// one after another, unpadded): out[s] = the mean of rows seq_start[s] .. seq_start[s + 1] - 1
// (MEAN; the attention mask's mean pooling, with no padding to mask) or that sequence's first
// row ([CLS] pooling), then, under NORMALIZE, divided by its L2 norm (clamped at 1e-12, as
// torch.nn.functional.normalize does).
//
// One workgroup per sequence; each invocation owns the columns lid, lid + WG, … (at most
// COLS_PER_INVOCATION of them, kept in registers: D up to 1024 with WG 64).

override WG: u32 = 64;

struct Params {
  D: u32,
  n_seq: u32,
  _pad0: u32,
  _pad1: u32,
}

const COLS_PER_INVOCATION: u32 = 16u;

@group(0) @binding(0) var<storage, read> hidden: array<f32>;
// n_seq + 1 entries: sequence s is rows seq_start[s] .. seq_start[s + 1] - 1.
@group(0) @binding(1) var<storage, read> seq_start: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

#include common/workgroup_reduce

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Uniform across the workgroup: either every invocation returns or none does.
  let s = wid.x;
  if (s >= p.n_seq) {
    return;
  }
  let r0 = seq_start[s];
  let r1 = seq_start[s + 1u];
  var vals: array<f32, COLS_PER_INVOCATION>;
  var sq = 0.0;
  for (var c = 0u; c < COLS_PER_INVOCATION; c++) {
    let col = lid + c * WG;
    var v = 0.0;
    if (col < p.D) {
#if MEAN
      for (var r = r0; r < r1; r++) {
        v += hidden[r * p.D + col];
      }
      v /= f32(max(r1 - r0, 1u));
#else
      v = hidden[r0 * p.D + col];
#endif
    }
    vals[c] = v;
    sq += v * v;
  }
#if NORMALIZE
  let scale = 1.0 / max(sqrt(workgroup_reduce(lid, sq, false)), 1e-12);
#else
  let scale = 1.0;
#endif
  for (var c = 0u; c < COLS_PER_INVOCATION; c++) {
    let col = lid + c * WG;
    if (col < p.D) {
      out[s * p.D + col] = vals[c] * scale;
    }
  }
}
