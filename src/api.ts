// Mnemo's public API: load a model from a folder, URL, files or buffers; generate text as
// an async iterator; keep memory in sessions.
import { MnemoError } from "./errors.js";
import { createGpu, type Gpu } from "./gpu/device.js";
import { resolveModelFiles, type ModelSource } from "./loading/model-files.js";
import type { FileProgress } from "./loading/cache.js";
import { loadLanguageModel } from "./models/load.js";
import type { WeightQuant } from "./models/gpt2-load.js";
import type { LanguageModel, ModelInfo } from "./models/types.js";
import { Session, type GenerateOptions, type GeneratedToken } from "./runtime/session.js";

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Download progress per file (browsers: also reports cache hits). */
  onProgress?: (p: FileProgress) => void;
  signal?: AbortSignal;
  /** Use this WebGPU device instead of requesting one. */
  device?: GPUDevice;
  /** Keep downloaded weights in Cache Storage (browsers and workers; default true). */
  cache?: boolean;
  /** Convert GPT-2 weights on load. */
  quant?: WeightQuant;
}

/** What {@link Model.info} reports. */
export interface PublicModelInfo extends ModelInfo {
  /** The adapter in words ("nvidia ...", "google swiftshader"). */
  adapter: string;
  /** Whether per-kernel GPU timestamps are available on this adapter. */
  hasTimestamps: boolean;
}

/** A loaded model. */
export class Model {
  /** @internal */
  constructor(
    private readonly lm: LanguageModel,
    private readonly ownsGpu: boolean,
  ) {}

  get info(): PublicModelInfo {
    const a = this.lm.gpu.adapter;
    return { ...this.lm.info, adapter: `${a.vendor} ${a.architecture}`.trim(), hasTimestamps: this.lm.gpu.hasTimestamps };
  }

  /** A session: the model's memory (KV cache or recurrent state), kept between calls. */
  session(options: { cacheType?: "f32" | "f16"; keepFirstTokens?: number } = {}): Session {
    return new Session(this.lm, { cacheType: options.cacheType, overflowPolicy: { keepFirst: options.keepFirstTokens ?? 0 } });
  }

  /** Generates from a fresh session (streamed); the session is disposed at the end. */
  async *generate(prompt: string | readonly number[], options: GenerateOptions = {}): AsyncGenerator<GeneratedToken> {
    const session = this.session();
    try {
      yield* session.generate(prompt, options);
    } finally {
      session.dispose();
    }
  }

  /** Frees the weights (and the device when Mnemo created it). */
  dispose(): void {
    this.lm.dispose();
    if (this.ownsGpu) this.lm.gpu.destroy();
  }

  /** @internal The model behind the facade (CLI, tests). */
  get languageModel(): LanguageModel {
    return this.lm;
  }
}

/** True when this environment exposes WebGPU (browsers, workers) or can load Dawn (Node). */
export function isWebGpuAvailable(): boolean {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (nav?.gpu) return true;
  return typeof process !== "undefined" && !!process.versions?.node;
}

/**
 * Loads GPT-2 (HF safetensors folder or GGUF file) or an LSTM LM. `source` is a folder or
 * file path (Node), a URL (folder or .gguf/.safetensors), Files from a picker or drop, or
 * an object of buffers keyed by file name.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  if (options.signal?.aborted) throw new MnemoError("ABORTED", "Loading was aborted.");
  const files = await resolveModelFiles(source, { cache: options.cache, onProgress: options.onProgress, signal: options.signal });
  let gpu: Gpu;
  try {
    gpu = await createGpu({ device: options.device });
  } catch (e) {
    throw e instanceof MnemoError ? e : new MnemoError("NO_WEBGPU", String(e), { cause: e });
  }
  try {
    const lm = await loadLanguageModel(gpu, files, { quant: options.quant });
    return new Model(lm, !options.device);
  } catch (e) {
    if (!options.device) gpu.destroy();
    throw e;
  }
}
