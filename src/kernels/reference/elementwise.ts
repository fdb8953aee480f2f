// Plain TypeScript references for the element-wise kernels (the oracle in kernel tests).

export function residualAddRef(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** erf in float64: the Maclaurin series for |x| <= 3 (error ~1e-14), the asymptotic series of erfc beyond (under 3e-12 at 3.5). */
export function erfRef(x: number): number {
  const a = Math.abs(x);
  if (a <= 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(a) = e^(−a²) / (a√π) · Σ (−1)^n (2n − 1)!! / (2a²)^n, stopped at its smallest term.
  let term = 1;
  let sum = 1;
  for (let n = 1; n < 30; n++) {
    const next = (term * -(2 * n - 1)) / (2 * a * a);
    if (Math.abs(next) >= Math.abs(term)) break;
    term = next;
    sum += term;
  }
  return Math.sign(x) * (1 - (Math.exp(-a * a) / (a * Math.sqrt(Math.PI))) * sum);
}

/** BERT's GELU (Hugging Face "gelu"): 0.5 x (1 + erf(x / √2)). */
export function geluErfRef(x: Float32Array): Float32Array {
  return x.map((v) => 0.5 * v * (1 + erfRef(v / Math.SQRT2)));
}

export function geluRef(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
  }
  return out;
}
