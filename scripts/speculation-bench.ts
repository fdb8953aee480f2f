// npm run bench:speculate -- [--model FILE|DIR] [--tokens 256] [--passages 5] [--passage-tokens 400] [--max-draft 8]
//                             [--memory STORE [--memory-start-char 156440] [--memory-end-char 312306]] [--only copy,continue,memory]
// Speculative decoding against plain greedy decoding, same process, same prompts, greedy (so
// both give the same tokens, which is checked):
//   copy:     a val passage of ~400 tokens, then its first sentence again (the model can copy
//             the rest of the passage from its context);
//   continue: ordinary continuation of val passages (little to copy; speculation must not
//             cost much);
//   memory:   with --memory (a store built from part A of the external-memory protocol,
//             docs/guides/external-memory.md) attached, continuation of passages of part B
//             (val characters 156440-312306): plain, drafts from the context, and drafts from
//             the memory too.
// Prints one JSON line per run, then a summary line: tokens/s with and without speculation,
// their ratio, the acceptance rate (accepted / drafted) and tokens per forward. On
// SwiftShader compare only the ratios.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadModel, type Memory, type Model } from "../src/node.js";
import type { GenerateOptions } from "../src/runtime/types.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string" },
    passages: { type: "string" },
    "passage-tokens": { type: "string" },
    "max-draft": { type: "string" },
    memory: { type: "string" },
    "memory-start-char": { type: "string" },
    "memory-end-char": { type: "string" },
    only: { type: "string" },
  },
});
const tasks = new Set((values.only ?? "copy,continue,memory").split(","));
const newTokens = Number(values.tokens ?? 256);
const passages = Number(values.passages ?? 5);
const passageTokens = Number(values["passage-tokens"] ?? 400);
const maxDraft = Number(values["max-draft"] ?? 8);

/** A top-1 margin below this is a near-tie: greedy decoding may go either way there. */
const NEAR_TIE = 1e-3;

/** The plain model's top-1 minus top-2 logit after `ids`. */
async function topTwoMargin(model: Model, ids: readonly number[], memory?: Memory): Promise<number> {
  const session = model.session(memory ? { memory } : {});
  try {
    await session.append(ids);
    const logits = await session.nextTokenLogits();
    let first = -Infinity;
    let second = -Infinity;
    for (const v of logits) {
      if (v > first) [first, second] = [v, first];
      else if (v > second) second = v;
    }
    return first - second;
  } finally {
    session.dispose();
  }
}

/** GPT-2's "." token: a sentence ends after it. */
const PERIOD = 13;

interface Run {
  ids: number[];
  tokensPerSecond: number;
  drafted: number;
  accepted: number;
  forwards: number;
  /** Drafts proposed and accepted that came from the memory store. */
  memoryDrafted: number;
  memoryAccepted: number;
}

async function generate(model: Model, prompt: readonly number[], draft: "off" | "context" | "memory", memory?: Memory): Promise<Run> {
  const session = model.session(memory ? { memory } : {});
  try {
    const o: GenerateOptions = { greedy: true, maxTokens: newTokens, stopOnEos: false, ...(draft !== "off" ? { speculate: { draft, maxDraft } } : {}) };
    const ids: number[] = [];
    for await (const t of session.generate(prompt, o)) ids.push(t.id);
    const timings = session.lastTimings!;
    const s = timings.speculation ?? { drafted: 0, accepted: 0, forwards: ids.length - 1 };
    return {
      ids,
      tokensPerSecond: timings.tokensPerSecond,
      drafted: s.drafted,
      accepted: s.accepted,
      forwards: s.forwards,
      memoryDrafted: s.memory?.drafted ?? 0,
      memoryAccepted: s.memory?.accepted ?? 0,
    };
  } finally {
    session.dispose();
  }
}

/** Runs both ways and prints the line; returns [plain, speculative]. */
async function compare(model: Model, task: string, index: number, prompt: readonly number[], draft: "context" | "memory" = "context", memory?: Memory, plainRun?: Run): Promise<[Run, Run]> {
  const plain = plainRun ?? (await generate(model, prompt, "off", memory));
  const spec = await generate(model, prompt, draft, memory);
  const same = plain.ids.every((id, i) => id === spec.ids[i]) && plain.ids.length === spec.ids.length;
  console.log(
    JSON.stringify({
      task,
      draft,
      passage: index,
      prompt_tokens: prompt.length,
      new_tokens: plain.ids.length,
      same_tokens: same,
      plain_tokens_per_s: plain.tokensPerSecond,
      speculative_tokens_per_s: spec.tokensPerSecond,
      ratio: spec.tokensPerSecond / plain.tokensPerSecond,
      drafted: spec.drafted,
      accepted: spec.accepted,
      acceptance: spec.drafted ? spec.accepted / spec.drafted : 0,
      memory_drafted: spec.memoryDrafted,
      memory_accepted: spec.memoryAccepted,
      tokens_per_forward: (spec.ids.length - 1) / Math.max(1, spec.forwards),
    }),
  );
  if (!same) {
    // Greedy tokens may part only at a near-tie (the rows of an M-row forward are summed in
    // another order): say where, and by how much the plain logits' top two differ there.
    const at = plain.ids.findIndex((id, i) => id !== spec.ids[i]);
    const margin = await topTwoMargin(model, [...prompt, ...plain.ids.slice(0, at)], memory);
    console.log(JSON.stringify({ task, passage: index, first_difference: at, plain_id: plain.ids[at], speculative_id: spec.ids[at], plain_top2_margin: margin }));
    if (margin > NEAR_TIE) throw new Error(`${task} ${index}: speculative greedy tokens differ from plain greedy decoding at ${at}, not at a near-tie (margin ${margin})`);
  }
  return [plain, spec];
}

function summary(task: string, runs: [Run, Run][]): void {
  const sum = (f: (r: [Run, Run]) => number) => runs.reduce((a, r) => a + f(r), 0);
  const plain = sum(([p]) => p.tokensPerSecond) / runs.length;
  const spec = sum(([, s]) => s.tokensPerSecond) / runs.length;
  const drafted = sum(([, s]) => s.drafted);
  const accepted = sum(([, s]) => s.accepted);
  const tokens = sum(([, s]) => s.ids.length - 1);
  const forwards = sum(([, s]) => s.forwards);
  console.log(
    JSON.stringify({
      summary: task,
      runs: runs.length,
      plain_tokens_per_s: plain,
      speculative_tokens_per_s: spec,
      ratio: spec / plain,
      acceptance: drafted ? accepted / drafted : 0,
      tokens_per_forward: tokens / Math.max(1, forwards),
    }),
  );
}

const model = await loadModel(values.model ?? "weights/gpt2-gutenberg-q8_0.gguf");
console.log(JSON.stringify({ kernels: model.languageModel.info.kernels ?? null }));
const val = (JSON.parse(readFileSync("tests/fixtures/reference/gutenberg_val_ids.json", "utf8")) as { ids: number[] }).ids;
// Passages spread over the val text, each starting after a period.
const starts = Array.from({ length: passages }, (_, i) => val.indexOf(PERIOD, Math.floor(((i + 0.5) * val.length) / (passages + 1))) + 1);
const passage = (i: number) => val.slice(starts[i], starts[i] + passageTokens);

if (tasks.has("copy")) {
  const copy: [Run, Run][] = [];
  const passageOne = passage(0);
  // Its first sentence (or its first 30 tokens, when no period comes within 60).
  const period = passageOne.indexOf(PERIOD);
  const firstSentence = passageOne.slice(0, period >= 0 && period < 60 ? period + 1 : 30);
  copy.push(await compare(model, "copy", 0, [...passageOne, ...firstSentence]));
  summary("copy", copy);
}
if (tasks.has("continue")) {
  const cont: [Run, Run][] = [];
  for (let i = 0; i < passages; i++) cont.push(await compare(model, "continue", i, passage(i)));
  summary("continue", cont);
}
if (tasks.has("memory") && values.memory) {
  const memory = await model.memory(readFileSync(values.memory));
  const text = readFileSync("tests/fixtures/data/gutenberg_val.txt", "utf8").slice(Number(values["memory-start-char"] ?? 156440), Number(values["memory-end-char"] ?? 312306));
  const partB = model.languageModel.tokenizer.encode(text);
  const fromB = (i: number) => {
    const at = partB.indexOf(PERIOD, Math.floor(((i + 0.5) * partB.length) / (passages + 1))) + 1;
    return partB.slice(at, at + passageTokens);
  };
  const withContext: [Run, Run][] = [];
  const withMemory: [Run, Run][] = [];
  for (let i = 0; i < passages; i++) {
    const [plain, spec] = await compare(model, "memory", i, fromB(i), "context", memory);
    withContext.push([plain, spec]);
    withMemory.push(await compare(model, "memory", i, fromB(i), "memory", memory, plain));
  }
  summary("memory store attached, drafts from the context", withContext);
  summary("memory store attached, drafts from the memory and the context", withMemory);
  memory.dispose();
}
model.dispose();
