// Search cost of a memory store on its own: one query (a decode step's hidden state)
// through distances, top-k and the mixture into a vocabulary of logits, timed per submit.
import { encodeDispatches } from "../gpu/dispatch.js";
import type { LanguageModel } from "../models/types.js";
import { spread, type Spread } from "../base/stats.js";
import type { GpuKnnStore, MemoryMixOptions } from "./gpu-store.js";

/** Milliseconds per search-and-mix of one query over `store` (after one warm-up). */
export async function benchMemorySearch(model: LanguageModel, store: GpuKnnStore, options: Required<MemoryMixOptions>, steps = 10): Promise<Spread> {
  const gpu = model.gpu;
  const query = gpu.upload(
    Float32Array.from({ length: model.hiddenSize }, (_, i) => Math.sin(i)),
    "bench.memory-query",
  );
  const logits = gpu.createStorage(model.info.vocabSize * 4, "bench.memory-logits");
  const work = store.planMix(query, 0, logits, 0, 1, model.info.vocabSize, options);
  const times: number[] = [];
  try {
    for (let s = 0; s <= steps; s++) {
      const t0 = performance.now();
      const encoder = gpu.device.createCommandEncoder({ label: "bench-memory-search" });
      encodeDispatches(encoder, work.dispatches);
      gpu.device.queue.submit([encoder.finish()]);
      await gpu.sync();
      if (s > 0) times.push(performance.now() - t0);
    }
  } finally {
    work.dispose();
    gpu.pool.release(query);
    gpu.pool.release(logits);
  }
  return spread(times);
}
