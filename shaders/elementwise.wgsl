// Element-wise kernels: residual add and GPT-2's tanh GELU (`gelu_new`).
// One invocation per element on a 2-D grid (x * y groups), so any length fits the
// 65535-groups-per-dimension limit.

override WG: u32 = 256;

struct Params {
  n: u32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
}

#if OP_ADD
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
#else
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
#endif

// gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// x * x * x, never pow(x, 3.0): WGSL's pow is undefined for x < 0.
fn gelu(x: f32) -> f32 {
  let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  // tanh through exp with clamping: some backends return NaN for tanh of large |x|.
  let t = clamp(inner, -15.0, 15.0);
  let e = exp(2.0 * t);
  return 0.5 * x * (1.0 + (e - 1.0) / (e + 1.0));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * p.groups_x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
#if OP_ADD
  out[i] = a[i] + b[i];
#else
  out[i] = gelu(a[i]);
#endif
}
