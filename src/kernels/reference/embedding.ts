// Plain TypeScript reference for the embedding lookup.
export function embeddingRef(ids: ArrayLike<number>, positions: ArrayLike<number> | null, tokenTable: Float32Array, positionTable: Float32Array | null, D: number): Float32Array {
  const out = new Float32Array(ids.length * D);
  for (let m = 0; m < ids.length; m++) {
    for (let d = 0; d < D; d++) {
      let v = tokenTable[ids[m] * D + d];
      if (positionTable && positions) v += positionTable[positions[m] * D + d];
      out[m * D + d] = v;
    }
  }
  return out;
}
