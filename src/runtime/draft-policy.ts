// How many tokens to draft before each verification step, from what drafting has earned so
// far. Plain CPU code (tested alone): the speculative decoder reports every step's draft
// length, accepted count, rows and time, and asks for the next length.
//
// Model: each draft token is accepted with probability `a` once those before it were, so k
// drafts yield (1 - a^(k+1)) / (1 - a) tokens per forward (the +1 is the model's own token),
// and a forward of k + 1 rows costs what such forwards have cost (measured per row count,
// interpolated between counts not measured yet: see cost()). The policy drafts the k with the
// most tokens per millisecond. On a GPU, where a few rows cost about one, that is a long
// draft whenever anything is accepted; on SwiftShader, where each row costs, only a high
// acceptance pays. When no draft pays, drafting pauses (4, then 8, then 16 steps; the
// caller decodes them plainly, see takePause) and then one short draft probes whether the
// text has started repeating.

const FIRST_PAUSE = 4;
const LONGEST_PAUSE = 16;
/** Weight of the newest observation in the running estimates. */
const SMOOTHING = 0.3;

export class DraftPolicy {
  /** Estimated acceptance probability of one draft token. */
  acceptance = 0.5;
  private readonly costMs = new Map<number, number>();
  private pause = 0;
  private nextPause = FIRST_PAUSE;

  constructor(readonly maxDraft: number) {}

  /** Draft length for the next step (0: verify nothing, decode one token). */
  next(): number {
    if (this.pause > 0) {
      this.pause--;
      // The last step of a pause probes with one draft token.
      return this.pause === 0 ? 1 : 0;
    }
    // First a plain one-row step: every other cost is judged against it.
    if (!this.costMs.has(1)) return 0;
    const best = this.bestLength();
    if (best === 0) {
      this.pause = this.nextPause;
      this.nextPause = Math.min(LONGEST_PAUSE, this.nextPause * 2);
    }
    return best;
  }

  /**
   * After next() returned 0: the steps that will not draft either, this one included (the
   * rest of a pause, up to its probe), for the caller to decode plainly in one stretch.
   */
  takePause(): number {
    const steps = 1 + Math.max(0, this.pause - 1);
    this.pause = Math.min(this.pause, 1);
    return steps;
  }

  /** What a step did: `drafted` tokens proposed, `accepted` kept, a forward of `rows` rows taking `ms`. */
  observe(drafted: number, accepted: number, rows: number, ms: number): void {
    const old = this.costMs.get(rows);
    this.costMs.set(rows, old === undefined ? ms : (1 - SMOOTHING) * old + SMOOTHING * ms);
    if (drafted === 0) return;
    // Geometric model: `accepted` successes, then a failure unless all were accepted.
    const observed = accepted / (accepted + (accepted < drafted ? 1 : 0));
    this.acceptance = (1 - SMOOTHING) * this.acceptance + SMOOTHING * observed;
    if (accepted > 0) this.nextPause = FIRST_PAUSE;
  }

  /** Expected tokens per millisecond of drafting k tokens. */
  private rate(k: number): number {
    const a = Math.min(this.acceptance, 0.999);
    const tokens = (1 - a ** (k + 1)) / (1 - a);
    return tokens / this.cost(k + 1);
  }

  /**
   * A forward of `rows` rows: as measured; else interpolated between the nearest measured
   * counts, or above the largest one its cost (optimistic: a longer draft gets tried).
   */
  private cost(rows: number): number {
    const known = this.costMs.get(rows);
    if (known !== undefined) return known;
    let below = 0;
    let above = Number.POSITIVE_INFINITY;
    for (const r of this.costMs.keys()) {
      if (r < rows && r > below) below = r;
      if (r > rows && r < above) above = r;
    }
    if (below === 0 && above === Number.POSITIVE_INFINITY) return 1;
    if (above === Number.POSITIVE_INFINITY) return this.costMs.get(below)!;
    const high = this.costMs.get(above)!;
    if (below === 0) return high; // not reached once one row is measured (next() ensures it)
    const low = this.costMs.get(below)!;
    return low + ((high - low) * (rows - below)) / (above - below);
  }

  private bestLength(): number {
    let best = 0;
    for (let k = 1; k <= this.maxDraft; k++) if (this.rate(k) > this.rate(best)) best = k;
    return best;
  }
}
