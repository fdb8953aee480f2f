// The draft-length policy alone: fed made-up acceptances and costs, it must draft long when
// rows are cheap and drafts pay, stay short when each row costs, pause when nothing is
// accepted, and probe again after a pause.
import { describe, expect, it } from "vitest";
import { DraftPolicy } from "../../src/runtime/draft-policy.js";

/** Runs `steps` steps: the text accepts `accept(k)` of k drafts; a forward of r rows costs cost(r). */
function simulate(policy: DraftPolicy, steps: number, accept: (k: number) => number, cost: (rows: number) => number): number[] {
  const lengths: number[] = [];
  for (let i = 0; i < steps; i++) {
    const k = policy.next();
    lengths.push(k);
    policy.observe(k, Math.min(k, accept(k)), k + 1, cost(k + 1));
  }
  return lengths;
}

describe("DraftPolicy", () => {
  it("GPU-like costs (a few rows cost about one) and text that repeats: drafts the most allowed", () => {
    const p = new DraftPolicy(8);
    const lengths = simulate(
      p,
      30,
      (k) => k,
      (r) => 1 + 0.01 * r,
    );
    expect(lengths.slice(-10).every((k) => k === 8)).toBe(true);
    expect(p.acceptance).toBeGreaterThan(0.9);
  });

  it("SwiftShader-like costs (each row costs): a draft pays only when most of it is accepted", () => {
    // Each row costs 0.7 of a decode step (measured on SwiftShader: a 2-row forward 1.25-1.35x a 1-row one, 4 rows ~2.7x).
    const costly = (r: number) => 0.3 + 0.7 * r;
    const repeats = new DraftPolicy(8);
    simulate(repeats, 40, (k) => k, costly);
    const rare = new DraftPolicy(8);
    const rareLengths = simulate(rare, 40, (k) => Math.floor(k / 4), costly);
    // Full acceptance pays: k + 1 tokens for less than k + 1 steps' cost.
    expect(repeats.next()).toBe(8);
    expect(rareLengths.slice(-20).filter((k) => k > 1).length).toBe(0);
  });

  it("takePause hands over the rest of a pause at once; the probe still comes after it", () => {
    const p = new DraftPolicy(8);
    // The first step measures a plain one-row step.
    expect(p.next()).toBe(0);
    expect(p.takePause()).toBe(1);
    p.observe(0, 0, 1, 1);
    // A draft fails; with costly rows none pays, so a pause begins: this step and 3 more, then the probe.
    const k = p.next();
    p.observe(k, 0, k + 1, 0.3 + 0.7 * (k + 1));
    expect(p.next()).toBe(0);
    expect(p.takePause()).toBe(4);
    expect(p.next()).toBe(1);
  });

  it("pauses when nothing is accepted, longer each time, and probes with one token at the end", () => {
    const p = new DraftPolicy(8);
    const lengths = simulate(
      p,
      120,
      () => 0,
      (r) => 1 + 0.01 * r,
    );
    const drafted = lengths.flatMap((k, i) => (k > 0 ? [i] : []));
    // After the first failures, drafting becomes rare probes of one token, further and further apart.
    const probes = drafted.filter((i) => i > 10);
    expect(probes.length).toBeGreaterThan(1);
    expect(probes.every((i) => lengths[i] === 1)).toBe(true);
    const gaps = probes.slice(1).map((i, j) => i - probes[j]);
    expect(gaps.at(-1)!).toBeGreaterThan(gaps[0]);
    expect(lengths.filter((k) => k > 0).length).toBeLessThan(20);
  });

  it("comes back to long drafts when the text starts repeating", () => {
    const p = new DraftPolicy(8);
    simulate(
      p,
      40,
      () => 0,
      (r) => 1 + 0.01 * r,
    );
    const lengths = simulate(
      p,
      120,
      (k) => k,
      (r) => 1 + 0.01 * r,
    );
    expect(lengths.slice(-5).every((k) => k === 8)).toBe(true);
  });

  it("never drafts more than maxDraft", () => {
    const p = new DraftPolicy(3);
    expect(
      Math.max(
        ...simulate(
          p,
          30,
          (k) => k,
          () => 1,
        ),
      ),
    ).toBe(3);
  });
});
