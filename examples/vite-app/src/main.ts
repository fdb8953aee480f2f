// A textarea, a button and streamed text: the smallest page that runs a model with Mnemo.
// The model file is served with the page (public/model/); `?model=<url>` picks another.
import { isMnemoError, isWebGpuAvailable, loadModel, type Model } from "mnemo-webgpu";

const promptBox = document.querySelector<HTMLTextAreaElement>("#prompt")!;
const button = document.querySelector<HTMLButtonElement>("#generate")!;
const output = document.querySelector<HTMLPreElement>("#output")!;
const status = document.querySelector<HTMLSpanElement>("#status")!;

const modelUrl = new URLSearchParams(location.search).get("model") ?? "model/gpt2-gutenberg-q8_0.gguf";

/** The page's state, also read by tests: loading, ready, generating, done or error. */
function setState(state: string, text: string): void {
  document.body.dataset.state = state;
  status.textContent = text;
}

function showError(err: unknown): void {
  setState("error", isMnemoError(err) ? `${err.code}: ${err.message}` : String(err));
}

async function generate(model: Model): Promise<void> {
  button.disabled = true;
  setState("generating", "Generating…");
  output.textContent = promptBox.value;
  let tokens = 0;
  try {
    for await (const token of model.generate(promptBox.value, { maxTokens: 20, temperature: 0.8, seed: 1 })) {
      output.textContent += token.text;
      tokens++;
    }
    setState("done", `${tokens} tokens`);
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function start(): Promise<void> {
  if (!isWebGpuAvailable()) {
    setState("error", "This browser has no WebGPU: use a recent Chrome or Edge.");
    return;
  }
  const model = await loadModel(new URL(modelUrl, document.baseURI), {
    onProgress: (p) => (status.textContent = `Loading ${p.file}: ${Math.round(p.loaded / 1e6)} MB`),
  });
  setState("ready", `${model.info.description}, ${model.info.weightType}`);
  button.disabled = false;
  button.addEventListener("click", () => void generate(model));
}

start().catch(showError);
