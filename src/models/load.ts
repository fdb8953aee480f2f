// Detects what kind of model a set of files holds and loads it.
import type { KernelOptions } from "./gpt2-tune.js";
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { readJson, type ModelFiles } from "../loading/file-set.js";
import type { WeightType } from "../base/dtype.js";
import { loadGpt2 } from "./gpt2-load.js";
import type { LanguageModel } from "./types.js";

export interface LoadLanguageModelOptions {
  /** Convert GPT-2 matrices on load. */
  quant?: WeightType;
  keepTokenTableF16?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** How GPT-2's decode kernels are chosen (default: measured on the adapter). */
  kernels?: KernelOptions;
}

/** The weights file to use: the one named, a .gguf, or model.safetensors. */
function weightsFile(files: ModelFiles): string {
  if (files.primary) return files.primary;
  const names = files.knownNames();
  const gguf = names.filter((n) => n.endsWith(".gguf"));
  if (gguf.length === 1) return gguf[0];
  if (gguf.length > 1 && !names.includes("model.safetensors")) {
    throw new MnemoError("BAD_INPUT", `${files.origin} holds several .gguf files (${gguf.join(", ")}); name the one to load.`);
  }
  return "model.safetensors";
}

/** Loads GPT-2 (safetensors or GGUF) or a recurrent LM (LSTM, plain RNN) from `files`, then closes them. */
export async function loadLanguageModel(gpu: Gpu, files: ModelFiles, opts: LoadLanguageModelOptions = {}): Promise<LanguageModel> {
  try {
    return await loadFrom(gpu, files, opts);
  } finally {
    await files.close?.();
  }
}

async function loadFrom(gpu: Gpu, files: ModelFiles, opts: LoadLanguageModelOptions): Promise<LanguageModel> {
  const weights = weightsFile(files);
  if (weights.endsWith(".gguf")) return loadGpt2(gpu, files, weights, opts);
  const config = (await readJson(files, "config.json")) as Record<string, unknown> | null;
  if (!config) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no config.json (and no .gguf file).`);
  if (config.model_type === "lstm" || config.model_type === "rnn") {
    if (opts.quant && opts.quant !== "f32") {
      throw new MnemoError("UNSUPPORTED_MODEL", `${config.model_type.toUpperCase()} models run in f32; --quant ${opts.quant} applies to GPT-2 only.`);
    }
    const { loadRecurrent } = await import("./recurrent-load.js");
    return loadRecurrent(gpu, files, config, weights);
  }
  if (config.model_type === "gpt2" || config.model_type === undefined) return loadGpt2(gpu, files, weights, opts);
  if (config.model_type === "bert") throw new MnemoError("UNSUPPORTED_MODEL", "BERT is an encoder, not a language model that generates: load it with loadEncoder().");
  throw new MnemoError("UNSUPPORTED_MODEL", `Model type ${JSON.stringify(config.model_type)} is not supported (GPT-2, LSTM and RNN are).`);
}
