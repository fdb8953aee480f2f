// Perplexity under the fixtures' protocols: windows start every `window` ids and hold up to
// window + 1 ids; each window feeds its first n − 1 ids predicting ids 1..n − 1, so every id
// after the first is predicted exactly once. A window whose logits would not fit one binding
// goes in as consecutive pieces of one state (the KV cache carries the earlier rows). An attention model starts each
// window fresh (GPT-2 fixtures); a recurrent model carries its state from window to window,
// which makes the whole text one continuous stateful pass (LSTM fixtures). NLL is computed
// on the GPU per row; only the per-row values are read back.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { KernelDispatch } from "../gpu/dispatch.js";
import { tokenNll } from "../kernels/token-nll.js";
import type { LanguageModel, ModelState } from "../models/types.js";
import { WorkList, type GpuKnnStore, type MemoryMixOptions } from "../memory/gpu-store.js";
import { checkStoreFitsModel } from "../memory/memory-model.js";
import { PlanCache } from "./plan-cache.js";
import { StepRunner, feedPlan } from "./step-runner.js";

export interface PerplexityResult {
  meanNll: number;
  perplexity: number;
  predicted: number;
  ms: number;
  /** GPU time of the model's forward passes per predicted token (submit to readback). */
  msPerToken: number;
  /** The same ids scored with the external memory mixed in (same forward passes). */
  memory?: { meanNll: number; perplexity: number; msPerToken: number };
}

/** An external memory to score with, beside the model alone. */
export interface EvalMemory {
  store: GpuKnnStore;
  options: Required<MemoryMixOptions>;
}

interface WindowScore {
  nll: number;
  ms: number;
  memoryNll: number;
  memoryMs: number;
}

/** Runs one step of `dispatches`, then reads `M` floats of `out`; returns their sum and the time. */
async function runAndSum(runner: StepRunner, gpu: Gpu, dispatches: readonly KernelDispatch[], out: GPUBuffer, M: number): Promise<{ sum: number; ms: number }> {
  const t0 = performance.now();
  const step = await runner.run({ kind: "prefill", tokens: M, dispatches });
  let sum = 0;
  for (const v of await runner.wait(step, () => gpu.readF32(out, M))) sum += v;
  return { sum, ms: performance.now() - t0 };
}

/**
 * Rows of logits one forward may hold: its [rows, vocab] buffer must fit one binding (at
 * 1024 rows GPT-2's is 206 MB, above the 128 MiB many browsers allow).
 */
export function logitRowsPerForward(model: LanguageModel): number {
  const { maxStorageBufferBindingSize, maxBufferSize } = model.gpu.limits;
  const rows = Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / (model.info.vocabSize * 4));
  if (rows < 1) throw new MnemoError("TOO_LARGE", `One row of ${model.info.vocabSize} logits is larger than this adapter's maxStorageBufferBindingSize.`);
  return Math.min(rows, model.maxChunk);
}

/**
 * Feeds chunk[0..n−2] into `state` and returns the summed NLL of chunk[1..n−1]. The window
 * goes in as pieces of at most `run.pieceRows` positions, each continuing the state the one
 * before left (the same rows as one forward); with a memory, a second submit per piece mixes
 * it into the same logits and scores them again.
 */
async function windowNll(model: LanguageModel, run: EvalRun, chunk: readonly number[], memory?: EvalMemory): Promise<WindowScore> {
  const score: WindowScore = { nll: 0, ms: 0, memoryNll: 0, memoryMs: 0 };
  for (let start = 0; start < chunk.length - 1; start += run.pieceRows) {
    const piece = await pieceNll(model, run, chunk.slice(start, Math.min(start + run.pieceRows + 1, chunk.length)), memory);
    score.nll += piece.nll;
    score.ms += piece.ms;
    score.memoryNll += piece.memoryNll;
    score.memoryMs += piece.memoryMs;
  }
  return score;
}

/** One forward over piece[0..n−2] scoring piece[1..n−1]. */
async function pieceNll(model: LanguageModel, run: EvalRun, chunk: readonly number[], memory?: EvalMemory): Promise<WindowScore> {
  const gpu = model.gpu;
  const M = chunk.length - 1;
  const V = model.info.vocabSize;
  const plan = run.plans.get(M, { allLogits: true });
  const work = new WorkList(gpu);
  const targets = work.own(gpu.upload(Uint32Array.from(chunk.slice(1)), "eval.targets"));
  const nll = work.own(gpu.createStorage(M * 4, "eval.nll"));
  try {
    work.add(tokenNll(gpu, { logits: plan.logits, targets, out: nll, M, V }));
    feedPlan(gpu, plan, chunk.slice(0, M), run.state.position);
    const base = await runAndSum(run.runner, gpu, [...plan.dispatches, ...work.dispatches], nll, M);
    run.state.position += M;
    if (!memory) return { nll: base.sum, ms: base.ms, memoryNll: 0, memoryMs: 0 };
    const mixed = memory.store.planMix(plan.hidden!, 0, plan.logits, 0, M, V, memory.options);
    try {
      mixed.add(tokenNll(gpu, { logits: plan.logits, targets, out: nll, M, V }));
      const withMemory = await runAndSum(run.runner, gpu, mixed.dispatches, nll, M);
      return { nll: base.sum, ms: base.ms, memoryNll: withMemory.sum, memoryMs: withMemory.ms };
    } finally {
      mixed.dispose();
    }
  } finally {
    work.dispose();
  }
}

/** One state for the whole text (windows of an attention model clear it), and plans reused across windows. */
interface EvalRun {
  state: ModelState;
  plans: PlanCache;
  runner: StepRunner;
  /** Positions per forward: `logitRowsPerForward`, or fewer where a test asks. */
  pieceRows: number;
}

export async function evaluatePerplexity(
  model: LanguageModel,
  ids: readonly number[],
  opts: {
    window?: number;
    memory?: EvalMemory;
    onProgress?: (done: number, total: number) => void;
    /** At most this many positions per forward (default: as many as one binding of logits holds). */
    maxRowsPerForward?: number;
  } = {},
): Promise<PerplexityResult> {
  const recurrent = !Number.isFinite(model.info.contextLength);
  const window = opts.window ?? Math.min(recurrent ? model.maxChunk : 1024, model.info.contextLength);
  if (!Number.isInteger(window) || window < 1 || window > model.maxChunk) {
    throw new MnemoError("BAD_INPUT", `The evaluation window must be 1..${model.maxChunk} tokens, got ${window}.`);
  }
  if (ids.length < 2) throw new MnemoError("BAD_INPUT", "Perplexity needs at least two tokens.");
  const t0 = performance.now();
  if (opts.memory) checkStoreFitsModel(model, opts.memory.store);
  let total = 0;
  let totalMs = 0;
  let memoryTotal = 0;
  let memoryMs = 0;
  const starts: number[] = [];
  for (let s = 0; s < ids.length - 1; s += window) starts.push(s);
  const state = model.createState();
  const pieceRows = Math.min(logitRowsPerForward(model), opts.maxRowsPerForward ?? Number.POSITIVE_INFINITY);
  const run: EvalRun = { state, plans: new PlanCache(model, state), runner: new StepRunner(model.gpu), pieceRows };
  try {
    for (const [i, start] of starts.entries()) {
      // A recurrent model carries its state on; an attention model starts each window fresh.
      if (!recurrent) state.clear();
      const w = await windowNll(model, run, ids.slice(start, start + window + 1), opts.memory);
      total += w.nll;
      totalMs += w.ms;
      memoryTotal += w.memoryNll;
      memoryMs += w.memoryMs;
      opts.onProgress?.(i + 1, starts.length);
    }
  } finally {
    run.plans.clear();
    state.dispose();
  }
  const count = ids.length - 1;
  const meanNll = total / count;
  const result: PerplexityResult = { meanNll, perplexity: Math.exp(meanNll), predicted: count, ms: performance.now() - t0, msPerToken: totalMs / count };
  if (opts.memory) {
    const mean = memoryTotal / count;
    result.memory = { meanNll: mean, perplexity: Math.exp(mean), msPerToken: (totalMs + memoryMs) / count };
  }
  return result;
}
