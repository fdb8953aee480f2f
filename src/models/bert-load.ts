// Loads a BERT encoder from Hugging Face files: config.json, model.safetensors (BertModel
// names, or BertForMaskedLM's with the `bert.` prefix and the `cls.predictions` head) and the
// WordPiece tokenizer (tokenizer.json, or vocab.txt + tokenizer_config.json). Weights are
// read as f32 (F32, F16 or BF16 files) and uploaded as f32, f16 or Q8_0; LayerNorms, biases
// and the position-type table stay f32.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { GpuTensor } from "../gpu/tensor.js";
import type { WeightType } from "../base/dtype.js";
import { openSafetensors, type SafetensorsFile } from "../formats/safetensors.js";
import { releaseTensor, uploadMatrix, uploadVector } from "../kernels/weights.js";
import { readJson, readText, type ModelFiles } from "../loading/file-set.js";
import { wordPieceFromTokenizerJson, wordPieceFromVocabTxt, type WordPieceTokenizer } from "../tokenizers/wordpiece.js";
import { modelFingerprint } from "./fingerprint.js";
import { convert } from "./gpt2-load.js";
import { parseBertConfig, type BertConfig } from "./bert-config.js";
import { BertModel, type BertLayerWeights, type BertWeights, type NormWeights } from "./bert.js";

/** Weight types an encoder's matrices can have on the GPU. */
export type EncoderWeightType = "f32" | "f16" | "q8_0";

/** Reads BERT tensors by their BertModel names, whatever prefix the file uses. */
class BertTensors {
  private readonly prefix: string;

  constructor(
    private readonly file: SafetensorsFile,
    private readonly c: BertConfig,
  ) {
    this.prefix = file.tensors.has("bert.embeddings.word_embeddings.weight") ? "bert." : "";
    if (!file.tensors.has(`${this.prefix}embeddings.word_embeddings.weight`)) {
      throw new MnemoError("BAD_MODEL_FILE", 'The BERT weights have no "embeddings.word_embeddings.weight" (nor "bert.embeddings.word_embeddings.weight").');
    }
  }

  /** The file's name for `name` (prefixed unless it is a head's `cls.` tensor). */
  private full(name: string): string {
    return name.startsWith("cls.") ? name : this.prefix + name;
  }

  has(name: string): boolean {
    return this.file.tensors.has(this.full(name));
  }

  /** A tensor's bytes as stored (the fingerprint's input). */
  raw(name: string): Promise<Uint8Array> {
    return this.file.readRaw(this.full(name));
  }

  /** Reads `name` as f32, checking its shape. */
  async read(name: string, shape: readonly number[]): Promise<Float32Array> {
    const full = this.full(name);
    if (!this.file.tensors.has(full)) throw new MnemoError("BAD_MODEL_FILE", `The BERT weights have no tensor "${full}".`);
    const info = this.file.tensor(full);
    if (info.shape.join() !== shape.join()) {
      throw new MnemoError("BAD_MODEL_FILE", `Tensor "${full}" is [${info.shape}] but config.json implies [${shape}]; the config does not match the weights.`);
    }
    return this.file.readF32(full);
  }

  get config(): BertConfig {
    return this.c;
  }
}

/** Uploads BERT's weights: matrices in `weightType`, everything else f32. */
async function uploadBert(gpu: Gpu, t: BertTensors, weightType: EncoderWeightType, uploaded: GpuTensor[]): Promise<BertWeights> {
  const c = t.config;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const keep = (g: GpuTensor) => (uploaded.push(g), g);
  const matrix = async (label: string, data: Float32Array, N: number, K: number) => {
    if (weightType === "q8_0" && K % 32 !== 0) throw new MnemoError("UNSUPPORTED_MODEL", `Q8_0 needs rows of a multiple of 32 values; ${label} has ${K}.`);
    return keep(uploadMatrix(gpu, label, convert({ host: { dtype: "f32", data }, layout: "NK" }, N, K, weightType), [N, K]));
  };
  const vector = async (name: string, n: number) => keep(uploadVector(gpu, name, await t.read(name, [n])));
  const norm = async (name: string): Promise<NormWeights> => ({ gamma: await vector(`${name}.weight`, H), beta: await vector(`${name}.bias`, H) });

  // Position p of token type t is row t · P + p: one lookup adds both (see src/models/bert.ts).
  const P = c.maxPositions;
  const T = c.typeVocabSize;
  const pos = await t.read("embeddings.position_embeddings.weight", [P, H]);
  const types = await t.read("embeddings.token_type_embeddings.weight", [T, H]);
  const table = new Float32Array(T * P * H);
  for (let ty = 0; ty < T; ty++) for (let i = 0; i < P * H; i++) table[ty * P * H + i] = pos[i] + types[ty * H + (i % H)];

  const layers: BertLayerWeights[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.layer.${l}.`;
    const qkv = new Float32Array(3 * H * H);
    const qkvBias = new Float32Array(3 * H);
    for (const [i, part] of ["query", "key", "value"].entries()) {
      qkv.set(await t.read(`${p}attention.self.${part}.weight`, [H, H]), i * H * H);
      qkvBias.set(await t.read(`${p}attention.self.${part}.bias`, [H]), i * H);
    }
    layers.push({
      qkv: await matrix(`${p}qkv`, qkv, 3 * H, H),
      qkvBias: keep(uploadVector(gpu, `${p}qkv.bias`, qkvBias)),
      proj: await matrix(`${p}attention.output.dense`, await t.read(`${p}attention.output.dense.weight`, [H, H]), H, H),
      projBias: await vector(`${p}attention.output.dense.bias`, H),
      attentionNorm: await norm(`${p}attention.output.LayerNorm`),
      fc1: await matrix(`${p}intermediate.dense`, await t.read(`${p}intermediate.dense.weight`, [I, H]), I, H),
      fc1Bias: await vector(`${p}intermediate.dense.bias`, I),
      fc2: await matrix(`${p}output.dense`, await t.read(`${p}output.dense.weight`, [H, I]), H, I),
      fc2Bias: await vector(`${p}output.dense.bias`, H),
      outputNorm: await norm(`${p}output.LayerNorm`),
    });
  }
  if (t.has(`encoder.layer.${c.numLayers}.attention.self.query.weight`))
    throw new MnemoError("BAD_MODEL_FILE", `The weights have more encoder layers than config.json's num_hidden_layers (${c.numLayers}).`);

  const weights: BertWeights = {
    wordEmbeddings: await matrix("embeddings.word_embeddings", await t.read("embeddings.word_embeddings.weight", [c.vocabSize, H]), c.vocabSize, H),
    positionTypeTable: keep(uploadMatrix(gpu, "embeddings.position_type", { dtype: "f32", data: table }, [T * P, H])),
    embeddingNorm: await norm("embeddings.LayerNorm"),
    layers,
  };
  if (t.has("pooler.dense.weight")) {
    weights.pooler = {
      w: await matrix("pooler.dense", await t.read("pooler.dense.weight", [H, H]), H, H),
      b: await vector("pooler.dense.bias", H),
    };
  }
  if (t.has("cls.predictions.transform.dense.weight")) {
    weights.mlm = {
      w: await matrix("cls.predictions.transform.dense", await t.read("cls.predictions.transform.dense.weight", [H, H]), H, H),
      b: await vector("cls.predictions.transform.dense.bias", H),
      norm: await norm("cls.predictions.transform.LayerNorm"),
      bias: keep(uploadVector(gpu, "cls.predictions.bias", await t.read("cls.predictions.bias", [c.vocabSize]))),
    };
  }
  return weights;
}

async function bertTokenizer(files: ModelFiles, c: BertConfig): Promise<WordPieceTokenizer> {
  const json = await readJson(files, "tokenizer.json");
  const config = ((await readJson(files, "tokenizer_config.json")) ?? {}) as Record<string, unknown>;
  let tok: WordPieceTokenizer;
  if (json !== null) tok = wordPieceFromTokenizerJson(json);
  else {
    const vocab = await readText(files, "vocab.txt");
    if (vocab === null) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: a BERT model needs tokenizer.json or vocab.txt.`);
    tok = wordPieceFromVocabTxt(vocab, config);
  }
  if (tok.vocabSize !== c.vocabSize) {
    throw new MnemoError("BAD_MODEL_FILE", `The tokenizer has ${tok.vocabSize} word pieces but config.json's vocab_size is ${c.vocabSize}.`);
  }
  return tok;
}

/** Loads a BERT encoder onto the GPU, its matrices in `weightType` (default f32). */
export async function loadBert(gpu: Gpu, files: ModelFiles, configJson: unknown, opts: { weightType?: EncoderWeightType; weightsName?: string } = {}): Promise<BertModel> {
  const config = parseBertConfig(configJson);
  const weightType: WeightType = opts.weightType ?? "f32";
  if (weightType !== "f32" && weightType !== "f16" && weightType !== "q8_0") throw new MnemoError("UNSUPPORTED_MODEL", `A BERT encoder runs in f32, f16 or q8_0, not ${weightType}.`);
  const weightsName = opts.weightsName ?? "model.safetensors";
  const source = await files.tryGet(weightsName);
  if (!source) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no ${weightsName}.`);
  const file = await openSafetensors(source);
  const tokenizer = await bertTokenizer(files, config);
  const uploaded: GpuTensor[] = [];
  try {
    const tensors = new BertTensors(file, config);
    const weights = await uploadBert(gpu, tensors, weightType, uploaded);
    const word = await tensors.raw("embeddings.word_embeddings.weight");
    const fp = await modelFingerprint([JSON.stringify(config), weightType, word.subarray(0, Math.min(word.byteLength, 1 << 16))]);
    return new BertModel(gpu, config, weights, tokenizer, weightType, fp);
  } catch (e) {
    for (const t of uploaded) releaseTensor(gpu, t);
    throw e;
  }
}
