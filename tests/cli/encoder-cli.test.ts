// mnemo embed and mnemo search on the tiny BERT: vectors equal the library's, a store built
// from a text file finds each line first when queried with it, and usage errors exit 2.
import { describe, it, expect, beforeAll } from "vitest";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { loadEncoder } from "../../src/node.js";
import { decodeKnnStore, encodeKnnStore } from "../../src/memory/store-file.js";
import { ROOT, fixture } from "../helpers/models.js";

const MODEL = join(ROOT, "tests/fixtures/models/tiny-bert");

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, out: out.join(""), err: err.join("") };
}

let dir: string;
let lines: string[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mnemo-embed-"));
  lines = (await readFile(fixture("data/gutenberg_val.txt"), "utf8"))
    .split("\n")
    .filter((l) => l.trim().length > 30)
    .slice(0, 25);
  await writeFile(join(dir, "docs.txt"), `${lines.join("\n")}\n\n`);
});

describe("mnemo embed / search", () => {
  it("embed --json prints the library's unit vectors", async () => {
    const r = await cli(["embed", "--model", MODEL, "--text", lines[3], "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ dims: 64, pooling: "mean", normalized: true });
    const encoder = await loadEncoder(MODEL);
    const [v] = await encoder.embed(lines[3]);
    encoder.dispose();
    expect(j.vectors[0]).toEqual(Array.from(v));
  });

  it("embed --out builds a store of the file's lines; search finds each line first when queried with it", async () => {
    const store = join(dir, "docs.mem");
    const b = await cli(["embed", "--model", MODEL, "--text-file", join(dir, "docs.txt"), "--out", store, "--json"]);
    expect(b.code, b.err).toBe(0);
    expect(JSON.parse(b.out)).toMatchObject({ documents: 25, dims: 64 });
    expect(JSON.parse(await readFile(`${store}.texts.json`, "utf8"))).toEqual(lines);
    for (const i of [0, 11, 24]) {
      const s = await cli(["search", "--model", MODEL, "--index", store, "--query", lines[i], "--k", "3", "--json"]);
      expect(s.code, s.err).toBe(0);
      const hits = JSON.parse(s.out).hits;
      expect(hits.length).toBe(3);
      expect(hits[0]).toMatchObject({ index: i, text: lines[i] });
      expect(hits[0].score).toBeGreaterThan(0.99999);
    }
    const plain = await cli(["search", "--model", MODEL, "--index", store, "--query", lines[5], "--k", "2"]);
    expect(plain.out.split("\n")[0]).toContain(`#5  ${lines[5]}`);
  });

  it("usage errors exit 2, a store from another encoder exits 1", async () => {
    expect((await cli(["embed", "--text", "x"])).code).toBe(2);
    expect((await cli(["embed", "--model", MODEL, "--text", "x", "--pooling", "max"])).code).toBe(2);
    expect((await cli(["search", "--model", MODEL, "--query", "x"])).code).toBe(2);
    // tiny-bert-mlm has the same encoder weights (and so the same fingerprint): forge another one.
    const other = join(dir, "other.mem");
    expect((await cli(["embed", "--model", MODEL, "--text", "hello there", "--out", other])).code).toBe(0);
    const store = decodeKnnStore(new Uint8Array(await readFile(other)));
    await writeFile(other, encodeKnnStore({ ...store, fingerprint: "another encoder" }));
    const r = await cli(["search", "--model", MODEL, "--index", other, "--query", "hello"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/different encoder/);
  });
});
