import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { cpSync } from "node:fs";
import { ROOT } from "../helpers/models.js";
import type { Browser } from "playwright-core";
import { buildPage, launchChromium, serveStatic, type StaticServer } from "../helpers/browser.js";

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

describe("kernels, snapshots, concurrency and device loss in headless Chromium (WebGPU on SwiftShader)", () => {
  it("kernels match the TypeScript references; snapshots survive IndexedDB; concurrent callers and device loss behave", async () => {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on("console", (m) => logs.push(m.text()));
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { __mnemoResult?: unknown }).__mnemoResult, null, { timeout: 90_000 });
    const result = (await page.evaluate(() => (window as unknown as { __mnemoResult: unknown }).__mnemoResult)) as {
      error?: string;
      adapter: string;
      checks: { name: string; maxAbs: number; tolerance?: number }[];
    };
    expect(result.error, logs.join("\n")).toBeUndefined();
    console.log(`browser adapter: ${result.adapter}`);
    expect(result.checks.length).toBeGreaterThan(0);
    for (const c of result.checks) {
      console.log(`browser ${c.name}: max abs err ${c.maxAbs}`);
      expect(c.maxAbs, c.name).toBeLessThanOrEqual(c.tolerance ?? 1e-5);
    }
    await page.close();
  });
});
