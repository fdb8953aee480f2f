// Reliability on tiny-gpt2: soak cycles leak nothing, aborts land anywhere, a lost device
// fails every pending and later call with DEVICE_LOST and a new model loads afterwards, and
// concurrent callers never get garbage.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { loadModel, type Model } from "../../src/api.js";
import type { GeneratedToken } from "../../src/runtime/types.js";
import { isMnemoError } from "../../src/errors.js";
import { ROOT } from "../helpers/models.js";
import { caughtAsync } from "../helpers/errors.js";
import { forkRestoreCycles, generateAbortCycles } from "../../scripts/soak-cycles.js";

const TINY = join(ROOT, "tests", "fixtures", "models", "tiny-gpt2");
const prompt = [5, 17, 99, 3, 250, 7];
let model: Model;

beforeAll(async () => {
  model = await loadModel(TINY);
});
afterAll(() => model?.dispose());

async function ids(stream: AsyncGenerator<GeneratedToken>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of stream) out.push(t.id);
  return out;
}

describe("soak (small; npm run soak runs 1000 of each)", () => {
  it("generate/abort cycles, aborting at every stage, leak no GPU buffers", async () => {
    const r = await generateAbortCycles(model.languageModel, 60, prompt);
    expect(r.aborted).toBe(50);
    expect(r.liveBuffersAfter).toBe(r.liveBuffersBefore);
    expect(r.liveBytesAfter).toBe(r.liveBytesBefore);
  });

  it("fork/snapshot/restore cycles leak no GPU buffers", async () => {
    const r = await forkRestoreCycles(model.languageModel, 40, prompt);
    expect(r.completed).toBe(40);
    expect(r.liveBuffersAfter).toBe(r.liveBuffersBefore);
    expect(r.liveBytesAfter).toBe(r.liveBytesBefore);
  });

  it("loading can be aborted before or while it runs", async () => {
    const before = new AbortController();
    before.abort();
    expect(isMnemoError(await caughtAsync(() => loadModel(TINY, { signal: before.signal })), "ABORTED")).toBe(true);
    // Aborted right after the load has started (its first await: the file lookup), long
    // before the weights are read and uploaded: the load must stop with ABORTED, not finish.
    const during = new AbortController();
    const loading = loadModel(TINY, { signal: during.signal });
    queueMicrotask(() => during.abort());
    const outcome = await loading.then(
      (m) => (m.dispose(), "loaded"),
      (e: unknown) => e,
    );
    expect(isMnemoError(outcome, "ABORTED"), String(outcome)).toBe(true);
  });
});

describe("concurrency", () => {
  it("two generate() calls on one model at once give what each gives alone", async () => {
    const opts = { greedy: true, maxTokens: 12, stopOnEos: false };
    const alone = [await ids(model.generate(prompt, opts)), await ids(model.generate([9, 8, 7], opts))];
    const together = await Promise.all([ids(model.generate(prompt, opts)), ids(model.generate([9, 8, 7], opts))]);
    expect(together).toEqual(alone);
  });

  it("a second generate() on one session while the first runs is refused with BUSY", async () => {
    const s = model.session();
    const first = s.generate(prompt, { maxTokens: 8 });
    await first.next();
    const err = await caughtAsync(() => s.generate(null, { maxTokens: 2 }).next());
    expect(isMnemoError(err, "BUSY")).toBe(true);
    await first.return(undefined);
    expect((await ids(s.generate(null, { maxTokens: 2 }))).length).toBe(2);
    s.dispose();
  });
});

describe("device loss", () => {
  it("rejects the pending generation and later calls with DEVICE_LOST; a new model loads afterwards", async () => {
    const doomed = await loadModel(TINY);
    const session = doomed.session();
    let n = 0;
    const err = await caughtAsync(async () => {
      for await (const _t of session.generate(prompt, { maxTokens: 50 })) {
        if (++n === 3) doomed.languageModel.gpu.destroy();
      }
    });
    expect(isMnemoError(err, "DEVICE_LOST")).toBe(true);
    expect(n).toBe(3);
    expect(isMnemoError(await caughtAsync(() => session.append([1, 2])), "DEVICE_LOST")).toBe(true);
    expect(isMnemoError(await caughtAsync(async () => doomed.session()), "DEVICE_LOST")).toBe(true);
    session.dispose();
    doomed.dispose();
    const fresh = await loadModel(TINY);
    expect((await ids(fresh.generate(prompt, { maxTokens: 4, stopOnEos: false }))).length).toBe(4);
    fresh.dispose();
  });
});
