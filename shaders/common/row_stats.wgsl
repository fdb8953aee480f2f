// Shared snippet (not a kernel): a file pulls it in with the line `#include common/row_stats`.
// A layer norm's row statistics from one workgroup and one barrier, kept in one place so
// that every kernel that normalises a row (matmul.wgsl's fused layer norm, quantize.wgsl)
// takes the same steps (bit-identical values for the same workgroup size). The including file declares `override WG`, the row type
// `row_t` with its LANES values per entry, `hsum` and `first_lane` of a row_t, the input
// `x: array<row_t>` and a uniform `p` with fields K and eps.

struct RowStats {
  // The row's first element: the statistics are taken relative to it (exact for nearby
  // values, so a large common offset costs no precision).
  pivot: f32,
  // Of x - pivot.
  mean: f32,
  inv_std: f32,
}

// Per invocation: the sum of its slice of x - pivot (entries lid, lid + WG, ...) and the
// squared deviations from the slice's own mean.
var<workgroup> slice_sum: array<f32, WG>;
var<workgroup> slice_m2: array<f32, WG>;

// Entries of the slice of invocation j in a row of n entries.
fn slice_entries(j: u32, n: u32) -> u32 {
  return (n + WG - 1u - j) / WG;
}

// The statistics of layernorm.wgsl from one barrier: each invocation takes its slice's
// deviations from the slice's own mean, and every invocation combines the slices exactly
// (Chan et al.: M2 = sum over slices of M2_j + n_j (mean_j - mean)^2). Every invocation
// of the workgroup must call it; the row starts at entry `src` of x.
fn row_stats(lid: u32, src: u32) -> RowStats {
  let n = p.K / LANES;
  let pivot = first_lane(x[src]);
  var s = 0.0;
  for (var i = lid; i < n; i += WG) {
    s += hsum(x[src + i] - pivot);
  }
  let slice_mean = s / f32(max(slice_entries(lid, n) * LANES, 1u));
  var q = 0.0;
  for (var i = lid; i < n; i += WG) {
    let d = (x[src + i] - pivot) - slice_mean;
    q += hsum(d * d);
  }
  slice_sum[lid] = s;
  slice_m2[lid] = q;
  workgroupBarrier();
  var total = 0.0;
  for (var j = 0u; j < WG; j++) {
    total += slice_sum[j];
  }
  let mean = total / f32(p.K);
  var m2 = 0.0;
  for (var j = 0u; j < WG; j++) {
    let n_j = f32(slice_entries(j, n) * LANES);
    let d = slice_sum[j] / max(n_j, 1.0) - mean;
    m2 += slice_m2[j] + n_j * d * d;
  }
  return RowStats(pivot, mean, inverseSqrt(m2 / f32(p.K) + p.eps));
}
