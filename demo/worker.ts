// The demo's model worker: loads models through Mnemo's public API, streams tokens back to
// the page, and keeps the session (the model's memory) between turns.
import {
  clearModelCache,
  loadEncoder,
  loadModel,
  isWebGpuAvailable,
  MnemoError,
  type Encoder,
  type KernelProfile,
  type Memory,
  type MemoryStore,
  type Model,
  type Session,
  type SessionSnapshot,
} from "../src/index.js";
import type { BundledModel, FromWorker, ModelChoice, SamplingForm, Structure, ToWorker } from "./protocol.js";
import type { OutputConstraint } from "../src/index.js";

const post = (msg: FromWorker) => (self as unknown as Worker).postMessage(msg);

let model: Model | null = null;
let session: Session | null = null;
/** The document the user asked the model to remember, and a session that consults it. */
let memory: Memory | null = null;
let memorySession: Session | null = null;
/** How the demo mixes its memory in: strong enough that recall is visible. */
const MEMORY_MIX = { k: 32, temperature: 10, lambda: 0.5 };
let abort: AbortController | null = null;
const snapshots: SessionSnapshot[] = [];
/** The semantic-search panel's encoder (loaded from its URL on first use) and its last index. */
let encoder: { url: string; encoder: Encoder } | null = null;
let index: { key: string; store: MemoryStore } | null = null;
const forks: Session[] = [];

/** Bundled models are served next to the page (see demo/vite.config.ts). */
function bundledUrl(name: BundledModel): string {
  const path = { gpt2: "models/gpt2-gutenberg-q8_0.gguf", lstm: "models/lstm-shakespeare/", rnn: "models/rnn-shakespeare/" }[name];
  return new URL(`${import.meta.env.BASE_URL}${path}`, self.location.origin).href;
}

function sourceOf(choice: ModelChoice): string | File[] {
  if (choice.kind === "bundled") return bundledUrl(choice.name);
  if (choice.kind === "url") {
    if (!choice.url) throw new MnemoError("BAD_INPUT", "Enter a model URL first.");
    return choice.url;
  }
  if (choice.files.length === 0) throw new MnemoError("BAD_INPUT", "Drop or choose the model files first.");
  return choice.files;
}

function reportMemory(): void {
  if (!session) return;
  const u = session.usage();
  post({
    type: "memory",
    memory: { tokens: u.tokens, contextLength: u.contextLength, kvBytes: u.stateBytes, dropped: u.droppedTokens },
    snapshots: snapshots.length,
    forks: forks.length,
  });
}

function postKernels(profile: KernelProfile): void {
  if (profile.kind !== "decode") return;
  post({ type: "kernels", gpuMs: profile.gpuMs, bars: profile.kernels.map((k) => ({ kernel: k.kernel, ms: k.msPerStep, calls: k.callsPerStep })) });
}

async function load(choice: ModelChoice): Promise<void> {
  abort?.abort();
  for (const f of forks) f.dispose();
  session?.dispose();
  dropMemory();
  model?.dispose();
  model = null;
  session = null;
  snapshots.length = 0;
  forks.length = 0;
  let fromCache = true;
  model = await loadModel(sourceOf(choice), {
    cache: true,
    onProgress: (p) => {
      if (!p.fromCache) fromCache = false;
      post({ type: "progress", loaded: p.loaded, total: p.total, file: p.file });
    },
  });
  const info = model.info;
  // The kernel panel: per-kernel GPU times of every decode step, when the adapter can time them.
  session = model.session(info.hasTimestamps ? { onKernelProfile: postKernels } : {});
  post({
    type: "loaded",
    description: `${info.description} · ${(info.gpuBytes / 1e6).toFixed(1)} MB on the GPU`,
    adapter: info.adapter,
    timestamps: info.hasTimestamps,
    fromCache,
  });
  reportMemory();
}

function dropMemory(): void {
  memorySession?.dispose();
  memory?.dispose();
  memorySession = null;
  memory = null;
}

async function buildMemory(text: string): Promise<void> {
  if (!model) throw new MnemoError("BAD_INPUT", "Load a model first.");
  if (!text.trim()) throw new MnemoError("BAD_INPUT", "Paste or choose a document to remember first.");
  dropMemory();
  const store = await model.buildMemory(text, { onProgress: (done, total) => post({ type: "memory-progress", done, total }) });
  memory = await model.memory(store, MEMORY_MIX);
  memorySession = model.session({ memory });
  post({ type: "memory-built", entries: memory.entries, gpuBytes: memory.gpuBytes });
}

/** Alternatives reported with each token (hovering a token shows them). */
const LOGPROB_ALTERNATIVES = 5;

function constraintOf(s: Structure): OutputConstraint | undefined {
  if (s.kind === "json") return { type: "json" };
  if (s.kind === "schema") return { type: "json_schema", schema: s.schema };
  if (s.kind === "regex") return { type: "regex", pattern: s.pattern };
  return undefined;
}

async function generate(prompt: string, s: SamplingForm, conversation: boolean, useMemory: boolean): Promise<void> {
  if (!model || !session) throw new MnemoError("BAD_INPUT", "Load a model first.");
  if (useMemory && !memorySession) throw new MnemoError("BAD_INPUT", "Build a memory first (Recall panel).");
  const active = useMemory ? memorySession! : session;
  if (!conversation) active.reset();
  abort = new AbortController();
  const start = performance.now();
  let first = 0;
  let count = 0;
  let drafted = 0;
  let stopped = false;
  try {
    // Speculation reports neither log-probabilities nor neighbours (it refuses them): the
    // hover alternatives and the recall panel rest while it is on.
    const stream = active.generate(prompt, {
      maxTokens: s.maxTokens,
      temperature: s.temperature,
      topK: s.topK,
      topP: s.topP,
      seed: s.seed,
      signal: abort.signal,
      constraint: constraintOf(s.structure),
      ...(s.speculate ? { speculate: useMemory ? "memory" : "context" } : { neighbours: useMemory, logprobs: LOGPROB_ALTERNATIVES }),
    });
    for await (const token of stream) {
      count++;
      if (count === 1) first = performance.now() - start;
      post({ type: "token", text: token.text, logprob: token.logprob, top: token.topLogprobs?.map((a) => ({ text: a.text, logprob: a.logprob })), drafted: token.drafted });
      if (token.neighbours && memory) {
        const neighbours = token.neighbours.slice(0, 3).map((n) => ({ ...memory!.describe(n.entry, 12), distance: n.distance }));
        post({ type: "recall", token: token.text, neighbours });
      }
      if (token.drafted) drafted++;
      const decodeMs = performance.now() - start - first;
      post({ type: "stats", ttftMs: first, tokensPerS: count > 1 ? ((count - 1) * 1000) / decodeMs : 0, tokens: count, ...(s.speculate ? { drafted } : {}) });
      if (count % 8 === 0) reportMemory();
    }
  } catch (e) {
    if (e instanceof MnemoError && e.code === "ABORTED") stopped = true;
    else throw e;
  } finally {
    abort = null;
    reportMemory();
    post({ type: "done", stopped });
  }
}

/** Ranks `documents` (one per line of the panel) by cosine similarity to `query`, all on the GPU. */
async function search(encoderUrl: string, documents: string[], query: string, k: number): Promise<void> {
  if (!encoderUrl) throw new MnemoError("BAD_INPUT", "Enter the URL of a BERT encoder folder first.");
  if (documents.length === 0) throw new MnemoError("BAD_INPUT", "Paste some documents first, one per line.");
  if (!query.trim()) throw new MnemoError("BAD_INPUT", "Type a question or phrase to search for.");
  if (encoder?.url !== encoderUrl) {
    encoder?.encoder.dispose();
    encoder = null;
    index = null;
    encoder = { url: encoderUrl, encoder: await loadEncoder(encoderUrl, { cache: true }) };
  }
  // The documents are embedded once and kept until they change.
  const key = documents.join("\n");
  if (index?.key !== key) index = { key, store: await encoder.encoder.indexDocuments(documents) };
  const hits = await encoder.encoder.search(index.store, query, { k: Math.min(k, documents.length) });
  post({ type: "search-results", encoder: encoder.encoder.info.description, hits: hits.map((h) => ({ ...h, text: documents[h.index] })) });
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case "load":
      return load(msg.choice);
    case "generate":
      return generate(msg.prompt, msg.sampling, msg.conversation, msg.useMemory);
    case "build-memory":
      return buildMemory(msg.text);
    case "stop":
      abort?.abort();
      return;
    case "snapshot":
      if (session) snapshots.push(await session.snapshot());
      post({ type: "notice", message: `Snapshot ${snapshots.length} taken.` });
      return reportMemory();
    case "restore": {
      const snap = snapshots.at(msg.index);
      if (!session || !snap) throw new MnemoError("BAD_INPUT", "Take a snapshot first.");
      await session.restore(snap);
      post({ type: "notice", message: "Snapshot restored: the model remembers exactly what it did then." });
      return reportMemory();
    }
    case "fork":
      if (session) forks.push(await session.fork());
      post({ type: "notice", message: `Forked: ${forks.length} independent continuation(s) share this prefix.` });
      return reportMemory();
    case "reset":
      session?.reset();
      return reportMemory();
    case "search":
      return search(msg.encoderUrl, msg.documents, msg.query, msg.k);
    case "clear-cache":
      await clearModelCache();
      post({ type: "notice", message: "Cached weights cleared." });
      return;
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  handle(ev.data).catch((e: unknown) => {
    const code = e instanceof MnemoError ? e.code : "INTERNAL";
    post({ type: "error", code, message: e instanceof Error ? e.message : String(e) });
  });
};

if (!isWebGpuAvailable()) {
  post({
    type: "no-webgpu",
    message: "WebGPU is not available in this browser.",
  });
}
