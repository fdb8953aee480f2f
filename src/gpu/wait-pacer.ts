// Waiting for the GPU without spinning a CPU core.
//
// Dawn's Node binding resolves WebGPU promises (mapAsync, onSubmittedWorkDone) by polling on
// every turn of the event loop for as long as one is pending: a wait keeps one core at 100%
// and makes ~100 MB/s of garbage (measured under `node --trace-gc`: a collection every
// ~100 ms). A software adapter (SwiftShader) computes on those same cores, so on a 2-core
// machine a 124M decode step took 700-900 ms while polled and under 500 ms while the CPU
// slept; the garbage collections also land inside step recording (10-15 ms outliers).
//
// The pacer learns how long each kind of work takes from submit to completion and starts
// the wait only shortly before the expected end, sleeping on a timer until then. Work that
// takes less than MIN_PACED_MS (any real GPU's decode step) is waited for at once, as
// before, so pacing never adds timer latency where it could matter. Browsers do not poll
// like this; the pacer is only enabled for Dawn in Node.

/** Work expected to finish sooner than this is polled at once (timer granularity is ~1 ms). */
export const MIN_PACED_MS = 8;
/** Fraction of the expected time slept before polling starts. */
const LEAD = 0.85;
/** When the work was already done at the first poll, the estimate shrinks by this factor. */
const SHRINK = 0.8;
/** A poll answered within this many ms means the work had finished before it. */
const ALREADY_DONE_MS = 1;

export class WaitPacer {
  private readonly expectedMs = new WeakMap<object, number>();
  /** When the last paced wait completed: queued work cannot start before its predecessors end. */
  private lastDoneMs = Number.NEGATIVE_INFINITY;
  /** Work submitted up to this time is known to be done (the queue runs in order). */
  private doneThroughMs = Number.NEGATIVE_INFINITY;
  /** Milliseconds slept so far (a test and the bench read it). */
  sleptMs = 0;

  constructor(
    readonly enabled: boolean,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** The learned submit-to-completion time of `kind`, if any. */
  expected(kind: object): number | undefined {
    return this.expectedMs.get(kind);
  }

  /**
   * Waits for work of `kind` (any object that stands for one shape of work, such as a plan's
   * dispatch list) submitted at `submittedAtMs`: sleeps until near its expected end, then
   * calls `begin` (which creates the GPU promise) and learns from how long that took.
   */
  async wait<T>(kind: object, submittedAtMs: number, begin: () => Promise<T>): Promise<T> {
    if (!this.enabled || submittedAtMs <= this.doneThroughMs) return begin();
    const startedAt = Math.max(submittedAtMs, this.lastDoneMs);
    const expected = this.expectedMs.get(kind);
    if (expected !== undefined && expected >= MIN_PACED_MS) {
      const delay = startedAt + expected * LEAD - this.now();
      if (delay >= 1) {
        await this.sleep(delay);
        this.sleptMs += delay;
      }
    }
    const polledFrom = this.now();
    const value = await begin();
    const done = this.now();
    this.lastDoneMs = done;
    this.doneThroughMs = Math.max(this.doneThroughMs, submittedAtMs);
    const took = done - startedAt;
    // Finished before the first poll: it took at most `took`, maybe much less.
    const learned = expected !== undefined && done - polledFrom < ALREADY_DONE_MS ? Math.min(expected, took) * SHRINK : took;
    this.expectedMs.set(kind, learned);
    return value;
  }
}
