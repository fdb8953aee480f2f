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
    });
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
