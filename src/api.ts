// Mnemo's public API: load a model from a folder, URL, files or buffers; generate text as
// an async iterator; keep memory in sessions.
import { MnemoError, throwIfAborted } from "./errors.js";
import { createGpu, type Gpu } from "./gpu/device.js";
import { nodeHost } from "./host.js";
import { resolveModelFiles, type ModelSource } from "./loading/model-files.js";
import type { FileProgress, Integrity } from "./loading/cache.js";
import { loadLanguageModel } from "./models/load.js";
import type { KernelOptions } from "./models/gpt2-tune.js";
import type { WeightType } from "./base/dtype.js";
import type { LanguageModel, ModelInfo } from "./models/types.js";
import { Session } from "./runtime/session.js";
import type { GenerateOptions, GeneratedToken, StepObserver } from "./runtime/types.js";
import { GpuProfiler, MAX_TIMED_DISPATCHES, summarizeKernels, type KernelSummary } from "./gpu/profiler.js";
import { buildKnnStore, type BuildMemoryOptions } from "./runtime/memory-build.js";
import { GpuKnnStore, memoryMixOptions, type MemoryMixOptions } from "./memory/gpu-store.js";
import { Memory } from "./memory/memory.js";
import type { GrowingMemoryOptions } from "./runtime/session-memory.js";
import { checkStoreFitsModel, requireHiddenStates, withMemory } from "./memory/memory-model.js";
import { decodeKnnStore, type KnnStoreData as MemoryStore } from "./memory/store-file.js";
import { ChatCompletions, Completions, type CompletionBackend } from "./openai/completions.js";

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Download progress per file (browsers: also reports cache hits). */
  onProgress?: (p: FileProgress) => void;
  /** Aborting stops downloads and loading with ABORTED. */
  signal?: AbortSignal;
  /** Use this WebGPU device instead of requesting one. */
  device?: GPUDevice;
  /** Keep downloaded weights in Cache Storage (browsers and workers; default true). */
  cache?: boolean;
  /** Convert GPT-2 weights on load. */
  quant?: WeightType;
  /**
   * Expected size and/or SHA-256 per file name (URL sources), e.g.
   * `{ "model.gguf": { sha256: "…" } }`: a mismatch is refused with BAD_MODEL_FILE before any
   * tensor is used, and never enters the cache.
   */
  integrity?: Readonly<Record<string, Integrity>>;
  /**
   * How GPT-2's decode kernels are chosen: by default each decode matmul's variants are timed
   * on the adapter at the first load and the fastest kept (the choice is cached per adapter,
   * so later loads measure nothing); `{ decodeMatmul: "i8-rows4" }` and the like force one.
   * `model.info.kernels` says what runs.
   */
  kernels?: KernelOptions;
}

/** What {@link Model.info} reports. */
export interface PublicModelInfo extends ModelInfo {
  /** The adapter in words ("nvidia ...", "google swiftshader"). */
  adapter: string;
  /** Whether per-kernel GPU timestamps are available on this adapter. */
  hasTimestamps: boolean;
}

/** Options of {@link Model.session}. */
export interface SessionOptions {
  /** "f16" halves the KV cache (logits move by ~1e-3); default "f32". */
  cacheType?: "f32" | "f16";
  /** Tokens at the start that the context-overflow policy always keeps (a system prompt). */
  keepFirstTokens?: number;
  /**
   * Called after every step with its per-kernel GPU times (needs `info.hasTimestamps`, else
   * UNSUPPORTED_FEATURE). Profiling makes each step wait for the GPU and time each kernel
   * separately, so steps run slower while it is on.
   */
  onKernelProfile?: (profile: KernelProfile) => void;
  /** An external memory (from {@link Model.memory}) mixed into every step of the session. */
  memory?: Memory;
  /**
   * A memory that grows as the session reads and writes (GPT-2): every position joins it
   * once the token after it is known, so text that has left the context window can still
   * be recalled. Snapshots and forks carry it. `true` for the defaults.
   */
  growingMemory?: boolean | GrowingMemoryOptions;
}

/** GPU time of one step, per kernel (most expensive first). */
export interface KernelProfile {
  /** Whether the step fed the prompt, generated one token, or verified speculative drafts. */
  kind: "prefill" | "decode" | "verify";
  /** Sum of the kernels' own times, ms. */
  gpuMs: number;
  /** Per-kernel times, most expensive first. */
  kernels: KernelSummary[];
}

/** A loaded model. */
export class Model {
  private disposed = false;
  /**
   * OpenAI's chat API on this model, for code written against it (or WebLLM):
   * `await model.chat.completions.create({ messages, stream: true })`.
   */
  readonly chat: {
    /** `create(request)`: a ChatCompletion, or with `stream: true` an async iterable of chunks. */
    readonly completions: ChatCompletions;
  };
  /** OpenAI's legacy completions API: `await model.completions.create({ prompt })`. */
  readonly completions: Completions;

  /** @internal */
  constructor(
    private readonly lm: LanguageModel,
    private readonly ownsGpu: boolean,
  ) {
    const backend: CompletionBackend = { info: lm.info, tokenizer: lm.tokenizer, session: () => this.session() };
    this.chat = { completions: new ChatCompletions(backend) };
    this.completions = new Completions(backend);
  }

  /** What the model is: architecture, sizes, weight type, GPU bytes, adapter. */
  get info(): PublicModelInfo {
    const a = this.lm.gpu.adapter;
    return { ...this.lm.info, adapter: `${a.vendor} ${a.architecture}`.trim(), hasTimestamps: this.lm.gpu.hasTimestamps };
  }

  /** A session: the model's state (KV cache or recurrent state), kept between calls. */
  session(options: SessionOptions = {}): Session {
    this.assertUsable();
    const lm = options.memory ? withMemory(this.lm, options.memory.store, options.memory.options) : this.lm;
    const onProfile = options.onKernelProfile;
    const observer = onProfile ? kernelProfileObserver(this.lm, onProfile) : undefined;
    const growing = growingMemoryOptions(this.lm, options.growingMemory);
    return new Session(lm, { cacheType: options.cacheType, overflowPolicy: { keepFirst: options.keepFirstTokens ?? 0 }, observer, growingMemory: growing });
  }

  /** Generates from a fresh session (streamed); the session is disposed at the end. */
  async *generate(prompt: string | readonly number[], options: GenerateOptions & { memory?: Memory } = {}): AsyncGenerator<GeneratedToken> {
    this.assertUsable();
    const { memory, ...generateOptions } = options;
    const session = this.session({ memory });
    try {
      yield* session.generate(prompt, generateOptions);
    } finally {
      session.dispose();
    }
  }

  /**
   * Builds an external memory store from `text` (GPT-2): the model reads it in windows of
   * its context, and every position becomes an entry — its final hidden state as the key,
   * the token that followed as the value. Save it with {@link encodeMemoryStore}.
   */
  async buildMemory(text: string | readonly number[], options: BuildMemoryOptions = {}): Promise<MemoryStore> {
    this.assertUsable();
    const ids = typeof text === "string" ? this.lm.tokenizer.encode(text) : [...text];
    return buildKnnStore(this.lm, ids, options);
  }

  /**
   * Puts a memory store on the GPU (a store from {@link Model.buildMemory}, or its bytes)
   * for sessions and generate() calls: `model.session({ memory })`. The store must have
   * been built with this model (BAD_INPUT otherwise); OUT_OF_MEMORY when it does not fit.
   */
  async memory(store: MemoryStore | Uint8Array | ArrayBuffer, options: MemoryMixOptions = {}): Promise<Memory> {
    this.assertUsable();
    const data = store instanceof Uint8Array || store instanceof ArrayBuffer ? decodeKnnStore(new Uint8Array(store)) : store;
    const mix = memoryMixOptions(options);
    const gpuStore = await GpuKnnStore.upload(this.lm.gpu, data);
    try {
      checkStoreFitsModel(this.lm, gpuStore);
    } catch (e) {
      gpuStore.dispose();
      throw e;
    }
    return new Memory(gpuStore, mix, this.lm.tokenizer);
  }

  /** Frees the weights (and the device when Mnemo created it); later calls fail with DISPOSED. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.lm.dispose();
    if (this.ownsGpu) this.lm.gpu.destroy();
  }

  private assertUsable(): void {
    if (this.disposed) throw new MnemoError("DISPOSED", "This model was disposed; load it again to use it.");
  }

  /** @internal The model behind the facade (CLI, tests). */
  get languageModel(): LanguageModel {
    return this.lm;
  }
}

/** Checks `session({ growingMemory })` up front, so bad options fail there, not at the first forward. */
function growingMemoryOptions(lm: LanguageModel, option: SessionOptions["growingMemory"]): GrowingMemoryOptions | undefined {
  if (!option) return undefined;
  const growing = option === true ? {} : option;
  memoryMixOptions(growing);
  const capacity = growing.capacity ?? 1;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity >= 0xffffffff) throw new MnemoError("BAD_INPUT", `A growing memory's capacity must be a positive integer, got ${capacity}.`);
  requireHiddenStates(lm, "A growing memory");
  return growing;
}

/** A step observer that times every kernel and reports per-kernel sums; forks get their own. */
function kernelProfileObserver(lm: LanguageModel, onProfile: (p: KernelProfile) => void): StepObserver {
  const profiler = new GpuProfiler(lm.gpu, MAX_TIMED_DISPATCHES);
  return {
    profiler,
    onStep: (step) => {
      if (!step.gpu) return;
      const kernels = summarizeKernels([step.gpu]);
      onProfile({ kind: step.kind, gpuMs: kernels.reduce((sum, k) => sum + k.msPerStep, 0), kernels });
    },
    fork: () => kernelProfileObserver(lm, onProfile),
    dispose: () => profiler.dispose(),
  };
}

/**
 * True when this environment exposes WebGPU (browsers, workers) or Mnemo runs through its
 * Node entry (Dawn). A true answer does not promise an adapter: {@link loadModel} still
 * fails with NO_WEBGPU when none is found.
 */
export function isWebGpuAvailable(): boolean {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  return !!nav?.gpu || nodeHost() !== undefined;
}

/**
 * Loads GPT-2 (HF safetensors folder or GGUF file) or a recurrent LM (LSTM, plain RNN). `source` is a folder or
 * file path (Node), a URL (folder or .gguf/.safetensors), Files from a picker or drop, or
 * an object of buffers keyed by file name.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  if (options.signal?.aborted) throw new MnemoError("ABORTED", "Loading was aborted.");
  const files = await resolveModelFiles(source, { cache: options.cache, onProgress: options.onProgress, signal: options.signal, integrity: options.integrity });
  // A local path reads no bytes up front, so the signal is checked between the stages too.
  throwIfAborted(options.signal);
  let gpu: Gpu;
  try {
    gpu = await createGpu({ device: options.device });
  } catch (e) {
    throw e instanceof MnemoError ? e : new MnemoError("NO_WEBGPU", String(e), { cause: e });
  }
  try {
    throwIfAborted(options.signal);
    const lm = await gpu.allocateChecked("the model's weights", () => loadLanguageModel(gpu, files, { quant: options.quant, kernels: options.kernels }));
    if (options.signal?.aborted) {
      lm.dispose();
      throwIfAborted(options.signal);
    }
    return new Model(lm, !options.device);
  } catch (e) {
    if (!options.device) gpu.destroy();
    throw e;
  }
}
