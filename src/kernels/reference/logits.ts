// Plain TypeScript references of shaders/logits.wgsl (wrappers: src/kernels/logits.ts). The
// adjusted logits use the shader's f32 operations in its order, so they match bit for bit;
// log-probabilities are computed in f64 here.
import type { LogprobResult } from "../logits.js";

const F32_MAX = 3.4028234663852886e38;

/**
 * `logits[i] + bias[i] - (frequency * count_i + presence)` for ids among `generated`
 * (count_i > 0), the others `logits[i] + bias[i]`, each operation rounded to f32; with a
 * mask, -F32_MAX (then penalised) where the token's bit is clear.
 */
export function adjustLogitsRef(logits: Float32Array, bias: Float32Array, generated: readonly number[], frequency: number, presence: number, mask?: Uint32Array): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = mask && !((mask[i >>> 5] >>> (i & 31)) & 1) ? -F32_MAX : Math.fround(logits[i] + bias[i]);
  const counts = new Map<number, number>();
  for (const id of generated) if (id < logits.length) counts.set(id, (counts.get(id) ?? 0) + 1);
  const f = Math.fround(frequency);
  const p = Math.fround(presence);
  for (const [id, c] of counts) out[id] = Math.fround(out[id] - Math.fround(Math.fround(c * f) + p));
  return out;
}

/**
 * The log-probability of `id` under log_softmax(logits), the logsumexp, and the `top` highest
 * tokens (value descending, then index ascending). NaN and -Infinity count as -F32_MAX,
 * Infinity as F32_MAX, as on the GPU.
 */
export function logprobsRef(logits: Float32Array, id: number, top: number): LogprobResult {
  const v = Array.from(logits, (l) => (Number.isNaN(l) || l === -Infinity ? -F32_MAX : l === Infinity ? F32_MAX : l));
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (const x of v) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  const order = [...v.keys()].sort((a, b) => v[b] - v[a] || a - b).slice(0, top);
  return { logprob: v[id] - lse, logsumexp: lse, top: order.map((i) => ({ id: i, logprob: v[i] - lse })) };
}
