// The AI SDK provider (streamText, generateObject), the worker engine and constrained
// decoding in headless Chromium (WebGPU on SwiftShader), on the bundled Q8_0 GPT-2 served over
// HTTP; the page (tests/browser/openai-page) reports each check.
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPage, launchChromium, serveStatic, type StaticServer } from "../helpers/browser.js";
import { ROOT } from "../helpers/models.js";

let browser: Browser;
let server: StaticServer;

beforeAll(async () => {
  const dir = await buildPage(join(__dirname, "openai-page"));
  mkdirSync(join(dir, "model"));
  cpSync(join(ROOT, "weights", "gpt2-gutenberg-q8_0.gguf"), join(dir, "model", "gpt2-gutenberg-q8_0.gguf"));
  server = await serveStatic(dir);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("OpenAI-style APIs and the AI SDK in headless Chromium", () => {
  it("streamText and generateObject run on a Mnemo model; the worker engine streams, aborts and refuses like the page's model", async () => {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(String(e)));
    await page.goto(server.url);
    // The page logs each check as it finishes: on a timeout, they say how far it got.
    await page
      .waitForFunction(() => (window as unknown as { __mnemoResult?: unknown }).__mnemoResult, null, { timeout: 280_000 })
      .catch((e) => {
        throw new Error(`${String(e)}\npage log:\n${logs.join("\n")}`);
      });
    const result = (await page.evaluate(() => (window as unknown as { __mnemoResult: unknown }).__mnemoResult)) as { error?: string; checks: { name: string; ok: boolean; detail: string }[] };
    expect(result.error, logs.join("\n")).toBeUndefined();
    for (const c of result.checks) console.log(`browser ${c.name}: ${c.ok ? "ok" : "FAILED"} ${c.detail}`);
    expect(result.checks.length).toBe(6);
    expect(result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    await page.close();
  }, 300_000);
});
