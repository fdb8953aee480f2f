// Perplexity under the fixtures' protocols: windows start every `window` ids and hold up to
// window + 1 ids; each window is a forward over its first n − 1 ids predicting ids 1..n − 1,
// so every id after the first is predicted exactly once. An attention model starts each
// window fresh (GPT-2 fixtures); a recurrent model carries its state from window to window,
// which makes the whole text one continuous stateful pass (LSTM fixtures). NLL is computed
// on the GPU per row; only the per-row values are read back.
import { MnemoError } from "../errors.js";
import { encodeDispatches, releaseDispatches } from "../gpu/dispatch.js";
import { tokenNll } from "../kernels/token-nll.js";
import type { LanguageModel, ModelState } from "../models/types.js";

export interface PerplexityResult {
  meanNll: number;
  perplexity: number;
  predicted: number;
  ms: number;
}

/** Feeds chunk[0..n−2] into `state` and returns the summed NLL of chunk[1..n−1]. */
async function windowNll(model: LanguageModel, state: ModelState, chunk: readonly number[]): Promise<number> {
  const gpu = model.gpu;
  const M = chunk.length - 1;
  const plan = model.planForward(state, M, { allLogits: true });
  const targets = gpu.upload(Uint32Array.from(chunk.slice(1)), "eval.targets");
  const nll = gpu.createStorage(M * 4, "eval.nll");
  const nllDispatch = tokenNll(gpu, { logits: plan.logits, targets, out: nll, M, V: model.info.vocabSize });
  try {
    gpu.write(plan.ids, Uint32Array.from(chunk.slice(0, M)));
    gpu.write(plan.positions, Uint32Array.from({ length: M }, (_, k) => state.position + k));
    const encoder = gpu.device.createCommandEncoder({ label: "eval-window" });
    encodeDispatches(encoder, [...plan.dispatches, nllDispatch]);
    gpu.device.queue.submit([encoder.finish()]);
    state.position += M;
    let sum = 0;
    for (const v of await gpu.readF32(nll, M)) sum += v;
    return sum;
  } finally {
    releaseDispatches(gpu, [nllDispatch]);
    plan.dispose();
    gpu.pool.release(targets);
    gpu.pool.release(nll);
  }
}

export async function evaluatePerplexity(
  model: LanguageModel,
  ids: readonly number[],
  opts: { window?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<PerplexityResult> {
  const recurrent = !Number.isFinite(model.info.contextLength);
  const window = opts.window ?? Math.min(recurrent ? model.maxChunk : 1024, model.info.contextLength);
  if (!Number.isInteger(window) || window < 1 || window > model.maxChunk) {
    throw new MnemoError("BAD_INPUT", `The evaluation window must be 1..${model.maxChunk} tokens, got ${window}.`);
  }
  if (ids.length < 2) throw new MnemoError("BAD_INPUT", "Perplexity needs at least two tokens.");
  const t0 = performance.now();
  let total = 0;
  const starts: number[] = [];
  for (let s = 0; s < ids.length - 1; s += window) starts.push(s);
  const carried = recurrent ? model.createState() : null;
  try {
    for (const [i, start] of starts.entries()) {
      const state = carried ?? model.createState();
      try {
        total += await windowNll(model, state, ids.slice(start, start + window + 1));
      } finally {
        if (!carried) state.dispose();
      }
      opts.onProgress?.(i + 1, starts.length);
    }
  } finally {
    carried?.dispose();
  }
  const count = ids.length - 1;
  const meanNll = total / count;
  return { meanNll, perplexity: Math.exp(meanNll), predicted: count, ms: performance.now() - t0 };
}
