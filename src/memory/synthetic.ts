// Synthetic memory stores for benchmarks: random f16 keys of a model's hidden size and
// random next tokens, so search cost can be measured at any size without building one.
import { f32ToF16 } from "../formats/f16.js";
import { SeededRandom } from "../base/random.js";
import type { KnnStoreData } from "./store-file.js";

/** A store of `entries` random keys (normal-ish, like hidden states after a layer norm). */
export function syntheticKnnStore(o: { fingerprint: string; dims: number; entries: number; vocab: number; seed?: number }): KnnStoreData {
  const random = new SeededRandom(o.seed ?? 1);
  const keys = new Uint16Array(o.entries * o.dims);
  // A small table of f16 values reused at random: filling hundreds of millions of keys
  // one conversion at a time would dominate the benchmark's setup.
  const table = Uint16Array.from({ length: 4096 }, () => f32ToF16((random.next() + random.next() + random.next() - 1.5) * 2));
  for (let i = 0; i < keys.length; i++) keys[i] = table[(random.next() * 4096) | 0];
  const values = Uint32Array.from({ length: o.entries }, () => (random.next() * o.vocab) | 0);
  return { fingerprint: o.fingerprint, dims: o.dims, keyType: "f16", count: o.entries, keys, values, inputs: values.slice() };
}
