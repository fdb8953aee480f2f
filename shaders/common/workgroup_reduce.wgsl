// Shared snippet (not a kernel): a file pulls it in with the line `#include common/workgroup_reduce`.
// It needs `override WG: u32` (a multiple of FAN) from the including file.
//
// Two levels (WG partials -> FAN partials -> one value) instead of a tree: three barriers
// instead of log2(WG), which matters where barriers are slow (SwiftShader) and costs
// nothing measurable on a real GPU.

const FAN: u32 = 16u;
var<workgroup> partial: array<f32, WG>;
var<workgroup> fan: array<f32, FAN>;
var<workgroup> total: f32;

// Reduces `v` over the workgroup with max (is_max) or +, returned uniform to everyone.
// Every invocation of the workgroup must call it (it has barriers).
fn workgroup_reduce(lid: u32, v: f32, is_max: bool) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  if (lid < FAN) {
    let per = WG / FAN;
    var s = partial[lid * per];
    for (var j = 1u; j < per; j++) {
      let e = partial[lid * per + j];
      s = select(s + e, max(s, e), is_max);
    }
    fan[lid] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = fan[0];
    for (var j = 1u; j < FAN; j++) {
      s = select(s + fan[j], max(s, fan[j]), is_max);
    }
    total = s;
  }
  return workgroupUniformLoad(&total);
}
