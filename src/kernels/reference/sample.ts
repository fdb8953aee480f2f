// Plain TypeScript reference of GPU sampling (SamplingParams in src/kernels/sample-params.ts
// documents the rules). The per-token values (penalised, scaled logits z) are computed with
// the same f32 products as the shader, so they match bit for bit; weights and sums use f64
// here.

import { checkSamplingParams, type SamplingParams } from "../sample-params.js";
import { argmaxRow } from "./argmax.js";

const BIG = Math.fround(1e30);
const CUTOFF = -80;

/** What {@link sampleRefTrace} decided, for tests that need to know how close a call was. */
export interface SampleTrace {
  /** The sampled id. */
  index: number;
  /** Ids kept after top-k and top-p, ascending. Empty for greedy. */
  kept: number[];
  /** Probability of each kept id after renormalisation (same order as `kept`). */
  probabilities: number[];
  /**
   * Relative distance (to the total kept weight) of `random * S` from the nearest
   * cumulative boundary, and of the top-p target from the nearest cumulative mass in the
   * sorted order. Small values mean float rounding could pick a neighbour. Infinity for
   * greedy / when top-p is off.
   */
  cdfMargin: number;
  topPMargin: number;
}

/** Ids to penalise: the distinct ids < N among the first historyLength of history. */
function penalisedIds(history: Uint32Array, historyLength: number, n: number): Set<number> {
  const ids = new Set<number>();
  const h = Math.min(historyLength, history.length);
  for (let j = 0; j < h; j++) if (history[j] < n) ids.add(history[j]);
  return ids;
}

function applyPenalty(l: number, penalty: number, invPenalty: number): number {
  return Math.fround(l > 0 ? l * invPenalty : l * penalty);
}

/** Sanitised, penalised, temperature-scaled logits, exactly as the shader computes them. */
function scaledLogits(logits: Float32Array, p: SamplingParams, ids: Set<number>): Float32Array {
  const penalty = Math.fround(p.repetitionPenalty);
  const invPenalty = Math.fround(1 / p.repetitionPenalty);
  const invTemperature = Math.fround(1 / p.temperature);
  const z = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    let l = logits[i];
    if (Number.isNaN(l) || l === -Infinity) l = -BIG;
    else if (l === Infinity) l = BIG;
    if (ids.has(i)) l = applyPenalty(l, penalty, invPenalty);
    z[i] = Math.min(BIG, Math.max(-BIG, Math.fround(l * invTemperature)));
  }
  return z;
}

/** The k-th largest value of z (k in 1..N-1). */
function kthLargest(z: Float32Array, k: number): number {
  return Float32Array.from(z).sort()[z.length - k];
}

/**
 * The top-p threshold: the largest z value t such that the weight of tokens with z >= t
 * (among those with z >= floor) reaches topP times the weight of all of them.
 */
function topPThreshold(z: Float32Array, w: Float64Array, floor: number, topP: number): { t: number; margin: number } {
  const order = [...z.keys()].filter((i) => z[i] >= floor).sort((a, b) => z[b] - z[a] || a - b);
  let total = 0;
  for (const i of order) total += w[i];
  const target = topP * total;
  let cum = 0;
  let margin = Infinity;
  let t = z[order[0]];
  let found = false;
  for (let j = 0; j < order.length; j++) {
    cum += w[order[j]];
    // Only the mass at the end of a run of equal values is a real boundary.
    const endOfRun = j + 1 === order.length || z[order[j + 1]] !== z[order[j]];
    if (!endOfRun) continue;
    margin = Math.min(margin, Math.abs(cum - target) / total);
    if (!found && cum >= target) {
      t = z[order[j]];
      found = true;
    }
  }
  return { t, margin };
}

/** {@link sampleRef} with the decisions it took. */
export function sampleRefTrace(logits: Float32Array, params: SamplingParams, history: Uint32Array): SampleTrace {
  const p = checkSamplingParams(params);
  const n = logits.length;
  const ids = penalisedIds(history, p.historyLength, n);
  if (p.temperature <= 0) {
    const penalty = Math.fround(p.repetitionPenalty);
    const invPenalty = Math.fround(1 / p.repetitionPenalty);
    const pen = logits.map((l, i) => (ids.has(i) ? applyPenalty(l, penalty, invPenalty) : l));
    return { index: argmaxRow(pen), kept: [], probabilities: [], cdfMargin: Infinity, topPMargin: Infinity };
  }
  const z = scaledLogits(logits, p, ids);
  let m = -BIG;
  for (const v of z) m = Math.max(m, v);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = Math.fround(z[i] - m);
    w[i] = d > CUTOFF ? Math.exp(d) : 0;
  }
  let threshold = -BIG;
  if (p.topK > 0 && p.topK < n) threshold = kthLargest(z, p.topK);
  let topPMargin = Infinity;
  if (p.topP < 1) {
    const r = topPThreshold(z, w, threshold, Math.max(0, p.topP));
    threshold = r.t;
    topPMargin = r.margin;
  }
  const kept: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (z[i] >= threshold && w[i] > 0) {
      kept.push(i);
      total += w[i];
    }
  }
  const target = p.random * total;
  let cum = 0;
  let index = kept[kept.length - 1];
  let cdfMargin = Infinity;
  let chosen = false;
  for (const i of kept) {
    cdfMargin = Math.min(cdfMargin, Math.abs(cum - target) / total);
    cum += w[i];
    if (!chosen && target < cum) {
      index = i;
      chosen = true;
    }
  }
  cdfMargin = Math.min(cdfMargin, Math.abs(cum - target) / total);
  return { index, kept, probabilities: kept.map((i) => w[i] / total), cdfMargin, topPMargin };
}

/**
 * CPU reference of GPU sampling, with exactly the rules documented on
 * {@link SamplingParams}: returns the sampled id.
 */
export function sampleRef(logits: Float32Array, params: SamplingParams, history: Uint32Array): number {
  return sampleRefTrace(logits, params, history).index;
}
