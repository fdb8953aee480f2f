// Shared snippet (not a kernel): a file pulls it in with the line `#include common/sampling`.
// The per-token rules of GPU sampling (SamplingParams, src/kernels/sample-params.ts), kept in one
// place so that every sampler kernel computes bit-identical values. The including file
// declares the parameter binding `sp: Sampling`.

const BIG: f32 = 1e30;
// Weights exp(z - max z) at or below exp(CUTOFF) count as 0: such tokens are never drawn.
const CUTOFF: f32 = -80.0;

// Written every step by writeSamplingParams (src/kernels/sample-params.ts); 8 words.
struct Sampling {
  temperature: f32,
  inv_temperature: f32,
  top_k: u32,
  top_p: f32,
  penalty: f32,
  inv_penalty: f32,
  history_length: u32,
  random: f32,
}

// Monotone map f32 -> u32 (see argmax.wgsl): NaN -> 0, -0 -> key(+0).
fn order_key(v: f32) -> u32 {
  var bits = bitcast<u32>(v);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return 0u;
  }
  if (bits == 0x80000000u) {
    bits = 0u;
  }
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

// Inverse of order_key for keys of numbers (-0 comes back as +0, which weighs the same).
fn key_value(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// True when (k, i) ranks above (bk, bi): a larger key, or the same key at a lower index.
fn beats(k: u32, i: u32, bk: u32, bi: u32) -> bool {
  return k > bk || (k == bk && i < bi);
}

// The parameters every token needs, read once (a loop then keeps them in registers).
struct TokenScale {
  inv_temperature: f32,
  penalty: f32,
  inv_penalty: f32,
}

fn token_scale() -> TokenScale {
  return TokenScale(sp.inv_temperature, sp.penalty, sp.inv_penalty);
}

// NaN and -inf count as -BIG, +inf as BIG.
fn sanitized(logit: f32) -> f32 {
  let bits = bitcast<u32>(logit);
  if ((bits & 0x7f800000u) == 0x7f800000u) {
    return select(-BIG, BIG, bits == 0x7f800000u);
  }
  return logit;
}

// HF / CTRL repetition penalty; multiplying by the f32 reciprocal keeps GPU and reference
// bit-identical (a product is correctly rounded everywhere, a quotient is not).
fn penalised_by(l: f32, repeated: bool, s: TokenScale) -> f32 {
  return select(l, select(l * s.penalty, l * s.inv_penalty, l > 0.0), repeated);
}

fn penalised(l: f32, repeated: bool) -> f32 {
  return penalised_by(l, repeated, token_scale());
}

// The scaled logit before clamping (never NaN; max then clamp equals clamp then max).
fn unclamped_z(logit: f32, repeated: bool, s: TokenScale) -> f32 {
  return penalised_by(sanitized(logit), repeated, s) * s.inv_temperature;
}

// z of a token: sanitised, penalised, scaled by 1 / temperature, clamped to [-BIG, BIG].
fn scaled_logit(logit: f32, repeated: bool) -> f32 {
  return clamp(unclamped_z(logit, repeated, token_scale()), -BIG, BIG);
}

// Unnormalised probability of a token with scaled logit z, m being the largest z.
fn token_weight(z: f32, m: f32) -> f32 {
  let d = z - m;
  return select(0.0, exp(d), d > CUTOFF);
}
