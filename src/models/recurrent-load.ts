// Loads a recurrent language model (LSTM or plain RNN): config.json, model.safetensors and
// (for "char" tokenizers) vocab.json. With G gate rows per unit (4 for the LSTM, 1 for the
// RNN) and the module named after the cell (`lstm.` or `rnn.`), two weight layouts are read:
//  - PyTorch nn.LSTM / nn.RNN (`embedding.weight`, `lstm.weight_ih_lK [G·H, in]`,
//    `lstm.weight_hh_lK [G·H, H]`, `lstm.bias_ih_lK`, `lstm.bias_hh_lK`, `head.weight [V, H]`,
//    `head.bias`);
//  - Keras LSTM / SimpleRNN (`…/embeddings [V, E]`, per layer `…/kernel [in, G·H]`,
//    `…/recurrent_kernel [H, G·H]`, one `…/bias [G·H]`, and a Dense head `…/kernel [H, V]`,
//    `…/bias`), the weight paths Keras gives (`lstm/lstm_cell/kernel`, `lstm_1/…`, …).
// Both use gate order i, f, g(c), o, so converting is a transpose. Everything becomes the
// PyTorch layout on the GPU, with the two PyTorch biases summed.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { openSafetensors, type SafetensorsFile } from "../formats/safetensors.js";
import { interleaveRecurrentWeights } from "../kernels/lstm.js";
import { transposeRecurrentWeights } from "../kernels/rnn.js";
import { releaseTensor, transposeToNK, uploadMatrix, uploadVector } from "../kernels/weights.js";
import { CharTokenizer } from "../tokenizers/char.js";
import { IdsOnlyTokenizer } from "../tokenizers/ids-only.js";
import type { Tokenizer } from "../tokenizers/types.js";
import { readJson, type ModelFiles } from "../loading/file-set.js";
import { modelFingerprint } from "./fingerprint.js";
import { gatesPerUnit, parseRecurrentConfig, type RecurrentConfig } from "./recurrent-config.js";
import { RecurrentModel, type RecurrentLayer, type RecurrentWeights } from "./recurrent.js";

/** Host-side weights in the PyTorch layout (what the GPU gets). */
export interface HostRecurrent {
  embedding: Float32Array;
  layers: { wIh: Float32Array; wHh: Float32Array; bias: Float32Array }[];
  headW: Float32Array;
  headB: Float32Array;
}

/** Reads a tensor as f32 and checks its shape against the config. */
async function tensor(file: SafetensorsFile, name: string, shape: readonly number[], what: string): Promise<Float32Array> {
  if (!file.tensors.has(name)) throw new MnemoError("BAD_MODEL_FILE", `The weights have no tensor "${name}" (${what}).`);
  const info = file.tensor(name);
  if (info.shape.join() !== shape.join()) {
    throw new MnemoError("BAD_MODEL_FILE", `Tensor "${name}" is [${info.shape}] but config.json implies [${shape}] (${what}); the config does not match the weights.`);
  }
  return file.readF32(name);
}

/** "4 × hidden_size" for the LSTM, "hidden_size" for the RNN (error messages). */
function rowsName(G: number): string {
  return G === 1 ? "hidden_size" : `${G} × hidden_size`;
}

async function readPytorch(file: SafetensorsFile, c: RecurrentConfig): Promise<HostRecurrent> {
  const H = c.hiddenSize;
  const G = gatesPerUnit(c.cell);
  const rows = rowsName(G);
  const m = c.cell;
  const layers: HostRecurrent["layers"] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const inDim = l === 0 ? c.embeddingDim : H;
    const bIh = await tensor(file, `${m}.bias_ih_l${l}`, [G * H], rows);
    const bHh = await tensor(file, `${m}.bias_hh_l${l}`, [G * H], rows);
    layers.push({
      wIh: await tensor(file, `${m}.weight_ih_l${l}`, [G * H, inDim], `[${rows}, input size]`),
      wHh: await tensor(file, `${m}.weight_hh_l${l}`, [G * H, H], `[${rows}, hidden_size]`),
      bias: bIh.map((v, i) => v + bHh[i]),
    });
  }
  if (file.tensors.has(`${m}.weight_ih_l${c.numLayers}`)) {
    throw new MnemoError("BAD_MODEL_FILE", `The weights have more ${m.toUpperCase()} layers than config.json's num_layers (${c.numLayers}).`);
  }
  return {
    embedding: await tensor(file, "embedding.weight", [c.vocabSize, c.embeddingDim], "[vocab_size, embedding_dim]"),
    layers,
    headW: await tensor(file, "head.weight", [c.vocabSize, H], "[vocab_size, hidden_size]"),
    headB: await tensor(file, "head.bias", [c.vocabSize], "vocab_size"),
  };
}

/** Keras layer order: "lstm" < "lstm_1" < "lstm_2" … (the number Keras appends). */
function kerasLayerIndex(prefix: string): number {
  const m = /_(\d+)$/.exec(prefix.split(/[/.]/)[0]);
  return m ? Number(m[1]) : 0;
}

async function readKeras(file: SafetensorsFile, c: RecurrentConfig): Promise<HostRecurrent> {
  const H = c.hiddenSize;
  const G = gatesPerUnit(c.cell);
  const rows = rowsName(G);
  const names = [...file.tensors.keys()];
  const prefixes = names
    .filter((n) => /[/.]recurrent_kernel$/.test(n))
    .map((n) => n.slice(0, -"recurrent_kernel".length))
    .sort((a, b) => kerasLayerIndex(a) - kerasLayerIndex(b) || a.localeCompare(b));
  if (prefixes.length !== c.numLayers) {
    throw new MnemoError("BAD_MODEL_FILE", `The Keras weights hold ${prefixes.length} recurrent layers, config.json says ${c.numLayers}.`);
  }
  const layers: HostRecurrent["layers"] = [];
  for (const [l, p] of prefixes.entries()) {
    const inDim = l === 0 ? c.embeddingDim : H;
    const kernel = await tensor(file, `${p}kernel`, [inDim, G * H], `[input size, ${rows}]`);
    const recurrent = await tensor(file, `${p}recurrent_kernel`, [H, G * H], `[hidden_size, ${rows}]`);
    layers.push({
      wIh: transposeToNK(kernel, inDim, G * H),
      wHh: transposeToNK(recurrent, H, G * H),
      bias: await tensor(file, `${p}bias`, [G * H], rows),
    });
  }
  const one = (re: RegExp, what: string) => {
    const found = names.filter((n) => re.test(n) && !prefixes.some((p) => n.startsWith(p)));
    if (found.length !== 1) throw new MnemoError("BAD_MODEL_FILE", `Expected one Keras ${what} tensor, found ${found.length ? found.join(", ") : "none"}.`);
    return found[0];
  };
  const embeddingName = one(/[/.]?embeddings$/, "embedding (…/embeddings)");
  const headKernel = one(/[/.]kernel$/, "Dense head kernel (…/kernel)");
  const headBias = one(/[/.]bias$/, "Dense head bias (…/bias)");
  return {
    embedding: await tensor(file, embeddingName, [c.vocabSize, c.embeddingDim], "[vocab_size, embedding_dim]"),
    layers,
    headW: transposeToNK(await tensor(file, headKernel, [H, c.vocabSize], "[hidden_size, vocab_size]"), H, c.vocabSize),
    headB: await tensor(file, headBias, [c.vocabSize], "vocab_size"),
  };
}

export function uploadRecurrentWeights(gpu: Gpu, c: RecurrentConfig, host: HostRecurrent): RecurrentWeights {
  const uploaded: GpuTensor[] = [];
  const keep = (t: GpuTensor) => (uploaded.push(t), t);
  const H = c.hiddenSize;
  const G = gatesPerUnit(c.cell);
  const m = c.cell;
  // Each step kernel's own layout of W_hh: neighbouring invocations read neighbouring words.
  const stepLayout = (wHh: Float32Array) => (m === "lstm" ? interleaveRecurrentWeights(wHh, H) : transposeRecurrentWeights(wHh, H));
  try {
    const layers: RecurrentLayer[] = host.layers.map((L, l) => ({
      wIh: keep(uploadMatrix(gpu, `${m}.w_ih${l}`, { dtype: "f32", data: L.wIh }, [G * H, l === 0 ? c.embeddingDim : H])),
      wHh: keep(uploadMatrix(gpu, `${m}.w_hh${l}`, { dtype: "f32", data: stepLayout(L.wHh) }, [G * H, H])),
      bias: keep(uploadVector(gpu, `${m}.bias${l}`, L.bias)),
    }));
    return {
      embedding: keep(uploadMatrix(gpu, "embedding", { dtype: "f32", data: host.embedding }, [c.vocabSize, c.embeddingDim])),
      layers,
      head: {
        w: keep(uploadMatrix(gpu, "head.weight", { dtype: "f32", data: host.headW }, [c.vocabSize, H])),
        b: keep(uploadVector(gpu, "head.bias", host.headB)),
      },
    };
  } catch (e) {
    for (const t of uploaded) releaseTensor(gpu, t);
    throw e;
  }
}

async function recurrentTokenizer(files: ModelFiles, c: RecurrentConfig): Promise<Tokenizer> {
  if (c.tokenizer === "none") return new IdsOnlyTokenizer(files.origin, 'config.json says "tokenizer": "none"');
  const vocab = await readJson(files, "vocab.json");
  if (vocab === null) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: a "char" ${c.cell.toUpperCase()} needs vocab.json.`);
  const tok = CharTokenizer.fromVocabJson(vocab);
  if (tok.vocabSize !== c.vocabSize) {
    throw new MnemoError("BAD_MODEL_FILE", `vocab.json has ${tok.vocabSize} characters but config.json's vocab_size is ${c.vocabSize}.`);
  }
  return tok;
}

/** Loads an LSTM or plain-RNN LM (PyTorch or Keras layout) onto the GPU. */
export async function loadRecurrent(gpu: Gpu, files: ModelFiles, configJson: unknown, weightsName = "model.safetensors"): Promise<RecurrentModel> {
  const config = parseRecurrentConfig(configJson);
  const source = await files.tryGet(weightsName);
  if (!source) throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: no ${weightsName}.`);
  const file = await openSafetensors(source);
  const tokenizer = await recurrentTokenizer(files, config);
  const keras = [...file.tensors.keys()].some((n) => /[/.]recurrent_kernel$/.test(n));
  const host = keras ? await readKeras(file, config) : await readPytorch(file, config);
  // The fingerprint covers the values (PyTorch and Keras files of one model share it).
  const fp = await modelFingerprint([JSON.stringify(config), new Uint8Array(host.headW.buffer, 0, Math.min(host.headW.byteLength, 1 << 16))]);
  return new RecurrentModel(gpu, config, uploadRecurrentWeights(gpu, config, host), tokenizer, fp);
}
