// Which variant each of GPT-2's five decode matmuls and four prefill layer matmuls runs
// (src/kernels/matmul-variants.ts), and its decode attention (one pass or split keys),
// measured on the adapter with the model's own weights (layer 0 stands for every layer: they
// share shapes; prefill timed on 32 rows), or forced by the caller.
import { MnemoError } from "../errors.js";
import type { TunerStore } from "../base/tuner-store.js";
import { KernelTuner } from "../gpu/tuner.js";
import type { KernelDispatch } from "../gpu/dispatch.js";
import {
  createInt8Scratch,
  decodeMatmul,
  decodeMatmulVariants,
  isDecodeMatmulVariant,
  isPrefillMatmulVariant,
  prefillMatmul,
  prefillMatmulVariants,
  type DecodeMatmulVariant,
  type Int8Scratch,
  type PrefillMatmulVariant,
} from "../kernels/matmul-variants.js";
import type { FusedKvWrite, MatmulArgs } from "../kernels/matmul.js";
import { attention, attentionDispatches, kvCacheBytes } from "../kernels/attention.js";
import { GPT2_DECODE_ROLES, GPT2_PREFILL_ROLES, type Gpt2DecodeRole, type Gpt2Model, type Gpt2RowBuffers, type PrefillRole } from "./gpt2.js";
import type { KernelChoice } from "./types.js";
import { defaultTunerStore } from "../loading/tuner-store.js";

/** How a model's kernels are chosen (`loadModel(…, { kernels })`). */
export interface KernelOptions {
  /**
   * The decode matmuls' variant: "auto" (default) measures the candidates on the adapter and
   * keeps the fastest per shape; a variant name runs it everywhere it applies (the "i8-"
   * variants need Q8_0 / Q4_0 weights).
   */
  decodeMatmul?: "auto" | DecodeMatmulVariant;
  /**
   * The layer matmuls over many rows (prefill, verification): "auto" measures; "f32"
   * (register tiles), "f32-wg" (workgroup-memory tiles, for GPUs) or "i8" (int8 activations;
   * Q8_0 / Q4_0 weights) forces. Default: as `decodeMatmul` forces (f32 with "f32*", i8 with
   * "i8-*"), else "auto".
   */
  prefillMatmul?: "auto" | PrefillMatmulVariant;
  /**
   * Decode attention: "auto" (default) measures the one-pass kernel against the split one at
   * three depths of a full cache (the split kept only when 25% faster); "rows" or "split" forces.
   */
  attention?: "auto" | "rows" | "split";
  /**
   * The prefill's attention (one pass, many rows): "auto" (default) measures one query row per
   * invocation against two ("rows2", head dimension 64: each key and value load shared by two
   * rows); either name forces. Verification forwards keep decode's kernel (its arithmetic).
   */
  prefillAttention?: "auto" | PrefillAttentionVariant;
  /** Where measured choices persist (default: a file in Node, IndexedDB in browsers). */
  store?: TunerStore;
}

/** Chooses the model's decode and prefill kernels (as `options` asks) and reports them in `model.info.kernels`. */
export async function applyKernelChoices(model: Gpt2Model, options: KernelOptions = {}): Promise<Gpt2Model> {
  model.info.kernels = await tuneGpt2Kernels(model, { ...options, store: options.store ?? defaultTunerStore() });
  return model;
}

/** Rows of the prefill matmuls' timing runs: a prompt chunk's shape, cheap to time. */
const TUNE_ROWS = 32;

/**
 * Sets `model.decodeKernels` and `model.prefillKernels`; returns the choice per role (the
 * prefill ones as "prefill.qkv", ...).
 */
export async function tuneGpt2Kernels(model: Gpt2Model, options: KernelOptions & { store: TunerStore }): Promise<Record<string, KernelChoice>> {
  const wanted = options.decodeMatmul ?? "auto";
  if (wanted !== "auto" && !isDecodeMatmulVariant(wanted)) {
    throw new MnemoError("BAD_INPUT", `kernels.decodeMatmul must be "auto", "f32", "f32-wide", "f32-few", "i8-rows4", "i8-coop-subgroup" or "i8-coop-workgroup"; got ${JSON.stringify(wanted)}.`);
  }
  // A forced decode variant forces the prefill's activations alike unless said otherwise.
  const wantedPrefill = options.prefillMatmul ?? (wanted === "auto" ? "auto" : wanted.startsWith("i8-") ? "i8" : "f32");
  if (wantedPrefill !== "auto" && !isPrefillMatmulVariant(wantedPrefill)) {
    throw new MnemoError("BAD_INPUT", `kernels.prefillMatmul must be "auto", "f32", "f32-wg" or "i8"; got ${JSON.stringify(wantedPrefill)}.`);
  }
  const tuner = new KernelTuner(model.gpu, options.store);
  const choices: Record<string, KernelChoice> = {};
  const decode = new TuningBench(model, 1);
  try {
    for (const role of GPT2_DECODE_ROLES) {
      const variants = decodeMatmulVariants(model.gpu, decode.decodeArgs(role, "f32"), { forTuning: wanted === "auto" });
      choices[role] = await choose(
        tuner,
        wanted,
        variants,
        decode.shapeKey(decode.decodeArgs(role, "f32")),
        (v) => decode.decodeDispatches(role, v),
        (w, vs) => forcedVariant(role, w, vs, model.info.weightType),
      );
      if (wanted === "auto") choices[role] = preferInt8(choices[role]);
      model.decodeKernels[role] = choices[role].variant as DecodeMatmulVariant;
    }
  } finally {
    decode.dispose();
  }
  choices.attention = await chooseAttention(model, tuner, options.attention ?? "auto");
  model.attentionKernel = choices.attention.variant as "rows" | "split";
  const rows = Math.min(TUNE_ROWS, model.config.nPositions);
  if (rows < 2) return choices;
  choices["prefill.attention"] = await choosePrefillAttention(model, tuner, options.prefillAttention ?? "auto", rows);
  model.prefillAttentionRows = choices["prefill.attention"].variant === "rows2" ? 2 : 1;
  const prefill = new TuningBench(model, rows);
  try {
    for (const role of GPT2_PREFILL_ROLES) {
      const variants = prefillMatmulVariants(model.gpu, prefill.prefillArgs(role, "f32"));
      const forced = (w: PrefillMatmulVariant, vs: PrefillMatmulVariant[]) => forcedPrefillVariant(role, w, vs, model.info.weightType);
      const choice = await choose(
        tuner,
        wantedPrefill as "auto" | PrefillMatmulVariant,
        variants,
        prefill.shapeKey(prefill.prefillArgs(role, "f32")),
        (v) => prefill.prefillDispatches(role, v),
        forced,
      );
      choices[`prefill.${role}`] = choice;
      model.prefillKernels[role] = choice.variant as PrefillMatmulVariant;
    }
  } finally {
    prefill.dispose();
  }
  return choices;
}

/** The prefill attention's candidates: query rows per invocation of the one-pass kernel. */
export type PrefillAttentionVariant = "rows" | "rows2";

/**
 * The prefill's one-pass attention with one or two query rows per invocation, timed on `rows`
 * rows at the end of a 128-position prompt (SwiftShader, 4 heads of 64, 128 rows: two rows
 * 12-15 ms against 23-34 for one, 2026-12-03).
 */
async function choosePrefillAttention(model: Gpt2Model, tuner: KernelTuner, wanted: "auto" | PrefillAttentionVariant, rows: number): Promise<KernelChoice> {
  if (wanted !== "auto" && wanted !== "rows" && wanted !== "rows2") throw new MnemoError("BAD_INPUT", `kernels.prefillAttention must be "auto", "rows" or "rows2"; got ${JSON.stringify(wanted)}.`);
  const { gpu, config: c } = model;
  const headDim = c.nEmbd / c.nHead;
  const variants: PrefillAttentionVariant[] = headDim === 64 ? ["rows", "rows2"] : ["rows"];
  const forced = (w: PrefillAttentionVariant, vs: PrefillAttentionVariant[]) => {
    if (vs.includes(w)) return w;
    throw new MnemoError("UNSUPPORTED_FEATURE", `kernels.prefillAttention "${w}" needs a head dimension of 64; this model's is ${headDim}.`);
  };
  const nCtx = Math.min(c.nPositions, 128);
  const first = Math.max(0, nCtx - rows);
  const M = nCtx - first;
  let buffers: GPUBuffer[] | undefined;
  const made = () => {
    const cache = kvCacheBytes(c.nHead, nCtx, headDim) / 4;
    buffers ??= [
      gpu.upload(
        Float32Array.from({ length: M * 3 * c.nEmbd }, (_, i) => Math.sin(i * 0.37) * 0.5),
        "tune.qkv",
      ),
      gpu.upload(
        Uint32Array.from({ length: M }, (_, i) => first + i),
        "tune.positions",
      ),
      gpu.upload(
        Float32Array.from({ length: cache }, (_, i) => Math.cos(i * 0.11) * 0.5),
        "tune.k",
      ),
      gpu.upload(
        Float32Array.from({ length: cache }, (_, i) => Math.sin(i * 0.13) * 0.5),
        "tune.v",
      ),
      gpu.createStorage(M * c.nEmbd * 4, "tune.att"),
    ];
    return buffers;
  };
  const build = (variant: PrefillAttentionVariant) => {
    const [qkv, positions, kCache, vCache, out] = made();
    return [attention(gpu, { qkv, positions, kCache, vCache, out, M, nHead: c.nHead, headDim, nCtx, cacheType: "f32", queryRows: variant === "rows2" ? 2 : 1 })];
  };
  try {
    return await choose(tuner, wanted, variants, `prefill attention ${c.nHead}x${headDim} M=${M} at ${first}..${nCtx - 1} f32`, build, forced);
  } finally {
    if (buffers) for (const b of buffers) gpu.pool.release(b);
  }
}

/**
 * Decode attention, one pass per head against the keys split across workgroups, timed as one
 * submit at three depths of a full-size cache (an eighth, half, the last position): the split
 * pays deep in the context and costs near its start (SwiftShader, 12 heads of 64: 2.2 ms
 * against 3.9 at position 128, 5.9 against 5.4 at 1023), and one plan serves every position.
 */
async function chooseAttention(model: Gpt2Model, tuner: KernelTuner, wanted: "auto" | "rows" | "split"): Promise<KernelChoice> {
  if (wanted !== "auto" && wanted !== "rows" && wanted !== "split") throw new MnemoError("BAD_INPUT", `kernels.attention must be "auto", "rows" or "split"; got ${JSON.stringify(wanted)}.`);
  if (wanted !== "auto") return { variant: wanted, timingsMs: {}, source: "forced" };
  const { gpu, config: c } = model;
  const headDim = c.nEmbd / c.nHead;
  const nCtx = c.nPositions;
  const depths = [...new Set([Math.floor(nCtx / 8), Math.floor(nCtx / 2), nCtx - 1])];
  // The full-size caches are made only if the choice is measured (not taken from the store).
  let buffers: { qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer; positions: GPUBuffer[] } | undefined;
  const made = () => {
    const floats = kvCacheBytes(c.nHead, nCtx, headDim) / 4;
    buffers ??= {
      qkv: gpu.upload(
        Float32Array.from({ length: 3 * c.nEmbd }, (_, i) => Math.sin(i * 0.37) * 0.5),
        "tune.qkv",
      ),
      kCache: gpu.upload(
        Float32Array.from({ length: floats }, (_, i) => Math.cos(i * 0.11) * 0.5),
        "tune.k",
      ),
      vCache: gpu.upload(
        Float32Array.from({ length: floats }, (_, i) => Math.sin(i * 0.13) * 0.5),
        "tune.v",
      ),
      out: gpu.createStorage(c.nEmbd * 4, "tune.att"),
      positions: depths.map((d) => gpu.upload(Uint32Array.of(d), "tune.position")),
    };
    return buffers;
  };
  const build = (variant: "rows" | "split") => {
    const { positions, ...io } = made();
    return positions.flatMap((p) => attentionDispatches(gpu, { ...io, positions: p, M: 1, nHead: c.nHead, headDim, nCtx, cacheType: "f32", variant }));
  };
  try {
    const key = `decode attention ${c.nHead}x${headDim} ctx ${nCtx} at ${depths.join("+")} f32`;
    // The split takes a second dispatch and a scratch buffer, and on SwiftShader the two
    // traded places between sittings (one pass 8.9 ms against 14.3, then 21.6 against 18.9):
    // kept only when 25% faster, which a GPU deep in the context clears by far.
    return await choose(tuner, "auto", ["rows", "split"], key, build, (w) => w, { keepFirst: 0.25 });
  } finally {
    if (buffers) for (const b of [buffers.qkv, buffers.kCache, buffers.vCache, buffers.out, ...buffers.positions]) gpu.pool.release(b);
  }
}

/**
 * Quantized weights: an int8-activation decode variant within INT8_PREFERENCE of a faster f32
 * one is taken instead. A speculative verification computes int8 rows exactly as the decode
 * GEMV does, but f32 rows in another summation order (block scales, layer-norm statistics),
 * and those last-bit differences move int8 roundings in the layers after them. Measured on
 * SwiftShader (bundled Q8_0, copy task): greedy text parted from plain decoding at top-2
 * margins of 0.03 and 0.004 when the attention projection took f32 by 2% and by 13% (0.07 ms
 * of a 51 ms step, the down projection once by 6%).
 */
export const INT8_PREFERENCE = 0.25;

export function preferInt8(choice: KernelChoice): KernelChoice {
  const t = choice.timingsMs;
  if (choice.variant.startsWith("i8") || !(choice.variant in t)) return choice;
  const int8 = Object.keys(t)
    .filter((v) => v.startsWith("i8"))
    .sort((a, b) => t[a] - t[b])[0];
  return int8 !== undefined && t[int8] <= (1 + INT8_PREFERENCE) * t[choice.variant] ? { ...choice, variant: int8 } : choice;
}

/** A forced choice, the only variant, or the tuner's measurement. */
async function choose<V extends string>(
  tuner: KernelTuner,
  wanted: "auto" | V,
  variants: V[],
  shapeKey: string,
  build: (v: V) => KernelDispatch[],
  forced: (wanted: V, variants: V[]) => V,
  options: { keepFirst?: number } = {},
): Promise<KernelChoice> {
  if (wanted !== "auto") return { variant: forced(wanted, variants), timingsMs: {}, source: "forced" };
  if (variants.length === 1) return { variant: variants[0], timingsMs: {}, source: "forced" };
  const chosen = await tuner.choose(shapeKey, new Map(variants.map((v) => [v, () => build(v)] as const)), options);
  return { variant: chosen.variant, timingsMs: chosen.timingsMs, source: chosen.cached ? "cached" : "measured" };
}

/** A forced prefill variant: "i8" needs quantized weights. */
function forcedPrefillVariant(role: string, wanted: PrefillMatmulVariant, variants: PrefillMatmulVariant[], weightType: string): PrefillMatmulVariant {
  if (variants.includes(wanted)) return wanted;
  if (weightType !== "q8_0" && weightType !== "q4_0") throw new MnemoError("BAD_INPUT", `kernels.prefillMatmul "${wanted}" needs q8_0 or q4_0 weights; this model has ${weightType}.`);
  throw new MnemoError("UNSUPPORTED_FEATURE", `kernels.prefillMatmul "${wanted}" cannot run the ${role} matmul on this adapter; it offers ${variants.join(", ")}.`);
}

/** The forced variant for a role: f32 grids apply only where a layer norm is fused; i8 needs quantized weights. */
function forcedVariant(role: Gpt2DecodeRole, wanted: DecodeMatmulVariant, variants: DecodeMatmulVariant[], weightType: string): DecodeMatmulVariant {
  if (variants.includes(wanted)) return wanted;
  if (wanted.startsWith("f32")) return "f32";
  if (weightType !== "q8_0" && weightType !== "q4_0") {
    throw new MnemoError("BAD_INPUT", `kernels.decodeMatmul "${wanted}" needs q8_0 or q4_0 weights; this model has ${weightType}.`);
  }
  throw new MnemoError("UNSUPPORTED_FEATURE", `kernels.decodeMatmul "${wanted}" cannot run the ${role} matmul on this adapter; it offers ${variants.join(", ")}.`);
}

/** Throwaway activation buffers of `rows` rows and a one-position cache, for timing the matmuls. */
class TuningBench {
  private readonly buffers: GPUBuffer[] = [];
  private readonly io: Gpt2RowBuffers;
  private readonly kv: FusedKvWrite;
  /** The many-row int8 variant's quantized rows (one-row GEMVs quantize their own). */
  private readonly scratch?: Int8Scratch;

  constructor(
    private readonly model: Gpt2Model,
    private readonly rows: number,
  ) {
    const { gpu, config: c } = model;
    const D = c.nEmbd;
    // Smooth, non-zero values: zeros (or denormals) could take faster paths on a CPU adapter.
    const row = (n: number, label: string) =>
      this.keep(
        gpu.upload(
          Float32Array.from({ length: n * rows }, (_, i) => Math.sin(i * 0.37) * 0.5),
          label,
        ),
      );
    this.io = {
      x: row(D, "tune.x"),
      x2: row(D, "tune.x2"),
      h: row(D, "tune.h"),
      qkv: row(3 * D, "tune.qkv"),
      att: row(D, "tune.att"),
      up: row(c.nInner, "tune.up"),
      hidden: row(D, "tune.hidden"),
      logits: this.keep(gpu.createStorage(c.vocabSize * 4, "tune.logits")),
    };
    const headDim = D / c.nHead;
    // Every row writes cache position 0 (of a one-position cache): the same work, little memory.
    this.kv = {
      positions: this.keep(gpu.upload(new Uint32Array(Math.max(4, rows)), "tune.positions")),
      kCache: this.keep(gpu.createStorage(D * 4, "tune.k")),
      vCache: this.keep(gpu.createStorage(D * 4, "tune.v")),
      headDim,
      nCtx: 1,
      cacheType: "f32",
    };
    if (rows > 1) {
      this.scratch = createInt8Scratch(gpu, Math.max(D, c.nInner), rows);
      this.buffers.push(this.scratch.xq, this.scratch.xs);
    }
  }

  private keep(b: GPUBuffer): GPUBuffer {
    this.buffers.push(b);
    return b;
  }

  decodeArgs(role: Gpt2DecodeRole, variant: DecodeMatmulVariant): MatmulArgs {
    if (role === "head") return this.model.headArgs(this.io);
    return this.model.decodeMatmulArgs(0, this.io, this.kv, variant)[role];
  }

  decodeDispatches(role: Gpt2DecodeRole, variant: DecodeMatmulVariant): KernelDispatch[] {
    return decodeMatmul(this.model.gpu, this.decodeArgs(role, variant), variant);
  }

  prefillArgs(role: PrefillRole, variant: PrefillMatmulVariant): MatmulArgs {
    return this.model.prefillMatmulArgs(0, this.io, this.kv, this.rows, variant)[role];
  }

  prefillDispatches(role: PrefillRole, variant: PrefillMatmulVariant): KernelDispatch[] {
    return prefillMatmul(this.model.gpu, this.prefillArgs(role, variant), variant, this.io.h, this.scratch);
  }

  /** Names the shape, so models of the same shapes share a measurement. */
  shapeKey(a: MatmulArgs): string {
    const [N, K] = a.w.shape;
    const parts = [a.norm ? "ln" : "", a.kvCache ? "kv" : "", a.bias ? "bias" : "", a.residual ? "res" : "", a.epilogue ?? ""].filter(Boolean);
    return `${this.rows === 1 ? "decode" : `prefill M=${this.rows}`} matmul ${a.w.dtype} ${N}x${K} ${parts.join("+")}`;
  }

  dispose(): void {
    for (const b of this.buffers) this.model.gpu.pool.release(b);
  }
}
