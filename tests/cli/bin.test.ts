// The `mnemo` executable as a user runs it, in child processes: bin/mnemo.mjs in this
// checkout (which runs src/cli/main.ts through tsx), and the built CLI (dist/cli.js) in the
// layout the npm package ships (package.json, bin/, dist/; no src/), run through `npx` from a
// project that depends on it. The build here is the library's Vite build (vite.config.ts)
// into a temporary folder, not the repository's dist/: tests/package/packaging.test.ts
// rebuilds dist/ while other test files run, and a copy taken meanwhile could be half written.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../helpers/models.js";
import { readGpt2Folder, refForward, refModel, writeTinyFolder } from "../helpers/gpt2-f64.js";

const run = promisify(execFile);
let work: string;

/** Runs a command; resolves with its exit code and output whatever the code. */
async function sh(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(cmd, args, { cwd, timeout: 120_000, maxBuffer: 16 << 20, env: { ...process.env, npm_config_update_notifier: "false" } });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw e;
    return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "mnemo-bin-"));
  await writeTinyFolder(join(work, "tiny"), { tokenizer: true });
});
afterAll(() => rm(work, { recursive: true, force: true }));

const GENERATE = (model: string) => ["generate", "--model", model, "--prompt", "Once upon", "--max-tokens", "4", "--greedy", "--json"];

/** Greedy ids of GENERATE from the float64 reference: each ASCII character is one token (its code). */
let greedy: number[] | undefined;
async function greedyIds(): Promise<number[]> {
  if (!greedy) {
    const ref = refModel(await readGpt2Folder());
    const ids = Array.from("Once upon", (c) => c.charCodeAt(0));
    greedy = [];
    for (let i = 0; i < 4; i++) {
      const last = refForward(ref, ids).logits.subarray((ids.length - 1) * 1000, ids.length * 1000);
      const next = last.indexOf(Math.max(...last));
      const margin = last[next] - Math.max(...last.filter((_, v) => v !== next));
      expect(margin, "a clear greedy choice (the GPU's logits are within 1e-5)").toBeGreaterThan(1e-3);
      greedy.push(next);
      ids.push(next);
    }
  }
  return greedy;
}

describe("bin/mnemo.mjs in a checkout", () => {
  const bin = join(ROOT, "bin", "mnemo.mjs");

  it("--help prints the usage and exits 0; no command prints it and exits 2", async () => {
    const help = await sh(process.execPath, [bin, "--help"], ROOT);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mnemo <command> \[flags\]/);
    expect(help.stdout).toMatch(/generate\s+--model/);
    expect(help.stderr).toBe("");
    const none = await sh(process.execPath, [bin], ROOT);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe(help.stdout);
  });

  it("exits 1 for a failure, saying why, and runs a model", async () => {
    const missing = await sh(process.execPath, [bin, "tokenize", "--model", join(work, "nothing-here"), "--text", "x"], ROOT);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^mnemo: BAD_INPUT: No model at .*nothing-here: the path does not exist\.$/m);
    const gen = await sh(process.execPath, [bin, ...GENERATE(join(work, "tiny"))], ROOT);
    expect(gen.code, gen.stderr).toBe(0);
    expect(JSON.parse(gen.stdout).ids).toEqual(await greedyIds());
  });
});

describe("the built CLI (dist/cli.js) through npx", () => {
  let app: string;
  beforeAll(async () => {
    // The package as `files` in package.json ships it: package.json, bin/, dist/ (no src/).
    const pkg = join(work, "pkg");
    await mkdir(pkg);
    await cp(join(ROOT, "package.json"), join(pkg, "package.json"));
    await cp(join(ROOT, "bin"), join(pkg, "bin"), { recursive: true });
    await symlink(join(ROOT, "node_modules"), join(pkg, "node_modules"), "dir");
    const build = await sh(process.execPath, [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--outDir", join(pkg, "dist"), "--emptyOutDir", "--logLevel", "warn"], ROOT);
    expect(build.code, build.stderr).toBe(0);
    expect(existsSync(join(pkg, "dist", "cli.js"))).toBe(true);
    // A project with mnemo installed: node_modules/mnemo and its bin link, as npm lays them out.
    app = join(work, "app");
    await mkdir(join(app, "node_modules", ".bin"), { recursive: true });
    await writeFile(join(app, "package.json"), JSON.stringify({ name: "mnemo-bin-test", private: true, dependencies: { "mnemo-webgpu": "*" } }));
    await symlink(pkg, join(app, "node_modules", "mnemo-webgpu"), "dir");
    await symlink(join("..", "mnemo-webgpu", "bin", "mnemo.mjs"), join(app, "node_modules", ".bin", "mnemo"));
  }, 180_000);

  it("npx mnemo --help prints the usage; npx mnemo generate runs the built kernels", async () => {
    const help = await sh("npx", ["--no-install", "mnemo", "--help"], app);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mnemo <command> \[flags\]/);
    const gen = await sh("npx", ["--no-install", "mnemo", ...GENERATE(join(work, "tiny"))], app);
    expect(gen.code, gen.stderr).toBe(0);
    expect(JSON.parse(gen.stdout).ids).toEqual(await greedyIds());
  });
});
