// Plain TypeScript reference of LayerNorm (the oracle in kernel tests): f64 arithmetic,
// two passes, biased variance, rounded to f32 at the end.

/** out[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta for each of the M rows. */
export function layerNormRef(x: Float32Array, gamma: Float32Array, beta: Float32Array, M: number, D: number, eps: number): Float32Array {
  const out = new Float32Array(M * D);
  for (let r = 0; r < M; r++) {
    const base = r * D;
    let sum = 0;
    for (let i = 0; i < D; i++) sum += x[base + i];
    const mean = sum / D;
    let sq = 0;
    for (let i = 0; i < D; i++) sq += (x[base + i] - mean) ** 2;
    const invStd = 1 / Math.sqrt(sq / D + eps);
    for (let i = 0; i < D; i++) out[base + i] = (x[base + i] - mean) * invStd * gamma[i] + beta[i];
  }
  return out;
}
