/** Reference for tokenNll: per-row logsumexp minus the target logit, in f64. */
export function tokenNllRef(logits: Float32Array, targets: ArrayLike<number>, V: number): Float32Array {
  const out = new Float32Array(targets.length);
  for (let m = 0; m < targets.length; m++) {
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[m * V + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[m * V + v] - mx);
    out[m] = Math.log(sum) + mx - logits[m * V + targets[m]];
  }
  return out;
}
