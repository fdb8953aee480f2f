// Shared snippet (not a kernel): a file pulls it in with the line `#include common/matmul_epilogue`
// after `#include common/tanh`. What a matmul does to each accumulated output value (bias,
// GELU / erf GELU / tanh, residual, the fused KV-cache write), shared by matmul.wgsl, gemm.wgsl and
// matmul_i8.wgsl so all give bit-identical epilogues. The including file includes
// common/matmul_io (the bindings written through here, and Params) and declares its uniform
// `p`: column n of this dispatch is column p.out_col0 + n of rows p.out_cols wide (bias,
// residual and out), so a matrix split by rows across buffers writes one output in several
// dispatches.

fn gelu(v: f32) -> f32 {
  let inner = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  let t = clamp(inner, -15.0, 15.0);
  let e = exp(2.0 * t);
  return 0.5 * v * (1.0 + (e - 1.0) / (e + 1.0));
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7): BERT's GELU.
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}

fn gelu_erf(v: f32) -> f32 {
  return 0.5 * v * (1.0 + erf_approx(v * 0.7071067811865476));
}

#if KV_WRITE
// Element index in a cache [n_head, n_ctx, head_dim] of element e (0..D) of the row at `pos`.
fn cache_element(e: u32, pos: u32) -> u32 {
  return ((e / p.head_dim) * p.n_ctx + pos) * p.head_dim + e % p.head_dim;
}

#if KV_F16
// Columns n, n + 1 (n even) of row m into their cache word, if they are k or v columns.
// head_dim is even, so the pair never straddles a head or the k/v boundary.
fn cache_store_pair(m: u32, n: u32, v0: f32, v1: f32) {
  let d_model = p.N / 3u;
  let pos = positions[m];
  if (n < d_model || pos >= p.n_ctx) {
    return;
  }
  let word = cache_element((n - d_model) % d_model, pos) / 2u;
  let packed = pack2x16float(vec2<f32>(v0, v1));
  if (n < 2u * d_model) {
    k_cache[word] = packed;
  } else {
    v_cache[word] = packed;
  }
}
#else
// Column n of row m into its cache slot, if it is a k or v column.
fn cache_store(m: u32, n: u32, v: f32) {
  let d_model = p.N / 3u;
  let pos = positions[m];
  if (n < d_model || pos >= p.n_ctx) {
    return;
  }
  let dst = cache_element((n - d_model) % d_model, pos);
  if (n < 2u * d_model) {
    k_cache[dst] = v;
  } else {
    v_cache[dst] = v;
  }
}
#endif
#endif

// Writes out[m, n] after the epilogue (bias, GELU, residual) and returns it; with an f32
// KV cache, a k or v column also goes to its cache slot.
fn store(m: u32, n: u32, acc: f32) -> f32 {
  var v = acc;
#if HAS_BIAS
  v += bias[p.out_col0 + n];
#endif
#if GELU
  v = gelu(v);
#endif
#if GELU_ERF
  v = gelu_erf(v);
#endif
#if TANH
  v = tanh_safe(v);
#endif
#if HAS_RESIDUAL
  v += residual[m * p.out_cols + p.out_col0 + n];
#endif
  out[m * p.out_cols + p.out_col0 + n] = v;
#if KV_WRITE
#if KV_F16
#else
  cache_store(m, n, v);
#endif
#endif
  return v;
}

// Writes the first `cols` (1..4) columns n0.. of row m (sums: their accumulated values);
// with an f16 cache, the column pairs go to their cache words (n0 % 4 == 0, so both
// columns of each word belong to the caller).
fn store4(m: u32, n0: u32, cols: u32, sums: vec4<f32>) {
  let v0 = store(m, n0, sums.x);
  var v1 = 0.0;
  var v2 = 0.0;
  var v3 = 0.0;
  if (1u < cols) { v1 = store(m, n0 + 1u, sums.y); }
  if (2u < cols) { v2 = store(m, n0 + 2u, sums.z); }
  if (3u < cols) { v3 = store(m, n0 + 3u, sums.w); }
#if KV_WRITE
#if KV_F16
  if (1u < cols) { cache_store_pair(m, n0, v0, v1); }
  if (3u < cols) { cache_store_pair(m, n0 + 2u, v2, v3); }
#endif
#endif
}
