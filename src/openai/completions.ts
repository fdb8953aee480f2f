// OpenAI's chat.completions and completions APIs on a Mnemo model. A request is checked
// (request.ts), its prompt rendered with the model's chat template and prefilled once into a
// session; each of its n choices generates from a fork of that session (the last from the
// session itself). Streams are async iterables of OpenAI's chunk objects; a stream that is
// abandoned (break) or aborted frees its sessions.
import { MnemoError } from "../errors.js";
import type { ModelInfo } from "../models/types.js";
import { planChatTurn } from "../runtime/chat.js";
import { checkConstraint, GrammarConstraint } from "../runtime/constraint.js";
import type { Session } from "../runtime/session.js";
import type { GeneratedToken } from "../runtime/types.js";
import type { Tokenizer } from "../tokenizers/types.js";
import { resolveChatRequest, resolveCompletionRequest, type ResolvedRequest } from "./request.js";
import { StopText } from "./stop-text.js";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  Completion,
  CompletionCallOptions,
  CompletionChunk,
  CompletionLogprobs,
  CompletionRequest,
  CompletionUsage,
  FinishReason,
  TokenLogprobEntry,
} from "./types.js";

/** What the APIs need of a model. */
export interface CompletionBackend {
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  /** A fresh session (throws DISPOSED once the model is gone). */
  session(): Session;
}

/** Tokens a recurrent model (no context limit) generates when the request sets no maximum. */
const RECURRENT_DEFAULT_MAX_TOKENS = 256;

/** A piece of one choice's output. */
interface ChoiceEvent {
  index: number;
  text: string;
  /** The tokens generated with this piece (with log-probabilities when asked). */
  tokens: GeneratedToken[];
  /** Set on a choice's last event. */
  finish?: FinishReason;
}

/** One prompt, resolved: ids and the limits of its choices. */
interface Job {
  ids: number[];
  r: ResolvedRequest;
  maxTokens: number;
  /** Stop strings: the request's and the chat template's. */
  stop: string[];
  id: string;
  created: number;
  model: string;
  fingerprint: string;
}

function newJob(backend: CompletionBackend, ids: number[], r: ResolvedRequest, extraStop: readonly string[], prefix: string): Job {
  const context = backend.info.contextLength;
  if (ids.length === 0) throw new MnemoError("BAD_INPUT", "The prompt is empty.");
  if (ids.length >= context) throw new MnemoError("CONTEXT_FULL", `The prompt is ${ids.length} tokens; the context holds ${context}, with room for at least one generated token.`);
  const room = Number.isFinite(context) ? context - ids.length : Infinity;
  const maxTokens = Math.min(r.maxTokens ?? (Number.isFinite(room) ? room : RECURRENT_DEFAULT_MAX_TOKENS), room);
  const id = `${prefix}-${Math.random().toString(36).slice(2, 14)}`;
  return { ids, r, maxTokens, stop: [...r.stop, ...extraStop], id, created: Math.floor(Date.now() / 1000), model: r.model ?? `mnemo-${backend.info.type}`, fingerprint: backend.info.fingerprint };
}

/** Compiles a request's constraint now (it is cached), so that a bad schema rejects create() itself. */
async function precompile(backend: CompletionBackend, r: ResolvedRequest): Promise<void> {
  const c = r.sampling.constraint;
  if (c) (await GrammarConstraint.create(backend.tokenizer, backend.info.vocabSize, checkConstraint(c))).dispose();
}

/** Every choice of `job`, one after another, as pieces of text. */
async function* runChoices(backend: CompletionBackend, job: Job, signal: AbortSignal | undefined): AsyncGenerator<ChoiceEvent> {
  const base = backend.session();
  try {
    await base.append(job.ids, { signal, overflow: "error" });
    for (let index = 0; index < job.r.n; index++) {
      const session = index === job.r.n - 1 ? base : await base.fork();
      try {
        yield* runChoice(session, index, job, signal);
      } finally {
        if (session !== base) session.dispose();
      }
    }
  } finally {
    base.dispose();
  }
}

async function* runChoice(session: Session, index: number, job: Job, signal: AbortSignal | undefined): AsyncGenerator<ChoiceEvent> {
  const stop = new StopText(job.stop);
  const seed = job.r.seed === undefined ? undefined : job.r.seed + index;
  let produced = 0;
  for await (const token of session.generate(null, { ...job.r.sampling, seed, maxTokens: job.maxTokens, signal, overflow: "error" })) {
    produced++;
    const text = stop.push(token.text);
    if (stop.stopped) {
      yield { index, text, tokens: [token], finish: "stop" };
      return;
    }
    yield { index, text, tokens: [token] };
  }
  // Fewer tokens than allowed: the model ended the text (end-of-sequence).
  yield { index, text: stop.flush(), tokens: [], finish: produced < job.maxTokens ? "stop" : "length" };
}

function usageOf(job: Job, completionTokens: number): CompletionUsage {
  return { prompt_tokens: job.ids.length, completion_tokens: completionTokens, total_tokens: job.ids.length + completionTokens };
}

/** OpenAI's log-probability entry of a generated token. */
function logprobEntry(tokenizer: Tokenizer, t: GeneratedToken): TokenLogprobEntry {
  return {
    token: tokenizer.decode([t.id]),
    bytes: Array.from(tokenizer.tokenBytes(t.id)),
    logprob: t.logprob ?? Number.NaN,
    top_logprobs: (t.topLogprobs ?? []).map((a) => ({ token: a.text, bytes: Array.from(tokenizer.tokenBytes(a.id)), logprob: a.logprob })),
  };
}

/** `model.chat.completions`: OpenAI's chat API. */
export class ChatCompletions {
  /** @internal */
  constructor(private readonly backend: CompletionBackend) {}

  /**
   * Generates a reply to `request.messages` as OpenAI's API does: a ChatCompletion, or with
   * `stream: true` an async iterable of chat.completion.chunk objects. Bad requests (unknown
   * or unsupported fields, values out of range) reject with BAD_INPUT before anything runs;
   * a prompt that fills the context rejects with CONTEXT_FULL.
   */
  create(request: ChatCompletionRequest & { stream: true }, options?: CompletionCallOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: ChatCompletionRequest & { stream?: false | null }, options?: CompletionCallOptions): Promise<ChatCompletion>;
  create(request: ChatCompletionRequest, options?: CompletionCallOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
  async create(request: ChatCompletionRequest, options: CompletionCallOptions = {}): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const { resolved, messages } = resolveChatRequest(request);
    const tokenizer = this.backend.tokenizer;
    const turn = planChatTurn(null, messages, tokenizer.chat ?? {});
    const job = newJob(this.backend, tokenizer.encode(turn.feed), resolved, turn.stop, "chatcmpl");
    await precompile(this.backend, resolved);
    const events = () => runChoices(this.backend, job, options.signal);
    return resolved.stream ? chatChunks(job, events, tokenizer) : chatCompletion(job, events(), tokenizer);
  }
}

function chatHeader(job: Job) {
  return { id: job.id, created: job.created, model: job.model, system_fingerprint: job.fingerprint };
}

async function chatCompletion(job: Job, events: AsyncIterable<ChoiceEvent>, tokenizer: Tokenizer): Promise<ChatCompletion> {
  const choices: ChatCompletion["choices"] = [];
  let completionTokens = 0;
  for (let i = 0; i < job.r.n; i++)
    choices.push({ index: i, message: { role: "assistant", content: "", refusal: null }, logprobs: job.r.logprobs === null ? null : { content: [], refusal: null }, finish_reason: "length" });
  for await (const e of events) {
    const c = choices[e.index];
    c.message.content += e.text;
    completionTokens += e.tokens.length;
    c.logprobs?.content?.push(...e.tokens.map((t) => logprobEntry(tokenizer, t)));
    if (e.finish) c.finish_reason = e.finish;
  }
  return { ...chatHeader(job), object: "chat.completion", choices, usage: usageOf(job, completionTokens) };
}

function chatChunks(job: Job, events: () => AsyncGenerator<ChoiceEvent>, tokenizer: Tokenizer): AsyncIterable<ChatCompletionChunk> {
  const usageField = job.r.includeUsage ? { usage: null } : {};
  const chunk = (choice: ChatCompletionChunk["choices"][number]): ChatCompletionChunk => ({ ...chatHeader(job), object: "chat.completion.chunk", choices: [choice], ...usageField });
  return {
    async *[Symbol.asyncIterator]() {
      let completionTokens = 0;
      let opened = -1;
      for await (const e of events()) {
        if (opened < e.index) {
          opened = e.index;
          yield chunk({ index: e.index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null });
        }
        completionTokens += e.tokens.length;
        const logprobs = job.r.logprobs === null ? null : { content: e.tokens.map((t) => logprobEntry(tokenizer, t)), refusal: null };
        if (e.text.length > 0 || e.tokens.length > 0) yield chunk({ index: e.index, delta: { content: e.text }, logprobs, finish_reason: null });
        if (e.finish) yield chunk({ index: e.index, delta: {}, logprobs: null, finish_reason: e.finish });
      }
      if (job.r.includeUsage) yield { ...chatHeader(job), object: "chat.completion.chunk", choices: [], usage: usageOf(job, completionTokens) };
    },
  };
}

/** `model.completions`: OpenAI's legacy completions API (a plain prompt continued). */
export class Completions {
  /** @internal */
  constructor(private readonly backend: CompletionBackend) {}

  /**
   * Continues `request.prompt` as OpenAI's completions API does: a Completion, or with
   * `stream: true` an async iterable of completion chunks. `max_tokens` defaults to 16 as
   * there; `logprobs: n` (0..5) reports n alternatives per token.
   */
  create(request: CompletionRequest & { stream: true }, options?: CompletionCallOptions): Promise<AsyncIterable<CompletionChunk>>;
  create(request: CompletionRequest & { stream?: false | null }, options?: CompletionCallOptions): Promise<Completion>;
  create(request: CompletionRequest, options?: CompletionCallOptions): Promise<Completion | AsyncIterable<CompletionChunk>>;
  async create(request: CompletionRequest, options: CompletionCallOptions = {}): Promise<Completion | AsyncIterable<CompletionChunk>> {
    const { resolved, prompt, echo } = resolveCompletionRequest(request);
    const tokenizer = this.backend.tokenizer;
    const ids = typeof prompt === "string" ? tokenizer.encode(prompt) : checkIds(prompt, this.backend.info.vocabSize);
    const job = newJob(this.backend, ids, resolved, [], "cmpl");
    const echoed = echo ? tokenizer.decode(ids) : "";
    const events = () => runChoices(this.backend, job, options.signal);
    return resolved.stream ? completionChunks(job, events, tokenizer, echoed) : completion(job, events(), tokenizer, echoed);
  }
}

function checkIds(ids: number[], vocabSize: number): number[] {
  const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
  if (bad >= 0) throw new MnemoError("BAD_INPUT", `"prompt": token ${bad} (${ids[bad]}) is outside the vocabulary (size ${vocabSize}).`);
  return ids;
}

/** Legacy log-probabilities of `tokens`, whose text starts at character `offset` of the choice. */
function legacyLogprobs(tokenizer: Tokenizer, tokens: readonly GeneratedToken[], offset: number): Required<CompletionLogprobs> {
  const out: Required<CompletionLogprobs> = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const t of tokens) {
    const text = tokenizer.decode([t.id]);
    out.tokens.push(text);
    out.token_logprobs.push(t.logprob ?? Number.NaN);
    out.top_logprobs.push(Object.fromEntries((t.topLogprobs ?? []).map((a) => [a.text, a.logprob])));
    out.text_offset.push(offset);
    offset += text.length;
  }
  return out;
}

async function completion(job: Job, events: AsyncIterable<ChoiceEvent>, tokenizer: Tokenizer, echoed: string): Promise<Completion> {
  const choices: Completion["choices"] = [];
  let completionTokens = 0;
  const generated: GeneratedToken[][] = [];
  for (let i = 0; i < job.r.n; i++) {
    choices.push({ index: i, text: echoed, logprobs: null, finish_reason: "length" });
    generated.push([]);
  }
  for await (const e of events) {
    choices[e.index].text += e.text;
    generated[e.index].push(...e.tokens);
    completionTokens += e.tokens.length;
    if (e.finish) choices[e.index].finish_reason = e.finish;
  }
  if (job.r.logprobs !== null) choices.forEach((c, i) => (c.logprobs = legacyLogprobs(tokenizer, generated[i], echoed.length)));
  return { id: job.id, object: "text_completion", created: job.created, model: job.model, system_fingerprint: job.fingerprint, choices, usage: usageOf(job, completionTokens) };
}

function completionChunks(job: Job, events: () => AsyncGenerator<ChoiceEvent>, tokenizer: Tokenizer, echoed: string): AsyncIterable<CompletionChunk> {
  const header = { id: job.id, object: "text_completion" as const, created: job.created, model: job.model, system_fingerprint: job.fingerprint, ...(job.r.includeUsage ? { usage: null } : {}) };
  return {
    async *[Symbol.asyncIterator]() {
      let completionTokens = 0;
      const offsets = new Array<number>(job.r.n).fill(echoed.length);
      let opened = -1;
      for await (const e of events()) {
        const text = (opened < e.index ? echoed : "") + e.text;
        opened = Math.max(opened, e.index);
        completionTokens += e.tokens.length;
        const logprobs = job.r.logprobs === null ? null : legacyLogprobs(tokenizer, e.tokens, offsets[e.index]);
        for (const t of e.tokens) offsets[e.index] += tokenizer.decode([t.id]).length;
        yield { ...header, choices: [{ index: e.index, text, logprobs, finish_reason: e.finish ?? null }] };
      }
      if (job.r.includeUsage) yield { ...header, choices: [], usage: usageOf(job, completionTokens) };
    },
  };
}
