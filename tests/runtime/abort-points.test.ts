// Aborts between the chunks of long work: a memory build stops after the window during which
// the signal fired, and a long LSTM prompt (prefilled in chunks of 512) stops between chunks.
// (`npm run mutate`'s "abort-check" makes throwIfAborted a no-op; these tests catch it.)
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { buildKnnStore } from "../../src/runtime/memory-build.js";
import { Session } from "../../src/runtime/session.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { loadModelAt } from "../helpers/models.js";
import { caughtAsync } from "../helpers/errors.js";

let gpu: Gpu;
let gpt2: LanguageModel;
let lstm: LanguageModel;

beforeAll(async () => {
  gpu = await testGpu();
  gpt2 = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2");
  lstm = await loadModelAt(gpu, "tests/fixtures/models/tiny-lstm");
});
afterAll(() => {
  gpt2?.dispose();
  lstm?.dispose();
});

describe("aborts between chunks", () => {
  it("a memory build aborted after its first window stops there with ABORTED", async () => {
    const ids = Array.from({ length: 200 }, (_, i) => (i * 13) % 1000);
    const controller = new AbortController();
    const progress: number[] = [];
    const e = await caughtAsync(() =>
      buildKnnStore(gpt2, ids, {
        window: 16,
        signal: controller.signal,
        onProgress: (done) => {
          progress.push(done);
          controller.abort();
        },
      }),
    );
    expect(isMnemoError(e) && e.code).toBe("ABORTED");
    expect(progress).toEqual([16]);
  });

  it("a long LSTM prompt aborted while its first chunk runs feeds no further chunk", async () => {
    const session = new Session(lstm);
    const controller = new AbortController();
    const prompt = Array.from({ length: 3 * lstm.maxChunk }, (_, i) => i % lstm.info.vocabSize);
    // Abort as soon as the first chunk is submitted (the step observer sees it).
    const observed = new Session(lstm, { observer: { onStep: () => controller.abort() } });
    const e = await caughtAsync(() => observed.append(prompt, { signal: controller.signal }));
    expect(isMnemoError(e) && e.code).toBe("ABORTED");
    expect(observed.internals.state.position).toBe(lstm.maxChunk);
    session.dispose();
    observed.dispose();
  });
});
