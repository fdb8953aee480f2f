// Loads GPT-2 weights from a Hugging Face folder (config.json + model.safetensors, with or
// without the `transformer.` prefix) or from a GGUF file (llama.cpp's GPT-2 tensor names),
// optionally quantizing on load. Conv1D weights ([in, out]) are transposed to [out, in].
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { WeightType } from "../base/dtype.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { f16BitsToF32Array, f32ToF16Array } from "../formats/f16.js";
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from "../formats/quant.js";
import { openSafetensors, type SafetensorsFile } from "../formats/safetensors.js";
import { openGguf, type GgufFile } from "../formats/gguf.js";
import { releaseTensor, transposeToNK, uploadMatrix, uploadVector, type HostMatrix } from "../kernels/weights.js";
import { BpeTokenizer } from "../tokenizers/bpe.js";
import type { Tokenizer } from "../tokenizers/types.js";
import { readJson, readText, type ModelFiles } from "../loading/file-set.js";
import { chatTemplateFromConfig } from "../tokenizers/chat-config.js";
import { IdsOnlyTokenizer } from "../tokenizers/ids-only.js";
import { modelFingerprint } from "./fingerprint.js";
import { parseGpt2Config, type Gpt2Config } from "./gpt2-config.js";
import { Gpt2Model, type Gpt2Layer, type Gpt2Weights } from "./gpt2.js";
import { applyKernelChoices, type KernelOptions } from "./gpt2-tune.js";

export interface Gpt2LoadOptions {
  /** Convert matrices on load (default: keep what the file has). */
  quant?: WeightType;
  /** Keep the token table (embedding + LM head) in f16 while other matrices quantize. */
  keepTokenTableF16?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** How the decode kernels are chosen (default: measured on the adapter). */
  kernels?: KernelOptions;
}

/** Where a matrix comes from: values and the layout they are stored in. */
export type RawMatrix = { host: HostMatrix; layout: "NK" | "KN" };

/** Reads named tensors from one file format in the layouts GPT-2 needs. */
export interface Gpt2TensorReader {
  has(name: string): boolean;
  vector(name: string): Promise<Float32Array>;
  /**
   * `want`: the weight type the caller will convert to; a source that can produce it
   * directly may (the synthetic source draws quantized weights as quants), others ignore it.
   */
  matrix(name: string, want?: WeightType): Promise<RawMatrix>;
}

export function convert(raw: RawMatrix, N: number, K: number, quant: WeightType | undefined): HostMatrix {
  let m = raw.host;
  if (raw.layout === "KN") {
    if (m.dtype === "f32") m = { dtype: "f32", data: transposeToNK(m.data, K, N) };
    else if (m.dtype === "f16") m = { dtype: "f16", data: transposeToNK(m.data, K, N) };
    else throw new MnemoError("UNSUPPORTED_MODEL", "Quantized [in, out] matrices are not supported.");
  }
  if (!quant || quant === m.dtype) return m;
  // Quantized sources are dequantized exactly first (a GGUF may store even the position
  // table in Q8_0, while the embedding kernel adds it in f32).
  const n = N * K;
  const values = m.dtype === "f32" ? m.data : m.dtype === "f16" ? f16BitsToF32Array(m.data) : m.dtype === "q8_0" ? dequantizeQ8_0(m.data, n) : dequantizeQ4_0(m.data, n);
  switch (quant) {
    case "f32":
      return { dtype: "f32", data: values };
    case "f16":
      return { dtype: "f16", data: f32ToF16Array(values) };
    case "q8_0":
      return { dtype: "q8_0", data: quantizeQ8_0(values) };
    case "q4_0":
      return { dtype: "q4_0", data: quantizeQ4_0(values) };
  }
}

export function safetensorsReader(file: SafetensorsFile): Gpt2TensorReader {
  const names = new Set(file.tensors.keys());
  const prefix = names.has("transformer.wte.weight") ? "transformer." : "";
  const full = (n: string) => (n === "lm_head.weight" ? n : prefix + n);
  return {
    has: (n) => names.has(full(n)),
    vector: (n) => file.readF32(full(n)),
    async matrix(n) {
      const name = full(n);
      const dtype = file.tensor(name).dtype;
      // Token/position tables and lm_head are [rows, dim] already; Conv1D weights are [in, out].
      const layout = /(wte|wpe)\.weight$|^lm_head/.test(name) ? "NK" : "KN";
      if (dtype === "F16") return { host: { dtype: "f16", data: await file.readF16Bits(name) }, layout };
      return { host: { dtype: "f32", data: await file.readF32(name) }, layout };
    },
  };
}

/** HF GPT-2 names → llama.cpp GGUF names. */
export function ggufName(n: string): string {
  const fixed: Record<string, string> = {
    "wte.weight": "token_embd.weight",
    "wpe.weight": "position_embd.weight",
    "ln_f.weight": "output_norm.weight",
    "ln_f.bias": "output_norm.bias",
    "lm_head.weight": "output.weight",
  };
  if (fixed[n]) return fixed[n];
  const m = /^h\.(\d+)\.(.+)$/.exec(n);
  if (!m) return n;
  const parts: Record<string, string> = {
    ln_1: "attn_norm",
    "attn.c_attn": "attn_qkv",
    "attn.c_proj": "attn_output",
    ln_2: "ffn_norm",
    "mlp.c_fc": "ffn_up",
    "mlp.c_proj": "ffn_down",
  };
  const [, layer, rest] = m;
  const dot = rest.lastIndexOf(".");
  return `blk.${layer}.${parts[rest.slice(0, dot)] ?? rest.slice(0, dot)}.${rest.slice(dot + 1)}`;
}

function ggufReader(file: GgufFile): Gpt2TensorReader {
  const names = new Set(file.tensors.map((t) => t.name));
  return {
    has: (n) => names.has(ggufName(n)),
    vector: (n) => file.readF32(ggufName(n)),
    async matrix(n) {
      const name = ggufName(n);
      const info = file.tensor(name);
      const raw = await file.readTensor(name);
      switch (info.typeName) {
        case "F32":
          return { host: { dtype: "f32", data: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) }, layout: "NK" };
        case "F16":
          return { host: { dtype: "f16", data: new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2) }, layout: "NK" };
        case "Q8_0":
          return { host: { dtype: "q8_0", data: raw }, layout: "NK" };
        case "Q4_0":
          return { host: { dtype: "q4_0", data: raw }, layout: "NK" };
        default:
          throw new MnemoError("UNSUPPORTED_MODEL", `GGUF tensor ${name} has type ${info.typeName}; Mnemo reads F32, F16, Q8_0 and Q4_0.`);
      }
    },
  };
}

/** GPT-2 hyper-parameters from GGUF metadata (`gpt2.*`). */
function ggufConfig(file: GgufFile): Gpt2Config {
  const arch = file.getString("general.architecture");
  if (arch !== "gpt2") throw new MnemoError("UNSUPPORTED_MODEL", `GGUF architecture "${arch}" is not supported (only gpt2).`);
  const nEmbd = file.getNumber("gpt2.embedding_length");
  return parseGpt2Config({
    model_type: "gpt2",
    n_embd: nEmbd,
    n_layer: file.getNumber("gpt2.block_count"),
    n_head: file.getNumber("gpt2.attention.head_count"),
    n_positions: file.getNumber("gpt2.context_length"),
    n_inner: file.getNumber("gpt2.feed_forward_length", 4 * nEmbd),
    vocab_size: file.tensor("token_embd.weight").dims[1],
    layer_norm_epsilon: file.getNumber("gpt2.attention.layer_norm_epsilon", 1e-5),
  });
}

export async function uploadWeights(gpu: Gpu, cfg: Gpt2Config, r: Gpt2TensorReader, opts: Gpt2LoadOptions): Promise<{ weights: Gpt2Weights; weightType: WeightType }> {
  const need = (n: string) => {
    if (!r.has(n)) throw new MnemoError("BAD_MODEL_FILE", `The GPT-2 weights have no tensor "${n}".`);
  };
  const total = 4 + 12 * cfg.nLayer;
  let done = 0;
  const tick = () => opts.onProgress?.(++done, total);
  const uploaded: GpuTensor[] = [];
  const vec = async (n: string, len: number): Promise<GpuTensor> => {
    need(n);
    const v = await r.vector(n);
    if (v.length !== len) throw new MnemoError("BAD_MODEL_FILE", `Tensor "${n}" has ${v.length} values, the config needs ${len}.`);
    const t = uploadVector(gpu, n, v);
    uploaded.push(t);
    tick();
    return t;
  };
  let weightType: WeightType = "f32";
  const mat = async (n: string, N: number, K: number, quant = opts.quant): Promise<GpuTensor> => {
    need(n);
    const raw = await r.matrix(n, quant);
    const host = convert(raw, N, K, quant);
    const t = uploadMatrix(gpu, n, host, [N, K]);
    if (!n.startsWith("wpe")) weightType = host.dtype;
    uploaded.push(t);
    tick();
    return t;
  };
  const D = cfg.nEmbd;
  try {
    const tableQuant = opts.keepTokenTableF16 && (opts.quant === "q8_0" || opts.quant === "q4_0") ? "f16" : opts.quant;
    const wte = await mat("wte.weight", cfg.vocabSize, D, tableQuant);
    const wpe = await mat("wpe.weight", cfg.nPositions, D, "f32");
    const layers: Gpt2Layer[] = [];
    for (let l = 0; l < cfg.nLayer; l++) {
      const p = `h.${l}.`;
      layers.push({
        ln1: { g: await vec(`${p}ln_1.weight`, D), b: await vec(`${p}ln_1.bias`, D) },
        attnQkv: { w: await mat(`${p}attn.c_attn.weight`, 3 * D, D), b: await vec(`${p}attn.c_attn.bias`, 3 * D) },
        attnProj: { w: await mat(`${p}attn.c_proj.weight`, D, D), b: await vec(`${p}attn.c_proj.bias`, D) },
        ln2: { g: await vec(`${p}ln_2.weight`, D), b: await vec(`${p}ln_2.bias`, D) },
        mlpUp: { w: await mat(`${p}mlp.c_fc.weight`, cfg.nInner, D), b: await vec(`${p}mlp.c_fc.bias`, cfg.nInner) },
        mlpDown: { w: await mat(`${p}mlp.c_proj.weight`, D, cfg.nInner), b: await vec(`${p}mlp.c_proj.bias`, D) },
      });
    }
    const lnF = { g: await vec("ln_f.weight", D), b: await vec("ln_f.bias", D) };
    const lmHead = r.has("lm_head.weight") ? await mat("lm_head.weight", cfg.vocabSize, D) : undefined;
    return { weights: { wte, wpe, layers, lnF, lmHead }, weightType };
  } catch (e) {
    for (const t of uploaded) releaseTensor(gpu, t);
    throw e;
  }
}

/** The BPE tokenizer from tokenizer.json, vocab.json + merges.txt or GGUF metadata, with its chat template. */
export async function tokenizerFrom(files: ModelFiles, gguf: GgufFile | null): Promise<Tokenizer> {
  const tokenizer = await bpeFrom(files, gguf);
  if (!tokenizer) return new IdsOnlyTokenizer(files.origin);
  const config = await readJson(files, "tokenizer_config.json");
  if (config) {
    tokenizer.chat = chatTemplateFromConfig(config);
  } else if (gguf?.metadata.has("tokenizer.chat_template")) {
    const eos = tokenizer.eosId === undefined ? undefined : tokenizer.decode([tokenizer.eosId]);
    tokenizer.chat = { template: gguf.getString("tokenizer.chat_template"), eosToken: eos };
  }
  return tokenizer;
}

async function bpeFrom(files: ModelFiles, gguf: GgufFile | null): Promise<BpeTokenizer | null> {
  const json = await readJson(files, "tokenizer.json");
  if (json) return BpeTokenizer.fromTokenizerJson(json);
  const vocab = await readJson(files, "vocab.json");
  const merges = await readText(files, "merges.txt");
  if (vocab && merges !== null) return BpeTokenizer.fromVocabAndMerges(vocab, merges);
  if (gguf?.metadata.has("tokenizer.ggml.tokens")) {
    return BpeTokenizer.fromGgufVocab(gguf.getStringArray("tokenizer.ggml.tokens"), gguf.getStringArray("tokenizer.ggml.merges"), {
      eosId: gguf.metadata.has("tokenizer.ggml.eos_token_id") ? gguf.getNumber("tokenizer.ggml.eos_token_id") : undefined,
    });
  }
  return null;
}

/** Loads GPT-2 from safetensors or GGUF files. */
export async function loadGpt2(gpu: Gpu, files: ModelFiles, weightsName: string, opts: Gpt2LoadOptions = {}): Promise<Gpt2Model> {
  const source = await files.tryGet(weightsName);
  if (!source) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no ${weightsName}.`);
  const head = await source.read(0, Math.min(source.size, 1 << 16));
  if (weightsName.endsWith(".gguf")) {
    const gguf = await openGguf(source);
    const cfg = ggufConfig(gguf);
    const tokenizer = await tokenizerFrom(files, gguf);
    const { weights, weightType } = await uploadWeights(gpu, cfg, ggufReader(gguf), opts);
    const fp = await modelFingerprint([JSON.stringify(cfg), head, String(source.size), opts.quant ?? ""]);
    return tuned(new Gpt2Model(gpu, cfg, weights, tokenizer, weightType, fp), opts.kernels);
  }
  const configJson = await readJson(files, "config.json");
  if (!configJson) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no config.json next to ${weightsName}.`);
  const cfg = parseGpt2Config(configJson);
  const st = await openSafetensors(source);
  const tokenizer = await tokenizerFrom(files, null);
  const { weights, weightType } = await uploadWeights(gpu, cfg, safetensorsReader(st), opts);
  const fp = await modelFingerprint([JSON.stringify(cfg), head, String(source.size), opts.quant ?? ""]);
  return tuned(new Gpt2Model(gpu, cfg, weights, tokenizer, weightType, fp), opts.kernels);
}

/** The model with its kernels chosen; its weights are released if choosing fails. */
export async function tuned(model: Gpt2Model, kernels: KernelOptions | undefined): Promise<Gpt2Model> {
  try {
    return await applyKernelChoices(model, kernels);
  } catch (e) {
    model.dispose();
    throw e;
  }
}
