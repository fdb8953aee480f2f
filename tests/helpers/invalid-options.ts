// generate() options outside their documented ranges, each with the option its error must name.
import type { GenerateOptions } from "../../src/runtime/types.js";

export const INVALID_OPTIONS: [string, GenerateOptions][] = [
  ["maxTokens", { maxTokens: -1 }],
  ["maxTokens", { maxTokens: 2.5 }],
  ["temperature", { temperature: -1 }],
  ["temperature", { temperature: Number.POSITIVE_INFINITY }],
  ["topP", { topP: 7 }],
  ["topP", { topP: 0 }],
  ["topK", { topK: -1 }],
  ["topK", { topK: 1.5 }],
  ["seed", { seed: 1.5 }],
  ["repetitionPenalty", { repetitionPenalty: 0 }],
  ["stop", { stop: "\n" as unknown as string[] }],
  ["overflow", { overflow: "wrap" as "error" }],
  ["greedy", { greedy: "yes" as unknown as boolean }],
  ["maxtokens", { maxtokens: 3 } as GenerateOptions],
  ["logitBias", { logitBias: { 5: 200 } }],
  ["logprobs", { logprobs: 21 }],
  ["frequencyPenalty", { frequencyPenalty: -3 }],
  ["presencePenalty", { presencePenalty: 2.5 }],
  ["constraint", { constraint: { type: "yaml" } as unknown as GenerateOptions["constraint"] }],
];
