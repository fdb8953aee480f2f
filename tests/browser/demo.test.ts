// The demo page end to end in headless Chromium (WebGPU on SwiftShader): stream, stop,
// second visit from the cache, the three bundled models, screenshots for a human to look at.
// The GPT-2 text is compared with the same greedy generation done in Node through the library
// on the file the demo loads, and its first 16 tokens with the dequantized-weights fixture.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { launchPersistentChromium, serveStatic, type StaticServer } from "../helpers/browser.js";
import { loadModel as loadModelInNode } from "../../src/node.js";
import { fixture, readJsonFile } from "../helpers/models.js";
import { stepsUntilNearTie } from "../helpers/compare.js";

const root = join(__dirname, "..", "..");
const shots = join(root, "test-results", "demo");
let server: StaticServer;
let context: BrowserContext;

/** The demo's default GPT-2 prompt (demo/main.ts) and what greedy decoding must give for it. */
const GPT2_PROMPT = "It was a dark and stormy night";
const GPT2_TOKENS = 20;
let greedy: { nodeIds: number[]; nodeText: string; fixtureIds: number[]; fixtureText: string; promptIds: number[]; fixturePromptIds: number[] };

/**
 * The fixture (tests/fixtures/reference/gguf-dequant-reference.json) is a numpy float32 forward on
 * the dequantized weights of tests/fixtures/models/gpt2-gutenberg-q8_0.gguf: 16 greedy tokens
 * for this prompt, top-1 margins 0.23 or more. The demo's file, weights/gpt2-gutenberg-q8_0.gguf,
 * has the same Q8_0 blocks but an F32 position table (weights/README.md), so the fixture
 * covers its first 16 tokens; all 20 are compared with the library in Node on that very file.
 */
async function expectedGreedy(): Promise<typeof greedy> {
  const ref = (await readJsonFile<{ files: Record<string, { prompt_ids: number[]; greedy_ids: number[] }[]> }>(fixture("reference/gguf-dequant-reference.json"))).files["gpt2-gutenberg-q8_0.gguf"][0];
  const model = await loadModelInNode(join(root, "weights", "gpt2-gutenberg-q8_0.gguf"));
  const tokenizer = model.languageModel.tokenizer;
  const nodeIds: number[] = [];
  let nodeText = "";
  for await (const t of model.generate(GPT2_PROMPT, { temperature: 0, maxTokens: GPT2_TOKENS })) {
    nodeIds.push(t.id);
    nodeText += t.text;
  }
  const result = { nodeIds, nodeText, fixtureIds: ref.greedy_ids, fixtureText: tokenizer.decode(ref.greedy_ids), promptIds: tokenizer.encode(GPT2_PROMPT), fixturePromptIds: ref.prompt_ids };
  model.dispose();
  return result;
}

beforeAll(async () => {
  execFileSync("npx", ["vite", "build", "--config", "demo/vite.config.ts", "--logLevel", "warn"], { cwd: root, stdio: "inherit" });
  // The tiny BERT, served from the page's origin for the semantic-search panel (no encoder is bundled).
  cpSync(join(root, "tests/fixtures/models/tiny-bert"), join(root, "demo-dist/test-models/tiny-bert"), { recursive: true });
  server = await serveStatic(join(root, "demo-dist"));
  context = await launchPersistentChromium();
  mkdirSync(shots, { recursive: true });
  greedy = await expectedGreedy();
}, 240_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
});

async function loadModel(page: Page, model: "gpt2" | "lstm" | "rnn"): Promise<void> {
  await page.check(`input[name="model"][value="${model}"]`);
  await page.click("#load");
  await page.waitForSelector('body[data-model-loaded="true"]', { timeout: 180_000 });
}

async function generate(page: Page, maxTokens: number): Promise<string[]> {
  await page.fill("#max-tokens", String(maxTokens));
  await page.fill("#temperature", "0");
  const before = Number((await page.getAttribute("body", "data-generations")) ?? 0);
  await page.click("#generate");
  // Sample the output while it streams: it must grow in more than one step.
  const seen: string[] = [];
  for (;;) {
    const text = (await page.textContent("#output")) ?? "";
    if (seen.at(-1) !== text) seen.push(text);
    const done = Number((await page.getAttribute("body", "data-generations")) ?? 0) > before;
    if (done) break;
    await page.waitForTimeout(25);
  }
  seen.push((await page.textContent("#output")) ?? "");
  return seen;
}

const weightRequests = () => server.requests.filter((p) => p.endsWith(".safetensors") || p.endsWith(".gguf"));

describe("demo page", () => {
  it("streams GPT-2 text, stops on demand, and reloads weights from the cache", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await loadModel(page, "gpt2");
    expect(weightRequests().length).toBeGreaterThan(0);

    const states = await generate(page, GPT2_TOKENS);
    const prompt = GPT2_PROMPT;
    const grown = new Set(states.filter((s) => s.length > prompt.length));
    expect(grown.size, "text grew in at least two steps").toBeGreaterThanOrEqual(2);
    expect(await page.textContent("#stats")).toMatch(/20 tokens/);
    // Greedy text: the fixture's 16 tokens are the prefix of the library's 20 in Node, which
    // the page must reproduce character for character.
    expect(greedy.promptIds, "the demo's prompt is the fixture's").toEqual(greedy.fixturePromptIds);
    expect(greedy.nodeIds.slice(0, greedy.fixtureIds.length), "Node greedy vs the fixture").toEqual(greedy.fixtureIds);
    expect(greedy.nodeIds.length).toBe(GPT2_TOKENS);
    const output = (await page.textContent("#output")) ?? "";
    console.log(`demo greedy text: ${JSON.stringify(output)}`);
    expect(output.startsWith(prompt + greedy.fixtureText), "the page's first 16 tokens are the fixture's").toBe(true);
    expect(output).toBe(prompt + greedy.nodeText);
    // The kernel panel shows the last decode step's kernels exactly when the adapter can time them.
    const timestamps = await page.evaluate(async () => !!(await navigator.gpu.requestAdapter())?.features.has("timestamp-query"));
    console.log(`browser adapter timestamp-query: ${timestamps}`);
    if (timestamps) {
      await page.waitForSelector("#kernel-panel:not([hidden]) .bar");
      const names = await page.$$eval("#kernel-bars .name", (els) => els.map((e) => e.textContent ?? ""));
      expect(names.length).toBeGreaterThanOrEqual(4);
      // The heaviest kernel is a GEMV (the LM head on GPT-2: f32 activations with ln_f fused
      // in, or int8 activations, whichever the tuner measured faster).
      expect(names[0]).toMatch(/^(ln_)?matmul_gemv|^gemv_i8_/);
      expect(await page.textContent("#kernel-total")).toMatch(/[\d.]+ ms on the GPU/);
    } else {
      expect(await page.isHidden("#kernel-panel")).toBe(true);
    }
    await page.screenshot({ path: join(shots, "gpt2.png"), fullPage: true });

    // Stop during a longer generation.
    await page.fill("#max-tokens", "400");
    await page.click("#generate");
    await page.waitForFunction(() => (document.getElementById("output")?.textContent ?? "").length > 60);
    await page.click("#stop");
    await page.waitForSelector("#generate:not([disabled])", { timeout: 30_000 });
    expect(await page.textContent("#stats")).toMatch(/stopped/);
    const tokensAtStop = Number(/(\d+) tokens/.exec((await page.textContent("#stats")) ?? "")?.[1]);
    expect(tokensAtStop).toBeLessThan(400);

    // Second visit: the weights come from Cache Storage, not the network.
    const before = weightRequests().length;
    await page.reload();
    await loadModel(page, "gpt2");
    expect(weightRequests().length).toBe(before);
    expect(await page.textContent("#model-status")).toMatch(/from cache/);
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it("remembers a document: recall changes greedy text and lists passages from the document", async () => {
    const doc =
      "The lighthouse keeper of Varnholm was a woman named Odalys Quenby. Every night Odalys Quenby climbed " +
      "the ninety steps with a lamp of whale oil, and every morning she wrote the weather in a green ledger.";
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await loadModel(page, "gpt2");
    await page.fill("#memory-text", doc);
    await page.click("#build-memory");
    await page.waitForSelector('body[data-memory-built="true"]', { timeout: 180_000 });
    expect(await page.textContent("#memory-status")).toMatch(/Remembered \d+ positions/);
    expect(await page.isChecked("#use-memory")).toBe(true);
    await page.fill("#prompt", "Every night Odalys");
    await generate(page, 10);
    expect(await page.textContent("#output")).toContain("Quenby");
    const recalled = await page.$$eval("#recalled q.recall", (els) => els.map((e) => e.textContent ?? ""));
    expect(recalled.length).toBeGreaterThan(0);
    for (const r of recalled) expect(doc).toContain(r.replace(/^…/, ""));
    await page.screenshot({ path: join(shots, "recall.png"), fullPage: true });
    // The speculation switch: drafts from the memory (the document's text after "Quenby"),
    // the same greedy text, confirmed drafts underlined.
    const plainText = await page.textContent("#output");
    await page.check("#speculate");
    await generate(page, 10);
    expect(await page.textContent("#output")).toBe(plainText);
    expect(await page.$$eval("#output .tok.drafted", (els) => els.length)).toBeGreaterThan(0);
    expect(await page.textContent("#stats")).toMatch(/· [1-9]\d* drafted/);
    await page.screenshot({ path: join(shots, "speculate.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it("structured output: a JSON schema holds the text; hovering a token shows its probability", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await loadModel(page, "gpt2");
    await page.selectOption("#structure", "schema");
    const schema = { type: "object", properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer" } }, required: ["name", "age"], additionalProperties: false };
    await page.fill("#structure-spec", JSON.stringify(schema));
    await page.fill("#prompt", "A person, as JSON:");
    await page.fill("#seed", "3");
    await page.fill("#temperature", "0.8");
    await page.fill("#max-tokens", "48");
    const before = Number((await page.getAttribute("body", "data-generations")) ?? 0);
    await page.click("#generate");
    await page.waitForFunction((n) => Number(document.body.dataset.generations ?? 0) > n, before, { timeout: 180_000 });
    const reply = (await page.$$eval("#output .tok", (els) => els.map((e) => e.textContent ?? ""))).join("");
    console.log(`demo structured output: ${reply}`);
    const value = JSON.parse(reply);
    expect(Object.keys(value).sort()).toEqual(["age", "name"]);
    expect(Number.isInteger(value.age)).toBe(true);
    const titles = await page.$$eval("#output .tok[data-logprob]", (els) => els.map((e) => (e as HTMLElement).title));
    expect(titles.length).toBeGreaterThan(3);
    expect(titles[0]).toMatch(/^p = [\d.]+% \(log-probability -?[\d.]+\)\nlikeliest:/);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(shots, "structured.png"), fullPage: true });
    await page.close();
  }, 600_000);

  it("streams text from the LSTM model and stops on demand", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await loadModel(page, "lstm");
    expect(await page.inputValue("#prompt")).toBe("ROMEO:");
    const states = await generate(page, 20);
    const grown = new Set(states.filter((s) => s.length > "ROMEO:".length));
    expect(grown.size, "text grew in at least two steps").toBeGreaterThanOrEqual(2);
    expect(await page.textContent("#stats")).toMatch(/20 tokens/);
    // Greedy from "ROMEO:" is the PyTorch fixture's continuation ("\nThe senate that thou art…").
    expect(await page.textContent("#output")).toContain("The senate that");
    await page.screenshot({ path: join(shots, "lstm.png"), fullPage: true });

    await page.fill("#max-tokens", "2000");
    await page.click("#generate");
    await page.waitForFunction(() => (document.getElementById("output")?.textContent ?? "").length > 80);
    await page.click("#stop");
    await page.waitForSelector("#generate:not([disabled])", { timeout: 30_000 });
    expect(await page.textContent("#stats")).toMatch(/stopped/);
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it("the semantic-search panel ranks a document first when asked with its own text", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    const docs = [
      "The sea was calm that night.",
      "Where is the king?",
      "It was a dark and stormy night; the rain fell in torrents.",
      "ROMEO: But soft, what light through yonder window breaks?",
      "The king is in the castle.",
    ];
    await page.fill("#encoder-url", `${server.url}test-models/tiny-bert/`);
    await page.fill("#search-docs", docs.join("\n"));
    await page.fill("#search-query", docs[3]);
    await page.click("#search");
    await page.waitForSelector('body[data-searches="1"]', { timeout: 120_000 });
    const items = await page.locator("#search-results li").allTextContents();
    expect(items.length).toBe(5);
    expect(items[0]).toContain(docs[3]);
    expect(Number(items[0].split(" ")[0])).toBeGreaterThan(0.9999);
    expect(await page.textContent("#search-status")).toMatch(/^BERT, 2 layers of 64/);
    await page.screenshot({ path: join(shots, "search.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("streams the plain RNN's greedy text, torch's continuation of ROMEO:", async () => {
    const fx = await readJsonFile<{ greedy_text: string; greedy_top1_margin: number[] }>(fixture("reference/rnn-shakespeare.json"));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await loadModel(page, "rnn");
    expect(await page.inputValue("#prompt")).toBe("ROMEO:");
    const states = await generate(page, 24);
    expect(new Set(states.filter((s) => s.length > "ROMEO:".length)).size, "text grew in at least two steps").toBeGreaterThanOrEqual(2);
    // Compared up to the first step where torch's top-1/top-2 margin is a near-tie
    // (tests/models/rnn-shakespeare.test.ts; none in these 24).
    const n = stepsUntilNearTie(fx.greedy_top1_margin, 24, 3e-6);
    expect(await page.textContent("#output")).toContain(`ROMEO:${fx.greedy_text.slice(0, n)}`);
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);
});
