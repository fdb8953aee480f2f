// Every generate() option is checked (with a message naming it) before a session changes.
import { describe, it, expect } from "vitest";
import { resolveGenerateOptions } from "../../src/runtime/generate-options.js";
import { isMnemoError } from "../../src/errors.js";
import { caught } from "../helpers/errors.js";
import { INVALID_OPTIONS } from "../helpers/invalid-options.js";

describe("resolveGenerateOptions", () => {
  it("fills the documented defaults", () => {
    expect(resolveGenerateOptions({})).toEqual({
      maxTokens: 64,
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      seed: undefined,
      stop: [],
      stopOnEos: true,
      signal: undefined,
      neighbours: false,
      overflow: "truncate",
      speculate: null,
      logitBias: [],
      frequencyPenalty: 0,
      presencePenalty: 0,
      logprobs: null,
      constraint: null,
    });
    // The logit options: the bias as sorted pairs, logprobs true as no alternatives.
    const o = resolveGenerateOptions({ logitBias: { 9: 1, 2: -3 }, logprobs: true, frequencyPenalty: 0.5, constraint: { type: "regex", pattern: "a+" } });
    expect(o.logitBias).toEqual([
      [2, -3],
      [9, 1],
    ]);
    expect([o.logprobs, o.frequencyPenalty, o.constraint?.type]).toEqual([0, 0.5, "regex"]);
    expect(resolveGenerateOptions({ greedy: true, temperature: 0.7 }).temperature).toBe(0);
    expect(resolveGenerateOptions({ topP: 1, topK: 0, seed: 0, maxTokens: 0 }).maxTokens).toBe(0);
  });

  for (const [name, options] of INVALID_OPTIONS) {
    it(`refuses ${JSON.stringify(options)} naming ${name}`, () => {
      const e = caught(() => resolveGenerateOptions(options));
      expect(isMnemoError(e) && e.code).toBe("BAD_INPUT");
      expect((e as Error).message).toContain(name);
    });
  }
});
