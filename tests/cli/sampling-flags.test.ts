// Sampling flags outside their ranges are refused by name (they used to run silently).
import { describe, it, expect } from "vitest";
import { main } from "../../src/cli/main.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out, err };
}

describe("mnemo generate sampling flags", () => {
  for (const [flag, value, option] of [
    ["--temperature", "-1", "temperature"],
    ["--top-p", "7", "topP"],
    ["--top-k", "-3", "topK"],
    ["--seed", "1.5", "seed"],
    ["--max-tokens", "-1", "maxTokens"],
  ] as const) {
    it(`${flag} ${value} fails naming ${option}, generating nothing`, async () => {
      const { io, out, err } = capture();
      const code = await main(["generate", "--prompt", "Hello", flag, value, "--json"], io);
      expect(code).not.toBe(0);
      expect(err.join("")).toContain(option);
      expect(out.join("")).toBe("");
    });
  }

  it("valid flags generate", async () => {
    const { io, out } = capture();
    const code = await main(["generate", "--prompt", "Hello", "--temperature", "0.5", "--top-p", "0.9", "--seed", "4", "--max-tokens", "3", "--json"], io);
    expect(code).toBe(0);
    expect(JSON.parse(out.join("")).ids).toHaveLength(3);
  });
});
