import { expect } from "vitest";

export interface ErrorReport {
  maxAbs: number;
  maxRel: number;
  worstIndex: number;
}

/** Worst absolute and relative error of `actual` against `expected`. */
export function errorReport(actual: ArrayLike<number>, expected: ArrayLike<number>): ErrorReport {
  expect(actual.length).toBe(expected.length);
  let maxAbs = 0;
  let maxRel = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const abs = Math.abs(a - e);
    if (!(abs <= maxAbs) || Number.isNaN(a)) {
      maxAbs = Number.isNaN(a) ? Infinity : abs;
      worstIndex = i;
    }
    const rel = abs / Math.max(Math.abs(e), 1e-6);
    if (rel > maxRel) maxRel = rel;
  }
  return { maxAbs, maxRel, worstIndex };
}

/**
 * Asserts `actual` is within `atol + rtol * |expected|` element-wise and logs the worst
 * absolute and relative error under `label`.
 */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol?: number }): ErrorReport {
  const report = errorReport(actual, expected);
  const rtol = tol.rtol ?? 0;
  let bad = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= tol.atol + rtol * Math.abs(e))) {
      bad = i;
      break;
    }
  }
  console.log(`${label}: max abs err ${report.maxAbs.toExponential(2)}, max rel err ${report.maxRel.toExponential(2)} (atol ${tol.atol}, rtol ${rtol})`);
  if (bad >= 0) {
    throw new Error(`${label}: element ${bad} is ${actual[bad]}, expected ${expected[bad]} (atol ${tol.atol}, rtol ${rtol}); worst abs ${report.maxAbs}`);
  }
  return report;
}

/** Largest |a[i] - b[i]| (Infinity when `a` holds a NaN). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

/**
 * How many leading greedy steps to compare against a reference: up to and including the
 * first near-tie, a step whose reference top-1/top-2 margin is below twice the logit bound
 * `atol` (each of the two logits may be off by `atol`, so only there may the order flip).
 */
export function stepsUntilNearTie(margins: readonly number[], n: number, atol: number): number {
  const tie = margins.findIndex((m, i) => i < n && m < 2 * atol);
  return tie < 0 ? n : tie + 1;
}
