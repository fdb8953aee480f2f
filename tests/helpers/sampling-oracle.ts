// The sampling rules written out again in plain float64, for tests of the GPU sampler. It
// imports nothing from src/: what it expects comes from the rules as documented (HF-style
// repetition penalty, temperature, top-k with ties, top-p, inverse CDF in index order), not
// from the implementation or its bit-exact reference (src/kernels/reference/sample.ts).

/** One draw's settings, the same names as the sampler's `SamplingParams`. */
export interface OracleSettings {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  /** How many ids at the start of the history count. */
  historyLength: number;
}

/** The penalised logits: each distinct id < N of history[0..historyLength) once, l > 0 ? l / p : l * p. */
export function penalisedLogits(logits: ArrayLike<number>, s: OracleSettings, history: ArrayLike<number> = []): Float64Array {
  const out = Float64Array.from(logits as ArrayLike<number>);
  if (s.repetitionPenalty === 1) return out;
  const ids = new Set<number>();
  for (let j = 0; j < Math.min(s.historyLength, history.length); j++) if (history[j] < out.length) ids.add(history[j]);
  for (const i of ids) out[i] = out[i] > 0 ? out[i] / s.repetitionPenalty : out[i] * s.repetitionPenalty;
  return out;
}

/** Greedy: the index of the largest penalised logit, the lowest on ties; NaN never wins (all NaN: 0). */
export function greedyIndex(logits: ArrayLike<number>, s: OracleSettings, history: ArrayLike<number> = []): number {
  const l = penalisedLogits(logits, s, history);
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i] > l[best] || (Number.isNaN(l[best]) && !Number.isNaN(l[i]))) best = i;
  return best;
}

/** What a draw may pick: the kept ids (ascending), their probabilities, and how close top-p was to a boundary. */
export interface OracleDistribution {
  /** Probability of every id (0 outside the kept set), summing to 1. */
  probabilities: Float64Array;
  kept: number[];
  /**
   * Distance, relative to the top-k mass, of the top-p target from the nearest cumulative mass at
   * the end of a run of equal logits in descending order; Infinity without top-p.
   */
  topPMargin: number;
}

/**
 * The distribution of one draw at temperature > 0: softmax of penalised logits / temperature
 * (NaN and -Infinity never drawn), restricted to the tokens >= the k-th largest (ties kept),
 * then to the fewest highest tokens whose mass reaches topP times the top-k mass (ties with
 * the last one kept; topP <= 0 keeps the maximum and its ties), renormalised.
 */
export function samplingDistribution(logits: ArrayLike<number>, s: OracleSettings, history: ArrayLike<number> = []): OracleDistribution {
  const n = logits.length;
  const z = penalisedLogits(logits, s, history).map((l) => (Number.isNaN(l) ? -Infinity : l / s.temperature));
  const order = [...z.keys()].sort((a, b) => z[b] - z[a] || a - b);
  let floor = -Infinity;
  if (s.topK > 0 && s.topK < n) floor = z[order[s.topK - 1]];
  const top = z[order[0]];
  const w = z.map((v) => (v === -Infinity || v < floor ? 0 : Math.exp(v - top)));
  let topPMargin = Infinity;
  if (s.topP < 1) {
    let mass = 0;
    for (const v of w) mass += v;
    const target = Math.max(0, s.topP) * mass;
    let cum = 0;
    let cut = Number.NaN;
    for (let r = 0; r < n && w[order[r]] > 0; r++) {
      cum += w[order[r]];
      if (r + 1 < n && z[order[r + 1]] === z[order[r]]) continue;
      topPMargin = Math.min(topPMargin, Math.abs(cum - target) / mass);
      if (Number.isNaN(cut) && cum >= target) cut = z[order[r]];
    }
    for (let i = 0; i < n; i++) if (z[i] < cut) w[i] = 0;
  }
  let total = 0;
  for (const v of w) total += v;
  const probabilities = w.map((v) => v / total);
  const kept = [...probabilities.keys()].filter((i) => probabilities[i] > 0);
  return { probabilities, kept, topPMargin };
}

/**
 * Inverse CDF in index order: the first kept id whose cumulative probability exceeds `random`
 * (rounded to f32, as the GPU reads it), and how far `random` is from the nearest cumulative
 * boundary.
 */
export function drawIndex(d: OracleDistribution, random: number): { index: number; margin: number } {
  const r = Math.fround(random);
  let cum = 0;
  let margin = r;
  let index = d.kept[d.kept.length - 1];
  let found = false;
  for (const i of d.kept) {
    cum += d.probabilities[i];
    margin = Math.min(margin, Math.abs(cum - r));
    if (!found && r < cum) {
      index = i;
      found = true;
    }
  }
  return { index, margin };
}

/**
 * Pearson's chi-square of `counts` against `probabilities` (same length), with the categories
 * expected fewer than 5 times pooled into one; degrees of freedom are the categories left
 * minus 1. Ids observed where the probability is 0 are counted in `impossible`.
 */
export function chiSquare(counts: ArrayLike<number>, probabilities: ArrayLike<number>): { chi2: number; df: number; impossible: number } {
  let draws = 0;
  for (let i = 0; i < counts.length; i++) draws += counts[i];
  let chi2 = 0;
  let categories = 0;
  let pooledCount = 0;
  let pooledExpected = 0;
  let impossible = 0;
  for (let i = 0; i < counts.length; i++) {
    const e = draws * probabilities[i];
    if (probabilities[i] === 0) {
      impossible += counts[i];
    } else if (e < 5) {
      pooledCount += counts[i];
      pooledExpected += e;
    } else {
      chi2 += (counts[i] - e) ** 2 / e;
      categories++;
    }
  }
  if (pooledExpected > 0) {
    chi2 += (pooledCount - pooledExpected) ** 2 / pooledExpected;
    categories++;
  }
  return { chi2, df: Math.max(1, categories - 1), impossible };
}

/**
 * The chi-square value a correct sampler exceeds with probability 0.001 (Wilson-Hilferty:
 * within 2% of the exact quantile from 3 degrees of freedom up; the table's for 1 and 2).
 */
export function chiSquareLimit(df: number): number {
  if (df <= 2) return df === 1 ? 10.83 : 13.82;
  const z = 3.0902; // the standard normal's 0.999 quantile
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}
