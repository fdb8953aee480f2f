import { describe, it, expect } from "vitest";
import { main } from "../../src/cli/main.js";
import { fixture, readJsonFile } from "../helpers/models.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out, err };
}

describe("mnemo CLI", () => {
  it("generate --json --greedy gives the fixture's greedy tokens", async () => {
    const fx = await readJsonFile<{ cases: { prompt: string; prompt_ids: number[]; greedy_ids: number[]; greedy_top1_margin: number[] }[] }>(fixture("reference/gpt2-gutenberg.json"));
    const c = fx.cases[0];
    const { io, out } = capture();
    const code = await main(["generate", "--prompt", c.prompt, "--max-tokens", "12", "--greedy", "--json"], io);
    expect(code).toBe(0);
    const r = JSON.parse(out.join(""));
    expect(r.prompt_ids).toEqual(c.prompt_ids);
    const tie = c.greedy_top1_margin.findIndex((m) => m < 1e-3);
    const n = tie < 0 ? 12 : Math.min(12, tie + 1);
    expect(r.ids.slice(0, n)).toEqual(c.greedy_ids.slice(0, n));
    expect(typeof r.text).toBe("string");
    expect(r.timings.kv_cache_bytes).toBeGreaterThan(0);
    expect(r.timings.tokens_per_s).toBeGreaterThan(0);
  });

  it("tokenize --json prints the ids", async () => {
    const { io, out } = capture();
    expect(await main(["tokenize", "--text", "Hello world", "--json"], io)).toBe(0);
    expect(JSON.parse(out.join(""))).toEqual({ ids: [15496, 995] });
  });

  it("bad flags and unknown commands exit with 2 and say why", async () => {
    const a = capture();
    expect(await main(["generate", "--bogus", "1"], a.io)).toBe(2);
    expect(a.err.join("")).toMatch(/Unknown flag --bogus/);
    const b = capture();
    expect(await main(["frobnicate"], b.io)).toBe(2);
    const c = capture();
    expect(await main(["generate", "--prompt"], c.io)).toBe(2);
    expect(c.err.join("")).toMatch(/needs a value/);
  });

  it("a missing model folder is a clear error with exit code 1", async () => {
    const { io, err } = capture();
    expect(await main(["tokenize", "--model", "/nonexistent/model", "--text", "x"], io)).toBe(1);
    expect(err.join("")).toMatch(/does not exist/);
  });
});
