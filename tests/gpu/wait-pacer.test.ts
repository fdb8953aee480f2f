// The pacer sleeps through long GPU waits and polls short ones at once. A fake clock makes
// every decision visible: `sleeps` records each timer delay, `work` says when a submitted
// piece of work finishes, and `begin` (the poll) resolves once the clock passes that time.
import { describe, expect, it } from "vitest";
import { MIN_PACED_MS, WaitPacer } from "../../src/gpu/wait-pacer.js";

function fakeClock() {
  let now = 0;
  const sleeps: number[] = [];
  const clock = {
    sleeps,
    get now() {
      return now;
    },
    advance(ms: number) {
      now += ms;
    },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    /** A poll for work that finishes at `doneAt`: resolves then (or at once when already done). */
    poll(doneAt: number) {
      return async () => {
        if (now < doneAt) now = doneAt;
        now += 0.01; // the poll itself
        return "value";
      };
    },
  };
  return clock;
}

describe("WaitPacer", () => {
  it("disabled: polls at once and sleeps never", async () => {
    const c = fakeClock();
    const pacer = new WaitPacer(false, () => c.now, c.sleep);
    const kind = {};
    for (let i = 0; i < 3; i++) {
      const t = c.now;
      expect(await pacer.wait(kind, t, c.poll(t + 500))).toBe("value");
    }
    expect(c.sleeps).toEqual([]);
    expect(pacer.expected(kind)).toBeUndefined();
  });

  it("learns a long step, then sleeps most of it and polls the rest", async () => {
    const c = fakeClock();
    const pacer = new WaitPacer(true, () => c.now, c.sleep);
    const kind = {};
    await pacer.wait(kind, 0, c.poll(500)); // first time: nothing known, polled from the start
    expect(c.sleeps).toEqual([]);
    expect(pacer.expected(kind)).toBeCloseTo(500, 0);
    const t = c.now;
    await pacer.wait(kind, t, c.poll(t + 500));
    expect(c.sleeps).toHaveLength(1);
    expect(c.sleeps[0]).toBeGreaterThan(0.8 * 500);
    expect(c.sleeps[0]).toBeLessThan(500);
    expect(c.now - t).toBeLessThan(501); // never later than the work itself
    expect(pacer.sleptMs).toBeCloseTo(c.sleeps[0], 6);
  });

  it("never delays work shorter than MIN_PACED_MS (a real GPU's decode step)", async () => {
    const c = fakeClock();
    const pacer = new WaitPacer(true, () => c.now, c.sleep);
    const kind = {};
    for (let i = 0; i < 5; i++) {
      const t = c.now;
      await pacer.wait(kind, t, c.poll(t + MIN_PACED_MS / 2));
    }
    expect(c.sleeps).toEqual([]);
  });

  it("shrinks an estimate the work beat, until it polls before the end again", async () => {
    const c = fakeClock();
    const pacer = new WaitPacer(true, () => c.now, c.sleep);
    const kind = {};
    await pacer.wait(kind, 0, c.poll(900)); // learned while slow (say, polled under contention)
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = c.now;
      await pacer.wait(kind, t, c.poll(t + 400));
      waits.push(c.now - t);
    }
    expect(waits[0]).toBeGreaterThan(600); // overslept once
    expect(waits.at(-1)!).toBeLessThan(401); // and then no more
    expect(pacer.expected(kind)!).toBeGreaterThan(300);
    expect(pacer.expected(kind)!).toBeLessThan(420);
  });

  it("counts from the previous completion when work was queued behind other work", async () => {
    const c = fakeClock();
    const pacer = new WaitPacer(true, () => c.now, c.sleep);
    const kind = {};
    await pacer.wait(kind, 0, c.poll(500));
    // Two steps submitted one after the other at ~500: the second runs from ~1000 to ~1500.
    const submittedAt = c.now;
    await pacer.wait(kind, submittedAt, c.poll(submittedAt + 500));
    await pacer.wait(kind, submittedAt + 0.001, c.poll(submittedAt + 1000));
    expect(c.sleeps).toHaveLength(2);
    expect(c.now).toBeLessThan(submittedAt + 1001);
    expect(pacer.expected(kind)).toBeCloseTo(500, 0);
  });

  it("does not sleep for work already known to be done", async () => {
    const c = fakeClock();
    const pacer = new WaitPacer(true, () => c.now, c.sleep);
    const kind = {};
    await pacer.wait(kind, 0, c.poll(500));
    const t = c.now;
    await pacer.wait(kind, t, c.poll(t + 500));
    const slept = c.sleeps.length;
    // The same step settled again (a prefill's final sync after its observer waited for it).
    await pacer.wait(kind, t, c.poll(0));
    expect(c.sleeps).toHaveLength(slept);
  });
});
