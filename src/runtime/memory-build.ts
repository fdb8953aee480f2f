// Builds a memory store from text: the model runs over the ids in windows (the perplexity
// protocol's windows, each starting fresh), and every position becomes one entry: its
// final hidden state as the key, the id that follows as the value. Only the hidden rows
// come back from the GPU, once per window.
import { MnemoError, throwIfAborted } from "../errors.js";
import { f32ToF16Array } from "../formats/f16.js";
import type { LanguageModel } from "../models/types.js";
import type { KeyType, KnnStoreData } from "../memory/store-file.js";
import { requireHiddenStates } from "../memory/memory-model.js";
import { PlanCache } from "./plan-cache.js";
import { StepRunner, feedPlan } from "./step-runner.js";

/** Options of building a memory store (`model.buildMemory`). */
export interface BuildMemoryOptions {
  /** How keys are kept (default "f16": half the bytes; distances move by ~1e-3 relative). */
  keyType?: KeyType;
  /** Tokens per window (default: the model's context, at most 1024). */
  window?: number;
  /** Aborting stops the build with ABORTED between windows. */
  signal?: AbortSignal;
  /** Called after each window with the ids done so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Runs `model` over `ids` and returns the store of (hidden state → next id) pairs. */
export async function buildKnnStore(model: LanguageModel, ids: readonly number[], options: BuildMemoryOptions = {}): Promise<KnnStoreData> {
  requireHiddenStates(model, "External memory");
  const D = model.hiddenSize;
  const window = options.window ?? Math.min(model.maxChunk, 1024);
  if (!Number.isInteger(window) || window < 1 || window > model.maxChunk) {
    throw new MnemoError("BAD_INPUT", `The memory window must be 1..${model.maxChunk} tokens, got ${window}.`);
  }
  const keyType = options.keyType ?? "f16";
  if (keyType !== "f16" && keyType !== "f32") throw new MnemoError("BAD_INPUT", `keyType must be "f16" or "f32", got ${String(keyType)}.`);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= model.info.vocabSize) throw new MnemoError("BAD_INPUT", `Token id ${id} is outside the vocabulary of ${model.info.vocabSize}.`);
  }
  const count = Math.max(0, ids.length - 1);
  const keys = new Float32Array(count * D);
  const gpu = model.gpu;
  // One state and one plan per window length for the whole text: each window starts fresh.
  const state = model.createState();
  const plans = new PlanCache(model, state);
  const runner = new StepRunner(gpu);
  try {
    for (let start = 0; start < count; start += window) {
      throwIfAborted(options.signal);
      const chunk = ids.slice(start, start + window + 1);
      const M = chunk.length - 1;
      state.clear();
      const plan = plans.get(M);
      feedPlan(gpu, plan, chunk.slice(0, M), 0);
      const step = await runner.run({ kind: "prefill", tokens: M, dispatches: plan.dispatches });
      keys.set(await runner.wait(step, () => gpu.readF32(plan.hidden!, M * D)), start * D);
      options.onProgress?.(start + M, count);
    }
  } finally {
    plans.clear();
    state.dispose();
  }
  return {
    fingerprint: model.info.fingerprint,
    dims: D,
    keyType,
    count,
    keys: keyType === "f16" ? f32ToF16Array(keys) : keys,
    values: Uint32Array.from(ids.slice(1)),
    inputs: Uint32Array.from(ids.slice(0, count)),
  };
}
