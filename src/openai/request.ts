// Checks an OpenAI-style request before anything runs, and turns it into Mnemo's generate
// options. Every field OpenAI defines is either served, accepted as having no effect on
// generation (user, metadata), or refused by name; a field OpenAI does not define is refused
// as unknown. So a request never silently loses something its author asked for.
import { MnemoError } from "../errors.js";
import type { ChatMessage } from "../runtime/chat.js";
import type { GenerateOptions } from "../runtime/types.js";
import type { OutputConstraint } from "../runtime/constraint.js";
import type { ChatCompletionRequest, CompletionRequest } from "./types.js";

/** The most choices (`n`) one request may ask for. */
export const MAX_CHOICES = 8;
/** The most stop strings (OpenAI's limit). */
const MAX_STOP = 4;

/** What both APIs resolve to. */
export interface ResolvedRequest {
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** null: as many as the context allows. */
  maxTokens: number | null;
  stop: string[];
  /** Alternatives per token; null: no log-probabilities. */
  logprobs: number | null;
  /** The sampling options of every choice (the seed is per choice). */
  sampling: GenerateOptions;
  seed: number | undefined;
  model: string | undefined;
}

function bad(message: string): never {
  throw new MnemoError("BAD_INPUT", message);
}

const given = (v: unknown) => v !== undefined && v !== null;

/** Fields accepted with no effect on generation. */
const NO_EFFECT = ["user", "metadata"];
/** Fields OpenAI defines that Mnemo does not serve. */
const CHAT_UNSUPPORTED: Record<string, string> = {
  tools: "tool calling is not supported",
  tool_choice: "tool calling is not supported",
  parallel_tool_calls: "tool calling is not supported",
  functions: "function calling is not supported",
  function_call: "function calling is not supported",
  audio: "audio output is not supported",
  modalities: "only text is generated",
  prediction: "predicted outputs are not supported",
  reasoning_effort: "the model does not reason",
  verbosity: "verbosity is not supported",
  web_search_options: "web search is not supported",
  service_tier: "there is no service tier",
  prompt_cache_key: "prompt caching is not supported (a session keeps its cache instead)",
  prompt_cache_options: "prompt caching is not supported (a session keeps its cache instead)",
  prompt_cache_retention: "prompt caching is not supported (a session keeps its cache instead)",
  safety_identifier: "there is no safety service",
  moderation: "there is no moderation service",
};
const CHAT_SERVED = [
  "messages",
  "model",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "seed",
  "stop",
  "n",
  "stream",
  "stream_options",
  "logprobs",
  "top_logprobs",
  "logit_bias",
  "frequency_penalty",
  "presence_penalty",
  "response_format",
  "store",
];
const COMPLETION_SERVED = [
  "prompt",
  "model",
  "max_tokens",
  "temperature",
  "top_p",
  "seed",
  "stop",
  "n",
  "stream",
  "stream_options",
  "logprobs",
  "logit_bias",
  "frequency_penalty",
  "presence_penalty",
  "echo",
];
const COMPLETION_UNSUPPORTED: Record<string, string> = {
  suffix: "insertion (suffix) is not supported",
  best_of: "best_of is not supported (ask for n choices instead)",
};

function checkFields(req: object, served: readonly string[], unsupported: Record<string, string>, api: string): void {
  if (typeof req !== "object" || req === null || Array.isArray(req)) bad(`${api}: the request must be an object.`);
  for (const [key, value] of Object.entries(req)) {
    if (served.includes(key) || NO_EFFECT.includes(key)) continue;
    if (key in unsupported) {
      if (given(value)) bad(`${api}: "${key}" is not supported by Mnemo (${unsupported[key]}).`);
      continue;
    }
    bad(`${api}: unknown field "${key}".`);
  }
}

function optionalNumber(req: Record<string, unknown>, name: string, min: number, max: number, integer = false): number | undefined {
  const v = req[name];
  if (!given(v)) return undefined;
  if (typeof v !== "number" || !(v >= min && v <= max) || (integer && !Number.isInteger(v)))
    bad(`"${name}" must be ${integer ? "an integer" : "a number"} in [${min}, ${max}], got ${JSON.stringify(v)}.`);
  return v;
}

function checkStop(v: unknown): string[] {
  if (!given(v)) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string" || s.length === 0)) bad(`"stop" must be a non-empty string or an array of them.`);
  if (list.length > MAX_STOP) bad(`"stop" holds ${list.length} strings; the limit is ${MAX_STOP}.`);
  return [...list];
}

function checkLogitBias(v: unknown): Record<number, number> | undefined {
  if (!given(v)) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) bad(`"logit_bias" must map token ids (as strings) to numbers in [-100, 100].`);
  // The generate options check the keys and values, with the vocabulary.
  return v as Record<number, number>;
}

function checkStreamOptions(req: { stream?: boolean | null; stream_options?: unknown }): boolean {
  const o = req.stream_options;
  if (!given(o)) return false;
  if (req.stream !== true) bad(`"stream_options" needs "stream": true.`);
  if (typeof o !== "object" || Array.isArray(o)) bad(`"stream_options" must be an object.`);
  for (const [key, value] of Object.entries(o as object)) {
    if (key === "include_usage") {
      if (typeof value !== "boolean") bad(`"stream_options.include_usage" must be true or false.`);
    } else if (key === "include_obfuscation") {
      if (value === true) bad(`"stream_options.include_obfuscation" is not supported by Mnemo (nothing is sent over a network).`);
    } else bad(`unknown field "stream_options.${key}".`);
  }
  return (o as { include_usage?: boolean }).include_usage === true;
}

/** The fields both APIs share. */
function resolveCommon(req: Record<string, unknown>, maxTokens: number | undefined, logprobs: number | null): ResolvedRequest {
  const n = optionalNumber(req, "n", 1, MAX_CHOICES, true) ?? 1;
  if (given(req.stream) && typeof req.stream !== "boolean") bad(`"stream" must be true or false.`);
  const temperature = optionalNumber(req, "temperature", 0, 2);
  const topP = optionalNumber(req, "top_p", 0, 1);
  const seed = optionalNumber(req, "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  const model = req.model;
  if (given(model) && typeof model !== "string") bad(`"model" must be a string.`);
  const sampling: GenerateOptions = {
    // top_p 0 keeps only the most likely token: greedy.
    temperature: topP === 0 ? 0 : (temperature ?? 1),
    topP: topP === 0 || topP === undefined ? 1 : topP,
    frequencyPenalty: optionalNumber(req, "frequency_penalty", -2, 2) ?? 0,
    presencePenalty: optionalNumber(req, "presence_penalty", -2, 2) ?? 0,
    logitBias: checkLogitBias(req.logit_bias),
    logprobs: logprobs ?? false,
  };
  return {
    n,
    stream: req.stream === true,
    includeUsage: checkStreamOptions(req as { stream?: boolean; stream_options?: unknown }),
    maxTokens: maxTokens ?? null,
    stop: checkStop(req.stop),
    logprobs,
    sampling,
    seed,
    model: model as string | undefined,
  };
}

/** Checks a chat request; returns it resolved, with its messages as Mnemo's chat messages. */
export function resolveChatRequest(req: ChatCompletionRequest): { resolved: ResolvedRequest; messages: ChatMessage[] } {
  checkFields(req, CHAT_SERVED, CHAT_UNSUPPORTED, "chat.completions.create");
  const r = req as unknown as Record<string, unknown>;
  if (given(req.max_tokens) && given(req.max_completion_tokens)) bad(`Give "max_tokens" or "max_completion_tokens", not both.`);
  const maxTokens = optionalNumber(r, "max_tokens", 1, Number.MAX_SAFE_INTEGER, true) ?? optionalNumber(r, "max_completion_tokens", 1, Number.MAX_SAFE_INTEGER, true);
  if (given(req.logprobs) && typeof req.logprobs !== "boolean") bad(`"logprobs" must be true or false.`);
  const top = optionalNumber(r, "top_logprobs", 0, 20, true);
  if (top !== undefined && req.logprobs !== true) bad(`"top_logprobs" needs "logprobs": true.`);
  if (req.store === true) bad(`"store": true is not supported by Mnemo (completions are not stored).`);
  const resolved = resolveCommon(r, maxTokens, req.logprobs === true ? (top ?? 0) : null);
  const constraint = responseConstraint(req.response_format);
  if (constraint) resolved.sampling.constraint = constraint;
  return { resolved, messages: chatMessages(req.messages) };
}

/** Checks a completions request; returns it resolved with its prompt. */
export function resolveCompletionRequest(req: CompletionRequest): { resolved: ResolvedRequest; prompt: string | number[]; echo: boolean } {
  checkFields(req, COMPLETION_SERVED, COMPLETION_UNSUPPORTED, "completions.create");
  const r = req as unknown as Record<string, unknown>;
  const maxTokens = optionalNumber(r, "max_tokens", 1, Number.MAX_SAFE_INTEGER, true);
  const top = optionalNumber(r, "logprobs", 0, 5, true);
  if (given(req.echo) && typeof req.echo !== "boolean") bad(`"echo" must be true or false.`);
  return { resolved: resolveCommon(r, maxTokens ?? 16, top ?? null), prompt: completionPrompt(req.prompt), echo: req.echo === true };
}

/** The constraint a response_format asks for (json_object: any JSON object). */
function responseConstraint(v: unknown): OutputConstraint | undefined {
  if (!given(v)) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) bad(`"response_format" must be an object.`);
  const { type, json_schema } = v as { type?: unknown; json_schema?: unknown };
  if (type === "text") return undefined;
  if (type === "json_object") return { type: "json_schema", schema: { type: "object" } };
  if (type === "json_schema") {
    const schema = (json_schema as { schema?: unknown } | undefined)?.schema;
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) bad(`"response_format.json_schema.schema" must be a JSON schema object.`);
    return { type: "json_schema", schema };
  }
  bad(`"response_format.type" must be "text", "json_object" or "json_schema", got ${JSON.stringify(type)}.`);
}

function completionPrompt(p: unknown): string | number[] {
  if (typeof p === "string") return p;
  if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === "number")) return p as number[];
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") return p[0];
  if (Array.isArray(p) && p.length > 1 && p.every((x) => typeof x === "string")) bad(`"prompt": one prompt per request (ask for n choices, or send one request per prompt).`);
  bad(`"prompt" must be a string, an array of one string, or an array of token ids.`);
}

const ROLES: Record<string, ChatMessage["role"]> = { system: "system", developer: "system", user: "user", assistant: "assistant" };

function chatMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) bad(`"messages" must be a non-empty array.`);
  return messages.map((m, i) => {
    if (typeof m !== "object" || m === null) bad(`messages[${i}] must be an object.`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== "string" || !(role in ROLES)) bad(`messages[${i}].role ${JSON.stringify(role)} is not supported (system, developer, user, assistant).`);
    return { role: ROLES[role], content: messageText(content, role, i) };
  });
}

function messageText(content: unknown, role: string, i: number): string {
  if (typeof content === "string") return content;
  if ((content === null || content === undefined) && role === "assistant") return "";
  if (!Array.isArray(content)) bad(`messages[${i}].content must be a string or an array of text parts.`);
  return content
    .map((part, k) => {
      const p = part as { type?: unknown; text?: unknown };
      if (p?.type !== "text" || typeof p.text !== "string") bad(`messages[${i}].content[${k}]: only { type: "text", text } parts are supported, got type ${JSON.stringify(p?.type)}.`);
      return p.text;
    })
    .join("");
}
