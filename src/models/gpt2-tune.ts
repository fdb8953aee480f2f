// Which variant each of GPT-2's five decode matmuls runs (src/kernels/decode-matmul.ts),
// measured on the adapter with the model's own weights (layer 0 stands for every layer: they
// share shapes), or forced by the caller. Prefill is not tuned: its tiled matmul has one
// variant per adapter kind.
import { MnemoError } from "../errors.js";
import type { TunerStore } from "../base/tuner-store.js";
import { KernelTuner } from "../gpu/tuner.js";
import type { KernelDispatch } from "../gpu/dispatch.js";
import { createInt8Scratch, decodeMatmul, decodeMatmulVariants, isDecodeMatmulVariant, type DecodeMatmulVariant } from "../kernels/decode-matmul.js";
import type { FusedKvWrite, MatmulArgs } from "../kernels/matmul.js";
import { GPT2_DECODE_ROLES, type Gpt2DecodeRole, type Gpt2Model, type Gpt2RowBuffers } from "./gpt2.js";
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
  /** Where measured choices persist (default: a file in Node, IndexedDB in browsers). */
  store?: TunerStore;
}

/** Chooses the model's decode kernels (as `options` asks) and reports them in `model.info.kernels`. */
export async function applyKernelChoices(model: Gpt2Model, options: KernelOptions = {}): Promise<Gpt2Model> {
  model.info.kernels = await tuneGpt2Decode(model, { ...options, store: options.store ?? defaultTunerStore() });
  return model;
}

/** Sets `model.decodeKernels` and returns the choice per role. */
export async function tuneGpt2Decode(model: Gpt2Model, options: KernelOptions & { store: TunerStore }): Promise<Record<Gpt2DecodeRole, KernelChoice>> {
  const wanted = options.decodeMatmul ?? "auto";
  if (wanted !== "auto" && !isDecodeMatmulVariant(wanted)) {
    throw new MnemoError("BAD_INPUT", `kernels.decodeMatmul must be "auto", "f32", "f32-wide", "f32-few", "i8-rows4", "i8-coop-subgroup" or "i8-coop-workgroup"; got ${JSON.stringify(wanted)}.`);
  }
  const bench = new TuningBench(model);
  const choices = {} as Record<Gpt2DecodeRole, KernelChoice>;
  try {
    const tuner = new KernelTuner(model.gpu, options.store);
    for (const role of GPT2_DECODE_ROLES) {
      const variants = decodeMatmulVariants(model.gpu, bench.args(role, "f32"), { forTuning: wanted === "auto" });
      if (wanted !== "auto") {
        choices[role] = { variant: forcedVariant(role, wanted, variants, model.info.weightType), timingsMs: {}, source: "forced" };
      } else if (variants.length === 1) {
        choices[role] = { variant: variants[0], timingsMs: {}, source: "forced" };
      } else {
        const candidates = new Map(variants.map((v) => [v, () => bench.dispatches(role, v)] as const));
        const chosen = await tuner.choose(bench.shapeKey(role), candidates);
        choices[role] = { variant: chosen.variant, timingsMs: chosen.timingsMs, source: chosen.cached ? "cached" : "measured" };
      }
      model.decodeKernels[role] = choices[role].variant as DecodeMatmulVariant;
    }
  } finally {
    bench.dispose();
  }
  return choices;
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

/** Throwaway activation buffers and a one-position cache, for timing the decode matmuls. */
class TuningBench {
  private readonly buffers: GPUBuffer[] = [];
  private readonly io: Gpt2RowBuffers;
  private readonly kv: FusedKvWrite;
  private readonly scratch;

  constructor(private readonly model: Gpt2Model) {
    const { gpu, config: c } = model;
    const D = c.nEmbd;
    // Smooth, non-zero values: zeros (or denormals) could take faster paths on a CPU adapter.
    const row = (n: number, label: string) =>
      this.keep(
        gpu.upload(
          Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5),
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
      logits: row(c.vocabSize, "tune.logits"),
    };
    const headDim = D / c.nHead;
    this.kv = { positions: this.keep(gpu.upload(new Uint32Array(4), "tune.positions")), kCache: row(D, "tune.k"), vCache: row(D, "tune.v"), headDim, nCtx: 1, cacheType: "f32" };
    this.scratch = createInt8Scratch(gpu, Math.max(D, c.nInner));
    this.buffers.push(this.scratch.xq, this.scratch.xs);
  }

  private keep(b: GPUBuffer): GPUBuffer {
    this.buffers.push(b);
    return b;
  }

  args(role: Gpt2DecodeRole, variant: DecodeMatmulVariant): MatmulArgs {
    if (role === "head") return this.model.headArgs(this.io);
    return this.model.decodeMatmulArgs(0, this.io, this.kv, variant)[role];
  }

  dispatches(role: Gpt2DecodeRole, variant: DecodeMatmulVariant): KernelDispatch[] {
    return decodeMatmul(this.model.gpu, this.args(role, variant), variant, this.scratch);
  }

  /** Names the shape, so models of the same shapes share a measurement. */
  shapeKey(role: Gpt2DecodeRole): string {
    const a = this.args(role, "f32");
    const [N, K] = a.w.shape;
    const parts = [a.norm ? "ln" : "", a.kvCache ? "kv" : "", a.bias ? "bias" : "", a.residual ? "res" : "", a.epilogue ?? ""].filter(Boolean);
    return `decode-matmul ${a.w.dtype} ${N}x${K} ${parts.join("+")}`;
  }

  dispose(): void {
    for (const b of this.buffers) this.model.gpu.pool.release(b);
  }
}
