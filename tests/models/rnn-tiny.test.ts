// tiny-rnn (tanh, 2 layers) and tiny-rnn-relu (relu, 3 layers), random weights in PyTorch's
// nn.RNN layout, against torch.nn.RNN (tests/fixtures/reference/tiny-rnn.json, written by
// scripts/fixtures/tiny-rnn.py): logits, kept state, batched vs step-by-step recurrence, the
// Keras SimpleRNN layout, sessions (snapshot, restore, fork) and refusals.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Gpu } from "../../src/gpu/device.js";
import { openSafetensors, writeSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { loadLanguageModel } from "../../src/models/load.js";
import type { LanguageModel } from "../../src/models/types.js";
import type { RecurrentState } from "../../src/models/recurrent.js";
import { transposeToNK } from "../../src/kernels/weights.js";
import { Session } from "../../src/runtime/session.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/runtime/snapshot.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { caughtAsync } from "../helpers/errors.js";
import { ROOT, fixture, forwardOnState, fullForwardLogits, loadModelAt, readFixtureTensor, readJsonFile } from "../helpers/models.js";

// Bounds from measurements: the worst error seen in Node 20 on Dawn/SwiftShader, 2026-12-01,
// times a small multiple, the worse of the two models (the fixture's logits reach |1.21|).
/** Logits vs torch (all 30 rows, rows 15..29 from a kept state, the session's next logits): measured 2.98e-7 (tanh), 2.38e-7 (relu); 6.7x. */
const LOGITS_ATOL = 2e-6;
/** Every layer's h vs torch, after 15 and after 30 ids: measured 4.62e-7 (tanh), 2.38e-7 (relu); 6.5x. */
const STATE_ATOL = 3e-6;
/** Two paths through the same runtime (batched vs one id at a time; Keras vs PyTorch layout): measured bit-identical. */
const SAME_RUNTIME_ATOL = 0;

const MODELS: Record<"tanh" | "relu", { dir: string; V: number; E: number; H: number; layers: number }> = {
  tanh: { dir: "tests/fixtures/models/tiny-rnn", V: 50, E: 16, H: 32, layers: 2 },
  relu: { dir: "tests/fixtures/models/tiny-rnn-relu", V: 40, E: 12, H: 20, layers: 3 },
};
type Kind = keyof typeof MODELS;

let gpu: Gpu;
const models = {} as Record<Kind, LanguageModel>;
let inputIds: Record<Kind, number[]>;
const tensor = (kind: Kind, name: string) => readFixtureTensor("tiny-rnn-tensors.safetensors", `${kind}.${name}`);

/** Every layer's h as one fixture-shaped [layers, H] array. */
async function hOf(kind: Kind, state: RecurrentState): Promise<Float32Array> {
  const { H, layers } = MODELS[kind];
  const t = await state.read();
  const h = new Float32Array(layers * H);
  for (let l = 0; l < layers; l++) h.set(t[`h${l}`].data as Float32Array, l * H);
  return h;
}

beforeAll(async () => {
  gpu = await testGpu();
  for (const kind of Object.keys(MODELS) as Kind[]) models[kind] = await loadModelAt(gpu, MODELS[kind].dir);
  inputIds = (await readJsonFile<{ input_ids: Record<Kind, number[]> }>(fixture("reference/tiny-rnn.json"))).input_ids;
});
afterAll(() => {
  for (const m of Object.values(models)) m?.dispose();
});

for (const kind of Object.keys(MODELS) as Kind[]) {
  const { V, H, layers } = MODELS[kind];
  describe(`tiny-rnn (${kind}) against torch.nn.RNN`, () => {
    it("loads as an RNN with unbounded context", () => {
      const m = models[kind];
      expect(m.info.type).toBe("rnn");
      expect(m.info.contextLength).toBe(Infinity);
      expect(m.info.vocabSize).toBe(V);
      expect(m.info.description).toContain(`RNN (${kind}), ${layers} layers of ${H}`);
    });

    it(`logits of 30 ids within ${LOGITS_ATOL} and every layer's final h within ${STATE_ATOL}`, async () => {
      const state = models[kind].createState() as RecurrentState;
      const got = await forwardOnState(models[kind], state, inputIds[kind]);
      expectClose(`${kind} logits`, got, await tensor(kind, "logits"), { atol: LOGITS_ATOL });
      expectClose(`${kind} final h`, await hOf(kind, state), await tensor(kind, "h"), { atol: STATE_ATOL });
      expect(Object.keys(await state.read()).sort()).toEqual(Array.from({ length: layers }, (_, l) => `h${l}`));
      state.dispose();
    });

    it("ids 0..14, then 15..29 from the kept state, reproduce rows 15..29 and the final state", async () => {
      const ids = inputIds[kind];
      const state = models[kind].createState() as RecurrentState;
      await forwardOnState(models[kind], state, ids.slice(0, 15));
      expectClose(`${kind} h after 15`, await hOf(kind, state), await tensor(kind, "h_after15"), { atol: STATE_ATOL });
      const rest = await forwardOnState(models[kind], state, ids.slice(15));
      expectClose(`${kind} rows 15..29`, rest, (await tensor(kind, "logits")).subarray(15 * V), { atol: LOGITS_ATOL });
      expectClose(`${kind} final h (kept state)`, await hOf(kind, state), await tensor(kind, "h"), { atol: STATE_ATOL });
      state.dispose();
    });

    it("the prompt path (batched input projection) and the step-by-step path agree exactly", async () => {
      const ids = inputIds[kind];
      const batched = await fullForwardLogits(models[kind], ids);
      const state = models[kind].createState();
      const stepwise = new Float32Array(ids.length * V);
      for (let t = 0; t < ids.length; t++) stepwise.set(await forwardOnState(models[kind], state, [ids[t]]), t * V);
      expectClose(`${kind} batched vs step by step`, stepwise, batched, { atol: SAME_RUNTIME_ATOL });
      state.dispose();
    });
  });
}

/** The tanh model's weights rewritten as Keras saves a SimpleRNN stack (kernel [in, H], one bias, Dense head). */
async function kerasFiles(): Promise<Record<string, Uint8Array>> {
  const { dir, V, E, H } = MODELS.tanh;
  const st = await openSafetensors(bufferSource(await readFile(join(ROOT, dir, "model.safetensors"))));
  const t = (n: string) => st.readF32(n);
  const tensors: { name: string; dtype: "F32"; shape: number[]; data: Float32Array }[] = [{ name: "embedding/embeddings", dtype: "F32", shape: [V, E], data: await t("embedding.weight") }];
  for (let l = 0; l < 2; l++) {
    const inDim = l === 0 ? E : H;
    const prefix = l === 0 ? "simple_rnn/simple_rnn_cell/" : `simple_rnn_${l}/simple_rnn_cell/`;
    const bIh = await t(`rnn.bias_ih_l${l}`);
    const bHh = await t(`rnn.bias_hh_l${l}`);
    tensors.push(
      // [H, in] → [in, H]: transposeToNK(data, K, N) turns [K, N] into [N, K].
      { name: `${prefix}kernel`, dtype: "F32" as const, shape: [inDim, H], data: transposeToNK(await t(`rnn.weight_ih_l${l}`), H, inDim) },
      { name: `${prefix}recurrent_kernel`, dtype: "F32" as const, shape: [H, H], data: transposeToNK(await t(`rnn.weight_hh_l${l}`), H, H) },
      { name: `${prefix}bias`, dtype: "F32" as const, shape: [H], data: bIh.map((v, i) => v + bHh[i]) },
    );
  }
  tensors.push(
    { name: "dense/kernel", dtype: "F32" as const, shape: [H, V], data: transposeToNK(await t("head.weight"), V, H) },
    { name: "dense/bias", dtype: "F32" as const, shape: [V], data: await t("head.bias") },
  );
  return { "config.json": await readFile(join(ROOT, dir, "config.json")), "model.safetensors": writeSafetensors(tensors.reverse()) };
}

describe("tiny-rnn in Keras SimpleRNN layout", () => {
  it("gives the same logits as the PyTorch layout", async () => {
    const keras = await loadLanguageModel(gpu, await resolveModelFiles(await kerasFiles()));
    const ids = inputIds.tanh;
    expectClose("keras vs torch", await fullForwardLogits(keras, ids), await tensor("tanh", "logits"), { atol: LOGITS_ATOL });
    expectClose("keras vs pytorch layout (same runtime)", await fullForwardLogits(keras, ids), await fullForwardLogits(models.tanh, ids), { atol: SAME_RUNTIME_ATOL });
    keras.dispose();
  });
});

describe("tiny-rnn sessions", () => {
  async function greedy(s: Session, n: number, prompt: number[] | null = null): Promise<number[]> {
    const out: number[] = [];
    for await (const t of s.generate(prompt, { greedy: true, maxTokens: n })) out.push(t.id);
    return out;
  }

  it("generate twice continues as one call, and the prompt logits match the fixture", async () => {
    const ids = inputIds.tanh;
    const a = new Session(models.tanh);
    await a.append(ids);
    expectClose("session next logits", await a.nextTokenLogits(), (await tensor("tanh", "logits")).subarray(29 * MODELS.tanh.V), { atol: LOGITS_ATOL });
    const whole = await greedy(a, 20);
    const b = new Session(models.tanh);
    const first = await greedy(b, 7, ids);
    const rest = await greedy(b, 13);
    expect([...first, ...rest]).toEqual(whole);
    a.dispose();
    b.dispose();
  });

  it("snapshot → restore (through bytes) equals the continuous run; fork diverges independently; reset forgets", async () => {
    const ids = inputIds.relu;
    const continuous = new Session(models.relu);
    const expected = await greedy(continuous, 25, ids);
    const s = new Session(models.relu);
    const head = await greedy(s, 5, ids);
    const snap = await decodeSnapshot(encodeSnapshot(await s.snapshot()));
    expect(snap.kind).toBe("recurrent");
    expect(Object.keys(snap.tensors).sort()).toEqual(["h0", "h1", "h2"]);
    const f = await s.fork();
    const sampled: number[] = [];
    for await (const t of s.generate(null, { temperature: 1.5, seed: 3, maxTokens: 20 })) sampled.push(t.id);
    const fromFork = await greedy(f, 20);
    expect([...head, ...fromFork]).toEqual(expected);
    await s.restore(snap);
    expect([...head, ...(await greedy(s, 20))]).toEqual(expected);
    expect(sampled).not.toEqual(fromFork);
    s.reset();
    const fresh = new Session(models.relu);
    expect(await greedy(s, 10, ids.slice(0, 5))).toEqual(await greedy(fresh, 10, ids.slice(0, 5)));
    [continuous, s, f, fresh].forEach((x) => x.dispose());
  });

  it("refuses an LSTM's snapshot forged with this model's fingerprint, leaving the state as it was", async () => {
    const lstm = await loadModelAt(gpu, "tests/fixtures/models/tiny-lstm");
    const l = new Session(lstm);
    await l.append([1, 2, 3]);
    const foreign = await l.snapshot();
    const s = new Session(models.tanh);
    await s.append(inputIds.tanh);
    const before = await s.nextTokenLogits();
    const err = await caughtAsync(() => s.restore(foreign));
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    const forged = { ...foreign, modelFingerprint: models.tanh.info.fingerprint };
    const err2 = await caughtAsync(() => s.restore(forged));
    expect(isMnemoError(err2, "SHAPE_MISMATCH") || isMnemoError(err2, "BAD_INPUT")).toBe(true);
    expect(String(err2)).toMatch(/RNN/);
    expect(Array.from(await s.nextTokenLogits())).toEqual(Array.from(before));
    [l, s].forEach((x) => x.dispose());
    lstm.dispose();
  });
});

describe("tiny-rnn bad input", () => {
  async function filesWith(overrides: Record<string, unknown>, dir = MODELS.tanh.dir): Promise<Record<string, Uint8Array>> {
    const config = { ...(await readJsonFile<Record<string, unknown>>(join(ROOT, dir, "config.json"))), ...overrides };
    return { "config.json": new TextEncoder().encode(JSON.stringify(config)), "model.safetensors": await readFile(join(ROOT, dir, "model.safetensors")) };
  }
  const load = async (overrides: Record<string, unknown>, dir?: string) => caughtAsync(async () => loadLanguageModel(gpu, await resolveModelFiles(await filesWith(overrides, dir))));

  it("an unknown nonlinearity, or one given to an LSTM, is refused by name", async () => {
    const err = await load({ nonlinearity: "sigmoid" });
    expect(isMnemoError(err, "UNSUPPORTED_MODEL")).toBe(true);
    expect(String(err)).toMatch(/"sigmoid"/);
    const lstm = await load({ nonlinearity: "relu" }, "tests/fixtures/models/tiny-lstm");
    expect(isMnemoError(lstm, "UNSUPPORTED_MODEL")).toBe(true);
  });

  it("LSTM weights under an RNN config, a wrong hidden size and a wrong layer count are clear errors", async () => {
    const asLstm = await caughtAsync(async () =>
      loadLanguageModel(
        gpu,
        await resolveModelFiles({
          "config.json": new TextEncoder().encode(JSON.stringify({ ...(await readJsonFile<object>(join(ROOT, "tests/fixtures/models/tiny-lstm/config.json"))), model_type: "rnn" })),
          "model.safetensors": await readFile(join(ROOT, "tests/fixtures/models/tiny-lstm/model.safetensors")),
        }),
      ),
    );
    expect(isMnemoError(asLstm, "BAD_MODEL_FILE")).toBe(true);
    expect(String(asLstm)).toMatch(/no tensor "rnn\.bias_ih_l0"/);
    const wide = await load({ hidden_size: 48 });
    expect(String(wide)).toMatch(/rnn\.\w+_l0" is \[.*\] but config\.json implies/);
    for (const num_layers of [1, 3]) expect(isMnemoError(await load({ num_layers }), "BAD_MODEL_FILE")).toBe(true);
  });

  it("quantizing an RNN is refused", async () => {
    const err = await caughtAsync(async () => loadLanguageModel(gpu, await resolveModelFiles(await filesWith({})), { quant: "q8_0" }));
    expect(isMnemoError(err, "UNSUPPORTED_MODEL")).toBe(true);
    expect(String(err)).toMatch(/RNN models run in f32/);
  });
});
