// GPT-2 hyper-parameters from a Hugging Face config.json, refusing by name what Mnemo's
// kernels do not implement.
import { MnemoError } from "../errors.js";

export interface Gpt2Config {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nPositions: number;
  vocabSize: number;
  nInner: number;
  layerNormEpsilon: number;
}

function unsupported(what: string): never {
  throw new MnemoError("UNSUPPORTED_MODEL", `This GPT-2 config uses ${what}, which Mnemo does not support.`);
}

function positiveInt(c: Record<string, unknown>, key: string, fallback?: string): number {
  const v = c[key] ?? (fallback ? c[fallback] : undefined);
  if (!Number.isInteger(v) || (v as number) <= 0) {
    throw new MnemoError("BAD_MODEL_FILE", `config.json: "${key}" must be a positive integer, got ${JSON.stringify(v)}.`);
  }
  return v as number;
}

/** Parses and checks a GPT-2 config.json object. */
export function parseGpt2Config(json: unknown): Gpt2Config {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new MnemoError("BAD_MODEL_FILE", "config.json is not a JSON object.");
  const c = json as Record<string, unknown>;
  if (c.model_type !== undefined && c.model_type !== "gpt2") unsupported(`model_type ${JSON.stringify(c.model_type)}`);
  const act = c.activation_function ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") unsupported(`activation_function ${JSON.stringify(act)} (only the tanh GELU "gelu_new")`);
  if (c.scale_attn_by_inverse_layer_idx === true) unsupported("scale_attn_by_inverse_layer_idx");
  if (c.reorder_and_upcast_attn === true) unsupported("reorder_and_upcast_attn");
  if (c.add_cross_attention === true) unsupported("add_cross_attention");
  if (c.scale_attn_weights === false) unsupported("scale_attn_weights = false");
  const nEmbd = positiveInt(c, "n_embd");
  const nHead = positiveInt(c, "n_head");
  if (nEmbd % nHead !== 0) throw new MnemoError("BAD_MODEL_FILE", `config.json: n_embd ${nEmbd} is not divisible by n_head ${nHead}.`);
  const eps = c.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps > 0)) throw new MnemoError("BAD_MODEL_FILE", "config.json: layer_norm_epsilon must be a positive number.");
  const nInner = c.n_inner === null || c.n_inner === undefined ? 4 * nEmbd : positiveInt(c, "n_inner");
  return {
    nEmbd,
    nHead,
    nLayer: positiveInt(c, "n_layer"),
    nPositions: positiveInt(c, "n_positions", "n_ctx"),
    vocabSize: positiveInt(c, "vocab_size"),
    nInner,
    layerNormEpsilon: eps,
  };
}
