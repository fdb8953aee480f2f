// A float64 GPT-2 forward pass on the CPU, written from the GPT-2 definition (not from the
// runtime's code), and tiny-gpt2 model folders derived from the fixture at test time: one
// with a tokenizer (the CLI needs text), one with an untied `lm_head.weight`.
//
// The weights are read from the fixture's safetensors as stored (OpenAI naming: Conv1D
// matrices [in, out]); `MatrixView` lets a test see each matrix as the runtime would hold it
// after on-load conversion (f16 rounding, Q8_0/Q4_0 blocks dequantized here from GGUF's block
// layout, independently of src/formats/quant.ts's dequantizers).
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { f16ToF32 } from "../../src/formats/f16.js";
import { openSafetensors, writeSafetensors, type SafetensorsTensorInput } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";
import { syntheticVocabulary } from "../../src/models/gpt2-convert.js";
import { fixture } from "./models.js";
import { randomF32 } from "./random.js";

export const TINY_DIR = fixture("models/tiny-gpt2");

export interface TinyTensors {
  config: Record<string, unknown>;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** config.json and every F32 tensor of a GPT-2 folder in OpenAI naming. */
export async function readGpt2Folder(dir = TINY_DIR): Promise<TinyTensors> {
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const st = await openSafetensors(bufferSource(await readFile(join(dir, "model.safetensors"))));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of st.tensors) tensors.set(name, { shape: info.shape, data: await st.readF32(name) });
  return { config, tensors };
}

/** Each value rounded to the nearest f16 (ties to even; subnormals and overflow too), exact in f64. */
export function roundF16(x: Float32Array): Float64Array {
  return Float64Array.from(x, (v) => {
    const a = Math.abs(v);
    if (!Number.isFinite(v) || a === 0) return v;
    if (a >= 65520) return Math.sign(v) * Infinity;
    let e = Math.floor(Math.log2(a));
    if (2 ** e > a) e--;
    if (2 ** (e + 1) <= a) e++;
    const ulp = 2 ** (Math.max(e, -14) - 10);
    const q = a / ulp;
    const fl = Math.floor(q);
    const r = q - fl > 0.5 || (q - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
    return Math.sign(v) * r * ulp;
  });
}

/** GGUF Q8_0 blocks (34 bytes: f16 scale, 32 int8) as values. */
export function dequantQ8_0Blocks(bytes: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(view.getUint16(b * 34, true));
    for (let i = 0; i < 32; i++) out[b * 32 + i] = d * view.getInt8(b * 34 + 2 + i);
  }
  return out;
}

/** GGUF Q4_0 blocks (18 bytes: f16 scale, 16 bytes; byte j = element j low, j + 16 high; value nibble − 8). */
export function dequantQ4_0Blocks(bytes: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(view.getUint16(b * 18, true));
    for (let j = 0; j < 16; j++) {
      const byte = view.getUint8(b * 18 + 2 + j);
      out[b * 32 + j] = d * ((byte & 15) - 8);
      out[b * 32 + j + 16] = d * ((byte >> 4) - 8);
    }
  }
  return out;
}

/** How a test sees one [N, K] (output-major) matrix: `nk` holds its f32 values. */
export type MatrixView = (name: string, nk: Float32Array, N: number, K: number) => Float64Array;
export const exact: MatrixView = (_n, nk) => Float64Array.from(nk);

export interface RefLayer {
  ln1: [Float64Array, Float64Array];
  qkv: [Float64Array, Float64Array];
  proj: [Float64Array, Float64Array];
  ln2: [Float64Array, Float64Array];
  fc: [Float64Array, Float64Array];
  fc2: [Float64Array, Float64Array];
}

export interface RefGpt2 {
  D: number;
  H: number;
  V: number;
  I: number;
  eps: number;
  wte: Float64Array;
  wpe: Float64Array;
  layers: RefLayer[];
  lnF: [Float64Array, Float64Array];
  /** [V, D]: the tied `wte` unless the folder has lm_head.weight. */
  head: Float64Array;
}

/** [K, N] (Conv1D, in × out) → [N, K]. */
function transpose(kn: Float32Array, K: number, N: number): Float32Array {
  const out = new Float32Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) out[n * K + k] = kn[k * N + n];
  return out;
}

/** The reference model; matrices go through `view` (the token table as "wte.weight", the head as "lm_head.weight" when untied). */
export function refModel(src: TinyTensors, view: MatrixView = exact): RefGpt2 {
  const c = src.config;
  const D = c.n_embd as number;
  const H = c.n_head as number;
  const V = c.vocab_size as number;
  const I = (c.n_inner as number | null) ?? 4 * D;
  const t = (n: string) => {
    const x = src.tensors.get(n);
    if (!x) throw new Error(`no tensor ${n}`);
    return x.data;
  };
  const vec = (n: string) => Float64Array.from(t(n));
  const conv = (n: string, K: number, N: number) => view(n, transpose(t(n), K, N), N, K);
  const layers: RefLayer[] = [];
  for (let l = 0; l < (c.n_layer as number); l++) {
    const p = `h.${l}.`;
    layers.push({
      ln1: [vec(`${p}ln_1.weight`), vec(`${p}ln_1.bias`)],
      qkv: [conv(`${p}attn.c_attn.weight`, D, 3 * D), vec(`${p}attn.c_attn.bias`)],
      proj: [conv(`${p}attn.c_proj.weight`, D, D), vec(`${p}attn.c_proj.bias`)],
      ln2: [vec(`${p}ln_2.weight`), vec(`${p}ln_2.bias`)],
      fc: [conv(`${p}mlp.c_fc.weight`, D, I), vec(`${p}mlp.c_fc.bias`)],
      fc2: [conv(`${p}mlp.c_proj.weight`, I, D), vec(`${p}mlp.c_proj.bias`)],
    });
  }
  const wte = view("wte.weight", t("wte.weight"), V, D);
  const head = src.tensors.has("lm_head.weight") ? view("lm_head.weight", t("lm_head.weight"), V, D) : wte;
  return {
    D,
    H,
    V,
    I,
    eps: (c.layer_norm_epsilon as number) ?? 1e-5,
    wte,
    wpe: vec("wpe.weight"),
    layers,
    lnF: [vec("ln_f.weight"), vec("ln_f.bias")],
    head,
  };
}

function layerNorm(x: Float64Array, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const D = g.length;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) out[r * D + i] = (x[r * D + i] - mean) * inv * g[i] + b[i];
  }
  return out;
}

/** y[T, N] = x[T, K] · w[N, K]ᵀ + b. */
function linear(x: Float64Array, T: number, K: number, w: Float64Array, b: Float64Array | null, N: number): Float64Array {
  const y = new Float64Array(T * N);
  for (let r = 0; r < T; r++) {
    for (let n = 0; n < N; n++) {
      let acc = b ? b[n] : 0;
      for (let k = 0; k < K; k++) acc += x[r * K + k] * w[n * K + k];
      y[r * N + n] = acc;
    }
  }
  return y;
}

const geluNew = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

/** Logits [T, V] and final hidden states (after ln_f) [T, D] of `ids` at positions 0..T−1. */
export function refForward(m: RefGpt2, ids: readonly number[]): { logits: Float64Array; hidden: Float64Array } {
  const { D, H, V, I, eps } = m;
  const T = ids.length;
  const hd = D / H;
  let x = new Float64Array(T * D);
  ids.forEach((id, t) => {
    for (let i = 0; i < D; i++) x[t * D + i] = m.wte[id * D + i] + m.wpe[t * D + i];
  });
  for (const L of m.layers) {
    const qkv = linear(layerNorm(x, ...L.ln1, eps), T, D, L.qkv[0], L.qkv[1], 3 * D);
    const att = new Float64Array(T * D);
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += qkv[t * 3 * D + h * hd + i] * qkv[s * 3 * D + D + h * hd + i];
          scores[s] = dot / Math.sqrt(hd);
          max = Math.max(max, scores[s]);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += scores[s] = Math.exp(scores[s] - max);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) att[t * D + h * hd + i] += (scores[s] / sum) * qkv[s * 3 * D + 2 * D + h * hd + i];
      }
    }
    const a = linear(att, T, D, L.proj[0], L.proj[1], D);
    x = x.map((v, i) => v + a[i]);
    const up = linear(layerNorm(x, ...L.ln2, eps), T, D, L.fc[0], L.fc[1], I).map(geluNew);
    const down = linear(up, T, I, L.fc2[0], L.fc2[1], D);
    x = x.map((v, i) => v + down[i]);
  }
  const hidden = layerNorm(x, ...m.lnF, eps);
  return { logits: linear(hidden, T, D, m.head, null, V), hidden };
}

/** Σ over rows of logsumexp(row) − row[target]. */
export function nllSum(logits: Float64Array, V: number, targets: readonly number[]): number {
  let total = 0;
  targets.forEach((target, r) => {
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[r * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[r * V + v] - max);
    total += max + Math.log(s) - logits[r * V + target];
  });
  return total;
}

/** Mean NLL under the runtime's window protocol: windows start every `window` ids, each fresh, predicting ids 1..n−1 of window + 1 ids. */
export function refMeanNll(m: RefGpt2, ids: readonly number[], window: number): number {
  let total = 0;
  for (let s = 0; s < ids.length - 1; s += window) {
    const chunk = ids.slice(s, s + window + 1);
    total += nllSum(refForward(m, chunk.slice(0, -1)).logits, m.V, chunk.slice(1));
  }
  return total / (ids.length - 1);
}

/** Largest |a − b| over all elements. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** The byte-level vocabulary of 1000 tokens (src/models/gpt2-convert.ts) as vocab.json + merges.txt. */
function tokenizerFiles(vocabSize: number): { vocab: string; merges: string } {
  const { tokens, merges } = syntheticVocabulary(vocabSize).toGgufVocab();
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => (vocab[t] = id));
  return { vocab: JSON.stringify(vocab), merges: `#version: 0.2\n${merges.join("\n")}\n` };
}

/**
 * Writes a tiny-gpt2 folder to `dir`: the fixture's config and weights, plus
 * - `tokenizer`: vocab.json + merges.txt of a byte-level vocabulary of 1000 tokens, so CLI
 *   commands that take text run on the tiny model;
 * - `untiedHead`: a separate `lm_head.weight` [1000, 64] (F32, uniform in ±0.17: std 0.1 like
 *   the fixture's token table; seed 2024) and `tie_word_embeddings: false`, as transformers
 *   saves an untied GPT2LMHeadModel in OpenAI naming (top-level `lm_head.weight`, no
 *   `transformer.` prefix, the `h.N.attn.bias` buffers kept).
 */
export async function writeTinyFolder(dir: string, opts: { tokenizer?: boolean; untiedHead?: boolean } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = JSON.parse(await readFile(join(TINY_DIR, "config.json"), "utf8")) as Record<string, unknown>;
  if (opts.untiedHead) {
    const st = await openSafetensors(bufferSource(await readFile(join(TINY_DIR, "model.safetensors"))));
    const tensors: SafetensorsTensorInput[] = [];
    for (const [name, info] of st.tensors) tensors.push({ name, dtype: info.dtype, shape: info.shape, data: await st.readRaw(name) });
    const V = config.vocab_size as number;
    const D = config.n_embd as number;
    tensors.push({ name: "lm_head.weight", dtype: "F32", shape: [V, D], data: randomF32(V * D, 2024, 0.17) });
    await writeFile(join(dir, "model.safetensors"), writeSafetensors(tensors));
    config.tie_word_embeddings = false;
  } else {
    await copyFile(join(TINY_DIR, "model.safetensors"), join(dir, "model.safetensors"));
  }
  await writeFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  if (opts.tokenizer) {
    const { vocab, merges } = tokenizerFiles(config.vocab_size as number);
    await writeFile(join(dir, "vocab.json"), vocab);
    await writeFile(join(dir, "merges.txt"), merges);
  }
}
