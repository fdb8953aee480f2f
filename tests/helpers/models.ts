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
  gpu.write(plan.positions, Uint32Array.from(ids, (_, i) => state.position + i));
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
