// Sessions on tiny-gpt2: incremental prefill, snapshot/restore, fork, refusals.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/runtime/snapshot.js";
import { loadSnapshotFile, saveSnapshotFile } from "../../src/runtime/snapshot-file.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { loadModelAt } from "../helpers/models.js";

let gpu: Gpu;
let model: LanguageModel;
const prompt = [986, 48, 737, 667, 360, 280, 840, 525, 981, 739, 514, 91];

beforeAll(async () => {
  gpu = await testGpu();
  model = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2");
});
afterAll(() => model?.dispose());

const lastLogits = (s: Session) => s.nextTokenLogits();

async function greedy(s: Session, n: number, promptIds: number[] | null = null): Promise<number[]> {
  const ids: number[] = [];
  for await (const t of s.generate(promptIds, { greedy: true, maxTokens: n, stopOnEos: false })) ids.push(t.id);
  return ids;
}

describe("sessions", () => {
  it("appending a prompt in three pieces gives the logits of one prefill (1e-4)", async () => {
    const one = new Session(model);
    await one.append(prompt);
    const three = new Session(model);
    await three.append(prompt.slice(0, 5));
    await three.append(prompt.slice(5, 6));
    await three.append(prompt.slice(6));
    expectClose("3 pieces vs 1 prefill", await lastLogits(three), await lastLogits(one), { atol: 1e-4, rtol: 1e-4 });
    one.dispose();
    three.dispose();
  });

  it("generate twice continues as one call", async () => {
    const a = new Session(model);
    const whole = await greedy(a, 12, prompt);
    const b = new Session(model);
    const first = await greedy(b, 5, prompt);
    const rest = await greedy(b, 7);
    expect([...first, ...rest]).toEqual(whole);
    a.dispose();
    b.dispose();
  });

  it("snapshot → restore (through bytes) reproduces the same greedy continuation", async () => {
    const s = new Session(model);
    await greedy(s, 4, prompt);
    const snap = await decodeSnapshot(encodeSnapshot(await s.snapshot()));
    const after1 = await greedy(s, 8);
    await s.restore(snap);
    const after2 = await greedy(s, 8);
    expect(after2).toEqual(after1);
    s.dispose();
  });

  it("fork gives two independent continuations from one prefix", async () => {
    const s = new Session(model);
    await s.append(prompt);
    const f = await s.fork();
    const sampledA: number[] = [];
    for await (const t of s.generate(null, { temperature: 1, seed: 1, maxTokens: 10 })) sampledA.push(t.id);
    const greedyB = await greedy(f, 10);
    const ref = new Session(model);
    expect(greedyB).toEqual(await greedy(ref, 10, prompt)); // the fork was not disturbed
    expect(sampledA).not.toEqual(greedyB);
    [s, f, ref].forEach((x) => x.dispose());
  });

  it("refuses a snapshot from a different model", async () => {
    const s = new Session(model);
    await s.append(prompt);
    const snap = await s.snapshot();
    const other = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2", { quant: "f16" });
    const t = new Session(other);
    let err: unknown;
    try {
      await t.restore(snap);
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(String(err)).toMatch(/different model/);
    t.dispose();
    other.dispose();
    s.dispose();
  });

  it("reports memory use; an f16 cache halves it", () => {
    const a = new Session(model);
    const b = new Session(model, { cacheType: "f16" });
    expect(a.usage().stateBytes).toBe(2 * 2 * 64 * 64 * 4); // layers × (K, V) × positions × width × 4
    expect(b.usage().stateBytes).toBe(a.usage().stateBytes / 2);
    a.dispose();
    b.dispose();
  });

  it("persists a snapshot in a file and continues from it in a new session", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mnemo-snap-"));
    try {
      const s = new Session(model, { cacheType: "f16" });
      await greedy(s, 3, prompt);
      await saveSnapshotFile(join(dir, "s.mnemo"), await s.snapshot());
      const expected = await greedy(s, 6);
      const t = new Session(model, { cacheType: "f16" });
      await t.restore(await loadSnapshotFile(join(dir, "s.mnemo")));
      expect(await greedy(t, 6)).toEqual(expected);
      [s, t].forEach((x) => x.dispose());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("context overflow (n_positions 64)", () => {
  // A conversation of token ids: turns of 37 "user" ids, each answered by 11 generated ids.
  const turn = (i: number) => Array.from({ length: 37 }, (_, j) => (i * 131 + j * 7) % 1000);

  it("a 3000-token conversation runs; the kept first part and the most recent tokens remain", async () => {
    const keepFirst = 6;
    const s = new Session(model, { overflowPolicy: { keepFirst } });
    await s.append(prompt.slice(0, keepFirst)); // the "system" part the policy keeps
    let total = keepFirst;
    let lastTurn: number[] = [];
    for (let i = 0; total < 3000; i++) {
      lastTurn = turn(i);
      await s.append(lastTurn);
      const reply = await greedy(s, 11);
      total += lastTurn.length + reply.length;
      expect(s.tokens.length).toBeLessThanOrEqual(64);
      expect(s.tokens.slice(0, keepFirst)).toEqual(prompt.slice(0, keepFirst));
    }
    const u = s.usage();
    expect(u.droppedTokens).toBe(total - s.tokens.length);
    expect(u.droppedTokens).toBeGreaterThan(2900);
    // After the last overflow the state holds exactly the kept tokens: its next-token logits
    // equal a fresh prefill of them.
    const fresh = new Session(model);
    await fresh.append(s.tokens);
    expectClose("kept context vs fresh prefill", await lastLogits(s), await lastLogits(fresh), { atol: 1e-4, rtol: 1e-4 });
    [s, fresh].forEach((x) => x.dispose());
  });

  it("overflow: 'error' refuses with CONTEXT_FULL and keeps the session usable", async () => {
    const s = new Session(model);
    await s.append(turn(0));
    let err: unknown;
    try {
      await s.append(turn(1), { overflow: "error" });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "CONTEXT_FULL")).toBe(true);
    expect(s.tokens).toEqual(turn(0));
    const fresh = new Session(model);
    await fresh.append(turn(0));
    expectClose("after refusal", await lastLogits(s), await lastLogits(fresh), { atol: 1e-6, rtol: 1e-6 });
    [s, fresh].forEach((x) => x.dispose());
  });

  it("generation past the context shrinks to half the context and goes on", async () => {
    // The policy (context-window.ts, keepFirst 0): when the context is full, keep the most
    // recent half of it (32 of 64 positions), feed those again, and go on from there.
    const half = 32;
    const s = new Session(model);
    const prompt3 = turn(3);
    const ids: number[] = [];
    const shrinks: { before: number[]; after: number[] }[] = [];
    let before = [...prompt3];
    for await (const t of s.generate(prompt3, { greedy: true, maxTokens: 80, stopOnEos: false })) {
      ids.push(t.id);
      const after = [...s.tokens];
      expect(after.length).toBeLessThanOrEqual(64 + 1); // the last sampled token is held, not yet fed
      if (after.length < before.length) shrinks.push({ before, after });
      else expect(after).toEqual([...before, t.id]);
      before = after;
    }
    expect(ids.length).toBe(80);
    expect(shrinks.length).toBeGreaterThan(0);
    for (const { before: held, after } of shrinks) {
      // Exactly the last half of what was held, then the token sampled from it.
      expect(after.length).toBe(half + 1);
      expect(after.slice(0, half)).toEqual(held.slice(-half));
    }
    expect(s.usage().droppedTokens).toBe(prompt3.length + ids.length - s.tokens.length);
    // The state holds exactly the kept half: the token after the last shrink is what a fresh
    // session fed those 32 tokens predicts.
    const last = shrinks.at(-1)!.after;
    const fresh = new Session(model);
    expect(await greedy(fresh, 1, last.slice(0, half))).toEqual([last[half]]);
    [s, fresh].forEach((x) => x.dispose());
  });
});
