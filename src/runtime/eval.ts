// Perplexity under the fixtures' protocol: windows start every `window` ids and hold up to
// window + 1 ids; each window is a fresh forward over its first n − 1 ids predicting ids
// 1..n − 1, so every id after the first is predicted exactly once. NLL is computed on the
// GPU per row; only the per-row values are read back.
import { MnemoError } from "../errors.js";
import { encodeDispatches, releaseDispatches } from "../gpu/dispatch.js";
import { tokenNll } from "../kernels/token-nll.js";
import type { LanguageModel } from "../models/types.js";

export interface PerplexityResult {
  meanNll: number;
  perplexity: number;
  predicted: number;
  ms: number;
}

export async function evaluatePerplexity(
  model: LanguageModel,
  ids: readonly number[],
  opts: { window?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<PerplexityResult> {
  const window = opts.window ?? Math.min(1024, model.info.contextLength);
  if (!Number.isInteger(window) || window < 1 || window > model.maxChunk) {
    throw new MnemoError("BAD_INPUT", `The evaluation window must be 1..${model.maxChunk} tokens, got ${window}.`);
  }
  if (ids.length < 2) throw new MnemoError("BAD_INPUT", "Perplexity needs at least two tokens.");
  const gpu = model.gpu;
  const V = model.info.vocabSize;
  const t0 = performance.now();
  let total = 0;
  let count = 0;
  const starts: number[] = [];
  for (let s = 0; s < ids.length - 1; s += window) starts.push(s);
  for (const [i, start] of starts.entries()) {
    const chunk = ids.slice(start, start + window + 1);
    const M = chunk.length - 1;
    const state = model.createState();
    const plan = model.planForward(state, M, { allLogits: true });
    const targets = gpu.upload(Uint32Array.from(chunk.slice(1)), "eval.targets");
    const nll = gpu.createStorage(M * 4, "eval.nll");
    const nllDispatch = tokenNll(gpu, { logits: plan.logits, targets, out: nll, M, V });
    try {
      gpu.write(plan.ids, Uint32Array.from(chunk.slice(0, M)));
      gpu.write(plan.positions, Uint32Array.from({ length: M }, (_, k) => k));
      const encoder = gpu.device.createCommandEncoder({ label: "eval-window" });
      encodeDispatches(encoder, [...plan.dispatches, nllDispatch]);
      gpu.device.queue.submit([encoder.finish()]);
      const values = await gpu.readF32(nll, M);
      for (const v of values) total += v;
      count += M;
    } finally {
      releaseDispatches(gpu, [nllDispatch]);
      plan.dispose();
      state.dispose();
      gpu.pool.release(targets);
      gpu.pool.release(nll);
    }
    opts.onProgress?.(i + 1, starts.length);
  }
  const meanNll = total / count;
  return { meanNll, perplexity: Math.exp(meanNll), predicted: count, ms: performance.now() - t0 };
}
