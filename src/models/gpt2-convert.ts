// Converts a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer files) into
// a GGUF v3 file under llama.cpp's GPT-2 tensor names and metadata keys, so the file opens in
// llama.cpp as well as in Mnemo. Matrices become F16, Q8_0 or Q4_0 (the token table may stay
// F16); norms, biases and the position table stay F32. No GPU involved.
// A synthetic GPT-2 (`synthetic:gpt2-124m`) converts too, with a made-up byte-level vocabulary,
// so llama.cpp can run the very weights Mnemo's synthetic models measure.
import type { WeightType } from "../base/dtype.js";
import { MnemoError } from "../errors.js";
import type { GgufTensorInput } from "../formats/gguf-writer.js";
import { ggufChunks } from "../formats/gguf-writer.js";
import type { GgufTypedValue } from "../formats/gguf.js";
import { openSafetensors } from "../formats/safetensors.js";
import { readJson, type ModelFiles } from "../loading/file-set.js";
import { BpeTokenizer, byteTables } from "../tokenizers/bpe.js";
import { parseGpt2Config, type Gpt2Config } from "./gpt2-config.js";
import { convert, ggufName, safetensorsReader, tokenizerFrom, type Gpt2TensorReader } from "./gpt2-load.js";
import { syntheticGpt2Source } from "./synthetic.js";

/** Weight types a converted file can have (llama.cpp's `general.file_type` in brackets). */
export type GgufWeightType = Exclude<WeightType, "f32">;
const FILE_TYPE: Record<GgufWeightType, number> = { f16: 1, q8_0: 7, q4_0: 2 };

export interface Gpt2ToGgufOptions {
  type: GgufWeightType;
  /** Keep token_embd (embedding and tied LM head) in F16 while other matrices quantize. */
  keepTokenTableF16?: boolean;
  /** general.name (default: the folder's name). */
  name?: string;
  onProgress?: (done: number, total: number) => void;
}

function bytesOf(v: Float32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function metadata(cfg: Gpt2Config, name: string, type: GgufWeightType, tok: BpeTokenizer | null): [string, GgufTypedValue][] {
  const u32 = (value: number): GgufTypedValue => ({ type: "u32", value });
  const out: [string, GgufTypedValue][] = [
    ["general.architecture", { type: "string", value: "gpt2" }],
    ["general.name", { type: "string", value: name }],
    ["general.file_type", u32(FILE_TYPE[type])],
    ["gpt2.context_length", u32(cfg.nPositions)],
    ["gpt2.embedding_length", u32(cfg.nEmbd)],
    ["gpt2.feed_forward_length", u32(cfg.nInner)],
    ["gpt2.block_count", u32(cfg.nLayer)],
    ["gpt2.attention.head_count", u32(cfg.nHead)],
    ["gpt2.attention.layer_norm_epsilon", { type: "f32", value: cfg.layerNormEpsilon }],
  ];
  if (tok) {
    const { tokens, merges, specialIds } = tok.toGgufVocab();
    if (tokens.length !== cfg.vocabSize) {
      throw new MnemoError("BAD_MODEL_FILE", `The tokenizer has ${tokens.length} tokens but config.json's vocab_size is ${cfg.vocabSize}.`);
    }
    const special = new Set(specialIds);
    out.push(
      ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
      ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
      ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
      // 1 = normal, 3 = control (llama.cpp's token types).
      ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: tokens.map((_, id) => (special.has(id) ? 3 : 1)) }],
      ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
    );
    if (tok.eosId !== undefined) {
      out.push(["tokenizer.ggml.bos_token_id", u32(tok.eosId)], ["tokenizer.ggml.eos_token_id", u32(tok.eosId)]);
    }
    out.push(["tokenizer.ggml.add_bos_token", { type: "bool", value: false }]);
  }
  return out;
}

/** HF tensor names of a GPT-2 in file order, with their [N, K] shape when a matrix. */
function tensorPlan(cfg: Gpt2Config, hasLmHead: boolean): { name: string; matrix?: [number, number] }[] {
  const D = cfg.nEmbd;
  const plan: { name: string; matrix?: [number, number] }[] = [
    { name: "wte.weight", matrix: [cfg.vocabSize, D] },
    { name: "wpe.weight", matrix: [cfg.nPositions, D] },
  ];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `h.${l}.`;
    plan.push(
      { name: `${p}ln_1.weight` },
      { name: `${p}ln_1.bias` },
      { name: `${p}attn.c_attn.weight`, matrix: [3 * D, D] },
      { name: `${p}attn.c_attn.bias` },
      { name: `${p}attn.c_proj.weight`, matrix: [D, D] },
      { name: `${p}attn.c_proj.bias` },
      { name: `${p}ln_2.weight` },
      { name: `${p}ln_2.bias` },
      { name: `${p}mlp.c_fc.weight`, matrix: [cfg.nInner, D] },
      { name: `${p}mlp.c_fc.bias` },
      { name: `${p}mlp.c_proj.weight`, matrix: [D, cfg.nInner] },
      { name: `${p}mlp.c_proj.bias` },
    );
  }
  plan.push({ name: "ln_f.weight" }, { name: "ln_f.bias" });
  if (hasLmHead) plan.push({ name: "lm_head.weight", matrix: [cfg.vocabSize, D] });
  return plan;
}

/** What a conversion reads: the config, the tensors and (when there is one) the tokenizer. */
export interface Gpt2Source {
  cfg: Gpt2Config;
  reader: Gpt2TensorReader;
  tokenizer: BpeTokenizer | null;
  /** general.name, unless the options name one. */
  name: string;
}

/**
 * Converts a GPT-2 folder to GGUF. Returns the file as chunks (header, then each tensor), so
 * a caller can stream them to disk or join them in memory.
 */
export async function gpt2ToGguf(files: ModelFiles, opts: Gpt2ToGgufOptions): Promise<Uint8Array[]> {
  checkType(opts);
  const configJson = await readJson(files, "config.json");
  if (!configJson) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no config.json.`);
  const cfg = parseGpt2Config(configJson);
  const source = await files.tryGet("model.safetensors");
  if (!source) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no model.safetensors.`);
  const reader = safetensorsReader(await openSafetensors(source));
  const tok = await tokenizerFrom(files, null);
  const name = files.origin.split(/[\\/]/).filter(Boolean).pop() ?? "gpt2";
  return gpt2SourceToGguf({ cfg, reader, tokenizer: tok instanceof BpeTokenizer ? tok : null, name }, opts);
}

/**
 * Converts `synthetic:<gpt2 shape>` to GGUF: the same deterministic weights the synthetic
 * model uploads, and a synthetic vocabulary (llama.cpp refuses a GPT-2 file without one).
 */
export async function syntheticToGguf(source: string, opts: Gpt2ToGgufOptions): Promise<Uint8Array[]> {
  checkType(opts);
  const { cfg, reader } = syntheticGpt2Source(source);
  return gpt2SourceToGguf({ cfg, reader, tokenizer: syntheticVocabulary(cfg.vocabSize), name: source }, opts);
}

/**
 * A valid GPT-2 byte-level BPE vocabulary of `vocabSize` tokens with no language in it: the
 * 256 byte tokens, then two-byte tokens (one merge each) in byte order, and `<|endoftext|>`
 * last. Every token decodes to bytes, so llama.cpp can tokenize and detokenize with it.
 */
export function syntheticVocabulary(vocabSize: number): BpeTokenizer {
  const { toChar } = byteTables();
  const pairs = vocabSize - 257;
  if (pairs < 0 || pairs > 256 * 256) throw new MnemoError("BAD_INPUT", `A synthetic vocabulary needs 257 to ${257 + 256 * 256} tokens, not ${vocabSize}.`);
  const tokens = [...toChar];
  const merges: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const a = toChar[i >> 8];
    const b = toChar[i & 255];
    tokens.push(a + b);
    merges.push(`${a} ${b}`);
  }
  tokens.push("<|endoftext|>");
  return BpeTokenizer.fromGgufVocab(tokens, merges, { eosId: vocabSize - 1 });
}

function checkType(opts: Gpt2ToGgufOptions): void {
  if (!(opts.type in FILE_TYPE)) throw new MnemoError("BAD_INPUT", `GGUF weight type must be f16, q8_0 or q4_0, got ${JSON.stringify(opts.type)}.`);
}

/** Writes any GPT-2 source as GGUF chunks (see `gpt2ToGguf`). */
export async function gpt2SourceToGguf(src: Gpt2Source, opts: Gpt2ToGgufOptions): Promise<Uint8Array[]> {
  checkType(opts);
  const { cfg, reader } = src;
  const plan = tensorPlan(cfg, reader.has("lm_head.weight"));
  const tensors: GgufTensorInput[] = [];
  for (const [i, t] of plan.entries()) {
    if (!reader.has(t.name)) throw new MnemoError("BAD_MODEL_FILE", `The GPT-2 weights have no tensor "${t.name}".`);
    if (t.matrix) {
      const [N, K] = t.matrix;
      const isTable = t.name === "wte.weight" || t.name === "lm_head.weight";
      const want = t.name === "wpe.weight" ? "f32" : isTable && opts.keepTokenTableF16 ? "f16" : opts.type;
      const host = convert(await reader.matrix(t.name, want), N, K, want);
      const data = host.dtype === "f16" ? bytesOf(host.data) : host.dtype === "f32" ? bytesOf(host.data) : host.data;
      tensors.push({ name: ggufName(t.name), type: host.dtype.toUpperCase(), dims: [K, N], data });
    } else {
      const v = await reader.vector(t.name);
      tensors.push({ name: ggufName(t.name), type: "F32", dims: [v.length], data: bytesOf(v) });
    }
    opts.onProgress?.(i + 1, plan.length);
  }
  return [...ggufChunks({ metadata: metadata(cfg, opts.name ?? src.name, opts.type, src.tokenizer), tensors })];
}
