// Soak cycles on a small model: generate/abort with the abort landing at every stage
// (before the call, during prefill, at each decode step, right after a token's readback),
// and fork/snapshot/restore/dispose. Used by `npm run soak` (1000 of each) and, in small, by
// tests/runtime/reliability.test.ts. The GPU buffer pool's live count and bytes must not grow.
import { isMnemoError } from "../src/errors.js";
import type { LanguageModel } from "../src/models/types.js";
import { Session } from "../src/runtime/session.js";

export interface SoakResult {
  cycles: number;
  aborted: number;
  completed: number;
  liveBuffersBefore: number;
  liveBuffersAfter: number;
  liveBytesBefore: number;
  liveBytesAfter: number;
  ms: number;
}

async function measure(model: LanguageModel, cycles: number, run: (i: number) => Promise<"aborted" | "completed">): Promise<SoakResult> {
  const before = model.gpu.getPoolStats();
  const t0 = performance.now();
  let aborted = 0;
  for (let i = 0; i < cycles; i++) {
    if ((await run(i)) === "aborted") aborted++;
  }
  const after = model.gpu.getPoolStats();
  return {
    cycles,
    aborted,
    completed: cycles - aborted,
    liveBuffersBefore: before.liveBuffers,
    liveBuffersAfter: after.liveBuffers,
    liveBytesBefore: before.liveBytes,
    liveBytesAfter: after.liveBytes,
    ms: performance.now() - t0,
  };
}

/**
 * Cycle i aborts at stage i % 6: 0 before the call, 1 while the prompt is prefilled (after a
 * microtask), 2..4 after 1..3 tokens, 5 never (runs to maxTokens).
 */
export function generateAbortCycles(model: LanguageModel, cycles: number, prompt: readonly number[]): Promise<SoakResult> {
  return measure(model, cycles, async (i) => {
    const session = new Session(model);
    const controller = new AbortController();
    const stage = i % 6;
    if (stage === 0) controller.abort();
    let n = 0;
    try {
      const stream = session.generate(prompt, { maxTokens: 6, seed: i, signal: controller.signal });
      if (stage === 1) queueMicrotask(() => controller.abort());
      for await (const _token of stream) {
        n++;
        if (stage >= 2 && stage <= 4 && n === stage - 1) controller.abort();
      }
      return "completed";
    } catch (e) {
      if (!isMnemoError(e, "ABORTED")) throw e;
      return "aborted";
    } finally {
      session.dispose();
    }
  });
}

/** Snapshot, fork, generate on both, restore, dispose: every cycle. */
export function forkRestoreCycles(model: LanguageModel, cycles: number, prompt: readonly number[]): Promise<SoakResult> {
  return measure(model, cycles, async (i) => {
    const session = new Session(model);
    try {
      await session.append(prompt);
      const snapshot = await session.snapshot();
      const fork = await session.fork();
      for await (const _t of fork.generate(null, { maxTokens: 2, seed: i })) void _t;
      for await (const _t of session.generate(null, { maxTokens: 2, seed: i + 1 })) void _t;
      await fork.restore(snapshot);
      fork.dispose();
      return "completed";
    } finally {
      session.dispose();
    }
  });
}
