// Plain TypeScript reference for matmul: f32 math on (dequantized) [N, K] weights.
import { geluErfRef, geluRef } from "./elementwise.js";

/** The matmul epilogues (src/kernels/matmul.ts). */
export type EpilogueRef = "none" | "gelu" | "gelu_erf" | "tanh";

export function matmulRef(
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
  opts: { bias?: Float32Array; residual?: Float32Array; gelu?: boolean; epilogue?: EpilogueRef } = {},
): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
      if (opts.bias) acc += opts.bias[n];
      out[m * N + n] = acc;
    }
  }
  const epilogue = opts.epilogue ?? (opts.gelu ? "gelu" : "none");
  const act = epilogue === "gelu" ? geluRef(out) : epilogue === "gelu_erf" ? geluErfRef(out) : epilogue === "tanh" ? out.map(Math.tanh) : out;
  if (opts.residual) for (let i = 0; i < act.length; i++) act[i] += opts.residual[i];
  return act;
}
