// What the browser page reports for each check, and the comparison rule of the Node kernel
// tests (tests/helpers/compare.ts, expectClose): every element within atol + rtol · |want|,
// NaN never within. The Playwright test fails on any check with an element outside.

export interface Bound {
  atol: number;
  rtol?: number;
}

export interface CheckResult {
  /** "<family>: <case>"; the test requires every family of the page to report. */
  name: string;
  /** Worst |got - want| (Infinity for a NaN where a number was wanted). */
  maxAbs: number;
  /** Worst |got - want| / max(|want|, 1e-6). */
  maxRel: number;
  atol: number;
  rtol: number;
  /** Elements compared. */
  n: number;
  /** Elements outside atol + rtol · |want| (0 to pass). */
  outside: number;
  /** The first such element, for the failure message. */
  firstOutside?: string;
}

/** Collects the results of one page run. */
export class Checks {
  readonly results: CheckResult[] = [];

  /** Compares `got` with `want` element by element under `bound`. */
  close(name: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: Bound): CheckResult {
    const rtol = bound.rtol ?? 0;
    const r: CheckResult = { name, maxAbs: 0, maxRel: 0, atol: bound.atol, rtol, n: want.length, outside: 0 };
    if (got.length !== want.length) {
      r.outside = Math.max(1, want.length);
      r.maxAbs = Infinity;
      r.firstOutside = `length ${got.length}, expected ${want.length}`;
    }
    for (let i = 0; i < Math.min(got.length, want.length); i++) {
      const a = got[i];
      const e = want[i];
      const abs = Number.isNaN(a) !== Number.isNaN(e) ? Infinity : Number.isNaN(a) ? 0 : Math.abs(a - e);
      if (!(abs <= r.maxAbs)) r.maxAbs = abs;
      const rel = abs / Math.max(Math.abs(e), 1e-6);
      if (rel > r.maxRel) r.maxRel = rel;
      // NaN wanted and got (a NaN-filled cache slot left alone) is a match; otherwise NaN fails.
      const ok = Number.isNaN(e) ? Number.isNaN(a) : abs <= bound.atol + rtol * Math.abs(e);
      if (!ok) {
        if (r.outside === 0) r.firstOutside = `element ${i} is ${a}, expected ${e}`;
        r.outside++;
      }
    }
    this.results.push(r);
    return r;
  }

  /** Exact comparison (ids, indices, bit patterns). */
  equal(name: string, got: ArrayLike<number>, want: ArrayLike<number>): CheckResult {
    return this.close(name, got, want, { atol: 0 });
  }

  /** A check that counts its own failures (0 passes); `detail` describes the first. */
  count(name: string, failures: number, detail?: string): CheckResult {
    const r: CheckResult = { name, maxAbs: failures, maxRel: 0, atol: 0, rtol: 0, n: 1, outside: failures === 0 ? 0 : 1, firstOutside: failures ? detail : undefined };
    this.results.push(r);
    return r;
  }
}

export { Scope, scoped } from "../../helpers/gpu-scope.js";
