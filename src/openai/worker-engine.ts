// The OpenAI-style APIs across a Web Worker: the model loads and runs in the worker, and the
// page calls `engine.chat.completions.create(...)` as it would on a model (streams arrive as
// chunks posted back). The worker side: `serveWorkerEngine(self, loadModel)`; the page side:
// `await createWorkerEngine(worker, source)`. Errors cross as MnemoErrors with their codes;
// an aborted signal on the page stops the generation in the worker.
import { MnemoError, type MnemoErrorCode } from "../errors.js";
import type { KernelOptions } from "../models/gpt2-tune.js";
import type { ChatCompletions, Completions } from "./completions.js";
import type { ChatCompletionChunk, ChatCompletionRequest, CompletionCallOptions, CompletionChunk, CompletionRequest } from "./types.js";

/** What the worker side needs of a loaded model (`Model` has it). */
export interface EngineModel {
  /** The chat API the worker serves. */
  readonly chat: {
    /** Its create(). */
    readonly completions: ChatCompletions;
  };
  /** The completions API the worker serves. */
  readonly completions: Completions;
  /** What the page is told on load. */
  readonly info: EngineInfo;
  /** Frees the model. */
  dispose(): void;
}

/** What the page learns of the model the worker loaded. */
export interface EngineInfo {
  /** The model in words ("8 layers, 256 wide, 4 heads"). */
  readonly description: string;
  /** The adapter it runs on. */
  readonly adapter: string;
}

/** How the worker side loads a model: Mnemo's `loadModel`. */
export type EngineLoader = (source: never, options: { signal?: AbortSignal; onProgress?: (p: unknown) => void }) => Promise<EngineModel>;

type Api = "chat" | "completions";

/** Page → worker. */
type EngineRequest =
  | { kind: "load"; id: number; source: unknown; options: Record<string, unknown> }
  | { kind: "create"; id: number; api: Api; request: ChatCompletionRequest | CompletionRequest }
  | { kind: "abort"; id: number }
  | { kind: "dispose"; id: number };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/** Worker → page. */
type EngineReply =
  | { kind: "loaded"; id: number; description: string; adapter: string }
  | { kind: "progress"; id: number; progress: unknown }
  | { kind: "result"; id: number; value: unknown }
  | { kind: "chunk"; id: number; value: unknown }
  | { kind: "end"; id: number }
  | { kind: "error"; id: number; code: MnemoErrorCode; message: string };

/** The worker's global scope, or anything with its two members. */
export interface EnginePort {
  /** Posts a reply to the page. */
  postMessage(message: unknown): void;
  /** Receives the page's requests. */
  addEventListener(type: "message", listener: (ev: MessageEvent) => void): void;
}

/**
 * Serves the engine from a worker: `serveWorkerEngine(self, loadModel)` in the worker's
 * module. One model at a time; a new `load` replaces it.
 */
export function serveWorkerEngine(scope: EnginePort, load: EngineLoader): void {
  let model: EngineModel | null = null;
  const running = new Map<number, AbortController>();
  const reply = (r: EngineReply) => scope.postMessage(r);
  const fail = (id: number, e: unknown) => {
    const code: MnemoErrorCode = e instanceof MnemoError ? e.code : "INTERNAL";
    reply({ kind: "error", id, code, message: e instanceof Error ? e.message : String(e) });
  };
  const create = async (id: number, api: Api, request: ChatCompletionRequest | CompletionRequest) => {
    if (!model) throw new MnemoError("BAD_INPUT", "Load a model into the worker engine first.");
    const controller = new AbortController();
    running.set(id, controller);
    try {
      const options = { signal: controller.signal };
      const out = api === "chat" ? await model.chat.completions.create(request as ChatCompletionRequest, options) : await model.completions.create(request as CompletionRequest, options);
      if (!request.stream) return reply({ kind: "result", id, value: out });
      for await (const chunk of out as AsyncIterable<unknown>) reply({ kind: "chunk", id, value: chunk });
      reply({ kind: "end", id });
    } finally {
      running.delete(id);
    }
  };
  const handle = async (m: EngineRequest) => {
    switch (m.kind) {
      case "load": {
        model?.dispose();
        model = null;
        model = await load(m.source as never, { ...m.options, onProgress: (progress) => reply({ kind: "progress", id: m.id, progress }) });
        return reply({ kind: "loaded", id: m.id, description: model.info.description, adapter: model.info.adapter });
      }
      case "create":
        return create(m.id, m.api, m.request);
      case "abort":
        running.get(m.id)?.abort();
        return;
      case "dispose":
        for (const c of running.values()) c.abort();
        model?.dispose();
        model = null;
        return reply({ kind: "result", id: m.id, value: null });
    }
  };
  scope.addEventListener("message", (ev: MessageEvent) => {
    const m = ev.data as EngineRequest;
    handle(m).catch((e) => fail(m.id, e));
  });
}

/** The page side of a worker engine. */
export interface WorkerEngine {
  /** OpenAI's chat API, run in the worker. */
  readonly chat: {
    /** Its create(), as on a model. */
    readonly completions: {
      /** See ChatCompletions.create. */
      create: ChatCompletions["create"];
    };
  };
  /** OpenAI's legacy completions API, run in the worker. */
  readonly completions: {
    /** See Completions.create. */
    create: Completions["create"];
  };
  /** The loaded model and the adapter it runs on. */
  readonly info: EngineInfo;
  /** Frees the model in the worker (the worker itself stays; terminate it when done). */
  dispose(): Promise<void>;
}

/** Options of {@link createWorkerEngine}. */
export interface WorkerEngineOptions {
  /** Download progress per file, as loadModel reports it. */
  onProgress?: (p: unknown) => void;
  /** Keep downloaded weights in Cache Storage (default true). */
  cache?: boolean;
  /**
   * The kernel variants, as loadModel takes them (the store stays the worker's default: a
   * store object cannot cross to a worker).
   */
  kernels?: Omit<KernelOptions, "store">;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** Streams: chunks arrive here. */
  push?(v: unknown): void;
  end?(): void;
  onProgress?: (p: unknown) => void;
}

/**
 * Loads `source` (a URL, Files or buffers: whatever crosses postMessage) in a worker that
 * runs {@link serveWorkerEngine}, and returns the engine the page calls.
 */
export async function createWorkerEngine(worker: Worker, source: unknown, options: WorkerEngineOptions = {}): Promise<WorkerEngine> {
  let next = 1;
  const pending = new Map<number, Pending>();
  worker.addEventListener("message", (ev: MessageEvent<EngineReply>) => {
    const r = ev.data;
    const p = pending.get(r.id);
    if (!p) return;
    if (r.kind === "progress") return p.onProgress?.(r.progress);
    if (r.kind === "chunk") return p.push?.(r.value);
    pending.delete(r.id);
    if (r.kind === "error") p.reject(new MnemoError(r.code, r.message));
    else if (r.kind === "end") p.end?.();
    else p.resolve(r.kind === "loaded" ? { description: r.description, adapter: r.adapter } : r.value);
  });
  const call = (message: DistributiveOmit<EngineRequest, "id">, extra: Partial<Pending> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject, ...extra });
      worker.postMessage({ ...message, id });
    });
  const info = (await call({ kind: "load", source, options: { cache: options.cache, kernels: options.kernels } }, { onProgress: options.onProgress })) as WorkerEngine["info"];

  const create = (api: Api, request: ChatCompletionRequest | CompletionRequest, opts: CompletionCallOptions = {}): Promise<unknown> => {
    const id = next++;
    const abort = () => worker.postMessage({ kind: "abort", id });
    if (opts.signal?.aborted) return Promise.reject(new MnemoError("ABORTED", "The operation was aborted."));
    opts.signal?.addEventListener("abort", abort, { once: true });
    if (!request.stream) {
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ kind: "create", id, api, request });
      });
    }
    return Promise.resolve(
      workerStream(
        (p) => pending.set(id, p),
        () => worker.postMessage({ kind: "create", id, api, request }),
        abort,
      ),
    );
  };
  return {
    chat: { completions: { create: ((r: ChatCompletionRequest, o?: CompletionCallOptions) => create("chat", r, o)) as ChatCompletions["create"] } },
    completions: { create: ((r: CompletionRequest, o?: CompletionCallOptions) => create("completions", r, o)) as Completions["create"] },
    info,
    dispose: async () => {
      await call({ kind: "dispose" });
    },
  };
}

/** An async iterable of the chunks the worker posts for one request; the request is sent when iterated. */
function workerStream(register: (p: Pending) => void, send: () => void, abort: () => void): AsyncIterable<ChatCompletionChunk | CompletionChunk> {
  return {
    async *[Symbol.asyncIterator]() {
      const queue: unknown[] = [];
      let done = false;
      let failure: unknown = null;
      let wake: (() => void) | null = null;
      const notify = () => {
        wake?.();
        wake = null;
      };
      register({
        resolve: () => {},
        reject: (e) => {
          failure = e;
          notify();
        },
        push: (v) => {
          queue.push(v);
          notify();
        },
        end: () => {
          done = true;
          notify();
        },
      });
      send();
      let finished = false;
      try {
        for (;;) {
          if (queue.length > 0) {
            yield queue.shift() as ChatCompletionChunk;
            continue;
          }
          if (failure) throw failure;
          if (done) {
            finished = true;
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        // Left early (break): stop the generation in the worker.
        if (!finished && !failure) abort();
      }
    },
  };
}
