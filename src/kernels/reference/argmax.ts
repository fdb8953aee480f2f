// Plain TypeScript reference of argmax with the GPU kernel's rules: lowest index on ties,
// NaN below every number (including -Infinity), -0 equal to +0.

/** True when a beats b under those rules (strictly greater; NaN never beats anything). */
export function ranksAbove(a: number, b: number): boolean {
  if (Number.isNaN(a)) return false;
  if (Number.isNaN(b)) return true;
  return a > b;
}

/** Index of the largest of `n` values starting at `offset` of `x`. */
export function argmaxRow(x: ArrayLike<number>, offset = 0, n = x.length - offset): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (ranksAbove(x[offset + i], x[offset + best])) best = i;
  return best;
}

/** Argmax of each of the M rows of x [M, N]. */
export function argmaxRef(x: Float32Array, M: number, N: number): Uint32Array {
  const out = new Uint32Array(M);
  for (let r = 0; r < M; r++) out[r] = argmaxRow(x, r * N, N);
  return out;
}
