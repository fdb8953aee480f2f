// Mnemo's package root in Node (the "node" export condition): the browser API plus model
// paths on disk, WebGPU through Dawn (the `webgpu` package) and snapshot files.
import { installNodeHost } from "./host.js";
import { NODE_HOST } from "./node-host.js";
import { isWebGpuAvailable as isWebGpuAvailableInHost, loadModel as loadModelInHost, type LoadModelOptions, type Model } from "./api.js";
import type { ModelSource } from "./loading/model-files.js";
import { loadEncoder as loadEncoderInHost, type Encoder, type LoadEncoderOptions } from "./encoder-api.js";

installNodeHost(NODE_HOST);

export * from "./index.js";
export { saveSnapshotFile, loadSnapshotFile } from "./runtime/snapshot-file.js";
export { saveMemoryStoreFile, loadMemoryStoreFile } from "./memory/store-node.js";

/**
 * Loads GPT-2 (a Hugging Face safetensors folder or a GGUF file) or a recurrent LM (LSTM, plain RNN). `source` is
 * a folder or file path, a URL, or an object of buffers keyed by file name. WebGPU comes
 * from Dawn; on Linux without a GPU, from SwiftShader when Debian's chromium is installed.
 */
export function loadModel(source: ModelSource, options?: LoadModelOptions): Promise<Model> {
  installNodeHost(NODE_HOST); // again here: a bundler may have dropped this module's top level
  return loadModelInHost(source, options);
}

/** Loads a BERT encoder (see the browser entry's loadEncoder); WebGPU comes from Dawn. */
export function loadEncoder(source: ModelSource, options?: LoadEncoderOptions): Promise<Encoder> {
  installNodeHost(NODE_HOST);
  return loadEncoderInHost(source, options);
}

/** True in Node: WebGPU comes from Dawn (an adapter is still needed; see {@link loadModel}). */
export function isWebGpuAvailable(): boolean {
  installNodeHost(NODE_HOST);
  return isWebGpuAvailableInHost();
}
