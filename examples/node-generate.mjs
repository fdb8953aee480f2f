// Streams 20 tokens from a model on disk.
//   node node-generate.mjs <model folder or .gguf file> ["prompt"]
// A folder holds Hugging Face GPT-2 safetensors (config.json, model.safetensors, tokenizer
// files), a single .gguf, or an LSTM model. On Linux without a GPU, install SwiftShader
// first: `sudo apt-get install -y chromium libvulkan1`.
import { isMnemoError, loadModel } from "mnemo-webgpu";

const [modelPath, prompt = "It was a dark and stormy night"] = process.argv.slice(2);
if (!modelPath) {
  console.error('usage: node node-generate.mjs <model folder or .gguf file> ["prompt"]');
  process.exit(2);
}

try {
  const model = await loadModel(modelPath);
  try {
    let count = 0;
    process.stdout.write(prompt);
    for await (const token of model.generate(prompt, { maxTokens: 20, temperature: 0.8, seed: 1 })) {
      process.stdout.write(token.text);
      count++;
    }
    process.stdout.write("\n");
    console.error(`generated ${count} tokens with ${model.info.description} (${model.info.weightType}) on ${model.info.adapter}`);
  } finally {
    model.dispose();
  }
} catch (err) {
  // Every error Mnemo raises on purpose has a stable code and says what to do.
  if (isMnemoError(err)) console.error(`${err.code}: ${err.message}`);
  else console.error(err);
  process.exitCode = 1;
}
