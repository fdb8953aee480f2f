// Plain TypeScript reference for matmul: f32 math on (dequantized) [N, K] weights.
import { geluRef } from "./elementwise.js";

export function matmulRef(x: Float32Array, w: Float32Array, M: number, N: number, K: number, opts: { bias?: Float32Array; residual?: Float32Array; gelu?: boolean } = {}): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
      if (opts.bias) acc += opts.bias[n];
      out[m * N + n] = acc;
    }
  }
  const act = opts.gelu ? geluRef(out) : out;
  if (opts.residual) for (let i = 0; i < act.length; i++) act[i] += opts.residual[i];
  return act;
}
