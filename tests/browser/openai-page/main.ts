// In Chromium: the AI SDK's streamText and generateObject on a Mnemo model, the OpenAI-style
// chat API through a worker engine, and constrained decoding with the grammar engine bundled
// by Vite. The Playwright test (tests/browser/openai.test.ts) reads window.__mnemoResult.
import { generateObject, jsonSchema, streamText } from "ai";
import { mnemo } from "../../../src/ai-sdk/index.js";
import { createWorkerEngine, isMnemoError, loadModel, type ChatCompletionChunk } from "../../../src/index.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const MODEL = new URL("model/gpt2-gutenberg-q8_0.gguf", location.href).href;
const messages = [{ role: "user", content: "Where did the ship sail?" }];

async function run(): Promise<Check[]> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    console.log(`check done: ${name}`);
  };
  // The kernels are pinned: a tuned load may pick int8 activations, whose seeded reply differs
  // (and may end after a token or two); the checks compare APIs, not kernels.
  const kernels = { decodeMatmul: "f32" } as const;
  const model = await loadModel(MODEL, { kernels });
  try {
    const want = await model.chat.completions.create({ messages, seed: 5, max_tokens: 8, temperature: 0.9 });
    const wantText = want.choices[0].message.content ?? "";
    const streamed = streamText({ model: mnemo(model), prompt: messages[0].content, seed: 5, maxOutputTokens: 8, temperature: 0.9 });
    let text = "";
    for await (const delta of streamed.textStream) text += delta;
    check("ai-sdk: streamText gives the chat API's reply", text === wantText && text.length > 10, JSON.stringify({ text, wantText }));

    const schema = { type: "object", properties: { name: { type: "string", maxLength: 10 }, age: { type: "integer" } }, required: ["name", "age"], additionalProperties: false } as const;
    const { object } = await generateObject({ model: mnemo(model), schema: jsonSchema<{ name: string; age: number }>(schema), prompt: "A person:", seed: 1, maxOutputTokens: 48 });
    const keys = Object.keys(object).sort().join(",");
    check("ai-sdk: generateObject returns an object of the schema", keys === "age,name" && typeof object.name === "string" && Number.isInteger(object.age), JSON.stringify(object));

    const engine = await createWorkerEngine(new Worker(new URL("./worker.ts", import.meta.url), { type: "module" }), MODEL, { kernels });
    let workerText = "";
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of await engine.chat.completions.create({ messages, seed: 5, max_tokens: 8, temperature: 0.9, stream: true })) {
      chunks.push(chunk);
      workerText += chunk.choices[0]?.delta.content ?? "";
    }
    check(
      "worker engine: a streamed chat completion from a worker equals the page's",
      workerText === wantText && chunks.every((c) => c.object === "chat.completion.chunk"),
      JSON.stringify({ workerText, chunks: chunks.length }),
    );
    const whole = await engine.chat.completions.create({ messages, seed: 5, max_tokens: 8, temperature: 0.9 });
    check(
      "worker engine: a whole chat completion from a worker equals the page's",
      whole.choices[0].message.content === wantText && whole.usage?.total_tokens === want.usage?.total_tokens,
      JSON.stringify(whole.usage),
    );
    const controller = new AbortController();
    let seen = 0;
    let aborted = "";
    try {
      // Seeded: a reply that runs past the abort (an unseeded one may end at its first token).
      for await (const _ of await engine.chat.completions.create({ messages, max_tokens: 64, seed: 3, stream: true }, { signal: controller.signal })) if (++seen === 2) controller.abort();
    } catch (e) {
      aborted = isMnemoError(e, "ABORTED") ? "ABORTED" : String(e);
    }
    check("worker engine: aborting the signal stops the worker's generation with ABORTED", aborted === "ABORTED", aborted);
    let refused = "";
    try {
      await engine.chat.completions.create({ messages, tools: [{ type: "function" }] });
    } catch (e) {
      refused = isMnemoError(e, "BAD_INPUT") ? (e as Error).message : String(e);
    }
    check("worker engine: a bad request fails with BAD_INPUT from the worker", /"tools" is not supported/.test(refused), refused);
    await engine.dispose();
  } finally {
    model.dispose();
  }
  return checks;
}

run().then(
  (checks) => {
    (window as unknown as { __mnemoResult: unknown }).__mnemoResult = { checks };
    document.getElementById("out")!.textContent = JSON.stringify(checks, null, 2);
  },
  (e: unknown) => {
    (window as unknown as { __mnemoResult: unknown }).__mnemoResult = { error: String((e as Error)?.stack ?? e), checks: [] };
  },
);
