// OpenAI's chat.completions and completions APIs on the bundled GPT-2 (gpt2-gutenberg):
// a script typed with the `openai` package runs unchanged but for its client line; every
// response and chunk validates against OpenAI's shapes; the output equals what the session
// API generates with the same options; n, stop, logprobs, logit_bias, usage, abort, and the
// refusals of bad requests (the model stays usable after each).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type ChatCompletionChunk, type CompletionChunk, type Model } from "../../src/node.js";
import { isMnemoError } from "../../src/errors.js";
import { renderChat } from "../../src/runtime/chat.js";
import { caughtAsync } from "../helpers/errors.js";
import { openaiScript } from "./openai-script.js";
import { chatCompletionChunkSchema, chatCompletionSchema, completionChunkSchema, completionSchema, validator } from "./openai-shapes.js";

const MODEL = "weights/gpt2-gutenberg";
const checkCompletion = validator(chatCompletionSchema, "chat.completion");
const checkChunk = validator(chatCompletionChunkSchema, "chat.completion.chunk");
const checkLegacy = validator(completionSchema, "text_completion");
const checkLegacyChunk = validator(completionChunkSchema, "text_completion chunk");

let model: Model;
beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(() => model?.dispose());

const messages = [{ role: "user", content: "Where did the ship sail?" }];

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

/** The same reply through the session API. */
async function sessionReply(maxTokens: number, opts: { seed?: number; temperature?: number } = {}): Promise<{ text: string; ids: number[] }> {
  const s = model.session();
  let text = "";
  const ids: number[] = [];
  for await (const t of s.chat([{ role: "user", content: messages[0].content }], { maxTokens, stop: ["\n\n"], ...opts })) {
    text += t.text;
    ids.push(t.id);
  }
  s.dispose();
  return { text, ids };
}

describe("chat.completions.create", () => {
  it("runs a script typed with the openai package; the completion and every chunk have OpenAI's shapes", async () => {
    const { completion, chunks, streamed } = await openaiScript(MODEL);
    checkCompletion(completion);
    chunks.forEach(checkChunk);
    const content = completion.choices[0].message.content!;
    expect(content.length).toBeGreaterThan(0);
    // The same seed streams the same text; usage arrives once, in a last chunk without choices.
    expect(streamed).toBe(content);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(completion.usage);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe(completion.choices[0].finish_reason);
    // Usage counts the rendered prompt's tokens and every generated token (one log-probability entry each).
    const entries = completion.choices[0].logprobs!.content!;
    expect(completion.usage!.completion_tokens).toBe(entries.length);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + entries.length);
    for (const e of entries) {
      expect(e.top_logprobs.length).toBe(2);
      expect(e.logprob).toBeLessThanOrEqual(0);
      expect(e.top_logprobs[0].logprob).toBeGreaterThanOrEqual(e.top_logprobs[1].logprob);
    }
    expect(entries.map((e) => e.token).join("")).toContain(content);
  });

  it("greedy: the reply equals the session API's chat() reply; usage counts the rendered prompt", async () => {
    const want = await sessionReply(12, { temperature: 0 });
    const got = await model.chat.completions.create({ messages, max_tokens: 12, temperature: 0, logprobs: true });
    checkCompletion(got);
    const choice = got.choices[0];
    const expectedText = want.text.endsWith("\n\n") ? want.text.slice(0, -2) : want.text;
    expect(choice.message.content).toBe(expectedText);
    expect(choice.finish_reason).toBe(want.text.endsWith("\n\n") || want.ids.length < 12 ? "stop" : "length");
    expect(got.usage!.prompt_tokens).toBe(model.languageModel.tokenizer.encode(renderChat(messages)).length);
    expect(choice.logprobs!.content!.map((e) => e.token).join("")).toBe(model.languageModel.tokenizer.decode(want.ids));
  });

  it("n choices are forks of one prefill: choice i equals a single request with seed + i", async () => {
    const many = await model.chat.completions.create({ messages, n: 3, seed: 7, max_tokens: 6 });
    checkCompletion(many);
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const second = await model.chat.completions.create({ messages, seed: 8, max_tokens: 6 });
    expect(many.choices[1].message.content).toBe(second.choices[0].message.content);
    expect(new Set(many.choices.map((c) => c.message.content)).size).toBeGreaterThan(1);
    expect(many.usage!.completion_tokens).toBeLessThanOrEqual(18);
  });

  it("stop strings end the reply before them, also when streamed", async () => {
    const free = await model.chat.completions.create({ messages, max_tokens: 16, temperature: 0 });
    const text = free.choices[0].message.content!;
    // A stop string from the middle of the greedy reply (two characters of it).
    const at = Math.floor(text.length / 2);
    const stop = text.slice(at, at + 2);
    const cut = await model.chat.completions.create({ messages, max_tokens: 16, temperature: 0, stop });
    expect(cut.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0].finish_reason).toBe("stop");
    const chunks = await collect(await model.chat.completions.create({ messages, max_tokens: 16, temperature: 0, stop: [stop], stream: true }));
    chunks.forEach(checkChunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(text.slice(0, text.indexOf(stop)));
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe("stop");
  });

  it("logit_bias with string keys: -100 bans the greedy token, +100 forces another", async () => {
    const greedy = await model.chat.completions.create({ messages, max_tokens: 1, temperature: 0, logprobs: true });
    const first = greedy.choices[0].logprobs!.content![0].token;
    const firstId = model.languageModel.tokenizer.encode(first)[0];
    const banned = await model.chat.completions.create({ messages, max_tokens: 1, temperature: 0, logit_bias: { [String(firstId)]: -100 }, logprobs: true });
    expect(banned.choices[0].logprobs!.content![0].token).not.toBe(first);
    const forced = await model.chat.completions.create({ messages, max_tokens: 2, temperature: 0, logit_bias: { "1169": 100 } });
    expect(forced.choices[0].message.content).toBe(model.languageModel.tokenizer.decode([1169, 1169]));
  });

  it("an aborted signal stops a stream with ABORTED; the model stays usable", async () => {
    const controller = new AbortController();
    // Seeded: a reply that runs past the abort (seed 3 gives 33 tokens with f32 activations and
    // 36 with int8 ones; an unseeded reply may end at its first token).
    const stream = await model.chat.completions.create({ messages, max_tokens: 30, seed: 3, stream: true }, { signal: controller.signal });
    let seen = 0;
    const err = await caughtAsync(async () => {
      for await (const _ of stream as AsyncIterable<ChatCompletionChunk>) if (++seen === 2) controller.abort();
    });
    expect(isMnemoError(err, "ABORTED"), String(err)).toBe(true);
    const after = await model.chat.completions.create({ messages, max_tokens: 2 });
    expect(after.choices[0].message.content).toBeTypeOf("string");
  });

  it("refuses bad requests by name with BAD_INPUT before generating, and too long a prompt with CONTEXT_FULL", async () => {
    const refused = async (request: object, pattern: RegExp, code = "BAD_INPUT") => {
      const err = await caughtAsync(() => model.chat.completions.create(request as never));
      expect(isMnemoError(err, code as never), String(err)).toBe(true);
      expect(String(err)).toMatch(pattern);
    };
    await refused({ messages, tools: [{ type: "function", function: { name: "f" } }] }, /"tools" is not supported/);
    await refused({ messages, temperatur: 1 }, /unknown field "temperatur"/);
    await refused({ messages, n: 9 }, /"n" must be an integer in \[1, 8\]/);
    await refused({ messages, logprobs: true, top_logprobs: 21 }, /"top_logprobs" must be an integer in \[0, 20\]/);
    await refused({ messages, top_logprobs: 2 }, /"top_logprobs" needs "logprobs": true/);
    await refused({ messages, response_format: { type: "json_schema", json_schema: { name: "x" } } }, /"response_format.json_schema.schema" must be a JSON schema object/);
    await refused({ messages, response_format: { type: "xml" } }, /"response_format.type" must be "text", "json_object" or "json_schema"/);
    await refused({ messages, stop: ["a", "b", "c", "d", "e"] }, /"stop" holds 5 strings/);
    await refused({ messages, logit_bias: { "60000": 5 } }, /outside the vocabulary/);
    await refused({ messages: [{ role: "tool", content: "x" }] }, /messages\[0\]\.role "tool" is not supported/);
    await refused({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }, /only \{ type: "text", text \} parts/);
    await refused({ messages, stream_options: { include_usage: true } }, /"stream_options" needs "stream": true/);
    await refused({ messages: [{ role: "user", content: "sea ".repeat(1100) }] }, /The prompt is \d+ tokens; the context holds 1024/, "CONTEXT_FULL");
    const ok = await model.chat.completions.create({ messages, max_tokens: 1, user: "u1", metadata: { a: "b" } });
    checkCompletion(ok);
  });
});

describe("completions.create", () => {
  it("continues a prompt with OpenAI's legacy shapes: echo, logprobs, stream chunks", async () => {
    const prompt = "It was a dark and stormy night";
    const plain = await model.completions.create({ prompt, max_tokens: 6, temperature: 0, logprobs: 2, echo: true });
    checkLegacy(plain);
    const choice = plain.choices[0];
    expect(choice.text.startsWith(prompt)).toBe(true);
    const lp = choice.logprobs!;
    expect(lp.tokens!.length).toBe(plain.usage!.completion_tokens);
    expect(lp.text_offset![0]).toBe(prompt.length);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length <= 2)).toBe(true);
    const chunks = await collect(await model.completions.create({ prompt, max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } }));
    chunks.forEach(checkLegacyChunk);
    const streamed = chunks.map((c: CompletionChunk) => c.choices[0]?.text ?? "").join("");
    expect(prompt + streamed).toBe(choice.text);
    expect(chunks.at(-1)!.usage).toEqual(plain.usage);
    // max_tokens defaults to 16, as in OpenAI's API.
    const fallback = await model.completions.create({ prompt: [464, 5417], temperature: 0 });
    expect(fallback.usage!.completion_tokens).toBeLessThanOrEqual(16);
    const err = await caughtAsync(() => model.completions.create({ prompt, suffix: "x" }));
    expect(String(err)).toMatch(/"suffix" is not supported/);
  });
});
