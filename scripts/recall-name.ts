// npm run recall-name -- [--model DIR] [--trials N] [--lambda L] [--k K] [--temperature T]
// Does a session's growing memory recall a fact after it has left the context window?
// Each trial introduces a made-up name (twice, in one short paragraph), reads about 1200
// tokens of Gutenberg text (so the paragraph scrolls out of GPT-2's 1024-token window),
// then repeats the paragraph's opening and lets the model continue greedily. Same trial
// with and without growing memory; a trial counts as recalled when the continuation
// begins with the name. Prints one JSON line per trial and a summary line.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadModel, type Model } from "../src/node.js";
import { memoryMixOptions } from "../src/memory/gpu-store.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    trials: { type: "string" },
    lambda: { type: "string" },
    k: { type: "string" },
    temperature: { type: "string" },
  },
});

const NAMES = ["Quenby Marlowe", "Odalys Fenwick", "Tamsin Vrell", "Corvin Ashgrove", "Idony Blaxell", "Perrin Gadsby", "Ysolde Carrow", "Barnaby Quillon", "Melisande Thorrow", "Eudo Pellinger"];
const ROLES = ["the keeper of the lighthouse", "the new schoolmistress", "the ferryman of the lower river", "the clerk at the county bank", "the old miller's daughter"];
const FILLER_CHARS = 5200; // about 1200 tokens of this text, more than the 1024-token window

const trials = Math.min(Number(values.trials ?? NAMES.length), NAMES.length);
const growing = {
  ...(values.lambda !== undefined ? { lambda: Number(values.lambda) } : {}),
  ...(values.k !== undefined ? { k: Number(values.k) } : {}),
  ...(values.temperature !== undefined ? { temperature: Number(values.temperature) } : {}),
};
const book = readFileSync("tests/fixtures/data/gutenberg_val.txt", "utf8");
const model = await loadModel(values.model ?? "weights/gpt2-gutenberg");

/** Greedy continuation of `cue` after reading `intro` then `filler`, and what was dropped. */
async function continueAfter(m: Model, memory: boolean, intro: string, filler: string, cue: string) {
  const session = m.session({ growingMemory: memory ? growing : false });
  try {
    await session.append(intro);
    await session.append(filler);
    const dropped = session.usage().droppedTokens;
    let text = "";
    for await (const t of session.generate(cue, { maxTokens: 6, greedy: true, stopOnEos: false })) text += t.text;
    return { text, dropped };
  } finally {
    session.dispose();
  }
}

let recalledWith = 0;
let recalledWithout = 0;
for (let t = 0; t < trials; t++) {
  const name = NAMES[t];
  const role = ROLES[t % ROLES.length];
  const opening = `In those days ${role} was a person named`;
  const intro = `${opening} ${name}. Everyone in the valley knew ${name.split(" ")[0]} well.\n\n`;
  // Each trial reads a different stretch of the book, starting at a paragraph.
  const from = book.indexOf("\n\n", 20000 + t * 23000) + 2;
  const filler = book.slice(from, from + FILLER_CHARS);
  if (filler.includes(name.split(" ")[0])) throw new Error(`The filler of trial ${t} mentions ${name}.`);
  const introTokens = model.languageModel.tokenizer.encode(intro).length;
  const without = await continueAfter(model, false, intro, filler, `\n\n${opening}`);
  const withMemory = await continueAfter(model, true, intro, filler, `\n\n${opening}`);
  if (without.dropped < introTokens) throw new Error(`Trial ${t}: the introduction did not leave the window (${without.dropped} tokens dropped).`);
  const recalled = (text: string) => text.trimStart().startsWith(name.split(" ")[0]);
  recalledWith += recalled(withMemory.text) ? 1 : 0;
  recalledWithout += recalled(without.text) ? 1 : 0;
  console.log(JSON.stringify({ trial: t, name, droppedTokens: without.dropped, introTokens, without: without.text, withMemory: withMemory.text }));
}
console.log(JSON.stringify({ trials, options: memoryMixOptions(growing), recalledWithMemory: recalledWith, recalledWithout }));
model.dispose();
process.exit(0);
