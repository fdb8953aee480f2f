// GPT-2 LayerNorm over the rows of x [M, D]:
//   out = (x - mean) / sqrt(var + eps) * gamma + beta, var biased (divided by D).
// Two variants. WORKGROUP: one workgroup per row, reductions through workgroup memory (real
// GPUs, few rows). PER_ROW: one invocation per row, serial loops and no barriers (SwiftShader,
// where a barrier costs more than a whole row of arithmetic). Two passes in f32 (mean first, then the sum of squared
// deviations from it), both on x minus the row's first element, so rows with a large
// common offset keep their precision, which a one-pass sum of squares (or even a plain
// f32 mean at offset 1000) would lose. x and out must be different buffers.
// WORKGROUP's reductions: shaders/common/workgroup_reduce.wgsl.

override WG: u32 = 256;

struct Params {
  m: u32,
  d: u32,
  eps: f32,
  groups_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

#if PER_ROW
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (row >= p.m) {
    return;
  }
  let base = row * p.d;
  // Relative to the row's first element, as in the workgroup variant below.
  let pivot = x[base];
  var s = 0.0;
  for (var i = 0u; i < p.d; i++) {
    s += x[base + i] - pivot;
  }
  let mean = s / f32(p.d);
  var q = 0.0;
  for (var i = 0u; i < p.d; i++) {
    let c = (x[base + i] - pivot) - mean;
    q += c * c;
  }
  let inv_std = inverseSqrt(q / f32(p.d) + p.eps);
  for (var i = 0u; i < p.d; i++) {
    out[base + i] = ((x[base + i] - pivot) - mean) * inv_std * gamma[i] + beta[i];
  }
}
#else
#include common/workgroup_reduce

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * p.groups_x + wid.x;
  if (row >= p.m) {
    return;
  }
  let base = row * p.d;
  // Work relative to the row's first element: x - pivot is exact for nearby values
  // (Sterbenz), so a large common offset costs no precision in the mean or the variance.
  let pivot = x[base];

  var s = 0.0;
  for (var i = lid; i < p.d; i += WG) {
    s += x[base + i] - pivot;
  }
  let mean = workgroup_reduce(lid, s, false) / f32(p.d);

  var q = 0.0;
  for (var i = lid; i < p.d; i += WG) {
    let c = (x[base + i] - pivot) - mean;
    q += c * c;
  }
  let variance = workgroup_reduce(lid, q, false) / f32(p.d);
  let inv_std = inverseSqrt(variance + p.eps);

  for (var i = lid; i < p.d; i += WG) {
    out[base + i] = ((x[base + i] - pivot) - mean) * inv_std * gamma[i] + beta[i];
  }
}
#endif
