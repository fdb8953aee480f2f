// Plain TypeScript reference of the row-wise softmax (f64, rounded to f32 at the end).

/** Softmax of each of the M rows of x [M, N]. */
export function softmaxRef(x: Float32Array, M: number, N: number): Float32Array {
  const out = new Float32Array(M * N);
  for (let r = 0; r < M; r++) {
    const base = r * N;
    let max = -Infinity;
    for (let i = 0; i < N; i++) max = Math.max(max, x[base + i]);
    let sum = 0;
    for (let i = 0; i < N; i++) sum += Math.exp(x[base + i] - max);
    for (let i = 0; i < N; i++) out[base + i] = Math.exp(x[base + i] - max) / sum;
  }
  return out;
}
