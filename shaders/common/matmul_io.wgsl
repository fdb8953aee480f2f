// Shared snippet (not a kernel): a file pulls it in with the line `#include common/matmul_io`.
// The shape uniform of the matmul kernels (matmul.wgsl, gemm.wgsl, matmul_i8.wgsl) and their
// output-side bindings by role, declared as the switches HAS_BIAS, HAS_RESIDUAL, KV_WRITE and
// KV_F16 ask: bias 2, residual 3, out 4, positions 8, k_cache 9, v_cache 10 (what
// common/matmul_epilogue writes through). The including file declares its inputs (x at 0, the
// weights at 1, ...) and the uniform `p: Params` after its last role.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  groups_x: u32,
  // First element of x to read (row offset * K): lets the LM head read only the last row.
  x_offset: u32,
  // A fused layer norm: added to the variance.
  eps: f32,
  // KV_WRITE: the cache shape.
  head_dim: u32,
  n_ctx: u32,
  // The output's row width and this dispatch's first column in it (common/matmul_epilogue).
  out_cols: u32,
  out_col0: u32,
}

#if HAS_BIAS
@group(0) @binding(2) var<storage, read> bias: array<f32>;
#endif
#if HAS_RESIDUAL
@group(0) @binding(3) var<storage, read> residual: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#if KV_WRITE
@group(0) @binding(8) var<storage, read> positions: array<u32>;
#if KV_F16
@group(0) @binding(9) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(10) var<storage, read_write> v_cache: array<u32>;
#else
@group(0) @binding(9) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(10) var<storage, read_write> v_cache: array<f32>;
#endif
#endif
