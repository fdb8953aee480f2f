// The demo page: UI only. The model lives in worker.ts, so the page never freezes and Stop
// answers at once.
import type { Alternative, BundledModel, FromWorker, SearchHit, KernelBar, ModelChoice, RecalledEntry, ToWorker, SamplingForm, Structure } from "./protocol.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const send = (msg: ToWorker) => worker.postMessage(msg);

const ui = {
  load: $<HTMLButtonElement>("load"),
  generate: $<HTMLButtonElement>("generate"),
  stop: $<HTMLButtonElement>("stop"),
  status: $("model-status"),
  progress: $<HTMLProgressElement>("progress"),
  output: $("output"),
  stats: $("stats"),
  prompt: $<HTMLTextAreaElement>("prompt"),
  conversation: $<HTMLInputElement>("conversation"),
  memoryButtons: ["snapshot", "restore", "fork", "reset"].map((id) => $<HTMLButtonElement>(id)),
};
let droppedFiles: File[] = [];
let generating = false;
let currentTurn: HTMLSpanElement | null = null;

function modelChoice(): ModelChoice {
  const value = (document.querySelector('input[name="model"]:checked') as HTMLInputElement).value;
  if (value === "url") return { kind: "url", url: $<HTMLInputElement>("model-url").value.trim() };
  if (value === "files") return { kind: "files", files: droppedFiles };
  return { kind: "bundled", name: value as BundledModel };
}

function structure(): Structure {
  const kind = $<HTMLSelectElement>("structure").value;
  const spec = $<HTMLInputElement>("structure-spec").value;
  if (kind === "json") return { kind };
  if (kind === "schema") return { kind, schema: spec };
  if (kind === "regex") return { kind, pattern: spec };
  return { kind: "text" };
}

function sampling(): SamplingForm {
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  return {
    maxTokens: num("max-tokens"),
    temperature: num("temperature"),
    topK: num("top-k"),
    topP: num("top-p"),
    seed: num("seed"),
    structure: structure(),
    speculate: $<HTMLInputElement>("speculate").checked,
  };
}

/** Example specs for the structured-output switch. */
const STRUCTURE_EXAMPLES: Record<string, string> = {
  schema: JSON.stringify({ type: "object", properties: { name: { type: "string", maxLength: 20 }, age: { type: "integer" } }, required: ["name", "age"] }),
  regex: "[A-Z][a-z]+ [0-9]{4}",
};
$<HTMLSelectElement>("structure").addEventListener("change", (e) => {
  const kind = (e.target as HTMLSelectElement).value;
  const spec = $<HTMLInputElement>("structure-spec");
  spec.hidden = !(kind in STRUCTURE_EXAMPLES);
  if (kind in STRUCTURE_EXAMPLES) spec.value = STRUCTURE_EXAMPLES[kind];
});

/** A generated token, its log-probability and the step's likeliest alternatives on hover. */
function tokenSpan(text: string, logprob: number | undefined, top: Alternative[] | undefined, drafted: boolean): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = drafted ? "tok drafted" : "tok";
  if (drafted) span.title = "drafted, then confirmed by the model";
  span.textContent = text;
  if (logprob !== undefined) {
    span.dataset.logprob = logprob.toFixed(4);
    const alternatives = (top ?? []).map((a) => `${JSON.stringify(a.text)} ${(100 * Math.exp(a.logprob)).toFixed(1)}%`).join("\n");
    span.title = `p = ${(100 * Math.exp(logprob)).toFixed(1)}% (log-probability ${logprob.toFixed(3)})${alternatives ? `\nlikeliest:\n${alternatives}` : ""}`;
  }
  return span;
}

function setGenerating(on: boolean): void {
  generating = on;
  ui.generate.disabled = on;
  ui.stop.disabled = !on;
  ui.load.disabled = on;
  for (const b of ui.memoryButtons) b.disabled = on;
}

document.querySelectorAll('input[name="model"]').forEach((el) =>
  el.addEventListener("change", () => {
    const v = modelChoice().kind === "bundled" ? "" : modelChoice().kind;
    $("url-row").hidden = v !== "url";
    $("drop-zone").hidden = v !== "files";
    const name = (el as HTMLInputElement).value;
    if (name === "lstm" || name === "rnn") ui.prompt.value = "ROMEO:";
    if (name === "gpt2") ui.prompt.value = "It was a dark and stormy night";
  }),
);

const drop = $("drop-zone");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  droppedFiles = [...(e.dataTransfer?.files ?? [])];
  ui.status.textContent = `${droppedFiles.length} file(s): ${droppedFiles.map((f) => f.name).join(", ")}`;
});
$<HTMLInputElement>("file-input").addEventListener("change", (e) => {
  droppedFiles = [...((e.target as HTMLInputElement).files ?? [])];
});

ui.load.addEventListener("click", () => {
  ui.generate.disabled = true;
  ui.status.textContent = "Loading…";
  ui.progress.hidden = false;
  ui.progress.value = 0;
  send({ type: "load", choice: modelChoice() });
});

ui.generate.addEventListener("click", () => {
  const conversation = ui.conversation.checked;
  if (!conversation) ui.output.textContent = "";
  const promptSpan = document.createElement("span");
  promptSpan.className = conversation && ui.output.childNodes.length ? "prompt turn" : "prompt";
  promptSpan.textContent = ui.prompt.value;
  ui.output.append(promptSpan);
  currentTurn = document.createElement("span");
  ui.output.append(currentTurn);
  ui.stats.textContent = "";
  setGenerating(true);
  $("recalled").textContent = "";
  send({ type: "generate", prompt: ui.prompt.value, sampling: sampling(), conversation, useMemory: $<HTMLInputElement>("use-memory").checked });
});

$<HTMLInputElement>("memory-file").addEventListener("change", async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) $<HTMLTextAreaElement>("memory-text").value = await file.text();
});
$("build-memory").addEventListener("click", () => {
  $("memory-status").textContent = "Reading the document…";
  $<HTMLButtonElement>("build-memory").disabled = true;
  send({ type: "build-memory", text: $<HTMLTextAreaElement>("memory-text").value });
});

/** One generated token and the stored passages that voted for it (newest first, 12 kept). */
function showRecall(token: string, neighbours: RecalledEntry[]): void {
  const list = $("recalled");
  const item = document.createElement("li");
  const head = document.createElement("strong");
  head.textContent = JSON.stringify(token);
  item.append(head, " ← ");
  for (const n of neighbours) {
    const quote = document.createElement("q");
    quote.className = "recall";
    quote.textContent = `…${n.context}`;
    const next = document.createElement("em");
    next.textContent = n.next;
    quote.append(next);
    quote.title = `distance ${n.distance.toFixed(2)}`;
    item.append(quote, " ");
  }
  list.prepend(item);
  while (list.children.length > 12) list.lastElementChild?.remove();
}

$("search").addEventListener("click", () => {
  const documents = $<HTMLTextAreaElement>("search-docs")
    .value.split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  // The field's placeholder is the default: all-MiniLM-L6-v2, as published.
  const url = $<HTMLInputElement>("encoder-url");
  $("search-status").textContent = "Embedding…";
  send({ type: "search", encoderUrl: url.value.trim() || url.placeholder, documents, query: $<HTMLInputElement>("search-query").value, k: 5 });
});

function showSearch(encoder: string, hits: SearchHit[]): void {
  $("search-status").textContent = encoder;
  const list = $("search-results");
  list.replaceChildren();
  for (const h of hits) {
    const li = document.createElement("li");
    li.textContent = `${h.score.toFixed(3)}  ${h.text}`;
    li.dataset.index = String(h.index);
    list.append(li);
  }
  document.body.dataset.searches = String(Number(document.body.dataset.searches ?? 0) + 1);
}

ui.stop.addEventListener("click", () => send({ type: "stop" }));
$("clear-cache").addEventListener("click", () => send({ type: "clear-cache" }));
$("snapshot").addEventListener("click", () => send({ type: "snapshot" }));
$("restore").addEventListener("click", () => send({ type: "restore", index: -1 }));
$("fork").addEventListener("click", () => send({ type: "fork" }));
$("reset").addEventListener("click", () => {
  ui.output.textContent = "";
  send({ type: "reset" });
});

function drawKernels(bars: KernelBar[], gpuMs: number): void {
  $("kernel-total").textContent = `${gpuMs.toFixed(2)} ms on the GPU`;
  const box = $("kernel-bars");
  box.textContent = "";
  const max = Math.max(...bars.map((b) => b.ms), 1e-9);
  for (const b of bars.slice(0, 14)) {
    const row = document.createElement("div");
    row.className = "bar";
    row.innerHTML = `<span class="name"></span><div class="fill"></div><span class="ms"></span>`;
    (row.children[0] as HTMLElement).textContent = b.kernel;
    (row.children[0] as HTMLElement).title = `${b.kernel}: ${b.calls} dispatch${b.calls === 1 ? "" : "es"}`;
    (row.children[1] as HTMLElement).style.width = `${(100 * b.ms) / max}%`;
    (row.children[2] as HTMLElement).textContent = `${b.ms.toFixed(b.ms < 10 ? 3 : 1)} ms`;
    box.append(row);
  }
}

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const msg = ev.data;
  switch (msg.type) {
    case "no-webgpu":
      $("no-webgpu").hidden = false;
      ui.status.textContent = msg.message;
      ui.load.disabled = true;
      break;
    case "progress":
      ui.progress.hidden = false;
      ui.progress.value = msg.total > 0 ? msg.loaded / msg.total : 0;
      ui.status.textContent = `Loading ${msg.file}: ${(msg.loaded / 1e6).toFixed(1)} MB${msg.total ? ` of ${(msg.total / 1e6).toFixed(1)} MB` : ""}`;
      break;
    case "loaded":
      ui.progress.hidden = true;
      ui.status.textContent = `${msg.description}${msg.fromCache ? " (from cache)" : ""}`;
      $("adapter").textContent = msg.adapter;
      // The kernel panel appears when per-kernel timings arrive (adapters with timestamp-query).
      $("kernel-panel").hidden = true;
      ui.generate.disabled = false;
      for (const b of ui.memoryButtons) b.disabled = false;
      $<HTMLButtonElement>("build-memory").disabled = false;
      $<HTMLInputElement>("use-memory").checked = false;
      $<HTMLInputElement>("use-memory").disabled = true;
      $("memory-status").textContent = "";
      document.body.dataset.modelLoaded = "true";
      break;
    case "token":
      currentTurn?.append(tokenSpan(msg.text, msg.logprob, msg.top, !!msg.drafted));
      break;
    case "stats":
      ui.stats.textContent = `${msg.tokens} tokens · ${msg.tokensPerS.toFixed(1)} tokens/s · first token ${msg.ttftMs.toFixed(0)} ms${msg.drafted === undefined ? "" : ` · ${msg.drafted} drafted`}`;
      break;
    case "done":
      setGenerating(false);
      ui.stats.textContent += msg.stopped ? " · stopped" : "";
      document.body.dataset.generations = String(Number(document.body.dataset.generations ?? 0) + 1);
      break;
    case "memory": {
      const m = msg.memory;
      const frac = Number.isFinite(m.contextLength) && m.contextLength > 0 ? m.tokens / m.contextLength : 0;
      $("context-fill").style.width = `${Math.min(100, 100 * frac)}%`;
      const held = Number.isFinite(m.contextLength) ? `Context: ${m.tokens} of ${m.contextLength} tokens · KV cache` : `Read ${m.tokens} tokens · recurrent (h, c) state, no context limit ·`;
      $("context-text").textContent =
        `${held} ${m.kvBytes >= 1 << 20 ? `${(m.kvBytes / (1 << 20)).toFixed(1)} MiB` : `${(m.kvBytes / 1024).toFixed(0)} KiB`}${m.dropped ? ` · ${m.dropped} dropped` : ""}`;
      $("snapshots").textContent = `${msg.snapshots} snapshot(s) · ${msg.forks} fork(s)`;
      break;
    }
    case "kernels":
      $("kernel-panel").hidden = false;
      drawKernels(msg.bars, msg.gpuMs);
      break;
    case "notice":
      ui.status.textContent = msg.message;
      break;
    case "memory-progress":
      $("memory-status").textContent = `Reading the document: ${msg.done} of ${msg.total} positions`;
      break;
    case "memory-built": {
      const size = msg.gpuBytes >= 1e6 ? `${(msg.gpuBytes / 1e6).toFixed(1)} MB` : `${(msg.gpuBytes / 1e3).toFixed(0)} kB`;
      $("memory-status").textContent = `Remembered ${msg.entries} positions (${size} on the GPU).`;
      $<HTMLButtonElement>("build-memory").disabled = false;
      $<HTMLInputElement>("use-memory").disabled = false;
      $<HTMLInputElement>("use-memory").checked = true;
      document.body.dataset.memoryBuilt = "true";
      break;
    }
    case "recall":
      showRecall(msg.token, msg.neighbours);
      break;
    case "search-results":
      showSearch(msg.encoder, msg.hits);
      break;
    case "error":
      ui.progress.hidden = true;
      if ($("search-status").textContent === "Embedding…") $("search-status").textContent = "";
      ui.status.textContent = `Error (${msg.code}): ${msg.message}`;
      if (generating) setGenerating(false);
      ui.load.disabled = false;
      $<HTMLButtonElement>("build-memory").disabled = !document.body.dataset.modelLoaded;
      break;
  }
};
