// One time step of one plain (Elman) RNN layer, PyTorch nn.RNN:
//   h_t = act(xproj[t] + W_hh · h_{t-1})     (xproj[t] = x_t W_ihᵀ + b_ih + b_hh, precomputed
//                                             for every timestep by one matmul)
// with act = tanh, or ReLU under RELU. One invocation per hidden unit j; h_t goes to row t
// of `hs`, so step t reads row t − 1 and no invocation overwrites a value another one is
// still reading. The last row is copied into the layer's state by lstm.wgsl's COPY_STATE
// variant (the same copy serves both recurrent cells).

override WG: u32 = 64;

struct Params {
  H: u32,
  // Timestep: the row of xproj and hs this step reads and writes.
  t: u32,
  groups_x: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
// W_hh transposed (k-major): w[k * H + j] = W_hh[j, k], so at each k neighbouring
// invocations read neighbouring words.
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> h_state: array<f32>;
// Scalar, not vec4: each invocation writes one word (a write to one component of a vec4 may
// touch the whole vector, a race between neighbouring units).
@group(0) @binding(3) var<storage, read_write> hs: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

#include common/tanh

fn activate(x: f32) -> f32 {
#if RELU
  return max(x, 0.0);
#else
  return tanh_safe(x);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let H = p.H;
  let j = gid.y * p.groups_x * WG + gid.x;
  if (j >= H) {
    return;
  }
  // Four k per pass (fewer loop tests), then the rest; h's source is chosen once, not per
  // k (two storage buffers cannot be selected through one pointer).
  let H4 = H - H % 4u;
  var acc = 0.0;
  if (p.t == 0u) {
    for (var k = 0u; k < H4; k += 4u) {
      acc += w[k * H + j] * h_state[k] + w[(k + 1u) * H + j] * h_state[k + 1u] + w[(k + 2u) * H + j] * h_state[k + 2u] + w[(k + 3u) * H + j] * h_state[k + 3u];
    }
    for (var k = H4; k < H; k++) {
      acc += w[k * H + j] * h_state[k];
    }
  } else {
    let prev = (p.t - 1u) * H;
    for (var k = 0u; k < H4; k += 4u) {
      acc += w[k * H + j] * hs[prev + k] + w[(k + 1u) * H + j] * hs[prev + k + 1u] + w[(k + 2u) * H + j] * hs[prev + k + 2u] + w[(k + 3u) * H + j] * hs[prev + k + 3u];
    }
    for (var k = H4; k < H; k++) {
      acc += w[k * H + j] * hs[prev + k];
    }
  }
  hs[p.t * H + j] = activate(acc + xproj[p.t * H + j]);
}
