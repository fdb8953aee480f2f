// Checks every generate()/chat() option before anything changes (the session is not yet
// busy, nothing is prefilled), so a bad option fails with a clear BAD_INPUT and leaves the
// session usable. Returns the options with their defaults filled in.
import { MnemoError } from "../errors.js";
import { LOGPROB_MAX_TOP } from "../kernels/logits.js";
import { checkConstraint, type OutputConstraint } from "./constraint.js";
import { DEFAULT_CONTEXT_DRAFT, type ContextDraftOptions } from "./drafts.js";
import type { GenerateOptions } from "./types.js";

/** {@link GenerateOptions} after checking, defaults applied. */
export interface ResolvedGenerateOptions {
  maxTokens: number;
  /** 0: greedy. */
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  seed: number | undefined;
  stop: readonly string[];
  stopOnEos: boolean;
  signal: AbortSignal | undefined;
  neighbours: boolean;
  overflow: "truncate" | "error";
  /** null: no speculation. */
  speculate: ResolvedSpeculation | null;
  /** The logit bias as [id, bias] pairs, ids ascending (empty: none). */
  logitBias: readonly (readonly [number, number])[];
  frequencyPenalty: number;
  presencePenalty: number;
  /** Alternatives to report with each token's log-probability; null: no log-probabilities. */
  logprobs: number | null;
  /** null: unconstrained. */
  constraint: OutputConstraint | null;
}

/** Most entries of a logit bias (OpenAI's limit). */
export const MAX_LOGIT_BIAS = 300;

/** Speculation settings after checking. */
export interface ResolvedSpeculation {
  /** "memory": drafts from the attached memory store as well as from the context. */
  draft: "context" | "memory";
  maxDraft: number;
  length: "adaptive" | "max";
  context: ContextDraftOptions;
}

/** Most tokens a speculative step may draft (the verifier's limit). */
export const SPECULATE_MAX_DRAFT = 16;
const DEFAULT_MAX_DRAFT = 8;

const KNOWN = new Set([
  "maxTokens",
  "temperature",
  "greedy",
  "topK",
  "topP",
  "repetitionPenalty",
  "frequencyPenalty",
  "presencePenalty",
  "logitBias",
  "logprobs",
  "constraint",
  "seed",
  "stop",
  "stopOnEos",
  "signal",
  "neighbours",
  "overflow",
  "speculate",
]);

function bad(message: string): never {
  throw new MnemoError("BAD_INPUT", message);
}

function optionalBoolean(o: GenerateOptions, name: "greedy" | "stopOnEos" | "neighbours"): boolean | undefined {
  const v = o[name];
  if (v !== undefined && typeof v !== "boolean") bad(`${name} must be true or false, got ${String(v)}.`);
  return v;
}

function optionalNumber(o: GenerateOptions, name: "maxTokens" | "temperature" | "topK" | "topP" | "repetitionPenalty" | "frequencyPenalty" | "presencePenalty" | "seed"): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || Number.isNaN(v)) bad(`${name} must be a number, got ${String(v)}.`);
  return v;
}

function checkStop(stop: unknown): readonly string[] {
  if (stop === undefined) return [];
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== "string")) bad("stop must be an array of strings.");
  return stop as string[];
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal>;
  if (typeof s !== "object" || s === null || typeof s.aborted !== "boolean" || typeof s.addEventListener !== "function") bad("signal must be an AbortSignal.");
  return signal as AbortSignal;
}

function checkPenalty(o: GenerateOptions, name: "frequencyPenalty" | "presencePenalty"): number {
  const v = optionalNumber(o, name) ?? 0;
  if (!(v >= -2 && v <= 2)) bad(`${name} must be in [-2, 2], got ${v}.`);
  return v;
}

/** The bias as sorted [id, value] pairs; ids are checked against the vocabulary by the session. */
function checkLogitBias(v: unknown): [number, number][] {
  if (v === undefined) return [];
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad("logitBias must be an object mapping token ids to biases.");
  const pairs: [number, number][] = [];
  for (const [key, value] of Object.entries(v)) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) bad(`logitBias: "${key}" is not a token id.`);
    if (typeof value !== "number" || !(value >= -100 && value <= 100)) bad(`logitBias: the bias of token ${key} must be a number in [-100, 100], got ${String(value)}.`);
    pairs.push([id, value]);
  }
  if (pairs.length > MAX_LOGIT_BIAS) bad(`logitBias has ${pairs.length} entries; the limit is ${MAX_LOGIT_BIAS}.`);
  return pairs.sort((a, b) => a[0] - b[0]);
}

function checkLogprobs(v: unknown): number | null {
  if (v === undefined || v === false) return null;
  if (v === true) return 0;
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > LOGPROB_MAX_TOP)
    bad(`logprobs must be true, false or an integer in 0..${LOGPROB_MAX_TOP} (alternatives per token), got ${String(v)}.`);
  return v as number;
}

function checkSpeculate(v: GenerateOptions["speculate"]): ResolvedSpeculation | null {
  if (v === undefined || v === "off") return null;
  if (v === "context" || v === "memory") return { draft: v, maxDraft: DEFAULT_MAX_DRAFT, length: "adaptive", context: DEFAULT_CONTEXT_DRAFT };
  if (typeof v === "string") bad(`speculate must be "off", "context", "memory" or { draft: "context" | "memory", ... }, got "${v}".`);
  if (typeof v !== "object" || v === null) bad(`speculate must be "off", "context", "memory" or an object, got ${String(v)}.`);
  for (const key of Object.keys(v))
    if (!["draft", "maxDraft", "maxMatch", "minMatch", "length"].includes(key)) bad(`Unknown speculate option "${key}" (known: draft, maxDraft, maxMatch, minMatch, length).`);
  if (v.draft !== "context" && v.draft !== "memory") bad(`speculate.draft must be "context" or "memory", got ${String(v.draft)}.`);
  const int = (name: "maxDraft" | "maxMatch" | "minMatch", fallback: number, max: number): number => {
    const n = v[name] ?? fallback;
    if (!Number.isInteger(n) || n < 1 || n > max) bad(`speculate.${name} must be an integer in 1..${max}, got ${String(n)}.`);
    return n;
  };
  const maxDraft = int("maxDraft", DEFAULT_MAX_DRAFT, SPECULATE_MAX_DRAFT);
  const maxMatch = int("maxMatch", DEFAULT_CONTEXT_DRAFT.maxMatch, 64);
  const minMatch = int("minMatch", DEFAULT_CONTEXT_DRAFT.minMatch, maxMatch);
  const length = v.length ?? "adaptive";
  if (length !== "adaptive" && length !== "max") bad(`speculate.length must be "adaptive" or "max", got ${String(length)}.`);
  return { draft: v.draft, maxDraft, length, context: { maxMatch, minMatch } };
}

/**
 * Checks `o` against the documented ranges; `extraKeys` are options a caller adds on top
 * (chat's own, the model-level `memory`) that are checked elsewhere.
 */
export function resolveGenerateOptions(o: GenerateOptions = {}, extraKeys: readonly string[] = []): ResolvedGenerateOptions {
  if (typeof o !== "object" || o === null) bad("Options must be an object.");
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key) && !extraKeys.includes(key)) bad(`Unknown option "${key}" (known: ${[...KNOWN].join(", ")}).`);
  }
  const maxTokens = optionalNumber(o, "maxTokens") ?? 64;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) bad(`maxTokens must be a non-negative integer, got ${maxTokens}.`);
  const temperature = optionalNumber(o, "temperature") ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0) bad(`temperature must be a finite number >= 0 (0: greedy), got ${temperature}.`);
  const topK = optionalNumber(o, "topK") ?? 0;
  if (!Number.isInteger(topK) || topK < 0) bad(`topK must be a non-negative integer (0: all tokens), got ${topK}.`);
  const topP = optionalNumber(o, "topP") ?? 1;
  if (!(topP > 0 && topP <= 1)) bad(`topP must be in (0, 1], got ${topP}.`);
  const repetitionPenalty = optionalNumber(o, "repetitionPenalty") ?? 1;
  if (!Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) bad(`repetitionPenalty must be a finite number > 0 (1: none), got ${repetitionPenalty}.`);
  const seed = optionalNumber(o, "seed");
  if (seed !== undefined && !Number.isSafeInteger(seed)) bad(`seed must be an integer, got ${seed}.`);
  const overflow = o.overflow ?? "truncate";
  if (overflow !== "truncate" && overflow !== "error") bad(`overflow must be "truncate" or "error", got ${String(overflow)}.`);
  const greedy = optionalBoolean(o, "greedy") ?? false;
  return {
    maxTokens,
    temperature: greedy ? 0 : temperature,
    topK,
    topP,
    repetitionPenalty,
    seed,
    stop: checkStop(o.stop),
    stopOnEos: optionalBoolean(o, "stopOnEos") ?? true,
    signal: checkSignal(o.signal),
    neighbours: optionalBoolean(o, "neighbours") ?? false,
    overflow,
    speculate: checkSpeculate(o.speculate),
    logitBias: checkLogitBias(o.logitBias),
    frequencyPenalty: checkPenalty(o, "frequencyPenalty"),
    presencePenalty: checkPenalty(o, "presencePenalty"),
    logprobs: checkLogprobs(o.logprobs),
    constraint: o.constraint === undefined ? null : checkConstraint(o.constraint),
  };
}
