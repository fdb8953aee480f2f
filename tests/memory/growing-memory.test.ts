// A session's growing memory: every position joins it once the token after it is known
// (never twice, also across context shrinks), its keys are the positions' hidden states,
// snapshots and forks carry it, and it recalls a made-up name after the name has left the
// context window, where the same session without it does not.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { loadModel, isMnemoError, decodeSnapshot, encodeSnapshot, type Model } from "../../src/node.js";
import { encodeDispatches } from "../../src/gpu/dispatch.js";
import { openSafetensors, writeSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { caughtAsync } from "../helpers/errors.js";
import { expectClose } from "../helpers/compare.js";
import { fixture } from "../helpers/models.js";

let model: Model;
beforeAll(async () => {
  model = await loadModel(fixture("models/tiny-gpt2"));
});
afterAll(() => model?.dispose());

async function readModelFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) out[name] = new Uint8Array(await readFile(join(dir, name)));
  return out;
}

const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + 5) % 997);

/** Hidden rows of one fresh forward over `tokens`. */
async function hiddenRows(tokens: number[]): Promise<Float32Array> {
  const lm = model.languageModel;
  const state = lm.createState();
  const plan = lm.planForward(state, tokens.length);
  lm.gpu.write(plan.ids, Uint32Array.from(tokens));
  lm.gpu.write(
    plan.positions,
    Uint32Array.from(tokens, (_, i) => i),
  );
  const encoder = lm.gpu.device.createCommandEncoder();
  encodeDispatches(encoder, plan.dispatches);
  lm.gpu.device.queue.submit([encoder.finish()]);
  const rows = await lm.gpu.readF32(plan.hidden!, tokens.length * lm.hiddenSize);
  plan.dispose();
  state.dispose();
  return rows;
}

describe("growing memory", () => {
  it("holds every position whose next token is known, keyed by its hidden state", async () => {
    const session = model.session({ growingMemory: { capacity: 200 } });
    const text = ids(30, 1);
    await session.append(text.slice(0, 12));
    await session.append(text.slice(12));
    const snap = await session.snapshot();
    const g = snap.growingMemory!;
    expect(g.appended).toBe(29);
    expect(Array.from(g.values.subarray(0, 29))).toEqual(text.slice(1));
    expect(Array.from(g.inputs.subarray(0, 29))).toEqual(text.slice(0, 29));
    expect(g.pending!.input).toBe(text[29]);
    const want = await hiddenRows(text);
    expectClose("memory keys vs hidden states", g.keys.subarray(0, 29 * 64), want.subarray(0, 29 * 64), { atol: 1e-4, rtol: 1e-4 });
    expectClose("pending key", g.pending!.key, want.subarray(29 * 64, 30 * 64), { atol: 1e-4, rtol: 1e-4 });
    // Generated tokens join it too.
    const generated: number[] = [];
    for await (const t of session.generate(null, { maxTokens: 5, greedy: true, stopOnEos: false })) generated.push(t.id);
    await session.append([7]);
    expect(session.growingMemory!.appended).toBe(29 + 1 + 5);
    session.dispose();
  });

  it("a chunk's rows search the memory as it was before the chunk: its own entries join after its forward", async () => {
    // An empty memory gives the model's own distribution; a second chunk's rows see the first's entries.
    const text = ids(20, 2);
    const plain = model.session();
    await plain.append(text.slice(0, 12));
    const lm = await plain.nextTokenLogits();
    const max = lm.reduce((a, x) => Math.max(a, x), -Infinity);
    const lse = max + Math.log(lm.reduce((a, x) => a + Math.exp(x - max), 0));
    const session = model.session({ growingMemory: { capacity: 64, k: 8, temperature: 1, lambda: 0.5 } });
    await session.append(text.slice(0, 12));
    expectClose(
      "first chunk: the model's log-probabilities",
      await session.nextTokenLogits(),
      lm.map((x) => x - lse),
      { atol: 1e-4 },
    );
    await session.append(text.slice(12));
    await plain.append(text.slice(12));
    const mixed = await session.nextTokenLogits();
    const alone = await plain.nextTokenLogits();
    // λ 0.5: every token not voted for sits log 2 below the model's log-probability.
    const max2 = alone.reduce((a, x) => Math.max(a, x), -Infinity);
    const lse2 = max2 + Math.log(alone.reduce((a, x) => a + Math.exp(x - max2), 0));
    const unvoted = Array.from(mixed).filter((x, v) => Math.abs(x - (alone[v] - lse2 - Math.LN2)) < 1e-4).length;
    expect(unvoted).toBeGreaterThan(model.info.vocabSize - 9);
    expect(unvoted).toBeLessThan(model.info.vocabSize);
    plain.dispose();
    session.dispose();
  });

  it("adds each position once across context shrinks (64 positions, 100 tokens in chunks)", async () => {
    const session = model.session({ growingMemory: { capacity: 500 } });
    const text = ids(100, 2);
    for (let i = 0; i < 100; i += 10) await session.append(text.slice(i, i + 10));
    expect(session.usage().droppedTokens).toBeGreaterThan(0);
    const g = (await session.snapshot()).growingMemory!;
    expect(g.appended).toBe(99);
    expect(Array.from(g.values.subarray(0, 99))).toEqual(text.slice(1));
    expect(Array.from(g.inputs.subarray(0, 99))).toEqual(text.slice(0, 99));
    session.dispose();
  });

  it("is a ring when full, and travels in snapshot bytes and forks", async () => {
    const session = model.session({ growingMemory: { capacity: 16 } });
    const text = ids(40, 3);
    await session.append(text);
    const snap = await session.snapshot();
    expect(snap.growingMemory!.appended).toBe(39);
    expect(session.growingMemory!.entries).toBe(16);
    // Slots hold the newest 16 entries: entry e sits in slot e % 16.
    for (let e = 23; e < 39; e++) expect(snap.growingMemory!.values[e % 16]).toBe(text[e + 1]);
    const back = await decodeSnapshot(encodeSnapshot(snap));
    expect(back.growingMemory!.keys).toEqual(snap.growingMemory!.keys);
    expect(back.growingMemory!.values).toEqual(snap.growingMemory!.values);
    const restored = model.session({ growingMemory: { capacity: 16 } });
    await restored.restore(back);
    const fork = await session.fork();
    const opts = { maxTokens: 6, greedy: true, stopOnEos: false };
    const collect = async (s: typeof session) => {
      const out: number[] = [];
      for await (const t of s.generate([11, 12], opts)) out.push(t.id);
      return out;
    };
    const a = await collect(session);
    expect(await collect(restored)).toEqual(a);
    expect(await collect(fork)).toEqual(a);
    for (const s of [session, restored, fork]) s.dispose();
  });

  it("recalls a made-up name after it has left the context window; without memory it does not", async () => {
    // tiny-gpt2 has random weights, so its hidden states carry no meaning a neighbour search
    // could use. With its position table and attention output projections zeroed, a hidden
    // state is a function of its token alone, which isolates the memory's mechanism: the
    // cue's hidden state finds the entry written when the cue first came (its value is the
    // name's first token), and so on. A cue, then a "name" of 3 rare tokens, then filler
    // that pushes both out of the 64-position window, then the cue again. (gpt2-gutenberg
    // with real text: `npm run recall-name`, results in docs/guides/external-memory.md.)
    const files = await readModelFiles(fixture("models/tiny-gpt2"));
    const st = await openSafetensors(bufferSource(files["model.safetensors"]));
    const tensors = await Promise.all(
      [...st.tensors.values()].map(async (t) => ({
        name: t.name,
        dtype: "F32" as const,
        shape: t.shape,
        data: t.name === "wpe.weight" || t.name.endsWith("attn.c_proj.weight") ? new Float32Array(t.shape[0] * t.shape[1]) : await st.readF32(t.name),
      })),
    );
    const positionless = await loadModel({ ...files, "model.safetensors": writeSafetensors(tensors) });
    const cue = [901, 902];
    const name = [990, 991, 992];
    const filler = Array.from({ length: 150 }, (_, i) => 100 + ((i * 37) % 700));
    const probe = async (growingMemory: false | { capacity: number; k: number; temperature: number; lambda: number }) => {
      const session = positionless.session({ growingMemory });
      for (const part of [cue, name, filler.slice(0, 50), filler.slice(50, 100), filler.slice(100)]) await session.append(part);
      expect(session.usage().droppedTokens).toBeGreaterThan(cue.length + name.length);
      const out: number[] = [];
      for await (const t of session.generate(cue, { maxTokens: 3, greedy: true, stopOnEos: false })) out.push(t.id);
      session.dispose();
      return out;
    };
    const without = await probe(false);
    const withMemory = await probe({ capacity: 1024, k: 8, temperature: 1, lambda: 0.95 });
    const recalled = (out: number[]) => out.filter((id, i) => id === name[i]).length;
    console.log(`name ${name}: without memory ${without} (${recalled(without)} recalled), with growing memory ${withMemory} (${recalled(withMemory)} recalled)`);
    expect(recalled(withMemory)).toBeGreaterThan(recalled(without));
    expect(recalled(withMemory)).toBe(3);
    positionless.dispose();
  });

  it("refuses bad options up front", async () => {
    expect(isMnemoError(await caughtAsync(() => model.session({ growingMemory: { capacity: 0 } })), "BAD_INPUT")).toBe(true);
    expect(isMnemoError(await caughtAsync(() => model.session({ growingMemory: { lambda: 2 } })), "BAD_INPUT")).toBe(true);
  });
});
