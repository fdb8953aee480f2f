// A Vercel AI SDK language model (the `@ai-sdk/provider` LanguageModelV4 interface) on a
// Mnemo model, so that `streamText`, `generateText` and `generateObject` of the `ai` package
// run in the browser or Node on the user's own GPU. It is a thin mapping onto the model's
// OpenAI-style chat API (src/openai): prompts become chat messages, settings become request
// fields, and a JSON response format becomes a JSON-schema constraint.
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4FinishReason,
  LanguageModelV4GenerateResult,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
  LanguageModelV4Usage,
  SharedV4Warning,
} from "@ai-sdk/provider";
import { MnemoError } from "../errors.js";
import type { ChatCompletions } from "../openai/completions.js";
import type { ChatCompletionRequest, CompletionUsage, FinishReason } from "../openai/types.js";

/** What the provider needs of a model: `Model` from `loadModel` has it. */
export interface MnemoChatModel {
  /** The model's OpenAI-style chat API. */
  readonly chat: {
    /** What the provider calls. */
    readonly completions: ChatCompletions;
  };
}

/** Settings of {@link mnemo}. */
export interface MnemoProviderSettings {
  /** The id the AI SDK reports for the model (default "mnemo"). */
  modelId?: string;
}

type Prompt = LanguageModelV4CallOptions["prompt"];

function unsupported(what: string): never {
  throw new MnemoError("BAD_INPUT", `The Mnemo AI SDK provider does not support ${what}.`);
}

/** The AI SDK's prompt as chat messages: text only. */
function toMessages(prompt: Prompt): ChatCompletionRequest["messages"] {
  return prompt.map((m) => {
    if (m.role === "system") return { role: "system", content: m.content };
    if (m.role === "tool") unsupported("tool results");
    const text = m.content
      .map((part) => {
        if (part.type === "text") return part.text;
        if (part.type === "reasoning") return "";
        return unsupported(`${part.type} parts in ${m.role} messages`);
      })
      .join("");
    return { role: m.role, content: text };
  });
}

/** The chat request for a call, and the warnings for settings that have no effect. */
function toRequest(o: LanguageModelV4CallOptions): { request: ChatCompletionRequest; warnings: SharedV4Warning[] } {
  if (o.tools && o.tools.length > 0) unsupported("tools");
  const warnings: SharedV4Warning[] = [];
  if (o.topK !== undefined) warnings.push({ type: "unsupported", feature: "topK", details: "use topP" });
  if (o.reasoning && o.reasoning !== "provider-default" && o.reasoning !== "none") warnings.push({ type: "unsupported", feature: "reasoning" });
  const request: ChatCompletionRequest = { messages: toMessages(o.prompt) };
  if (o.maxOutputTokens !== undefined) request.max_tokens = o.maxOutputTokens;
  if (o.temperature !== undefined) request.temperature = o.temperature;
  if (o.topP !== undefined) request.top_p = o.topP;
  if (o.seed !== undefined) request.seed = o.seed;
  if (o.stopSequences?.length) request.stop = o.stopSequences;
  if (o.frequencyPenalty !== undefined) request.frequency_penalty = o.frequencyPenalty;
  if (o.presencePenalty !== undefined) request.presence_penalty = o.presencePenalty;
  if (o.responseFormat?.type === "json") {
    request.response_format = o.responseFormat.schema ? { type: "json_schema", json_schema: { name: o.responseFormat.name ?? "response", schema: o.responseFormat.schema } } : { type: "json_object" };
  }
  return { request, warnings };
}

function finishReason(reason: FinishReason | null): LanguageModelV4FinishReason {
  return { unified: reason === "length" ? "length" : "stop", raw: reason ?? undefined };
}

function usage(u: CompletionUsage | undefined | null): LanguageModelV4Usage {
  return {
    inputTokens: { total: u?.prompt_tokens, noCache: u?.prompt_tokens, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: u?.completion_tokens, text: u?.completion_tokens, reasoning: undefined },
  };
}

class MnemoLanguageModel implements LanguageModelV4 {
  readonly specificationVersion = "v4";
  readonly provider = "mnemo";
  readonly supportedUrls = {};

  constructor(
    private readonly model: MnemoChatModel,
    readonly modelId: string,
  ) {}

  async doGenerate(o: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    const { request, warnings } = toRequest(o);
    const reply = await this.model.chat.completions.create({ ...request, model: this.modelId, stream: false }, { signal: o.abortSignal });
    const choice = reply.choices[0];
    return {
      content: [{ type: "text", text: choice.message.content ?? "" }],
      finishReason: finishReason(choice.finish_reason),
      usage: usage(reply.usage),
      warnings,
      request: { body: request },
      response: { id: reply.id, modelId: reply.model, timestamp: new Date(reply.created * 1000) },
    };
  }

  async doStream(o: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
    const { request, warnings } = toRequest(o);
    const chunks = await this.model.chat.completions.create({ ...request, model: this.modelId, stream: true, stream_options: { include_usage: true } }, { signal: o.abortSignal });
    const iterator = chunks[Symbol.asyncIterator]();
    let started = false;
    let finish: FinishReason | null = null;
    const stream = new ReadableStream<LanguageModelV4StreamPart>({
      start(controller) {
        controller.enqueue({ type: "stream-start", warnings });
      },
      // Each pull enqueues at least one part or closes the stream: a pull that enqueues
      // nothing is not called again, and the reader would wait forever.
      async pull(controller) {
        try {
          for (;;) {
            const next = await iterator.next();
            if (next.done) {
              controller.close();
              return;
            }
            const chunk = next.value;
            const parts: LanguageModelV4StreamPart[] = [];
            if (!started) {
              started = true;
              parts.push({ type: "response-metadata", id: chunk.id, modelId: chunk.model, timestamp: new Date(chunk.created * 1000) }, { type: "text-start", id: "0" });
            }
            const choice = chunk.choices[0];
            if (choice?.delta.content) parts.push({ type: "text-delta", id: "0", delta: choice.delta.content });
            if (choice?.finish_reason) finish = choice.finish_reason;
            if (chunk.usage) parts.push({ type: "text-end", id: "0" }, { type: "finish", usage: usage(chunk.usage), finishReason: finishReason(finish) });
            for (const p of parts) controller.enqueue(p);
            if (parts.length > 0) return;
          }
        } catch (error) {
          controller.enqueue({ type: "error", error });
          controller.close();
        }
      },
      async cancel() {
        await iterator.return?.();
      },
    });
    return { stream, request: { body: request } };
  }
}

/**
 * An AI SDK language model on a loaded Mnemo model:
 * `streamText({ model: mnemo(await loadModel(url)), prompt })`. Tools and non-text prompt
 * parts are refused (BAD_INPUT); topK has no effect (a warning says so).
 */
export function mnemo(model: MnemoChatModel, settings: MnemoProviderSettings = {}): LanguageModelV4 {
  return new MnemoLanguageModel(model, settings.modelId ?? "mnemo");
}
