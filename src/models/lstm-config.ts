// LSTM language-model hyper-parameters from config.json (the layout of
// weights/lstm-shakespeare: embedding → stacked LSTM → linear head).
import { MnemoError } from "../errors.js";

export interface LstmConfig {
  vocabSize: number;
  embeddingDim: number;
  hiddenSize: number;
  numLayers: number;
  /** "char": vocab.json lists the characters; "none": ids only. */
  tokenizer: "char" | "none";
}

/** Sizes above these are refused before any allocation (they would not fit a GPU buffer anyway). */
const LIMITS = { vocab_size: 1 << 20, embedding_dim: 1 << 16, hidden_size: 1 << 14, num_layers: 64 };

function sizeField(c: Record<string, unknown>, key: keyof typeof LIMITS): number {
  const v = c[key];
  if (!Number.isInteger(v) || (v as number) <= 0 || (v as number) > LIMITS[key]) {
    throw new MnemoError("BAD_MODEL_FILE", `config.json: "${key}" must be an integer in 1..${LIMITS[key]}, got ${JSON.stringify(v)}.`);
  }
  return v as number;
}

/** Parses and checks an LSTM config.json object. */
export function parseLstmConfig(json: unknown): LstmConfig {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new MnemoError("BAD_MODEL_FILE", "config.json is not a JSON object.");
  const c = json as Record<string, unknown>;
  if (c.model_type !== "lstm") throw new MnemoError("UNSUPPORTED_MODEL", `Not an LSTM config (model_type ${JSON.stringify(c.model_type)}).`);
  const tokenizer = c.tokenizer ?? "none";
  if (tokenizer !== "char" && tokenizer !== "none") {
    throw new MnemoError("UNSUPPORTED_MODEL", `LSTM tokenizer ${JSON.stringify(tokenizer)} is not supported ("char" or "none").`);
  }
  return {
    vocabSize: sizeField(c, "vocab_size"),
    embeddingDim: sizeField(c, "embedding_dim"),
    hiddenSize: sizeField(c, "hidden_size"),
    numLayers: sizeField(c, "num_layers"),
    tokenizer,
  };
}
