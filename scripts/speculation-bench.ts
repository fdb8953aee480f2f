// npm run bench:speculate -- [--model FILE|DIR] [--tokens 256] [--passages 5] [--passage-tokens 400] [--max-draft 8]
// Speculative decoding from the context against plain greedy decoding, same process, same
// prompts, greedy (so both give the same tokens, which is checked):
//   copy:     a val passage of ~400 tokens, then its first sentence again (the model can copy
//             the rest of the passage from its context);
//   continue: ordinary continuation of val passages (little to copy; speculation must not
//             cost much).
// Prints one JSON line per run, then a summary line: tokens/s with and without speculation,
// their ratio, the acceptance rate (accepted / drafted) and tokens per forward. On
// SwiftShader compare only the ratios.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadModel, type Model } from "../src/node.js";
import type { GenerateOptions } from "../src/runtime/types.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string" },
    passages: { type: "string" },
    "passage-tokens": { type: "string" },
    "max-draft": { type: "string" },
  },
});
const newTokens = Number(values.tokens ?? 256);
const passages = Number(values.passages ?? 5);
const passageTokens = Number(values["passage-tokens"] ?? 400);
const maxDraft = Number(values["max-draft"] ?? 8);

/** GPT-2's "." token: a sentence ends after it. */
const PERIOD = 13;

interface Run {
  ids: number[];
  tokensPerSecond: number;
  drafted: number;
  accepted: number;
  forwards: number;
}

async function generate(model: Model, prompt: readonly number[], speculate: boolean): Promise<Run> {
  const session = model.session();
  try {
    const o: GenerateOptions = { greedy: true, maxTokens: newTokens, stopOnEos: false, ...(speculate ? { speculate: { draft: "context", maxDraft } } : {}) };
    const ids: number[] = [];
    for await (const t of session.generate(prompt, o)) ids.push(t.id);
    const timings = session.lastTimings!;
    const s = timings.speculation ?? { drafted: 0, accepted: 0, forwards: ids.length - 1 };
    return { ids, tokensPerSecond: timings.tokensPerSecond, ...s };
  } finally {
    session.dispose();
  }
}

/** Runs both ways and prints the line; returns [plain, speculative]. */
async function compare(model: Model, task: string, index: number, prompt: readonly number[]): Promise<[Run, Run]> {
  const plain = await generate(model, prompt, false);
  const spec = await generate(model, prompt, true);
  const same = plain.ids.every((id, i) => id === spec.ids[i]) && plain.ids.length === spec.ids.length;
  console.log(
    JSON.stringify({
      task,
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
      tokens_per_forward: (spec.ids.length - 1) / Math.max(1, spec.forwards),
    }),
  );
  if (!same) throw new Error(`${task} ${index}: speculative greedy tokens differ from plain greedy decoding`);
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
const val = (JSON.parse(readFileSync("tests/fixtures/reference/gutenberg_val_ids.json", "utf8")) as { ids: number[] }).ids;
// Passages spread over the val text, each starting after a period.
const starts = Array.from({ length: passages }, (_, i) => val.indexOf(PERIOD, Math.floor(((i + 0.5) * val.length) / (passages + 1))) + 1);
const passage = (i: number) => val.slice(starts[i], starts[i] + passageTokens);

const copy: [Run, Run][] = [];
const passageOne = passage(0);
// Its first sentence (or its first 30 tokens, when no period comes within 60).
const period = passageOne.indexOf(PERIOD);
const firstSentence = passageOne.slice(0, period >= 0 && period < 60 ? period + 1 : 30);
copy.push(await compare(model, "copy", 0, [...passageOne, ...firstSentence]));
summary("copy", copy);
const cont: [Run, Run][] = [];
for (let i = 0; i < passages; i++) cont.push(await compare(model, "continue", i, passage(i)));
summary("continue", cont);
model.dispose();
