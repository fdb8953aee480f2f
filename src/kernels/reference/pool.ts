// Plain TypeScript reference for sequence pooling (the oracle in kernel tests).
import type { Pooling } from "../pool.js";

/** One vector per sequence (rows seqStart[s]..seqStart[s + 1] − 1 of hidden [M, D]): mean or first row, optionally L2-normalised; float64 sums. */
export function poolRef(hidden: Float32Array, seqStart: readonly number[], D: number, pooling: Pooling, normalize: boolean): Float32Array {
  const n = seqStart.length - 1;
  const out = new Float32Array(n * D);
  for (let s = 0; s < n; s++) {
    const [r0, r1] = [seqStart[s], seqStart[s + 1]];
    const v = new Float64Array(D);
    for (let c = 0; c < D; c++) {
      if (pooling === "cls") v[c] = hidden[r0 * D + c];
      else {
        for (let r = r0; r < r1; r++) v[c] += hidden[r * D + c];
        v[c] /= Math.max(r1 - r0, 1);
      }
    }
    const norm = normalize ? Math.max(Math.hypot(...v), 1e-12) : 1;
    for (let c = 0; c < D; c++) out[s * D + c] = v[c] / norm;
  }
  return out;
}
