// Plain TypeScript references for shaders/quantize.wgsl and shaders/matmul_i8.wgsl.

/** Int8 activations: per block of 32, q = round(x · 127 / amax) (ties to even, as WGSL's round), scale = amax / 127. */
export function quantizeRowsRef(x: Float32Array, M: number, K: number): { q: Int8Array; scales: Float32Array } {
  const q = new Int8Array(M * K);
  const scales = new Float32Array((M * K) / 32);
  for (let b = 0; b < scales.length; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    scales[b] = Math.fround(amax / 127);
    const inv = amax > 0 ? Math.fround(127 / amax) : 0;
    for (let j = 0; j < 32; j++) q[b * 32 + j] = roundHalfEven(Math.fround(x[b * 32 + j] * inv));
  }
  return { q, scales };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * One row of out[n] = sum over blocks b of wScales[n, b] · xScales[b] · (integer dot product of
 * block b of row n with block b of the activations), in float64. `wq` holds the weights' quants
 * as integers ([N, K]: -127..127 for Q8_0, nibble - 8 for Q4_0).
 */
export function gemvI8Ref(xq: Int8Array, xScales: Float32Array, wq: Int8Array, wScales: Float32Array, N: number, K: number): Float64Array {
  const out = new Float64Array(N);
  const blocks = K / 32;
  for (let n = 0; n < N; n++) {
    let acc = 0;
    for (let b = 0; b < blocks; b++) {
      let d = 0;
      for (let j = 0; j < 32; j++) d += wq[n * K + b * 32 + j] * xq[b * 32 + j];
      acc += d * wScales[n * blocks + b] * xScales[b];
    }
    out[n] = acc;
  }
  return out;
}
