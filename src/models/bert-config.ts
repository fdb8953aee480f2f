// BERT encoder hyper-parameters from a Hugging Face config.json (BertModel,
// BertForMaskedLM, and sentence encoders in BERT's layout such as all-MiniLM-L6-v2).
import { MnemoError } from "../errors.js";

/** The GELU a config names: Hugging Face's "gelu" is erf's, "gelu_new" (and "gelu_pytorch_tanh") the tanh form GPT-2 uses. */
export type BertActivation = "gelu_erf" | "gelu";

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  activation: BertActivation;
}

const LIMITS = {
  vocab_size: 1 << 20,
  hidden_size: 1 << 14,
  num_hidden_layers: 256,
  num_attention_heads: 1024,
  intermediate_size: 1 << 16,
  max_position_embeddings: 1 << 16,
  type_vocab_size: 1 << 10,
};

function sizeField(c: Record<string, unknown>, key: keyof typeof LIMITS, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (!Number.isInteger(v) || (v as number) <= 0 || (v as number) > LIMITS[key]) {
    throw new MnemoError("BAD_MODEL_FILE", `config.json: "${key}" must be an integer in 1..${LIMITS[key]}, got ${JSON.stringify(v)}.`);
  }
  return v as number;
}

const ACTIVATIONS: Record<string, BertActivation> = { gelu: "gelu_erf", gelu_new: "gelu", gelu_pytorch_tanh: "gelu" };

/** Parses and checks a BERT config.json object; refuses by name what the encoder does not run. */
export function parseBertConfig(json: unknown): BertConfig {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new MnemoError("BAD_MODEL_FILE", "config.json is not a JSON object.");
  const c = json as Record<string, unknown>;
  if (c.model_type !== "bert") throw new MnemoError("UNSUPPORTED_MODEL", `Not a BERT config (model_type ${JSON.stringify(c.model_type)}).`);
  const position = c.position_embedding_type ?? "absolute";
  if (position !== "absolute") {
    throw new MnemoError("UNSUPPORTED_MODEL", `BERT position_embedding_type ${JSON.stringify(position)} is not supported (only "absolute").`);
  }
  const act = c.hidden_act ?? "gelu";
  const activation = typeof act === "string" ? ACTIVATIONS[act] : undefined;
  if (!activation) throw new MnemoError("UNSUPPORTED_MODEL", `BERT hidden_act ${JSON.stringify(act)} is not supported ("gelu", "gelu_new" or "gelu_pytorch_tanh").`);
  if (c.is_decoder === true || c.add_cross_attention === true)
    throw new MnemoError("UNSUPPORTED_MODEL", "A BERT decoder (is_decoder, add_cross_attention) is not supported: Mnemo runs BERT as an encoder.");
  const eps = c.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps >= 0) || !Number.isFinite(eps))
    throw new MnemoError("BAD_MODEL_FILE", `config.json: "layer_norm_eps" must be a finite number >= 0, got ${JSON.stringify(eps)}.`);
  const cfg: BertConfig = {
    vocabSize: sizeField(c, "vocab_size"),
    hiddenSize: sizeField(c, "hidden_size"),
    numLayers: sizeField(c, "num_hidden_layers"),
    numHeads: sizeField(c, "num_attention_heads"),
    intermediateSize: sizeField(c, "intermediate_size"),
    maxPositions: sizeField(c, "max_position_embeddings"),
    typeVocabSize: sizeField(c, "type_vocab_size", 2),
    layerNormEps: eps,
    activation,
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new MnemoError("BAD_MODEL_FILE", `config.json: hidden_size ${cfg.hiddenSize} is not a multiple of num_attention_heads ${cfg.numHeads}.`);
  }
  return cfg;
}
