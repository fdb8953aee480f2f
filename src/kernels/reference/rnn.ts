// Plain TypeScript reference for the plain RNN step (the oracle in kernel tests).
import type { RnnNonlinearity } from "../rnn.js";

/**
 * One plain-RNN timestep: h = act(xprojRow + wHh · hPrev), with `wHh` [H, H] row-major
 * (PyTorch's layout, row j = unit j). Accumulates in float64.
 */
export function rnnStepRef(xprojRow: Float32Array, wHh: Float32Array, hPrev: Float32Array, H: number, nonlinearity: RnnNonlinearity): Float32Array {
  const h = new Float32Array(H);
  for (let j = 0; j < H; j++) {
    let s = xprojRow[j];
    for (let k = 0; k < H; k++) s += wHh[j * H + k] * hPrev[k];
    h[j] = nonlinearity === "relu" ? Math.max(s, 0) : Math.tanh(s);
  }
  return h;
}
