// `mnemo memory build|inspect`, `eval --memory` and `generate --memory` on the bundled model
// with a short text: the store file is written and read back, eval reports perplexity with
// and without the store from one run, generation changes, and bad files fail cleanly.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { decodeKnnStore } from "../../src/memory/store-file.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out, err };
}

const TEXT = "Captain Ilderim Voss kept a brass telescope on the quarterdeck. Each dawn Captain Ilderim Voss " + "polished the telescope, counted the gulls, and wrote their number in a red book.\n";
let dir: string;
let store: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mnemo-memory-cli-"));
  await writeFile(join(dir, "a.txt"), TEXT.repeat(3));
  store = join(dir, "a.mem");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("mnemo memory", () => {
  it("build writes a store; inspect reads its header", async () => {
    const b = capture();
    expect(await main(["memory", "build", "--text-file", join(dir, "a.txt"), "--out", store, "--key-type", "f32", "--json"], b.io), b.err.join("")).toBe(0);
    const built = JSON.parse(b.out.join(""));
    expect(built.key_type).toBe("f32");
    const data = decodeKnnStore(new Uint8Array(await readFile(store)));
    expect(data.count).toBe(built.entries);
    expect(data.dims).toBe(256);
    const i = capture();
    expect(await main(["memory", "inspect", store, "--json"], i.io)).toBe(0);
    expect(JSON.parse(i.out.join(""))).toMatchObject({ entries: data.count, dims: 256, key_type: "f32" });
  }, 120_000);

  it("eval --memory reports both perplexities from one run; the repeated text gets much easier", async () => {
    await writeFile(join(dir, "b.txt"), TEXT);
    const e = capture();
    expect(await main(["eval", "--text-file", join(dir, "b.txt"), "--memory", store, "--k", "16", "--memory-temperature", "10", "--lambda", "0.5", "--json"], e.io), e.err.join("")).toBe(0);
    const r = JSON.parse(e.out.join(""));
    expect(r.memory).toMatchObject({ k: 16, temperature: 10, lambda: 0.5, metric: "l2" });
    expect(r.memory.entries).toBe(decodeKnnStore(new Uint8Array(await readFile(store))).count);
    expect(r.memory.ppl).toBeLessThan(r.ppl * 0.5);
    // The figure without memory is the model's own: a separate run without --memory gives it too.
    const plain = capture();
    expect(await main(["eval", "--text-file", join(dir, "b.txt"), "--json"], plain.io), plain.err.join("")).toBe(0);
    const p = JSON.parse(plain.out.join(""));
    expect(p.memory).toBeUndefined();
    expect(p.tokens).toBe(r.tokens);
    console.log(`eval without memory: mean NLL ${p.mean_nll} alone, ${r.mean_nll} beside the memory`);
    expect(r.mean_nll).toBe(p.mean_nll);
  }, 120_000);

  it("generate --memory changes greedy text toward the stored passage", async () => {
    const run = async (extra: string[]) => {
      const g = capture();
      expect(await main(["generate", "--prompt", "Each dawn Captain", "--max-tokens", "8", "--greedy", "--json", ...extra], g.io), g.err.join("")).toBe(0);
      return JSON.parse(g.out.join("")).text as string;
    };
    const plain = await run([]);
    const recalled = await run(["--memory", store, "--k", "16", "--memory-temperature", "10", "--lambda", "0.9"]);
    expect(recalled).not.toBe(plain);
    expect(recalled).toContain("Ilderim");
  }, 120_000);

  it("refuses damaged stores and stores of another model", async () => {
    const bytes = await readFile(store);
    await writeFile(join(dir, "short.mem"), bytes.subarray(0, bytes.length - 3));
    const s = capture();
    expect(await main(["eval", "--text-file", join(dir, "a.txt"), "--memory", join(dir, "short.mem")], s.io)).toBe(1);
    expect(s.err.join("")).toMatch(/BAD_MODEL_FILE: Not a usable Mnemo memory store: the file is truncated/);
    const other = capture();
    expect(await main(["eval", "--model", "weights/gpt2-gutenberg", "--text-file", join(dir, "a.txt"), "--memory", store], other.io)).toBe(1);
    expect(other.err.join("")).toMatch(/BAD_INPUT: This memory store was built with a different model/);
    const u = capture();
    expect(await main(["memory", "frobnicate"], u.io)).toBe(2);
  }, 120_000);
});
