// Synthetic models: exact GPT-2 / LSTM / RNN shapes with deterministic pseudo-random weights made
// on the spot, so speed can be measured at real scale with no download. Their text is
// meaningless; their cost is real.
import { MnemoError } from "../errors.js";
import { f32ToF16 } from "../formats/f16.js";
import { Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK } from "../formats/quant.js";
import type { Gpu } from "../gpu/device.js";
import { SeededRandom } from "../base/random.js";
import { IdsOnlyTokenizer } from "../tokenizers/ids-only.js";
import { parseGpt2Config, type Gpt2Config } from "./gpt2-config.js";
import { Gpt2Model } from "./gpt2.js";
import type { WeightType } from "../base/dtype.js";
import { tuned, uploadWeights, type Gpt2TensorReader } from "./gpt2-load.js";
import type { KernelOptions } from "./gpt2-tune.js";
import { gatesPerUnit, type RecurrentConfig } from "./recurrent-config.js";
import { RecurrentModel } from "./recurrent.js";
import { uploadRecurrentWeights } from "./recurrent-load.js";
import type { LanguageModel } from "./types.js";

const GPT2_SHAPES = {
  "gpt2-124m": { n_layer: 12, n_embd: 768, n_head: 12 },
  "gpt2-355m": { n_layer: 24, n_embd: 1024, n_head: 16 },
  "gpt2-774m": { n_layer: 36, n_embd: 1280, n_head: 20 },
  "gpt2-1.5b": { n_layer: 48, n_embd: 1600, n_head: 25 },
} as const;

const RECURRENT_SHAPES: Record<string, RecurrentConfig> = {
  "lstm-2x512": { cell: "lstm", nonlinearity: "tanh", vocabSize: 65, embeddingDim: 128, hiddenSize: 512, numLayers: 2, tokenizer: "none" },
  "rnn-2x512": { cell: "rnn", nonlinearity: "tanh", vocabSize: 65, embeddingDim: 128, hiddenSize: 512, numLayers: 2, tokenizer: "none" },
};

/** Names accepted after `synthetic:`. */
export const SYNTHETIC_MODELS = [...Object.keys(GPT2_SHAPES), ...Object.keys(RECURRENT_SHAPES)];

export function isSyntheticName(source: unknown): source is string {
  return typeof source === "string" && source.startsWith("synthetic:");
}

/** FNV-1a of a tensor's name: its random seed. */
function nameSeed(name: string): number {
  let seed = 2166136261;
  for (let i = 0; i < name.length; i++) seed = Math.imul(seed ^ name.charCodeAt(i), 16777619) >>> 0;
  return seed;
}

/** Deterministic values in [-scale, scale), seeded by the tensor's name. */
function randomValues(name: string, n: number, scale: number): Float32Array {
  const r = new SeededRandom(nameSeed(name));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r.next() * 2 - 1) * scale;
  return out;
}

/**
 * GGUF blocks drawn directly, uniform quants with the scale of a uniform [-scale, scale)
 * block: four quants per random word, instead of drawing f32 values and quantizing them
 * (10x less work: GPT-2 1.5B in Q8_0 loads in seconds, not two minutes).
 */
function randomBlocks(name: string, n: number, scale: number, type: "q8_0" | "q4_0"): Uint8Array {
  const r = new SeededRandom(nameSeed(`${name}:${type}`));
  const blockBytes = type === "q8_0" ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
  const out = new Uint8Array((n / QK) * blockBytes);
  const view = new DataView(out.buffer);
  const d = f32ToF16(type === "q8_0" ? scale / 127 : scale / 8);
  for (let o = 0; o < out.length; o += blockBytes) {
    view.setUint16(o, d, true);
    for (let j = o + 2; j < o + blockBytes; j += 4) view.setUint32(j, (r.next() * 4294967296) >>> 0, true);
    // Q8_0 quants span -127..127: a drawn -128 becomes -127.
    if (type === "q8_0") for (let j = o + 2; j < o + blockBytes; j++) if (out[j] === 128) out[j] = 129;
  }
  return out;
}

/**
 * A GPT-2 tensor source that invents each tensor when asked (uniform with std 0.02, unit
 * norms). Asked for Q8_0 / Q4_0, it draws the quants directly (randomBlocks), so the
 * synthetic model and `mnemo convert --in synthetic:…` of that type hold the same quants.
 */
function syntheticGpt2Reader(shapes: Map<string, number>): Gpt2TensorReader {
  const std = 0.02 * Math.sqrt(3);
  return {
    has: (n) => shapes.has(n),
    async vector(n) {
      const len = shapes.get(n) ?? 0;
      return /ln_\d|ln_f/.test(n) && n.endsWith(".weight") ? new Float32Array(len).fill(1) : randomValues(n, len, std);
    },
    async matrix(n, want) {
      const len = shapes.get(n);
      if (len === undefined) throw new MnemoError("INTERNAL", `No synthetic shape for ${n}.`);
      if (want === "q8_0" || want === "q4_0") return { host: { dtype: want, data: randomBlocks(n, len, std, want) }, layout: "NK" };
      return { host: { dtype: "f32", data: randomValues(n, len, std) }, layout: "NK" };
    },
  };
}

/**
 * The config and tensor source of `synthetic:<name>` (a GPT-2 shape), without a GPU: what
 * `mnemo convert --in synthetic:<name>` writes to GGUF, so other runtimes read the same weights.
 */
export function syntheticGpt2Source(source: string): { cfg: Gpt2Config; reader: Gpt2TensorReader } {
  const name = source.slice("synthetic:".length);
  if (!(name in GPT2_SHAPES)) {
    const names = Object.keys(GPT2_SHAPES).map((n) => `synthetic:${n}`);
    throw new MnemoError("BAD_INPUT", `"${source}" is not a synthetic GPT-2; choose one of ${names.join(", ")}.`);
  }
  const s = GPT2_SHAPES[name as keyof typeof GPT2_SHAPES];
  const cfg = parseGpt2Config({ model_type: "gpt2", ...s, n_positions: 1024, vocab_size: 50257 });
  const D = cfg.nEmbd;
  const shapes = new Map<string, number>([
    ["wte.weight", cfg.vocabSize * D],
    ["wpe.weight", cfg.nPositions * D],
    ["ln_f.weight", D],
    ["ln_f.bias", D],
  ]);
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `h.${l}.`;
    for (const [k, v] of Object.entries({
      "ln_1.weight": D,
      "ln_1.bias": D,
      "ln_2.weight": D,
      "ln_2.bias": D,
      "attn.c_attn.weight": 3 * D * D,
      "attn.c_attn.bias": 3 * D,
      "attn.c_proj.weight": D * D,
      "attn.c_proj.bias": D,
      "mlp.c_fc.weight": cfg.nInner * D,
      "mlp.c_fc.bias": cfg.nInner,
      "mlp.c_proj.weight": D * cfg.nInner,
      "mlp.c_proj.bias": D,
    }))
      shapes.set(p + k, v);
  }
  return { cfg, reader: syntheticGpt2Reader(shapes) };
}

async function syntheticGpt2(gpu: Gpu, name: keyof typeof GPT2_SHAPES, quant: WeightType, kernels?: KernelOptions): Promise<LanguageModel> {
  const { cfg, reader } = syntheticGpt2Source(`synthetic:${name}`);
  const { weights, weightType } = await uploadWeights(gpu, cfg, reader, { quant });
  const model = new Gpt2Model(gpu, cfg, weights, new IdsOnlyTokenizer(`synthetic:${name}`, "synthetic models have none"), weightType, `synthetic:${name}:${quant}`);
  return tuned(model, kernels);
}

function syntheticRecurrent(gpu: Gpu, name: string): LanguageModel {
  const c = RECURRENT_SHAPES[name];
  const H = c.hiddenSize;
  const G = gatesPerUnit(c.cell);
  const scale = 1 / Math.sqrt(H);
  const host = {
    embedding: randomValues("embedding", c.vocabSize * c.embeddingDim, 1),
    layers: Array.from({ length: c.numLayers }, (_, l) => ({
      wIh: randomValues(`w_ih${l}`, G * H * (l === 0 ? c.embeddingDim : H), scale),
      wHh: randomValues(`w_hh${l}`, G * H * H, scale),
      bias: randomValues(`bias${l}`, G * H, scale),
    })),
    headW: randomValues("head.weight", c.vocabSize * H, scale),
    headB: randomValues("head.bias", c.vocabSize, scale),
  };
  return new RecurrentModel(gpu, c, uploadRecurrentWeights(gpu, c, host), new IdsOnlyTokenizer(`synthetic:${name}`, "synthetic models have none"), `synthetic:${name}`);
}

/** Builds `synthetic:<name>` with weights of type `quant` (GPT-2 default f16; LSTMs and RNNs are f32). */
export async function loadSyntheticModel(gpu: Gpu, source: string, opts: { quant?: WeightType; kernels?: KernelOptions } = {}): Promise<LanguageModel> {
  const name = source.slice("synthetic:".length);
  if (name in GPT2_SHAPES) return syntheticGpt2(gpu, name as keyof typeof GPT2_SHAPES, opts.quant ?? "f16", opts.kernels);
  if (name in RECURRENT_SHAPES) {
    if (opts.quant && opts.quant !== "f32") throw new MnemoError("UNSUPPORTED_MODEL", `Recurrent models (LSTM, RNN) run in f32; --quant ${opts.quant} applies to GPT-2 only.`);
    return syntheticRecurrent(gpu, name);
  }
  throw new MnemoError("BAD_INPUT", `Unknown synthetic model "${name}"; choose one of ${SYNTHETIC_MODELS.map((n) => `synthetic:${n}`).join(", ")}.`);
}
