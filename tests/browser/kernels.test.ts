import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { cpSync } from "node:fs";
import { ROOT } from "../helpers/models.js";
import type { Browser } from "playwright-core";
import { buildPage, launchChromium, serveStatic, type StaticServer } from "../helpers/browser.js";
import type { CheckResult } from "./page/checks.js";

let browser: Browser;
let server: StaticServer;

beforeAll(async () => {
  const dir = await buildPage(join(__dirname, "page"));
  // The page loads tiny-gpt2 over HTTP (concurrency and device-loss checks).
  cpSync(join(ROOT, "tests", "fixtures", "models", "tiny-gpt2"), join(dir, "tiny-gpt2"), { recursive: true });
  server = await serveStatic(dir);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Every family the page must report (a check's name starts with "<family>:"). */
const FAMILIES = [
  "residualAdd",
  "gelu",
  "softmax",
  "layerNorm",
  "embedding",
  "argmax",
  "lstm",
  "rnn",
  "tokenNll",
  "matmul",
  "gemm",
  "ln+matmul",
  "matmul+kv",
  "attention",
  "encoderAttention",
  "pool",
  "gemvI8",
  "matmulI8",
  "sampling",
  "knn",
  "IndexedDB",
  "Cache Storage",
  "runtime",
];

describe("kernels, snapshots, concurrency and device loss in headless Chromium (WebGPU on SwiftShader)", () => {
  it("every kernel family matches its TypeScript reference; snapshots survive IndexedDB; concurrent callers and device loss behave", async () => {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(String(e)));
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { __mnemoResult?: unknown }).__mnemoResult, null, { timeout: 170_000 });
    const result = (await page.evaluate(() => (window as unknown as { __mnemoResult: unknown }).__mnemoResult)) as {
      error?: string;
      adapter: string;
      checks: CheckResult[];
      timings: Record<string, number>;
    };
    expect(result.error, logs.join("\n")).toBeUndefined();
    console.log(`browser adapter: ${result.adapter}; page time by part (ms): ${JSON.stringify(result.timings)}`);
    for (const c of result.checks) {
      const bound = c.rtol ? `atol ${c.atol} + rtol ${c.rtol}` : `atol ${c.atol}`;
      console.log(`browser ${c.name}: max abs err ${c.maxAbs.toExponential(2)}, max rel err ${c.maxRel.toExponential(2)} (${bound}, ${c.n} values)`);
    }
    const missing = FAMILIES.filter((f) => !result.checks.some((c) => c.name.startsWith(`${f}:`))).map((f) => `${f}: no check reported`);
    const failed = result.checks.filter((c) => !(c.n > 0 && c.outside === 0)).map((c) => `${c.name}: ${c.outside} of ${c.n} outside the bound; ${c.firstOutside}`);
    expect([...missing, ...failed]).toEqual([]);
    await page.close();
  }, 240_000);
});
