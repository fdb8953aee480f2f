import { SeededRandom } from "../../src/base/random.js";

/** Deterministic pseudo-random numbers (the runtime's mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.next();
}

/** Uniform values in [-scale, scale). */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}
