// The fuzz harness in small: every parser that takes outside bytes, a few hundred mutated
// inputs each (`npm run fuzz -- --count 100000` runs the big version), plus every input that
// once failed, kept in tests/fixtures/fuzz-regressions/<target>/.
import { describe, it, expect } from "vitest";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FUZZ_TARGETS, type FuzzTarget } from "../../src/fuzz/targets.js";
import { fuzzInput, runFuzzInput } from "../../src/fuzz/harness.js";
import { MnemoError } from "../../src/errors.js";
import { fixture } from "../helpers/models.js";

describe("parsers under mutation", () => {
  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: the seed parses; 300 mutated inputs and the kept regressions end in a result or a MnemoError`, async () => {
      const clean = await runFuzzInput(target, target.seed());
      expect(clean.ok && clean.error === undefined, "the seed itself parses").toBe(true);
      const seed = target.seed();
      for (let i = 0; i < 300; i++) {
        const outcome = await runFuzzInput(target, fuzzInput(target, seed, 1, i));
        expect(outcome.ok ? "ok" : `input ${i}: ${outcome.reason}`).toBe("ok");
      }
      const dir = fixture(join("fuzz-regressions", target.name));
      for (const file of existsSync(dir) ? readdirSync(dir) : []) {
        const outcome = await runFuzzInput(target, readFileSync(join(dir, file)));
        expect(outcome.ok ? "ok" : `${file}: ${outcome.reason}`).toBe("ok");
      }
    });
  }

  it("the harness reports errors that are not MnemoErrors", async () => {
    const broken: FuzzTarget = { name: "broken", seed: () => new Uint8Array(1), parse: async (b) => new Array(2 ** 40 + b.length) };
    const outcome = await runFuzzInput(broken, new Uint8Array(1));
    expect(outcome.ok).toBe(false);
    const clean: FuzzTarget = {
      ...broken,
      parse: async () => {
        throw new MnemoError("BAD_MODEL_FILE", "no");
      },
    };
    expect(await runFuzzInput(clean, new Uint8Array(1))).toEqual(expect.objectContaining({ ok: true, error: "BAD_MODEL_FILE" }));
  });
});
