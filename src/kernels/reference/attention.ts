// Plain TypeScript references for the attention kernels (the oracles in kernel tests):
// causal attention over a whole sequence of fused qkv rows (independent of any cache), and
// the cache write + cache-based attention that mirror kvWrite / attention step by step.

/** Attention over a whole sequence of fused qkv rows [T, 3D] (positions 0..T-1). */
export function causalAttentionRef(qkv: Float32Array, T: number, nHead: number, headDim: number): Float32Array {
  const D = nHead * headDim;
  const out = new Float32Array(T * D);
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < T; i++) {
      const scores = new Float64Array(i + 1);
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < headDim; d++) s += qkv[i * 3 * D + h * headDim + d] * qkv[j * 3 * D + D + h * headDim + d];
        scores[j] = s * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += scores[j] = Math.exp(scores[j] - max);
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += scores[j] * qkv[j * 3 * D + 2 * D + h * headDim + d];
        out[i * D + h * headDim + d] = acc / sum;
      }
    }
  }
  return out;
}

/** Shape of the cache-based references: caches are [nHead, nCtx, headDim] row-major. */
export interface CacheRefShape {
  M: number;
  nHead: number;
  headDim: number;
  nCtx: number;
}

/** Copies K and V of each qkv row [M, 3D] into the caches at its position (in place). */
export function kvWriteRef(qkv: Float32Array, positions: Uint32Array, kCache: Float32Array, vCache: Float32Array, s: CacheRefShape): void {
  const D = s.nHead * s.headDim;
  for (let m = 0; m < s.M; m++) {
    const pos = positions[m];
    if (pos >= s.nCtx) continue; // the kernel skips such rows too
    for (let h = 0; h < s.nHead; h++) {
      for (let d = 0; d < s.headDim; d++) {
        const dst = (h * s.nCtx + pos) * s.headDim + d;
        kCache[dst] = qkv[m * 3 * D + D + h * s.headDim + d];
        vCache[dst] = qkv[m * 3 * D + 2 * D + h * s.headDim + d];
      }
    }
  }
}

/**
 * Causal attention of the q part of each qkv row against cache positions
 * 0..min(positions[m], nCtx - 1), in f64 with max subtraction. Returns f32 [M, D].
 */
export function attentionFromCacheRef(qkv: Float32Array, positions: Uint32Array, kCache: Float32Array, vCache: Float32Array, s: CacheRefShape): Float32Array {
  const { nHead, headDim, nCtx } = s;
  const D = nHead * headDim;
  const out = new Float32Array(s.M * D);
  const scale = 1 / Math.sqrt(headDim);
  for (let m = 0; m < s.M; m++) {
    const keys = Math.min(positions[m], nCtx - 1) + 1;
    for (let h = 0; h < nHead; h++) {
      const q = m * 3 * D + h * headDim;
      const scores = new Float64Array(keys);
      let max = -Infinity;
      for (let j = 0; j < keys; j++) {
        const k = (h * nCtx + j) * headDim;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += qkv[q + d] * kCache[k + d];
        scores[j] = dot * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j < keys; j++) sum += scores[j] = Math.exp(scores[j] - max);
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let j = 0; j < keys; j++) acc += scores[j] * vCache[(h * nCtx + j) * headDim + d];
        out[m * D + h * headDim + d] = acc / sum;
      }
    }
  }
  return out;
}
