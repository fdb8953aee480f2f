// The public types of sessions and generation: options, generated tokens, usage and
// timings, and the step records an observer (bench, profiler, demo) receives.
import type { DispatchTiming, GpuProfiler } from "../gpu/profiler.js";
import type { OutputConstraint } from "./constraint.js";

/** Options of {@link Session.generate}. */
export interface GenerateOptions {
  /** Most tokens to generate (default 64). */
  maxTokens?: number;
  /** 0 (or `greedy`) picks the most likely token; default 1. */
  temperature?: number;
  /** Always pick the most likely token (the same as temperature 0). */
  greedy?: boolean;
  /** Keep the k most likely tokens (0: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). */
  topP?: number;
  /** > 1 discourages tokens already in the context (HF/CTRL rule). */
  repetitionPenalty?: number;
  /**
   * OpenAI's rule, over the tokens this call has generated: a token's logit drops by
   * `frequencyPenalty` per earlier occurrence (-2..2, default 0)...
   */
  frequencyPenalty?: number;
  /** ...and by `presencePenalty` once it has occurred at all (-2..2, default 0). */
  presencePenalty?: number;
  /**
   * Added to the logits of these token ids before sampling (-100..100; -100 all but bans a
   * token, +100 all but forces it), at most 300 entries, as OpenAI's `logit_bias`.
   */
  logitBias?: Readonly<Record<number, number>>;
  /**
   * Report each token's log-probability (`true`), and also this many most likely
   * alternatives (a number, 0..20): under the logits after `logitBias` and the penalties,
   * before temperature, top-k and top-p. Computed on the GPU; a step reads back 2 + 2n words
   * more.
   */
  logprobs?: boolean | number;
  /**
   * Holds the output to a JSON schema, any JSON, a regular expression or an EBNF grammar
   * (xgrammar, `@mlc-ai/web-xgrammar`): before each step the tokens that cannot continue a
   * match are masked out on the GPU. The end-of-text token is allowed wherever the output
   * may end, and is all that is allowed where nothing more can follow, so generation ends
   * there (or at maxTokens); a model without one (a character LSTM) stops at the first point
   * the output may end. Steps do not overlap (each mask needs the token before it). An
   * invalid schema, pattern or grammar fails with BAD_INPUT.
   */
  constraint?: OutputConstraint;
  /** Same seed, same tokens. */
  seed?: number;
  /** Stop when the text produced so far ends with one of these. */
  stop?: readonly string[];
  /** Stop at the end-of-sequence token (default true). */
  stopOnEos?: boolean;
  /** Aborting stops generation with ABORTED; the tokens generated so far stay in the session. */
  signal?: AbortSignal;
  /**
   * With an external memory: also report, for each generated token, the memory entries that
   * voted for it (one extra readback of k entries per step).
   */
  neighbours?: boolean;
  /** "truncate" (default): drop the oldest tokens when the context is full; "error": CONTEXT_FULL. */
  overflow?: "truncate" | "error";
  /**
   * Speculative decoding: "context" drafts the next tokens from what followed the latest
   * earlier occurrence of the context's last tokens, "memory" also from the text after the
   * attached memory store's entries nearest the model's hidden state (the longer draft of
   * the two is verified); all drafted tokens are verified in one forward, and the output is
   * that of decoding without it (greedy, or sampled with the same `seed`, repetition
   * penalty included). "off" (default) decodes one token per forward. So far attention
   * models only, without frequency or presence penalties, a logit bias, `logprobs`, a
   * constraint, a growing memory or `neighbours`; those combinations fail with BAD_INPUT,
   * as does "memory" without an attached memory.
   */
  speculate?: "off" | "context" | "memory" | SpeculateOptions;
}

/** Speculative decoding with settings (see {@link GenerateOptions.speculate}). */
export interface SpeculateOptions {
  /** Where drafts come from: "context" (prompt lookup), or "memory" (the attached memory store, and the context). */
  draft: "context" | "memory";
  /** Most tokens drafted per forward (1-16, default 8). */
  maxDraft?: number;
  /** Longest run of last tokens matched against the context (default 4). */
  maxMatch?: number;
  /** Shortest run that counts as a match (default 2). */
  minMatch?: number;
  /**
   * "adaptive" (default): each step drafts the length that has paid best on this adapter
   * (measured forward costs and acceptance; drafting pauses while none pays); "max": every
   * step drafts as much as the context offers, up to maxDraft (the same work on every
   * machine: reproducible counts).
   */
  length?: "adaptive" | "max";
}

/** What speculative decoding did in one call. */
export interface SpeculationStats {
  /** Forward passes run (each yields one token more than it accepted). */
  forwards: number;
  /** Draft tokens proposed. */
  drafted: number;
  /** Draft tokens the model confirmed. */
  accepted: number;
  /** With drafts from "memory": the part of `drafted` and `accepted` that came from the memory store. */
  memory?: {
    /** Draft tokens the memory proposed. */
    drafted: number;
    /** Of those, the ones the model confirmed. */
    accepted: number;
  };
}

/** Options of {@link Session.chat}: those of generate(); `stop` defaults to the template's. */
export type ChatOptions = GenerateOptions;

/** One generated token. */
export interface GeneratedToken {
  /** The token id in the model's vocabulary. */
  id: number;
  /** The text this token completed (may be "" while a character spans tokens). */
  text: string;
  /** With `neighbours: true` and a memory: the entries that voted for this token's step, nearest first. */
  neighbours?: MemoryNeighbour[];
  /** With `speculate`: true when this token was a draft the model confirmed (it cost no forward of its own). */
  drafted?: boolean;
  /** With `logprobs`: the token's log-probability (see {@link GenerateOptions.logprobs}). */
  logprob?: number;
  /** With `logprobs: n`: the n most likely tokens of the step, most likely first. */
  topLogprobs?: TokenAlternative[];
}

/** One of a step's most likely tokens. */
export interface TokenAlternative {
  /** The token id. */
  id: number;
  /** The token's own text (bytes that do not form whole characters decode to U+FFFD). */
  text: string;
  /** Its log-probability. */
  logprob: number;
}

/** How full a session's growing memory is. */
export interface GrowingMemoryUsage {
  /** Entries held (at most the capacity). */
  entries: number;
  /** Entries ever appended (beyond the capacity, the oldest were overwritten). */
  appended: number;
  /** Entries it can hold. */
  capacity: number;
}

/** One memory entry found for a step: its index in the store and its distance. */
export interface MemoryNeighbour {
  /** Index of the entry in the memory store. */
  entry: number;
  /** Its distance from the step's hidden state (squared L2, or negative inner product). */
  distance: number;
}

/** Timings of the last generate() call, in milliseconds. */
export interface GenerationTimings {
  /** Time to feed the prompt (the tokens the session did not hold yet). */
  prefillMs: number;
  /** Time from the call until the first token was known. */
  ttftMs: number;
  /** Mean time of one decode step after the first token. */
  decodeMsPerToken: number;
  /** Generated tokens per second after the first token. */
  tokensPerSecond: number;
  /** Tokens prefilled by this call. */
  promptTokens: number;
  /** Tokens generated by this call. */
  generatedTokens: number;
  /** With `speculate`: drafts proposed and accepted, and the forwards they took. */
  speculation?: SpeculationStats;
  /** With `constraint`: the CPU's part, building each step's token mask and advancing the grammar. */
  constraint?: {
    /** Masks built (one per step). */
    masks: number;
    /** Mean CPU time per step, ms. */
    maskMsPerStep: number;
  };
}

/** How full the session's memory is. */
export interface SessionUsage {
  /** Tokens the session's memory holds now. */
  tokens: number;
  /** The most tokens it can hold (Infinity for a recurrent model). */
  contextLength: number;
  /** GPU bytes of the memory (KV cache or recurrent state). */
  stateBytes: number;
  /** KV cache bytes per token of context (0 for a recurrent model). */
  bytesPerToken: number;
  /** Tokens dropped so far by the context-overflow policy. */
  droppedTokens: number;
}

/**
 * Context-overflow policy (documented): when the tokens to hold exceed the context, keep
 * the first `keepFirst` tokens (the system / first part) and the most recent tokens so the
 * total is half the context, and prefill them again (GPT-2 positions are absolute, so the
 * cache cannot simply slide).
 */
export interface OverflowPolicy {
  /** Tokens at the start that are always kept (a system prompt). */
  keepFirst: number;
}

/** One submitted step as the profiler sees it (CPU phases in ms, GPU timings when timed). */
export interface StepRecord {
  /** "verify": a speculative step that fed the last token and its drafts. */
  kind: "prefill" | "decode" | "verify";
  /** Tokens the step fed. */
  tokens: number;
  /** performance.now() when recording began. */
  startMs: number;
  recordMs: number;
  submitMs: number;
  /**
   * How long the CPU then waited for the step's result. A decode step submitted while the
   * previous one still runs (overlapped decoding) waits only for what is left of it.
   */
  waitMs: number;
  gpu?: DispatchTiming[];
}

/**
 * Watches every step a session submits (bench, profile, the demo's kernel panel). With a
 * `profiler`, each dispatch gets GPU timestamps; each step then waits for its result. Without
 * an observer the session's hot path is unchanged.
 */
export interface StepObserver {
  profiler?: GpuProfiler;
  onStep(step: StepRecord): void;
  /** The observer a fork of the session gets (default: this one, shared). */
  fork?(): StepObserver;
  /** Called when the session is disposed (an observer the session owns frees its profiler). */
  dispose?(): void;
}
