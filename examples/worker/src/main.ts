// The page: a clock that must keep ticking, a prompt, and text streamed from the worker.
import type { FromWorker, ToWorker } from "./protocol.js";

const promptBox = document.querySelector<HTMLTextAreaElement>("#prompt")!;
const button = document.querySelector<HTMLButtonElement>("#generate")!;
const output = document.querySelector<HTMLPreElement>("#output")!;
const status = document.querySelector<HTMLSpanElement>("#status")!;
const ticks = document.querySelector<HTMLSpanElement>("#ticks")!;

const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const send = (message: ToWorker): void => worker.postMessage(message);

/** The page's state, also read by tests: loading, ready, generating, done or error. */
function setState(state: string, text: string): void {
  document.body.dataset.state = state;
  status.textContent = text;
}

// The clock, and the longest gap between two of its ticks while generating (tests read it).
const TICK_MS = 50;
let tickCount = 0;
let lastTick = performance.now();
let longestGapMs = 0;
setInterval(() => {
  const now = performance.now();
  if (document.body.dataset.state === "generating") longestGapMs = Math.max(longestGapMs, now - lastTick);
  lastTick = now;
  ticks.textContent = String(++tickCount);
  document.body.dataset.longestTickGapMs = String(Math.round(longestGapMs));
}, TICK_MS);

worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  switch (m.type) {
    case "progress":
      status.textContent = `Loading ${m.file}: ${Math.round(m.loaded / 1e6)} MB`;
      break;
    case "ready":
      setState("ready", m.description);
      button.disabled = false;
      break;
    case "token":
      output.textContent += m.text;
      break;
    case "done":
      setState("done", `${m.tokens} tokens`);
      button.disabled = false;
      break;
    case "error":
      setState("error", `${m.code}: ${m.message}`);
      button.disabled = false;
      break;
  }
});

button.addEventListener("click", () => {
  button.disabled = true;
  output.textContent = promptBox.value;
  setState("generating", "Generating…");
  send({ type: "generate", prompt: promptBox.value, maxTokens: 20 });
});

const modelUrl = new URLSearchParams(location.search).get("model") ?? "model/gpt2-gutenberg-q8_0.gguf";
send({ type: "load", url: new URL(modelUrl, document.baseURI).href });
