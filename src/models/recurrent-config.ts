// Recurrent language-model hyper-parameters from config.json (the layout of
// weights/lstm-shakespeare: embedding → stacked LSTM or plain RNN → linear head).
import { MnemoError } from "../errors.js";
import type { RnnNonlinearity } from "../kernels/rnn.js";

/** The recurrent cell: PyTorch nn.LSTM (four gates, an (h, c) state) or nn.RNN (h only). */
export type RecurrentCell = "lstm" | "rnn";

export interface RecurrentConfig {
  /** config.json's `model_type`. */
  cell: RecurrentCell;
  /** The plain RNN's `nonlinearity` (nn.RNN's default "tanh"); an LSTM's is always "tanh". */
  nonlinearity: RnnNonlinearity;
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

function nonlinearityOf(c: Record<string, unknown>, cell: RecurrentCell): RnnNonlinearity {
  const v = c.nonlinearity ?? "tanh";
  if (cell === "lstm" && v !== "tanh") throw new MnemoError("UNSUPPORTED_MODEL", `An LSTM has no "nonlinearity" choice (got ${JSON.stringify(v)}).`);
  if (v !== "tanh" && v !== "relu") throw new MnemoError("UNSUPPORTED_MODEL", `RNN nonlinearity ${JSON.stringify(v)} is not supported ("tanh" or "relu", as in nn.RNN).`);
  return v;
}

/** Parses and checks an LSTM or plain-RNN config.json object. */
export function parseRecurrentConfig(json: unknown): RecurrentConfig {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new MnemoError("BAD_MODEL_FILE", "config.json is not a JSON object.");
  const c = json as Record<string, unknown>;
  if (c.model_type !== "lstm" && c.model_type !== "rnn") {
    throw new MnemoError("UNSUPPORTED_MODEL", `Not an LSTM or RNN config (model_type ${JSON.stringify(c.model_type)}).`);
  }
  const cell: RecurrentCell = c.model_type;
  const tokenizer = c.tokenizer ?? "none";
  if (tokenizer !== "char" && tokenizer !== "none") {
    throw new MnemoError("UNSUPPORTED_MODEL", `${cell.toUpperCase()} tokenizer ${JSON.stringify(tokenizer)} is not supported ("char" or "none").`);
  }
  return {
    cell,
    nonlinearity: nonlinearityOf(c, cell),
    vocabSize: sizeField(c, "vocab_size"),
    embeddingDim: sizeField(c, "embedding_dim"),
    hiddenSize: sizeField(c, "hidden_size"),
    numLayers: sizeField(c, "num_layers"),
    tokenizer,
  };
}

/** Gate rows per hidden unit in W_ih and W_hh: four for the LSTM (i, f, g, o), one for the plain RNN. */
export function gatesPerUnit(cell: RecurrentCell): number {
  return cell === "lstm" ? 4 : 1;
}
