// One LSTM time step of one layer with the four gates fused (PyTorch gate order i, f, g, o):
//   gates = xproj[t] + W_hh · h_{t-1}        (xproj[t] = x_t W_ihᵀ + b_ih + b_hh, precomputed
//                                              for every timestep by one matmul)
//   c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(c_t)
// One invocation per hidden unit j computes its four gates. c is updated in place (only
// invocation j touches c[j]); h_t goes to row t of `hs`, so step t reads row t − 1 and no
// invocation overwrites a value another one is still reading.
//
// Variant COPY_STATE: copies the last row of `hs` into the state's h after the last step.

override WG: u32 = 64;

struct Params {
  H: u32,
  // Timestep (row of xproj and hs) for a step; rows M for COPY_STATE.
  t: u32,
  groups_x: u32,
  _pad: u32,
}

#if COPY_STATE
@group(0) @binding(0) var<storage, read> hs: array<f32>;
@group(0) @binding(1) var<storage, read_write> h_state: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  if (k < p.H) {
    h_state[k] = hs[(p.t - 1u) * p.H + k];
  }
}
#else
@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(1) var<storage, read> w4: array<vec4<f32>>;
#if H_VEC4
// H % 4 == 0: h is read four units at a time (see main).
@group(0) @binding(2) var<storage, read> h_state: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> hs: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> h_state: array<f32>;
@group(0) @binding(3) var<storage, read_write> hs: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

#include common/tanh

#if H_VEC4
#else
fn h_prev(k: u32) -> f32 {
  if (p.t == 0u) {
    return h_state[k];
  }
  return hs[(p.t - 1u) * p.H + k];
}
#endif

// Applies the gates of unit j given its four recurrent dot products.
fn finish_unit(j: u32, dots: vec4<f32>) {
  let H = p.H;
  let row = p.t * 4u * H;
  let g = dots + vec4<f32>(xproj[row + j], xproj[row + H + j], xproj[row + 2u * H + j], xproj[row + 3u * H + j]);
  let c_new = sigmoid(g.y) * c[j] + sigmoid(g.x) * tanh_safe(g.z);
  c[j] = c_new;
  let h = sigmoid(g.w) * tanh_safe(c_new);
#if H_VEC4
  hs[(p.t * H + j) / 4u][j % 4u] = h;
#else
  hs[p.t * H + j] = h;
#endif
}

#if H_VEC4
// The gate sums of unit j over k = 4·k4 .. 4·k4 + 3, given h at those k.
fn recurrent4(k4: u32, j: u32, h: vec4<f32>) -> vec4<f32> {
  let H = p.H;
  let row = 4u * k4 * H + j;
  return w4[row] * h.x + w4[row + H] * h.y + w4[row + 2u * H] * h.z + w4[row + 3u * H] * h.w;
}
#endif

// One invocation per hidden unit j. W_hh is stored gate-interleaved and k-major,
// w4[k * H + j] = (W_i[j, k], W_f[j, k], W_g[j, k], W_o[j, k]), so at each k neighbouring
// invocations read neighbouring vec4s: coalesced on GPUs and contiguous SIMD loads on CPU
// adapters, with no workgroup reduction.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let H = p.H;
  let j = gid.y * p.groups_x * WG + gid.x;
  if (j >= H) {
    return;
  }
  var acc = vec4<f32>(0.0);
#if H_VEC4
  // Four k per pass: one vec4 of h serves four weight vec4s (one load of h per four
  // multiply-adds instead of one per multiply-add), and the choice of h's source is made
  // once, not per k.
  let H4 = H / 4u;
  if (p.t == 0u) {
    for (var k4 = 0u; k4 < H4; k4++) {
      acc += recurrent4(k4, j, h_state[k4]);
    }
  } else {
    let prev = (p.t - 1u) * H4;
    for (var k4 = 0u; k4 < H4; k4++) {
      acc += recurrent4(k4, j, hs[prev + k4]);
    }
  }
#else
  for (var k = 0u; k < H; k++) {
    acc += w4[k * H + j] * h_prev(k);
  }
#endif
  finish_unit(j, acc);
}
#endif
