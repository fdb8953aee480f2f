// Plain TypeScript reference for the fused LSTM step (the oracle in kernel tests).

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * One LSTM timestep, gate order i, f, g, o: `gates` = xprojRow + wHh · hPrev, then
 * c = σ(f)·c + σ(i)·tanh(g), h = σ(o)·tanh(c). Returns the new h and c.
 */
export function lstmStepRef(xprojRow: Float32Array, wHh: Float32Array, hPrev: Float32Array, cPrev: Float32Array, H: number): { h: Float32Array; c: Float32Array } {
  const h = new Float32Array(H);
  const c = new Float32Array(H);
  const gate = (q: number, j: number) => {
    let s = xprojRow[q * H + j];
    const row = (q * H + j) * H;
    for (let k = 0; k < H; k++) s += wHh[row + k] * hPrev[k];
    return s;
  };
  for (let j = 0; j < H; j++) {
    const i = sigmoid(gate(0, j));
    const f = sigmoid(gate(1, j));
    const g = Math.tanh(gate(2, j));
    const o = sigmoid(gate(3, j));
    c[j] = f * cPrev[j] + i * g;
    h[j] = o * Math.tanh(c[j]);
  }
  return { h, c };
}
