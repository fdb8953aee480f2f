// Negative log-likelihood of each row's target token: nll[m] = logsumexp(logits[m]) -
// logits[m, target[m]]. One invocation per row, two passes over the vocabulary; perplexity
// evaluation then reads back M floats instead of M x V logits.

override WG: u32 = 64;

struct Params {
  M: u32,
  V: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> nll: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = gid.x;
  if (m >= p.M) {
    return;
  }
  let base = m * p.V;
  var mx = -3.0e38;
  for (var v = 0u; v < p.V; v++) {
    mx = max(mx, logits[base + v]);
  }
  var sum = 0.0;
  for (var v = 0u; v < p.V; v++) {
    sum += exp(logits[base + v] - mx);
  }
  let t = min(targets[m], p.V - 1u);
  nll[m] = log(sum) + mx - logits[base + t];
}
