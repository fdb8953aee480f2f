// A script written against the `openai` package's types, as a web developer would write it
// for OpenAI's API. Only the line that creates the client differs: with OpenAI it is
// `const client = new OpenAI();`. tsc --strict (npm run typecheck) checks that Mnemo accepts
// these params and that what it returns is assignable to OpenAI's types; the test runs it.
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { loadModel } from "../../src/node.js";

export interface ScriptResult {
  completion: ChatCompletion;
  chunks: ChatCompletionChunk[];
  streamed: string;
}

export async function openaiScript(modelPath: string): Promise<ScriptResult> {
  const client = await loadModel(modelPath); // OpenAI: const client = new OpenAI();
  try {
    const request: ChatCompletionCreateParamsNonStreaming = {
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "You are a storyteller." },
        { role: "user", content: [{ type: "text", text: "Tell me about the sea." }] },
      ],
      max_tokens: 10,
      temperature: 0.8,
      seed: 42,
      logprobs: true,
      top_logprobs: 2,
      logit_bias: { "50256": -100 },
    };
    const completion: ChatCompletion = await client.chat.completions.create(request);
    const streaming: ChatCompletionCreateParamsStreaming = { ...request, stream: true, stream_options: { include_usage: true } };
    const chunks: ChatCompletionChunk[] = [];
    let streamed = "";
    for await (const chunk of await client.chat.completions.create(streaming)) {
      chunks.push(chunk);
      streamed += chunk.choices[0]?.delta?.content ?? "";
    }
    return { completion, chunks, streamed };
  } finally {
    client.dispose();
  }
}
