// Plain TypeScript reference for the encoder's bidirectional attention (the oracle in kernel tests).

/**
 * out[m, h·hd + d] = Σ_j softmax_j(q_m·k_j / √hd) v_j[d] over j in keyStart[m]..keyEnd[m] − 1,
 * for the fused rows qkv [M, 3D] (row = [q | k | v]). Accumulates in float64.
 */
export function encoderAttentionRef(qkv: Float32Array, keyStart: readonly number[], keyEnd: readonly number[], M: number, nHead: number, hd: number): Float32Array {
  const D = nHead * hd;
  const out = new Float32Array(M * D);
  for (let m = 0; m < M; m++) {
    for (let h = 0; h < nHead; h++) {
      const scores: number[] = [];
      for (let j = keyStart[m]; j < keyEnd[m]; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += qkv[m * 3 * D + h * hd + d] * qkv[j * 3 * D + D + h * hd + d];
        scores.push(s / Math.sqrt(hd));
      }
      const mx = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < hd; d++) {
        let acc = 0;
        for (let j = keyStart[m]; j < keyEnd[m]; j++) acc += e[j - keyStart[m]] * qkv[j * 3 * D + 2 * D + h * hd + d];
        out[m * D + h * hd + d] = acc / sum;
      }
    }
  }
  return out;
}
