// generate()'s logit options on tiny-gpt2 (vocabulary 1000), each step checked against the
// CPU references applied to the session's own logits, read step by step from a second
// session fed the same tokens: log-probabilities and alternatives (the first step samples
// the kept logits, later ones the forward's), logit bias forcing and banning, frequency and
// presence penalties over the generated tokens, and the refusals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import type { GenerateOptions, GeneratedToken } from "../../src/runtime/types.js";
import { adjustLogitsRef, logprobsRef } from "../../src/kernels/reference/logits.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { caughtAsync } from "../helpers/errors.js";
import { argmaxOf, fixture, loadModelAt, readJsonFile } from "../helpers/models.js";

let model: LanguageModel;
let prompt: number[];

beforeAll(async () => {
  model = await loadModelAt(await testGpu(), "tests/fixtures/models/tiny-gpt2");
  prompt = (await readJsonFile<{ input_ids: number[] }>(fixture("reference/tiny-gpt2.json"))).input_ids.slice(0, 10);
});
afterAll(() => model?.dispose());

async function generate(opts: GenerateOptions): Promise<GeneratedToken[]> {
  const s = new Session(model);
  const out: GeneratedToken[] = [];
  try {
    for await (const t of s.generate(prompt, { stopOnEos: false, ...opts })) out.push(t);
  } finally {
    s.dispose();
  }
  return out;
}

/** The logits before each of `ids`, from a session fed the prompt and then the ids one by one. */
async function logitsBefore(ids: readonly number[]): Promise<Float32Array[]> {
  const s = new Session(model);
  const rows: Float32Array[] = [];
  await s.append(prompt);
  for (const id of ids) {
    rows.push(await s.nextTokenLogits());
    await s.append([id]);
  }
  s.dispose();
  return rows;
}

// log-probabilities: an f32 logsumexp on the GPU vs f64 here, over 1000 logits of magnitude
// ~5: measured 4.8e-7; ~20x. The tiny model's own logits match PyTorch within 2e-5.
const LOGPROB_ATOL = 1e-5;

describe("generate() logit options", () => {
  it("logprobs: each token's log-probability and the 5 most likely alternatives equal log_softmax of its step's logits", async () => {
    const tokens = await generate({ greedy: true, maxTokens: 6, logprobs: 5 });
    const rows = await logitsBefore(tokens.map((t) => t.id));
    tokens.forEach((t, step) => {
      const want = logprobsRef(rows[step], t.id, 5);
      expect(Math.abs(t.logprob! - want.logprob), `step ${step}`).toBeLessThan(LOGPROB_ATOL);
      expect(t.topLogprobs!.map((a) => a.id)).toEqual(want.top.map((a) => a.id));
      t.topLogprobs!.forEach((a, k) => expect(Math.abs(a.logprob - want.top[k].logprob)).toBeLessThan(LOGPROB_ATOL));
      expect(t.topLogprobs![0].id).toBe(t.id); // greedy: the token is the most likely one
      expect(t.topLogprobs![0].text).toBe(model.tokenizer.decode([t.id]));
    });
    // true: the log-probability alone; off: none.
    const plain = await generate({ greedy: true, maxTokens: 2, logprobs: true });
    expect(plain[0].logprob).toBeCloseTo(tokens[0].logprob!, 6);
    expect(plain[0].topLogprobs).toBeUndefined();
    expect((await generate({ greedy: true, maxTokens: 1 }))[0].logprob).toBeUndefined();
  });

  it("logprobs of sampled tokens are those of the token drawn", async () => {
    const tokens = await generate({ temperature: 1.3, seed: 11, maxTokens: 5, logprobs: 2 });
    const rows = await logitsBefore(tokens.map((t) => t.id));
    tokens.forEach((t, step) => expect(Math.abs(t.logprob! - logprobsRef(rows[step], t.id, 0).logprob)).toBeLessThan(LOGPROB_ATOL));
    // The bias and penalties leave the draw's random numbers alone: no bias, same tokens.
    const again = await generate({ temperature: 1.3, seed: 11, maxTokens: 5, frequencyPenalty: 0, logprobs: 2 });
    expect(again.map((t) => t.id)).toEqual(tokens.map((t) => t.id));
  });

  it("logitBias: -100 on the greedy token changes it, +100 on another forces it, at every step", async () => {
    const greedy = await generate({ greedy: true, maxTokens: 4 });
    const banned = await generate({ greedy: true, maxTokens: 4, logitBias: { [greedy[0].id]: -100 } });
    expect(banned[0].id).not.toBe(greedy[0].id);
    expect(banned.map((t) => t.id)).not.toContain(greedy[0].id);
    const forced = await generate({ greedy: true, maxTokens: 4, logitBias: { 123: 100 }, logprobs: 1 });
    expect(forced.map((t) => t.id)).toEqual([123, 123, 123, 123]);
    // Log-probabilities are those of the biased logits: the forced token is all but certain.
    expect(forced[0].logprob!).toBeGreaterThan(-1e-3);
  });

  it("frequency and presence penalties: greedy tokens equal the argmax of the reference-adjusted logits", async () => {
    // The frequency penalty grows with each repeat (a negative presence penalty offsets the first), so counts above 1 matter.
    const opts = { frequencyPenalty: 0.9, presencePenalty: -0.5, logitBias: { 5: 0.5, 999: -2 } };
    const tokens = await generate({ greedy: true, maxTokens: 16, ...opts });
    const ids = tokens.map((t) => t.id);
    const rows = await logitsBefore(ids);
    const bias = new Float32Array(model.info.vocabSize);
    bias[5] = 0.5;
    bias[999] = -2;
    ids.forEach((id, step) => {
      const adjusted = adjustLogitsRef(rows[step], bias, ids.slice(0, step), opts.frequencyPenalty, opts.presencePenalty);
      expect(id, `step ${step}`).toBe(argmaxOf(adjusted));
    });
    // Unpenalised greedy decoding of this prompt repeats itself; penalised decoding differs.
    const plain = (await generate({ greedy: true, maxTokens: 16 })).map((t) => t.id);
    expect(ids).not.toEqual(plain);
  });

  it("refuses bad values by name, and speculation with them, leaving the model usable", async () => {
    const s = new Session(model);
    const refused = async (opts: GenerateOptions, name: RegExp) => {
      const err = await caughtAsync(async () => {
        for await (const _ of s.generate(prompt, opts)) break;
      });
      expect(isMnemoError(err, "BAD_INPUT"), String(err)).toBe(true);
      expect(String(err)).toMatch(name);
    };
    await refused({ logitBias: { 1000: 1 } }, /logitBias: token 1000 is outside the vocabulary/);
    await refused({ logitBias: { 3: 101 } }, /logitBias: the bias of token 3/);
    await refused({ logitBias: { "-1": 1 } as unknown as Record<number, number> }, /logitBias: "-1" is not a token id/);
    await refused({ logitBias: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [i, 1])) }, /301 entries; the limit is 300/);
    await refused({ logprobs: 21 }, /logprobs must be/);
    await refused({ frequencyPenalty: 2.5 }, /frequencyPenalty must be in \[-2, 2\]/);
    await refused({ presencePenalty: Number.NaN }, /presencePenalty/);
    await refused({ logprobs: 2, speculate: "context" }, /speculate: log-probabilities/);
    await refused({ logitBias: { 3: 1 }, speculate: "context" }, /speculate: a logit bias/);
    expect(s.tokens.length).toBe(0);
    const after: number[] = [];
    for await (const t of s.generate(prompt, { greedy: true, maxTokens: 2, logprobs: 1 })) after.push(t.id);
    expect(after.length).toBe(2);
    s.dispose();
  });
});
