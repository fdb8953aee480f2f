// The session runtime on tiny-gpt2: options checked before the session changes, the decode
// hot path creates nothing, prefill plans are reused, overlapped decoding gives exactly the
// tokens of one-by-one decoding, and a snapshot is one submit and one map.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import type { GenerateOptions } from "../../src/runtime/types.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { loadModelAt } from "../helpers/models.js";
import { caught, caughtAsync } from "../helpers/errors.js";
import { INVALID_OPTIONS } from "../helpers/invalid-options.js";

let gpu: Gpu;
let model: LanguageModel;
const prompt = [986, 48, 737, 667, 360, 280, 840, 525, 981, 739, 514, 91];

beforeAll(async () => {
  gpu = await testGpu();
  model = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2");
});
afterAll(() => model?.dispose());

async function collect(s: Session, p: readonly number[] | null, o: GenerateOptions): Promise<number[]> {
  const ids: number[] = [];
  for await (const t of s.generate(p, o)) ids.push(t.id);
  return ids;
}

/** `model` with another end-of-sequence id (tiny-gpt2's own, 50256, is outside its vocabulary). */
function withEos(m: LanguageModel, eosId: number): LanguageModel {
  const tokenizer = Object.assign(Object.create(m.tokenizer), { eosId });
  return Object.assign(Object.create(m), { tokenizer });
}

describe("options are checked before the session changes", () => {
  it("maxTokens: -1 is refused and the session still generates (it used to stay BUSY)", async () => {
    const s = new Session(model);
    const e = caught(() => s.generate(prompt, { maxTokens: -1 }));
    expect(isMnemoError(e) && e.code).toBe("BAD_INPUT");
    expect(s.tokens.length).toBe(0);
    expect(await collect(s, prompt, { greedy: true, maxTokens: 3 })).toHaveLength(3);
    s.dispose();
  });

  for (const [name, options] of INVALID_OPTIONS) {
    it(`${JSON.stringify(options)}: BAD_INPUT naming ${name}; generate() and chat() still work`, async () => {
      const s = new Session(model);
      await s.append(prompt);
      for (const call of [() => s.generate(null, options), () => s.chat([{ role: "user", content: "hi" }], options)]) {
        const e = await caughtAsync(async () => {
          for await (const _ of call());
        });
        expect(isMnemoError(e) && e.code).toBe("BAD_INPUT");
        expect((e as Error).message).toContain(name);
      }
      expect(s.tokens).toEqual(prompt);
      expect(await collect(s, null, { greedy: true, maxTokens: 2 })).toHaveLength(2);
      s.dispose();
    });
  }
});

describe("the decode hot path", () => {
  it("creates no pipeline, bind group or buffer after the first step", async () => {
    const s = new Session(model);
    const counts = () => [gpu.pipelines.created, gpu.bindGroupsCreated, gpu.getPoolStats().acquired];
    let afterFirst: number[] = [];
    let steps = 0;
    for await (const _ of s.generate(prompt, { temperature: 0.9, topK: 20, seed: 3, maxTokens: 20, stopOnEos: false })) {
      steps++;
      if (steps === 2) afterFirst = counts();
    }
    expect(steps).toBe(20);
    expect(counts()).toEqual(afterFirst);
    // The counters do count: a new session's first step creates its plan.
    const t = new Session(model);
    await collect(t, prompt, { greedy: true, maxTokens: 2 });
    expect(gpu.bindGroupsCreated).toBeGreaterThan(afterFirst[1]);
    s.dispose();
    t.dispose();
  });

  it("prefill plans are cached by chunk length", async () => {
    const s = new Session(model);
    await s.append(prompt.slice(0, 4));
    const built = s.internals.plansBuilt;
    const bindGroups = gpu.bindGroupsCreated;
    await s.append(prompt.slice(4, 8));
    expect(s.internals.plansBuilt).toBe(built);
    expect(gpu.bindGroupsCreated).toBe(bindGroups);
    await s.append(prompt.slice(8, 11));
    expect(s.internals.plansBuilt).toBe(built + 1);
    s.dispose();
  });
});

describe("overlapped decoding gives the tokens of one-by-one decoding", () => {
  /** Runs `fn` on a session that overlaps steps and on one that does not; returns both results. */
  async function both<T>(fn: (s: Session) => Promise<T>, m: LanguageModel = model): Promise<[T, T]> {
    const out: T[] = [];
    for (const lookahead of [1, 0]) {
      const s = new Session(m, { lookahead });
      try {
        out.push(await fn(s));
      } finally {
        s.dispose();
      }
    }
    return out as [T, T];
  }

  it("greedy and seeded sampling, across calls", async () => {
    const [a, b] = await both(async (s) => [
      ...(await collect(s, prompt, { greedy: true, maxTokens: 10 })),
      ...(await collect(s, null, { temperature: 1.1, topK: 50, topP: 0.9, repetitionPenalty: 1.3, seed: 7, maxTokens: 15 })),
      ...s.tokens,
    ]);
    expect(a).toEqual(b);
  });

  it("stop strings and end-of-sequence leave the same context", async () => {
    const greedy = await both((s) => collect(s, prompt, { greedy: true, maxTokens: 12 }));
    const eos = greedy[0][5];
    const m = withEos(model, eos);
    const [a, b] = await both(async (s) => {
      const ids = await collect(s, prompt, { greedy: true, maxTokens: 12 });
      const text = m.tokenizer.decode(greedy[0].slice(0, 3));
      const stopped = await collect(s, null, { seed: 1, maxTokens: 12, stop: [text.slice(-1)] });
      return { ids, stopped, tokens: [...s.tokens] };
    }, m);
    expect(a.ids).toEqual(greedy[0].slice(0, greedy[0].indexOf(eos)));
    expect(a).toEqual(b);
  });

  it("an abort mid-stream keeps the same tokens", async () => {
    const [a, b] = await both(async (s) => {
      const controller = new AbortController();
      let n = 0;
      const e = await caughtAsync(async () => {
        for await (const _ of s.generate(prompt, { greedy: true, maxTokens: 30, signal: controller.signal })) if (++n === 6) controller.abort();
      });
      expect(isMnemoError(e) && e.code).toBe("ABORTED");
      // The session goes on from what it kept.
      return [...s.tokens, ...(await collect(s, null, { greedy: true, maxTokens: 4 }))];
    });
    expect(a.length).toBe(prompt.length + 6 + 4);
    expect(a).toEqual(b);
  });

  it("generation past the context (overflow) gives the same tokens", async () => {
    const [a, b] = await both(async (s) => [...(await collect(s, prompt, { temperature: 0.8, seed: 11, maxTokens: 150 })), s.usage().droppedTokens]);
    expect(a.at(-1)).toBeGreaterThan(0);
    expect(a).toEqual(b);
  });

  it("overflow: 'error' stops at the end of the context either way", async () => {
    const [a, b] = await both(async (s) => {
      const ids: number[] = [];
      const e = await caughtAsync(async () => {
        for await (const t of s.generate(prompt, { greedy: true, maxTokens: 100, overflow: "error" })) ids.push(t.id);
      });
      expect(isMnemoError(e) && e.code).toBe("CONTEXT_FULL");
      return [...ids, ...s.tokens];
    });
    expect(a).toEqual(b);
  });
});

describe("snapshots", () => {
  it("one submit and one map, the same bytes as reading each buffer", async () => {
    const s = new Session(model);
    await collect(s, prompt, { greedy: true, maxTokens: 20 });
    const queue = gpu.device.queue;
    const submit = queue.submit.bind(queue);
    let submits = 0;
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      submits++;
      submit(buffers);
    };
    const proto = Object.getPrototypeOf(gpu.pool.acquire(4, 0x0001 | 0x0008, "probe")) as GPUBuffer;
    const mapAsync = proto.mapAsync;
    let maps = 0;
    proto.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer["mapAsync"]>) {
      maps++;
      return mapAsync.apply(this, args);
    };
    let snap;
    try {
      snap = await s.snapshot();
    } finally {
      queue.submit = submit;
      proto.mapAsync = mapAsync;
    }
    expect([submits, maps]).toEqual([1, 1]);
    // Against a plain readback of each K/V buffer, sliced to the used positions per head.
    const cache = s.internals.state as unknown as { k: GPUBuffer[]; v: GPUBuffer[]; position: number };
    const n = cache.position;
    const hd = 16;
    for (const [name, bufs] of [
      ["k", cache.k],
      ["v", cache.v],
    ] as const) {
      for (let l = 0; l < bufs.length; l++) {
        const full = new Float32Array(await gpu.readback(bufs[l], 4 * 64 * hd * 4));
        const expected = new Float32Array(4 * n * hd);
        for (let h = 0; h < 4; h++) expected.set(full.subarray(h * 64 * hd, (h * 64 + n) * hd), h * n * hd);
        expect(snap.tensors[`${name}${l}`].data).toEqual(expected);
      }
    }
    expect(snap.nextLogits).toBeUndefined();
    s.dispose();
  });
});
