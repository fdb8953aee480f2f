// GPT-2 as a composition of kernels: embedding → n_layer × (ln_1, c_attn, kv write,
// attention, c_proj + residual, ln_2, c_fc + GELU, c_proj + residual) → ln_f → tied LM head.
// Fused where that saves a dispatch: the KV-cache write runs in c_attn's epilogue, and for
// one row (decode) each layer norm runs inside the matmul that follows it, so a decode step
// is 1 + 5 · n_layer + 1 dispatches with f32 activations. With quantized weights a decode
// matmul may instead quantize its row to int8 (one more dispatch, the layer norm fused into
// that one) and take integer dot products, and a prefill's layer matmuls may do the same over
// all rows: which variant each runs is measured on the adapter by tuneGpt2Kernels
// (src/models/gpt2-tune.ts). The model records forward plans; it never submits or reads back
// (sessions do).
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import type { WeightType } from "../base/dtype.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { attentionDispatches, kvWrite, type KvCacheType } from "../kernels/attention.js";
import { embeddingDispatches } from "../kernels/embedding.js";
import { layerNorm } from "../kernels/layernorm.js";
import { canFuseKvWrite, matmulDispatches, type FusedKvWrite, type MatmulArgs } from "../kernels/matmul.js";
import { createInt8Scratch, decodeMatmul, gemvShapeOf, prefillMatmul, type DecodeMatmulVariant, type Int8Scratch, type PrefillMatmulVariant } from "../kernels/matmul-variants.js";
import { canRunGemvI8 } from "../kernels/matmul-i8.js";
import { releaseTensor } from "../kernels/weights.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { Gpt2Config } from "./gpt2-config.js";
import { Gpt2KvCache } from "./gpt2-kv-cache.js";
import type { ForwardPlan, LanguageModel, ModelInfo, ModelState, PlanForwardOptions } from "./types.js";

/** One transformer block's weights on the GPU. */
export interface Gpt2Layer {
  ln1: { g: GpuTensor; b: GpuTensor };
  attnQkv: { w: GpuTensor; b: GpuTensor };
  attnProj: { w: GpuTensor; b: GpuTensor };
  ln2: { g: GpuTensor; b: GpuTensor };
  mlpUp: { w: GpuTensor; b: GpuTensor };
  mlpDown: { w: GpuTensor; b: GpuTensor };
}

/** All GPT-2 weights on the GPU; the LM head is `wte` (tied) unless `lmHead` is set. */
export interface Gpt2Weights {
  wte: GpuTensor;
  wpe: GpuTensor;
  layers: Gpt2Layer[];
  lnF: { g: GpuTensor; b: GpuTensor };
  lmHead?: GpuTensor;
}

/** The five matmuls of a decode step, each of which may run in its own variant. */
export type Gpt2DecodeRole = "qkv" | "proj" | "up" | "down" | "head";
export const GPT2_DECODE_ROLES: readonly Gpt2DecodeRole[] = ["qkv", "proj", "up", "down", "head"];
/** The layer matmuls of a forward over many rows (the LM head there reads one row, or all for logits). */
export type PrefillRole = Exclude<Gpt2DecodeRole, "head">;
export const GPT2_PREFILL_ROLES: readonly PrefillRole[] = ["qkv", "proj", "up", "down"];

/** Activation buffers of one row, as a decode plan holds them. */
export interface Gpt2RowBuffers {
  x: GPUBuffer;
  x2: GPUBuffer;
  h: GPUBuffer;
  qkv: GPUBuffer;
  att: GPUBuffer;
  up: GPUBuffer;
  hidden: GPUBuffer;
  logits: GPUBuffer;
}

export class Gpt2Model implements LanguageModel {
  readonly info: ModelInfo;
  /** The variant of each decode matmul ("f32" until the loader tunes them). */
  readonly decodeKernels: Record<Gpt2DecodeRole, DecodeMatmulVariant> = { qkv: "f32", proj: "f32", up: "f32", down: "f32", head: "f32" };
  /** The variant of each layer matmul over many rows ("f32" until the loader tunes them). */
  readonly prefillKernels: Record<PrefillRole, PrefillMatmulVariant> = { qkv: "f32", proj: "f32", up: "f32", down: "f32" };
  /**
   * Decode attention: "rows" one pass per head, "split" the keys split across workgroups then
   * combined ("rows" until the loader tunes it). Where "split" is chosen, forwards over a few
   * rows split too when few (row, head) pairs face a long cache (`attentionDispatches`' rule).
   */
  attentionKernel: "rows" | "split" = "rows";
  /** Query rows per invocation of the prefill's one-pass attention (set by the tuner). */
  prefillAttentionRows: 1 | 2 = 1;
  readonly maxChunk: number;
  readonly hiddenSize: number;

  constructor(
    readonly gpu: Gpu,
    readonly config: Gpt2Config,
    readonly weights: Gpt2Weights,
    readonly tokenizer: Tokenizer,
    weightType: WeightType,
    fingerprint: string,
  ) {
    const c = config;
    this.maxChunk = c.nPositions;
    this.hiddenSize = c.nEmbd;
    this.info = {
      type: "gpt2",
      vocabSize: c.vocabSize,
      contextLength: c.nPositions,
      weightType,
      gpuBytes: allTensors(weights).reduce((a, t) => a + t.byteSize, 0),
      description: `GPT-2, ${c.nLayer} layers, ${c.nEmbd} wide, ${c.nHead} heads, ${c.nPositions} positions, ${weightType} weights`,
      fingerprint,
    };
  }

  createState(options: { cacheType?: KvCacheType } = {}): Gpt2KvCache {
    return new Gpt2KvCache(this.gpu, this.config, options.cacheType ?? "f32");
  }

  /** The hidden state after ln_f of the last row stays in `plan.hidden` (external memory). */
  planForward(state: ModelState, M: number, options: PlanForwardOptions = {}): ForwardPlan & { hidden: GPUBuffer } {
    const cache = state as Gpt2KvCache;
    const { gpu, config: c, weights: w } = this;
    if (!Number.isInteger(M) || M < 1 || M > c.nPositions) {
      throw new MnemoError("BAD_INPUT", `A forward pass takes 1..${c.nPositions} tokens, got ${M}.`);
    }
    const D = c.nEmbd;
    const rows = options.allLogits ? M : 1;
    // Before any buffer is taken from the pool, so a refusal leaks none.
    gpu.checkBindingSize(rows * c.vocabSize * 4, `The logits of ${rows} rows`);
    const buffers: GPUBuffer[] = [];
    const buf = (bytes: number, label: string) => {
      const b = gpu.createStorage(bytes, label);
      buffers.push(b);
      return b;
    };
    const ids = buf(M * 4, "ids");
    const positions = buf(M * 4, "positions");
    const io: Gpt2RowBuffers = {
      x: buf(M * D * 4, "x"),
      x2: buf(M * D * 4, "x2"),
      h: buf(M * D * 4, "h"),
      qkv: buf(M * 3 * D * 4, "qkv"),
      att: buf(M * D * 4, "att"),
      up: buf(M * c.nInner * 4, "mlp"),
      hidden: buf(M * D * 4, "hidden"),
      logits: buf(rows * c.vocabSize * 4, "logits"),
    };
    const ds: KernelDispatch[] = embeddingDispatches(gpu, { ids, positions, tokenTable: w.wte, positionTable: w.wpe, out: io.x, M });
    if (M === 1) {
      w.layers.forEach((_, layer) => {
        const kv = this.layerCache(cache, layer, positions);
        const args = this.decodeMatmulArgs(layer, io, kv);
        ds.push(...decodeMatmul(gpu, args.qkv, this.decodeKernels.qkv));
        if (!args.qkv.kvCache) ds.push(kvWrite(gpu, { ...this.attentionShape(kv, 1), qkv: io.qkv, layer }));
        ds.push(
          ...attentionDispatches(gpu, { ...this.attentionShape(kv, 1), qkv: io.qkv, out: io.att, layer, variant: this.attentionKernel }),
          ...decodeMatmul(gpu, args.proj, this.decodeKernels.proj),
          ...decodeMatmul(gpu, args.up, this.decodeKernels.up),
          ...decodeMatmul(gpu, args.down, this.decodeKernels.down),
        );
      });
      ds.push(...decodeMatmul(gpu, this.headArgs(io), this.decodeKernels.head));
    } else {
      const kernels = options.asDecode ? this.kernelsLikeDecode() : this.prefillKernels;
      // The decode's int8 LM head, over every row, when all rows' logits are asked for like decode's.
      const int8Head = !!options.asDecode && rows === M && this.decodeKernels.head.startsWith("i8");
      const scratch = Object.values(kernels).includes("i8") || int8Head ? createInt8Scratch(gpu, Math.max(D, c.nInner), M) : undefined;
      if (scratch) buffers.push(scratch.xq, scratch.xs);
      w.layers.forEach((_, layer) => ds.push(...this.prefillLayer(layer, io, this.layerCache(cache, layer, positions), M, kernels, scratch, !!options.asDecode)));
      // Every row's hidden state stays in `hidden` (external memory); the LM head reads only the
      // rows it needs: the last one unless all logits are asked for.
      const eps = c.layerNormEpsilon;
      ds.push(layerNorm(gpu, { x: io.x, gamma: w.lnF.g.buffer, beta: w.lnF.b.buffer, out: io.hidden, M, D, eps }));
      if (int8Head) {
        // As decode: ln_f inside the quantization of x (the normalised rows above are the memory's keys).
        const head = { x: io.x, w: w.lmHead ?? w.wte, out: io.logits, M, norm: { gamma: w.lnF.g.buffer, beta: w.lnF.b.buffer, eps } };
        ds.push(...prefillMatmul(gpu, head, "i8", io.h, scratch, gemvShapeOf(this.decodeKernels.head)));
      } else if (rows === 1) {
        // The last row through decode's tuned head (on SwiftShader the int8 GEMV is 1.7x the
        // f32 one): its ln_f done again inside, the normalised row not written (hidden holds it).
        const head = this.headArgs(io);
        ds.push(...decodeMatmul(gpu, { ...head, xRowOffset: M - 1, norm: head.norm && { ...head.norm, out: undefined } }, this.decodeKernels.head));
      } else {
        ds.push(...matmulDispatches(gpu, { x: io.hidden, w: w.lmHead ?? w.wte, out: io.logits, M }));
      }
    }
    return {
      M,
      ids,
      positions,
      logits: io.logits,
      hidden: io.hidden,
      dispatches: ds,
      dispose: () => {
        releaseDispatches(gpu, ds);
        for (const b of buffers) gpu.pool.release(b);
      },
    };
  }

  /**
   * One layer of a forward over M > 1 rows: each layer norm over all rows before the matmul
   * behind it (or inside its int8 quantization), then the tiles.
   */
  private prefillLayer(layer: number, io: Gpt2RowBuffers, kv: FusedKvWrite, M: number, k: Record<PrefillRole, PrefillMatmulVariant>, scratch?: Int8Scratch, asDecode = false): KernelDispatch[] {
    const { gpu } = this;
    const args = this.prefillMatmulArgs(layer, io, kv, M, k.qkv);
    const attention = { ...this.attentionShape(kv, M), qkv: io.qkv, layer };
    // asDecode: int8 rows quantized with the decode GEMV's row statistics (the same bytes).
    const like = (role: PrefillRole) => (asDecode ? gemvShapeOf(this.decodeKernels[role]) : undefined);
    const ds = prefillMatmul(gpu, args.qkv, k.qkv, io.h, scratch, like("qkv"));
    if (!args.qkv.kvCache) ds.push(kvWrite(gpu, attention));
    ds.push(
      // Where decode measured the split faster: split when few (row, head) pairs face a long cache.
      // asDecode (a verification): one row per invocation, as decode sums (the same bits).
      ...attentionDispatches(gpu, {
        ...attention,
        out: io.att,
        variant: this.attentionKernel === "split" ? "auto" : "rows",
        queryRows: asDecode ? 1 : this.prefillAttentionRows,
      }),
      ...prefillMatmul(gpu, args.proj, k.proj, io.h, scratch, like("proj")),
      ...prefillMatmul(gpu, args.up, k.up, io.h, scratch, like("up")),
      ...prefillMatmul(gpu, args.down, k.down, io.h, scratch, like("down")),
    );
    return ds;
  }

  /**
   * Many-row kernels with the decode's arithmetic per role: int8 activations where decode
   * quantizes them, else the prefill's f32 kernel (its tuned one when that is f32 too).
   */
  private kernelsLikeDecode(): Record<PrefillRole, PrefillMatmulVariant> {
    const out = { ...this.prefillKernels };
    for (const role of GPT2_PREFILL_ROLES) {
      if (this.decodeKernels[role].startsWith("i8")) out[role] = "i8";
      else if (out[role] === "i8") out[role] = "f32";
    }
    return out;
  }

  /** The four matmuls of one layer over M > 1 rows (`norm`: layer-normalise the rows first). */
  prefillMatmulArgs(layer: number, io: Gpt2RowBuffers, kv: FusedKvWrite, M: number, qkvVariant = this.prefillKernels.qkv): Record<PrefillRole, MatmulArgs> {
    const { gpu, config: c } = this;
    const L = this.weights.layers[layer];
    const eps = c.layerNormEpsilon;
    const fuse = qkvVariant === "i8" ? canRunGemvI8(gpu, { bias: true, kvCache: true }) : canFuseKvWrite(gpu, { K: c.nEmbd, cacheType: kv.cacheType, bias: true });
    return {
      qkv: { x: io.x, w: L.attnQkv.w, bias: L.attnQkv.b.buffer, out: io.qkv, M, norm: { gamma: L.ln1.g.buffer, beta: L.ln1.b.buffer, eps }, kvCache: fuse ? kv : undefined, layer },
      proj: { x: io.att, w: L.attnProj.w, bias: L.attnProj.b.buffer, residual: io.x, out: io.x2, M, layer },
      up: { x: io.x2, w: L.mlpUp.w, bias: L.mlpUp.b.buffer, out: io.up, M, epilogue: "gelu", norm: { gamma: L.ln2.g.buffer, beta: L.ln2.b.buffer, eps }, layer },
      down: { x: io.up, w: L.mlpDown.w, bias: L.mlpDown.b.buffer, residual: io.x2, out: io.x, M, layer },
    };
  }

  /** One layer's KV cache as the matmul's fused write and the attention kernels take it. */
  layerCache(cache: Gpt2KvCache, layer: number, positions: GPUBuffer): FusedKvWrite {
    const c = this.config;
    return { positions, kCache: cache.k[layer], vCache: cache.v[layer], headDim: c.nEmbd / c.nHead, nCtx: c.nPositions, cacheType: cache.cacheType };
  }

  attentionShape(kv: FusedKvWrite, M: number) {
    return { positions: kv.positions, M, nHead: this.config.nHead, headDim: kv.headDim, nCtx: kv.nCtx, cacheType: kv.cacheType ?? "f32", kCache: kv.kCache, vCache: kv.vCache };
  }

  /**
   * The four matmuls of one decode layer, each layer norm fused into the matmul behind it
   * (an int8 GEMV normalises the row as it quantizes it); the KV write rides in the QKV matmul's
   * epilogue when its variant can bind the cache.
   */
  decodeMatmulArgs(layer: number, io: Gpt2RowBuffers, kv: FusedKvWrite, qkvVariant = this.decodeKernels.qkv): Record<"qkv" | "proj" | "up" | "down", MatmulArgs> {
    const { gpu, config: c } = this;
    const L = this.weights.layers[layer];
    const eps = c.layerNormEpsilon;
    const row = { K: c.nEmbd, norm: {} };
    const fuse = qkvVariant.startsWith("i8-") ? canRunGemvI8(gpu, { bias: true, kvCache: true, row }) : canFuseKvWrite(gpu, { K: c.nEmbd, cacheType: kv.cacheType, bias: true, norm: true });
    return {
      qkv: { x: io.x, w: L.attnQkv.w, bias: L.attnQkv.b.buffer, out: io.qkv, M: 1, norm: { gamma: L.ln1.g.buffer, beta: L.ln1.b.buffer, eps }, kvCache: fuse ? kv : undefined, layer },
      proj: { x: io.att, w: L.attnProj.w, bias: L.attnProj.b.buffer, residual: io.x, out: io.x2, M: 1, layer },
      up: { x: io.x2, w: L.mlpUp.w, bias: L.mlpUp.b.buffer, out: io.up, M: 1, epilogue: "gelu", norm: { gamma: L.ln2.g.buffer, beta: L.ln2.b.buffer, eps }, layer },
      down: { x: io.up, w: L.mlpDown.w, bias: L.mlpDown.b.buffer, residual: io.x2, out: io.x, M: 1, layer },
    };
  }

  /** The decode LM head: ln_f fused in front, the normalised row kept in `hidden`. */
  headArgs(io: Gpt2RowBuffers): MatmulArgs {
    const w = this.weights;
    return { x: io.x, w: w.lmHead ?? w.wte, out: io.logits, M: 1, norm: { gamma: w.lnF.g.buffer, beta: w.lnF.b.buffer, eps: this.config.layerNormEpsilon, out: io.hidden } };
  }

  isDisposed = false;

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const t of allTensors(this.weights)) releaseTensor(this.gpu, t);
  }
}

function allTensors(w: Gpt2Weights): GpuTensor[] {
  const out = [w.wte, w.wpe, w.lnF.g, w.lnF.b];
  if (w.lmHead) out.push(w.lmHead);
  for (const L of w.layers) for (const part of Object.values(L)) out.push(part.g ?? part.w, part.b);
  return out;
}
