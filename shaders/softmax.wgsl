// Row-wise softmax of x [M, N]: out = exp(x - max) / sum(exp(x - max)).
// One workgroup per row; subtracting the row maximum keeps every exp <= 1, so large
// logits cannot overflow. x and out must be different buffers.
// Reductions: shaders/common/workgroup_reduce.wgsl.

override WG: u32 = 256;

struct Params {
  m: u32,
  n: u32,
  groups_x: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

#include common/workgroup_reduce

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * p.groups_x + wid.x;
  if (row >= p.m) {
    return;
  }
  let base = row * p.n;

  // Invocations with no element start from the most negative finite f32, not -inf.
  var mx = -3.4028234e38;
  for (var i = lid; i < p.n; i += WG) {
    mx = max(mx, x[base + i]);
  }
  let row_max = workgroup_reduce(lid, mx, true);

  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    s += exp(x[base + i] - row_max);
  }
  let inv_sum = 1.0 / workgroup_reduce(lid, s, false);

  for (var i = lid; i < p.n; i += WG) {
    out[base + i] = exp(x[base + i] - row_max) * inv_sum;
  }
}
