// Speed of a BERT encoder: sentence embeddings per second over a batch of sentences of mixed
// length (wall clock, a warm-up first), then one profiled forward for the per-kernel times.
import { GpuProfiler, MAX_TIMED_DISPATCHES, summarizeKernels, type KernelSummary } from "../gpu/profiler.js";
import type { BertModel } from "../models/bert.js";
import { runEncoder } from "./encode.js";
import type { StepRecord } from "./types.js";

/** What {@link benchmarkEncoder} measured. */
export interface EncoderBenchResult {
  model: string;
  adapter: string;
  sentences: number;
  /** Pieces in the batch, [CLS] and [SEP] included. */
  tokens: number;
  /** Wall-clock ms of one batch (submit to readback of the sentence vectors), per repeat. */
  msPerBatch: { median: number; min: number; max: number };
  sentencesPerS: number;
  tokensPerS: number;
  /** Per-kernel GPU times of one profiled batch (absent without timestamp queries). */
  kernels?: KernelSummary[];
}

/**
 * Deterministic sentences of 8..`maxPieces` word pieces (ids of whole-word pieces of the
 * vocabulary between [CLS] and [SEP]): the same batch on every run and every adapter.
 */
export function benchSentences(model: BertModel, count: number, maxPieces: number): number[][] {
  const tok = model.tokenizer;
  const first = Math.min(tok.vocabSize - 1, 1000);
  const span = Math.max(1, tok.vocabSize - first);
  return Array.from({ length: count }, (_, s) => {
    const n = 8 + ((s * 37) % Math.max(1, maxPieces - 9));
    return [tok.clsId, ...Array.from({ length: n - 2 }, (_, i) => first + ((s * 7919 + i * 104729) % span)), tok.sepId];
  });
}

export async function benchmarkEncoder(model: BertModel, opts: { sentences?: number; maxPieces?: number; repeats?: number; onProgress?: (phase: string) => void } = {}): Promise<EncoderBenchResult> {
  const sentences = opts.sentences ?? 64;
  const maxPieces = Math.min(opts.maxPieces ?? 64, model.info.maxPositions);
  const batch = { ids: benchSentences(model, sentences, maxPieces) };
  const tokens = batch.ids.reduce((a, s) => a + s.length, 0);
  const outputs = { pooling: "mean" as const, normalize: true };
  opts.onProgress?.("warm-up");
  await runEncoder(model, batch, outputs);
  opts.onProgress?.("timed batches");
  const times: number[] = [];
  for (let r = 0; r < (opts.repeats ?? 3); r++) {
    const t0 = performance.now();
    await runEncoder(model, batch, outputs);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  let kernels: KernelSummary[] | undefined;
  if (model.gpu.hasTimestamps) {
    opts.onProgress?.("profiled batch");
    const profiler = new GpuProfiler(model.gpu, MAX_TIMED_DISPATCHES);
    const steps: StepRecord[] = [];
    try {
      await runEncoder(model, batch, outputs, { profiler, onStep: (s) => steps.push(s) });
      kernels = summarizeKernels(steps.map((s) => s.gpu ?? []));
    } finally {
      profiler.dispose();
    }
  }
  const a = model.gpu.adapter;
  return {
    model: model.info.description,
    adapter: `${a.vendor} ${a.architecture}`.trim(),
    sentences,
    tokens,
    msPerBatch: { median, min: times[0], max: times.at(-1)! },
    sentencesPerS: (sentences / median) * 1000,
    tokensPerS: (tokens / median) * 1000,
    kernels,
  };
}
