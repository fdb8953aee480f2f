// The sampling flags of `mnemo generate` and `mnemo chat` reach the sampler: each flag set to
// a value other than the command's default gives exactly what the library gives with that
// option (same model, same seed), and something else than the default would give, so a flag
// the CLI dropped or mistyped fails here. Runs on tiny-gpt2 with a byte-level vocabulary
// (tests/helpers/gpt2-f64.ts); tests/cli/sampling-flags.test.ts checks generate's range errors.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { loadLanguageModel } from "../../src/models/load.js";
import { Session } from "../../src/runtime/session.js";
import type { GenerateOptions } from "../../src/runtime/types.js";
import { testGpu } from "../helpers/gpu.js";
import { writeTinyFolder } from "../helpers/gpt2-f64.js";

let dir: string;
let gpu: Gpu;
let model: LanguageModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mnemo-sampling-flags-"));
  await writeTinyFolder(dir, { tokenizer: true });
  gpu = await testGpu();
  model = await loadLanguageModel(gpu, await resolveModelFiles(dir));
});
afterAll(async () => {
  model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], lines: string[] = []): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    lines: async function* () {
      yield* lines;
    },
  });
  return { code, out: out.join(""), err: err.join("") };
}

// Every sampling flag away from both commands' defaults at once. Each value is one at which
// that flag alone still changes the tokens (checked below against the library), so the CLI
// passing all of them through is the only way to get the library's tokens.
const FLAGS = ["--temperature", "1.7", "--top-k", "50", "--top-p", "0.6", "--repetition-penalty", "3", "--seed", "6", "--max-tokens", "9"];
const OPTIONS: GenerateOptions = { temperature: 1.7, topK: 50, topP: 0.6, repetitionPenalty: 3, seed: 6, maxTokens: 9 };
const PROMPT = "It was a dark and stormy night";

/** Checks that reverting any one sampling option to the command's default changes the output (maxTokens: checked by length). */
async function expectEachOptionMatters<T>(run: (o: GenerateOptions) => Promise<T>, defaults: GenerateOptions, all: T): Promise<void> {
  for (const key of ["temperature", "topK", "topP", "repetitionPenalty", "seed"] as const) {
    expect(await run({ ...OPTIONS, [key]: defaults[key] }), `${key} alone changes the output`).not.toEqual(all);
  }
}

describe("mnemo generate: the sampling flags take effect", () => {
  // generate's defaults (src/cli/main.ts), with the seed the CLI would otherwise draw at random.
  const defaults: GenerateOptions = { maxTokens: 64, temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1, seed: 1 };
  const library = async (options: GenerateOptions) => {
    const s = new Session(model);
    const ids: number[] = [];
    for await (const t of s.generate(model.tokenizer.encode(PROMPT), options)) ids.push(t.id);
    s.dispose();
    return ids;
  };

  it("all flags at once give the library's tokens for those options", async () => {
    const r = await cli(["generate", "--model", dir, "--prompt", PROMPT, ...FLAGS, "--json"]);
    expect(r.code, r.err).toBe(0);
    const want = await library(OPTIONS);
    expect(want).toHaveLength(9);
    expect(JSON.parse(r.out).ids).toEqual(want);
    await expectEachOptionMatters(library, defaults, want);
  });

  it("--greedy overrides the other sampling flags", async () => {
    const r = await cli(["generate", "--model", dir, "--prompt", PROMPT, ...FLAGS, "--greedy", "--json"]);
    expect(r.code, r.err).toBe(0);
    const greedy = await library({ ...OPTIONS, greedy: true });
    expect(JSON.parse(r.out).ids).toEqual(greedy);
    expect(greedy).not.toEqual(await library(OPTIONS));
  });
});

describe("mnemo chat: the sampling flags take effect", () => {
  // chat's defaults (src/cli/chat.ts).
  const defaults: GenerateOptions = { maxTokens: 96, temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.1, seed: 1 };
  const LINE = "Hi, who are you?";
  /** The reply as the CLI prints it (trimmed) and how many tokens it took. */
  const library = async (options: GenerateOptions) => {
    const s = new Session(model, { cacheType: "f32", overflowPolicy: { keepFirst: 0 } });
    let tokens = 0;
    let text = "";
    for await (const t of s.chat([{ role: "user", content: LINE }], options)) {
      tokens++;
      text += t.text;
    }
    s.dispose();
    return { tokens, text: text.trim() };
  };

  it("all flags at once give the library's reply for those options", async () => {
    const r = await cli(["chat", "--model", dir, ...FLAGS], [LINE]);
    expect(r.code, r.err).toBe(0);
    const want = await library(OPTIONS);
    expect(want.tokens).toBe(9);
    expect(r.out).toBe(`assistant: ${want.text}\n`);
    expect(r.err).toContain(`, ${want.tokens} generated`);
    await expectEachOptionMatters(library, defaults, want);
  });

  it("--greedy overrides the other sampling flags; a flag out of range fails naming its option", async () => {
    const r = await cli(["chat", "--model", dir, ...FLAGS, "--greedy"], [LINE]);
    expect(r.code, r.err).toBe(0);
    const greedy = await library({ ...OPTIONS, greedy: true });
    expect(r.out).toBe(`assistant: ${greedy.text}\n`);
    expect(greedy).not.toEqual(await library(OPTIONS));
    const bad = await cli(["chat", "--model", dir, "--top-p", "7"], [LINE]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/BAD_INPUT: topP must be in \(0, 1\]/);
    expect(bad.out).not.toMatch(/assistant: \S/);
  });
});
