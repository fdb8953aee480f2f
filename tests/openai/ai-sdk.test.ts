// The AI SDK provider (mnemo-webgpu/ai-sdk) with the real `ai` package: streamText and
// generateText give the chat API's reply for the same settings, generateObject returns an
// object that validates against its schema (constrained decoding), and what the provider
// cannot do (tools) fails instead of being ignored.
import { generateObject, generateText, jsonSchema, streamText } from "ai";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mnemo } from "../../src/ai-sdk/index.js";
import { loadModel, type Model } from "../../src/node.js";

let model: Model;
beforeAll(async () => {
  model = await loadModel("weights/gpt2-gutenberg");
});
afterAll(() => model?.dispose());

const prompt = "Where did the ship sail?";

describe("AI SDK provider", () => {
  it("streamText and generateText: the chat API's reply for the same seed, with usage and finish reason", async () => {
    const want = await model.chat.completions.create({ messages: [{ role: "user", content: prompt }], seed: 3, max_tokens: 10, temperature: 0.9 });
    const streamed = streamText({ model: mnemo(model), prompt, seed: 3, maxOutputTokens: 10, temperature: 0.9 });
    let text = "";
    for await (const delta of streamed.textStream) text += delta;
    expect(text).toBe(want.choices[0].message.content);
    expect((await streamed.usage).outputTokens).toBe(want.usage!.completion_tokens);
    expect(await streamed.finishReason).toBe(want.choices[0].finish_reason);
    const generated = await generateText({ model: mnemo(model), prompt, seed: 3, maxOutputTokens: 10, temperature: 0.9 });
    expect(generated.text).toBe(want.choices[0].message.content);
    expect(generated.usage.inputTokens).toBe(want.usage!.prompt_tokens);
  });

  it("stop sequences: chunks whose text is held back (it may start a stop string) do not stall the stream", async () => {
    const stop = ["the", " a"];
    const want = await model.chat.completions.create({ messages: [{ role: "user", content: prompt }], seed: 1, max_tokens: 24, temperature: 0.9, stop });
    const streamed = streamText({ model: mnemo(model), prompt, seed: 1, maxOutputTokens: 24, temperature: 0.9, stopSequences: stop });
    let text = "";
    for await (const delta of streamed.textStream) text += delta;
    expect(text).toBe(want.choices[0].message.content);
  });

  it("generateObject: the object validates against its schema", async () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string", maxLength: 6 }, age: { type: "integer", minimum: 0, maximum: 99 }, kind: { type: "string", enum: ["cat", "dog"] } },
      required: ["name", "age", "kind"],
      additionalProperties: false,
    } as const;
    const { object } = await generateObject({
      model: mnemo(model),
      schema: jsonSchema<{ name: string; age: number; kind: "cat" | "dog" }>(schema),
      prompt: "An animal:",
      seed: 2,
      maxOutputTokens: 60,
    });
    const validate = new Ajv({ strict: true }).compile(schema);
    expect(validate(object), JSON.stringify(validate.errors)).toBe(true);
  });

  it("tools are refused, not ignored; topK gives a warning", async () => {
    await expect(
      generateText({
        model: mnemo(model),
        prompt,
        maxOutputTokens: 2,
        tools: { weather: { description: "w", inputSchema: jsonSchema({ type: "object", properties: {} }), execute: async () => "sunny" } },
      }),
    ).rejects.toThrow(/does not support tools/);
    const withTopK = await generateText({ model: mnemo(model), prompt, maxOutputTokens: 2, topK: 5 });
    expect(withTopK.warnings?.map((w) => (w as { feature?: string }).feature)).toContain("topK");
  });
});
