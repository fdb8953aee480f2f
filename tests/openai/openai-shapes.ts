// JSON schemas of OpenAI's response objects (chat.completion, chat.completion.chunk,
// text_completion, and usage) as OpenAI's API reference defines them, with no fields beyond
// those: a response Mnemo returns must validate against them (ajv, in the tests).
import { Ajv, type ValidateFunction } from "ajv";

const nullable = (schema: object) => ({ anyOf: [schema, { type: "null" }] });

const usage = {
  type: "object",
  additionalProperties: false,
  required: ["prompt_tokens", "completion_tokens", "total_tokens"],
  properties: {
    prompt_tokens: { type: "integer", minimum: 0 },
    completion_tokens: { type: "integer", minimum: 0 },
    total_tokens: { type: "integer", minimum: 0 },
  },
};

const topLogprob = {
  type: "object",
  additionalProperties: false,
  required: ["token", "bytes", "logprob"],
  properties: {
    token: { type: "string" },
    bytes: nullable({ type: "array", items: { type: "integer", minimum: 0, maximum: 255 } }),
    logprob: { type: "number", maximum: 0 },
  },
};

const tokenLogprob = {
  ...topLogprob,
  required: [...topLogprob.required, "top_logprobs"],
  properties: { ...topLogprob.properties, top_logprobs: { type: "array", items: topLogprob, maxItems: 20 } },
};

const choiceLogprobs = {
  type: "object",
  additionalProperties: false,
  required: ["content", "refusal"],
  properties: { content: nullable({ type: "array", items: tokenLogprob }), refusal: nullable({ type: "array", items: tokenLogprob }) },
};

const header = (object: string) => ({
  id: { type: "string", minLength: 1 },
  object: { const: object },
  created: { type: "integer", minimum: 1_600_000_000 },
  model: { type: "string", minLength: 1 },
  system_fingerprint: { type: "string" },
  service_tier: nullable({ type: "string" }),
});

const finishReason = { enum: ["stop", "length", "tool_calls", "content_filter", "function_call"] };

export const chatCompletionSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    ...header("chat.completion"),
    usage,
    choices: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["index", "message", "logprobs", "finish_reason"],
        properties: {
          index: { type: "integer", minimum: 0 },
          finish_reason: finishReason,
          logprobs: nullable(choiceLogprobs),
          message: {
            type: "object",
            additionalProperties: false,
            required: ["role", "content", "refusal"],
            properties: { role: { const: "assistant" }, content: nullable({ type: "string" }), refusal: nullable({ type: "string" }) },
          },
        },
      },
    },
  },
};

export const chatCompletionChunkSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    ...header("chat.completion.chunk"),
    usage: nullable(usage),
    choices: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["index", "delta", "finish_reason"],
        properties: {
          index: { type: "integer", minimum: 0 },
          finish_reason: nullable(finishReason),
          logprobs: nullable(choiceLogprobs),
          delta: {
            type: "object",
            additionalProperties: false,
            properties: { role: { enum: ["developer", "system", "user", "assistant", "tool"] }, content: nullable({ type: "string" }), refusal: nullable({ type: "string" }) },
          },
        },
      },
    },
  },
};

const legacyLogprobs = {
  type: "object",
  additionalProperties: false,
  properties: {
    tokens: { type: "array", items: { type: "string" } },
    token_logprobs: { type: "array", items: { type: "number", maximum: 0 } },
    top_logprobs: { type: "array", items: { type: "object", additionalProperties: { type: "number", maximum: 0 } } },
    text_offset: { type: "array", items: { type: "integer", minimum: 0 } },
  },
};

const completionLike = (finish: object, usageSchema: object) => ({
  type: "object",
  additionalProperties: false,
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    ...header("text_completion"),
    usage: usageSchema,
    choices: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["index", "text", "logprobs", "finish_reason"],
        properties: { index: { type: "integer", minimum: 0 }, text: { type: "string" }, logprobs: nullable(legacyLogprobs), finish_reason: finish },
      },
    },
  },
});

export const completionSchema = completionLike({ enum: ["stop", "length", "content_filter"] }, usage);
export const completionChunkSchema = completionLike(nullable({ enum: ["stop", "length", "content_filter"] }), nullable(usage));

const ajv = new Ajv({ allErrors: true, strict: true });

/** A validator that throws with ajv's errors, naming what failed. */
export function validator(schema: object, name: string): (value: unknown) => void {
  const validate: ValidateFunction = ajv.compile(schema);
  return (value) => {
    if (!validate(value)) throw new Error(`${name} does not match OpenAI's shape: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 600)}`);
  };
}
