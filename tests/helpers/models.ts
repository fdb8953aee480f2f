import { join } from "node:path";
import { readFile } from "node:fs/promises";
import type { Gpu } from "../../src/gpu/device.js";
import { encodeDispatches } from "../../src/gpu/dispatch.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { loadLanguageModel, type LoadLanguageModelOptions } from "../../src/models/load.js";
import type { LanguageModel, ModelState } from "../../src/models/types.js";
import { openSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";

export const ROOT = join(__dirname, "..", "..");
export const fixture = (p: string) => join(ROOT, "tests", "fixtures", p);

export async function loadModelAt(gpu: Gpu, path: string, opts?: LoadLanguageModelOptions): Promise<LanguageModel> {
  return loadLanguageModel(gpu, await resolveModelFiles(join(ROOT, path)), opts);
}

export async function readJsonFile<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

export async function readFixtureTensor(file: string, name: string): Promise<Float32Array> {
  const st = await openSafetensors(bufferSource(await readFile(fixture(`reference/${file}`))));
  return st.readF32(name);
}

/** Logits of every position of `ids` from one fresh forward (no cache reuse). */
export async function fullForwardLogits(model: LanguageModel, ids: readonly number[]): Promise<Float32Array> {
  const state = model.createState();
  const out = await forwardOnState(model, state, ids);
  state.dispose();
  return out;
}

/** Feeds `ids` into `state` with one plan of M = ids.length; returns the logits of every row. */
export async function forwardOnState(model: LanguageModel, state: ModelState, ids: readonly number[]): Promise<Float32Array> {
  const gpu = model.gpu;
  const plan = model.planForward(state, ids.length, { allLogits: true });
  gpu.write(plan.ids, Uint32Array.from(ids));
  gpu.write(
    plan.positions,
    Uint32Array.from(ids, (_, i) => state.position + i),
  );
  const enc = gpu.device.createCommandEncoder();
  encodeDispatches(enc, plan.dispatches);
  gpu.device.queue.submit([enc.finish()]);
  const out = await gpu.readF32(plan.logits, ids.length * model.info.vocabSize);
  state.position += ids.length;
  plan.dispose();
  return out;
}

export function argmaxOf(v: ArrayLike<number>, offset = 0, n = v.length): number {
  let best = offset;
  for (let i = offset; i < offset + n; i++) if (v[i] > v[best]) best = i;
  return best - offset;
}

/** Ids of the k largest values, largest first (ties: lower id first). */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let v = 0; v < row.length; v++) {
    if (best.length < k || row[v] > row[best[k - 1]]) {
      best.push(v);
      best.sort((a, b) => row[b] - row[a] || a - b);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/** Greedy ids through a session (KV cache or recurrent state), `n` steps. */
export async function greedyIds(m: LanguageModel, prompt: readonly number[], n: number): Promise<number[]> {
  const { Session } = await import("../../src/runtime/session.js");
  const s = new Session(m);
  const ids: number[] = [];
  for await (const t of s.generate(prompt, { greedy: true, maxTokens: n, stopOnEos: false })) ids.push(t.id);
  s.dispose();
  return ids;
}

/** How many leading tokens to compare: up to and including the first near-tie (margin < 1e-3). */
export function untilNearTie(margins: readonly number[], n: number): number {
  const tie = margins.findIndex((x) => x < 1e-3);
  return Math.min(n, tie < 0 ? n : tie + 1);
}
