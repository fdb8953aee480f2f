// The package as users get it: `npm pack`, then the tarball installed into fresh projects
// outside the repository (nothing in them points back here). The Node example streams
// tokens on SwiftShader; the Vite app and the Worker example are built with the project's
// own Vite and stream tokens in headless Chromium; all examples type-check (strict) against
// the packed declarations.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { launchChromium, serveStatic } from "../helpers/browser.js";

const run = promisify(execFile);
const root = join(__dirname, "..", "..");
const MODEL = "gpt2-gutenberg-q8_0.gguf";
const work = mkdtempSync(join(tmpdir(), "mnemo-pack-"));
const project = join(work, "project");
let tarball = "";
let browser: Browser | undefined;

/** The version of a dev tool the repository uses, so installs hit npm's cache. */
function repoVersion(pkg: string): string {
  return JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8")).version;
}

async function sh(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, npm_config_fund: "false", npm_config_audit: "false" } });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  }
}

beforeAll(async () => {
  const packed = await sh("npm", ["pack", "--silent", "--pack-destination", work], root);
  tarball = join(work, packed.stdout.trim().split("\n").at(-1)!);

  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "mnemo-pack-test", private: true, type: "module" }, null, 2));
  cpSync(join(root, "examples"), project, { recursive: true });
  for (const dir of [project, join(project, "vite-app", "public"), join(project, "worker", "public")]) {
    mkdirSync(join(dir, "model"), { recursive: true });
    cpSync(join(root, "weights", MODEL), join(dir, "model", MODEL));
  }
  // One install serves all three examples (Node resolves packages from parent folders).
  const tools = ["vite", "typescript", "@types/node"].map((p) => `${p}@${repoVersion(p)}`);
  await sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball, ...tools], project, 600_000);
}, 900_000);

afterAll(async () => {
  await browser?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("packed package", () => {
  it("ships only what users need, with the browser entry free of Node code", () => {
    const installed = join(project, "node_modules", "mnemo-webgpu");
    const files = readdirSync(installed);
    expect(files).toEqual(expect.arrayContaining(["dist", "bin", "README.md", "CHANGELOG.md", "LICENSE", "package.json"]));
    expect(files).not.toContain("src");
    expect(files).not.toContain("weights");
    const dist = readdirSync(join(installed, "dist"));
    expect(dist.some((f) => f.endsWith(".map") || f.endsWith(".gguf") || f.endsWith(".safetensors"))).toBe(false);
    // The browser entry's own chunks: no Node built-in, no Dawn.
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(join(installed, "dist", file), "utf8");
      expect(code, file).not.toMatch(/from\s*["']node:|import\(\s*["']node:|["']webgpu["']/);
      for (const m of code.matchAll(/(?:from\s*|import\(\s*)["']\.\/([^"']+)["']/g)) visit(m[1]);
    };
    visit("index.js");
    expect(seen.size).toBeGreaterThan(1);
    // The browser entry with its dependencies, minified and gzipped, as the build measured it.
    const size = JSON.parse(readFileSync(join(installed, "dist", "bundle-size.json"), "utf8"));
    console.log(`browser entry: ${size.gzipBytes} bytes gzipped (${size.minifiedBytes} minified)`);
    expect(size.nodeOnlyImports).toEqual([]);
    expect(size.gzipBytes).toBeGreaterThan(10_000);
    expect(size.gzipBytes).toBeLessThan(150_000);
  });

  it("type-checks the examples (strict) against the packed declarations", async () => {
    await sh("npx", ["tsc", "-p", "vite-app"], project);
    await sh("npx", ["tsc", "-p", "worker"], project);
    await sh(
      "npx",
      [
        "tsc",
        "--noEmit",
        "--strict",
        "--allowJs",
        "--checkJs",
        "--skipLibCheck",
        "false",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--types",
        "node",
        "node-generate.mjs",
      ],
      project,
    );
  }, 300_000);

  it("streams 20 tokens in Node from the bundled test model", async () => {
    const { stdout, stderr } = await sh(process.execPath, ["node-generate.mjs", "model", "It was a dark and stormy night"], project);
    expect(stdout.startsWith("It was a dark and stormy night")).toBe(true);
    expect(stdout.trim().length).toBeGreaterThan("It was a dark and stormy night".length + 10);
    expect(stderr).toMatch(/generated 20 tokens/);
  }, 300_000);

  for (const example of ["vite-app", "worker"] as const) {
    it(`builds the ${example} example with Vite and streams tokens in Chromium`, async () => {
      const dir = join(project, example);
      await sh("npx", ["vite", "build", "--logLevel", "warn"], dir);
      const server = await serveStatic(join(dir, "dist"));
      browser ??= await launchChromium();
      const page = await browser.newPage();
      // Counts the page's own WebGPU adapter requests (workers have their own GPU object, so
      // theirs are not counted): the Vite app asks from the page, the Worker example never does.
      await page.addInitScript(() => {
        const w = window as unknown as { __adapterRequests: number };
        w.__adapterRequests = 0;
        const proto = (globalThis as unknown as { GPU?: { prototype: { requestAdapter: (...a: unknown[]) => unknown } } }).GPU?.prototype;
        if (!proto) return;
        const request = proto.requestAdapter;
        proto.requestAdapter = function (this: unknown, ...args: unknown[]) {
          w.__adapterRequests++;
          return request.apply(this, args);
        };
      });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      try {
        await page.goto(server.url);
        await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 180_000 });
        expect(await page.textContent("#status")).not.toMatch(/^[A-Z_]+:/);
        await page.click("#generate");
        // Sample the output while it streams: it must grow in more than one step.
        const seen = new Set<string>();
        while ((await page.getAttribute("body", "data-state")) === "generating") {
          seen.add((await page.textContent("#output")) ?? "");
          await page.waitForTimeout(25);
        }
        expect(await page.getAttribute("body", "data-state"), (await page.textContent("#status")) ?? "").toBe("done");
        expect(await page.textContent("#status")).toBe("20 tokens");
        expect(seen.size, "text grew in at least two steps").toBeGreaterThanOrEqual(2);
        const adapterRequests = await page.evaluate(() => (window as unknown as { __adapterRequests: number }).__adapterRequests);
        if (example === "worker") {
          // The model ran off the page's thread: the page never asked for a GPU adapter, and a
          // worker did the work. (The clock's longest gap is printed, not bounded: it is a time.)
          const gap = Number(await page.getAttribute("body", "data-longest-tick-gap-ms"));
          console.log(`worker example: longest gap between clock ticks during generation ${gap} ms`);
          expect(adapterRequests).toBe(0);
          expect(page.workers().length).toBeGreaterThanOrEqual(1);
        } else {
          // The same count where the model runs on the page: the instrumentation sees requests.
          expect(adapterRequests).toBeGreaterThanOrEqual(1);
        }
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await server.close();
      }
    }, 600_000);
  }
});
