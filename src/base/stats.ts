/** Median, 10th and 90th percentile, minimum and maximum of a set of timings. */
export interface Spread {
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

/** The spread of `values` (nearest-rank percentiles; all zeros for an empty list). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: 0, p10: 0, p90: 0, min: 0, max: 0 };
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.round(q * (v.length - 1))))];
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), min: v[0], max: v[v.length - 1] };
}
