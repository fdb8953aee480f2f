// Plain TypeScript reference: causal attention of the rows of a fused QKV activation whose
// keys/values for positions 0..p-1 come from `past` (prefix rows) and the rows themselves.

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
      for (let j = 0; j <= i; j++) sum += (scores[j] = Math.exp(scores[j] - max));
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += scores[j] * qkv[j * 3 * D + 2 * D + h * headDim + d];
        out[i * D + h * headDim + d] = acc / sum;
      }
    }
  }
  return out;
}
