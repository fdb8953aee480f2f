// mnemo generate's output flags: --json-schema, --regex, --grammar hold the output;
// --logprobs N reports each token's log-probability with N alternatives; --logit-bias and
// the penalties take effect; conflicting or malformed flags are refused by name.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out, err };
}

async function generate(...flags: string[]): Promise<{ code: number; json: { ids: number[]; text: string; logprobs?: { id: number; logprob: number; top?: unknown[] }[] }; err: string }> {
  const { io, out, err } = capture();
  const code = await main(["generate", "--json", ...flags], io);
  return { code, json: code === 0 ? JSON.parse(out.join("")) : null, err: err.join("") };
}

describe("mnemo generate output flags", () => {
  it("--json-schema: the text parses and has the schema's fields; --logprobs 3: one entry per token", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mnemo-output-flags-"));
    const schema = join(dir, "schema.json");
    await writeFile(schema, JSON.stringify({ type: "object", properties: { n: { type: "integer" }, ok: { type: "boolean" } }, required: ["n", "ok"], additionalProperties: false }));
    const { code, json, err } = await generate("--prompt", "Record:", "--json-schema", schema, "--logprobs", "3", "--seed", "2", "--max-tokens", "40");
    expect(code, err).toBe(0);
    const value = JSON.parse(json.text);
    expect(Object.keys(value).sort()).toEqual(["n", "ok"]);
    expect(Number.isInteger(value.n) && typeof value.ok === "boolean").toBe(true);
    expect(json.logprobs!.map((l) => l.id)).toEqual(json.ids);
    for (const l of json.logprobs!) {
      expect(l.logprob).toBeLessThanOrEqual(0);
      expect(l.top!.length).toBeLessThanOrEqual(3);
    }
  });

  it("--regex and --logit-bias", async () => {
    const date = await generate("--prompt", "Dated", "--regex", " [0-9]{2}/[0-9]{2}", "--seed", "1", "--max-tokens", "12");
    expect(date.code, date.err).toBe(0);
    expect(date.json.text).toMatch(/^ [0-9]{2}\/[0-9]{2}$/);
    const forced = await generate("--prompt", "Hello", "--logit-bias", "262:100", "--max-tokens", "3");
    expect(forced.json.ids).toEqual([262, 262, 262]);
  });

  it("refuses two constraints, a malformed bias and a missing schema file by name", async () => {
    expect((await generate("--prompt", "x", "--regex", "a", "--grammar", "g.ebnf")).err).toMatch(/Give one of --regex, --grammar/);
    expect((await generate("--prompt", "x", "--logit-bias", "12=3")).err).toMatch(/--logit-bias takes id:bias pairs/);
    expect((await generate("--prompt", "x", "--json-schema", "/nonexistent/s.json")).err).toMatch(/--json-schema: cannot read/);
    expect((await generate("--prompt", "x", "--frequency-penalty", "5")).err).toMatch(/frequencyPenalty must be in \[-2, 2\]/);
  });
});
