// The model lives here, off the page's main thread: loading, and every generation step,
// never block the page.
import { isMnemoError, loadModel, type Model } from "mnemo-webgpu";
import type { FromWorker, ToWorker } from "./protocol.js";

let model: Model | null = null;

function send(message: FromWorker): void {
  postMessage(message);
}

function sendError(err: unknown): void {
  if (isMnemoError(err)) send({ type: "error", code: err.code, message: err.message });
  else send({ type: "error", code: "INTERNAL", message: String(err) });
}

async function handle(message: ToWorker): Promise<void> {
  if (message.type === "load") {
    model = await loadModel(message.url, { onProgress: (p) => send({ type: "progress", file: p.file, loaded: p.loaded }) });
    send({ type: "ready", description: `${model.info.description}, ${model.info.weightType}` });
    return;
  }
  if (!model) throw new Error("The model is not loaded yet.");
  let tokens = 0;
  for await (const token of model.generate(message.prompt, { maxTokens: message.maxTokens, temperature: 0.8, seed: 1 })) {
    send({ type: "token", text: token.text });
    tokens++;
  }
  send({ type: "done", tokens });
}

addEventListener("message", (event: MessageEvent<ToWorker>) => {
  handle(event.data).catch(sendError);
});
