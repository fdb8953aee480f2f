// Sessions on tiny-gpt2: incremental prefill, snapshot/restore, fork, refusals.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/runtime/snapshot.js";
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
});
