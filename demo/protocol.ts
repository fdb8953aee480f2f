// Messages between the demo page and its model worker.

/** The models the page bundles (demo/vite.config.ts). */
export type BundledModel = "gpt2" | "lstm" | "rnn";

export type ModelChoice = { kind: "bundled"; name: BundledModel } | { kind: "url"; url: string } | { kind: "files"; files: File[] };

/** The demo's "structured output" switch: free text, any JSON, a JSON schema or a regex. */
export type Structure = { kind: "text" } | { kind: "json" } | { kind: "schema"; schema: string } | { kind: "regex"; pattern: string };

export interface SamplingForm {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  structure: Structure;
  /** Speculative decoding (drafts from the context, and from the memory when it is used). */
  speculate: boolean;
}

/** One of a step's most likely tokens (shown on hover). */
export interface Alternative {
  text: string;
  logprob: number;
}

export type ToWorker =
  | { type: "load"; choice: ModelChoice }
  | { type: "generate"; prompt: string; sampling: SamplingForm; conversation: boolean; useMemory: boolean }
  | { type: "build-memory"; text: string }
  | { type: "stop" }
  | { type: "snapshot" }
  | { type: "restore"; index: number }
  | { type: "fork" }
  | { type: "reset" }
  | { type: "clear-cache" }
  | { type: "search"; encoderUrl: string; documents: string[]; query: string; k: number };

export interface MemoryView {
  tokens: number;
  contextLength: number;
  kvBytes: number;
  dropped: number;
}

/** A memory entry that voted for a generated token: the text around it. */
export interface RecalledEntry {
  context: string;
  next: string;
  distance: number;
}

export interface KernelBar {
  kernel: string;
  ms: number;
  /** Dispatches of this kernel in the step. */
  calls: number;
}

export type FromWorker =
  | { type: "no-webgpu"; message: string }
  | { type: "progress"; loaded: number; total: number; file: string }
  | { type: "loaded"; description: string; adapter: string; timestamps: boolean; fromCache: boolean }
  | { type: "token"; text: string; logprob?: number; top?: Alternative[]; drafted?: boolean }
  | { type: "stats"; ttftMs: number; tokensPerS: number; tokens: number /** With speculation: tokens that were confirmed drafts. */; drafted?: number }
  | { type: "done"; stopped: boolean }
  | { type: "memory"; memory: MemoryView; snapshots: number; forks: number }
  | { type: "kernels"; gpuMs: number; bars: KernelBar[] }
  | { type: "notice"; message: string }
  | { type: "memory-built"; entries: number; gpuBytes: number }
  | { type: "memory-progress"; done: number; total: number }
  | { type: "recall"; token: string; neighbours: RecalledEntry[] }
  | { type: "search-results"; encoder: string; hits: SearchHit[] }
  | { type: "error"; code: string; message: string };

/** A ranked passage of the semantic-search panel. */
export interface SearchHit {
  index: number;
  score: number;
  text: string;
}
