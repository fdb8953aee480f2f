// The context window and its overflow policy: plain CPU bookkeeping, no GPU.
import { describe, it, expect } from "vitest";
import { ContextWindow, planShrink } from "../../src/runtime/context-window.js";
import { isMnemoError } from "../../src/errors.js";
import { caught } from "../helpers/errors.js";

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("planShrink (the overflow policy)", () => {
  it("keeps the most recent half of the context when nothing is pinned", () => {
    const p = planShrink(range(0, 70), 64, 64, { keepFirst: 0 });
    expect(p.kept).toEqual(range(38, 70));
    expect(p.dropped).toBe(38);
    // The state had consumed 0..63: of the kept tokens, 38..63 had been fed before.
    expect(p.replayed).toBe(26);
  });

  it("pins the first tokens (at most a quarter of the context) and fills up to half with the most recent", () => {
    const p = planShrink(range(0, 100), 64, 64, { keepFirst: 5 });
    expect(p.kept).toEqual([...range(0, 5), ...range(73, 100)]);
    expect(p.kept.length).toBe(32);
    expect(p.dropped).toBe(68);
    expect(p.replayed).toBe(5);
    const capped = planShrink(range(0, 100), 64, 64, { keepFirst: 40 });
    expect(capped.kept).toEqual([...range(0, 16), ...range(84, 100)]);
  });

  it("counts as replayed only what the state had consumed", () => {
    // 60 consumed, 10 incoming: the recent part 38..69 holds 22 consumed tokens.
    expect(planShrink(range(0, 70), 60, 64, { keepFirst: 0 }).replayed).toBe(22);
    expect(planShrink(range(0, 70), 30, 64, { keepFirst: 0 }).replayed).toBe(0);
  });

  it("refuses a recurrent (unbounded) context", () => {
    const e = caught(() => planShrink([1, 2], 2, Infinity, { keepFirst: 0 }));
    expect(isMnemoError(e) && e.code).toBe("INTERNAL");
  });
});

describe("ContextWindow", () => {
  it("tracks held, unfed and dropped tokens", () => {
    const w = new ContextWindow(8);
    w.push(1, 2, 3, 4, 5);
    expect(w.unfed(3)).toEqual([4, 5]);
    expect(w.fits(3)).toBe(true);
    expect(w.fits(4)).toBe(false);
    w.truncate(3);
    expect(w.tokens).toEqual([1, 2, 3]);
    const p = w.shrink([10, 11, 12, 13, 14, 15], 3, { keepFirst: 1 });
    expect(p.kept).toEqual([1, 13, 14, 15]);
    expect(w.length).toBe(0);
    expect(w.dropped).toBe(5);
    w.assign([7, 8], 2);
    expect(w.tokens).toEqual([7, 8]);
    expect(w.dropped).toBe(2);
    w.clear();
    expect(w.dropped).toBe(0);
  });
});
