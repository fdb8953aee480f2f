// GPT-2 as a composition of kernels: embedding → n_layer × (ln_1, c_attn, kv write,
// attention, c_proj + residual, ln_2, c_fc + GELU, c_proj + residual) → ln_f → tied LM head.
// Fused where that saves a dispatch: the KV-cache write runs in c_attn's epilogue, and for
// one row (decode) each layer norm runs inside the matmul that follows it, so a decode step
// is 1 + 5 · n_layer + 1 dispatches. The model records forward plans; it never submits or
// reads back (sessions do).
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import type { WeightType } from "../base/dtype.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { attentionDispatches, kvWrite, type KvCacheType } from "../kernels/attention.js";
import { embedding } from "../kernels/embedding.js";
import { layerNorm } from "../kernels/layernorm.js";
import { canFuseKvWrite, matmul, type MatmulArgs } from "../kernels/matmul.js";
import { releaseTensor } from "../kernels/weights.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { Gpt2Config } from "./gpt2-config.js";
import { Gpt2KvCache } from "./gpt2-kv-cache.js";
import type { ForwardPlan, LanguageModel, ModelInfo, ModelState } from "./types.js";

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

export class Gpt2Model implements LanguageModel {
  readonly info: ModelInfo;
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
  planForward(state: ModelState, M: number, options: { allLogits?: boolean } = {}): ForwardPlan & { hidden: GPUBuffer } {
    const cache = state as Gpt2KvCache;
    const { gpu, config: c, weights: w } = this;
    if (!Number.isInteger(M) || M < 1 || M > c.nPositions) {
      throw new MnemoError("BAD_INPUT", `A forward pass takes 1..${c.nPositions} tokens, got ${M}.`);
    }
    const D = c.nEmbd;
    const hd = D / c.nHead;
    const rows = options.allLogits ? M : 1;
    const buffers: GPUBuffer[] = [];
    const buf = (bytes: number, label: string) => {
      const b = gpu.createStorage(bytes, label);
      buffers.push(b);
      return b;
    };
    const ids = buf(M * 4, "ids");
    const positions = buf(M * 4, "positions");
    const x = buf(M * D * 4, "x");
    const x2 = buf(M * D * 4, "x2");
    const h = buf(M * D * 4, "h");
    const qkv = buf(M * 3 * D * 4, "qkv");
    const att = buf(M * D * 4, "att");
    const up = buf(M * c.nInner * 4, "mlp");
    const hidden = buf(M * D * 4, "hidden");
    const logits = buf(rows * c.vocabSize * 4, "logits");
    const eps = c.layerNormEpsilon;
    const shape = { positions, M, nHead: c.nHead, headDim: hd, nCtx: c.nPositions, cacheType: cache.cacheType };
    // LayerNorm(input) · wᵀ. One row (decode): a single dispatch, the layer norm fused into
    // the GEMV (with `keepNormed`, the normalised row also lands in `normed`). Many rows: a
    // layer norm of every row into `normed`, then the tiled matmul (fused into the tiles,
    // every tile would recompute its rows' statistics).
    const normThenMatmul = (input: GPUBuffer, ln: Gpt2Layer["ln1"], normed: GPUBuffer, mm: Omit<MatmulArgs, "x">, keepNormed = false): KernelDispatch[] => {
      const [gamma, beta] = [ln.g.buffer, ln.b.buffer];
      if (M === 1) return [matmul(gpu, { ...mm, x: input, norm: { gamma, beta, eps, out: keepNormed ? normed : undefined } })];
      return [layerNorm(gpu, { x: input, gamma, beta, out: normed, M, D, eps, layer: mm.layer }), matmul(gpu, { ...mm, x: normed })];
    };
    const fuseKvWrite = canFuseKvWrite(gpu, { K: D, cacheType: cache.cacheType, bias: true, norm: M === 1 });
    const ds: KernelDispatch[] = [embedding(gpu, { ids, positions, tokenTable: w.wte, positionTable: w.wpe, out: x, M })];
    w.layers.forEach((L, layer) => {
      const kv = { ...shape, qkv, kCache: cache.k[layer], vCache: cache.v[layer], layer };
      const kvCache = fuseKvWrite ? { positions, kCache: kv.kCache, vCache: kv.vCache, headDim: hd, nCtx: c.nPositions, cacheType: cache.cacheType } : undefined;
      ds.push(...normThenMatmul(x, L.ln1, h, { w: L.attnQkv.w, bias: L.attnQkv.b.buffer, out: qkv, M, kvCache, layer }));
      if (!fuseKvWrite) ds.push(kvWrite(gpu, kv));
      ds.push(
        // The split path on a hardware GPU when few (row, head) pairs face a long cache.
        ...attentionDispatches(gpu, { ...kv, out: att }),
        matmul(gpu, { x: att, w: L.attnProj.w, bias: L.attnProj.b.buffer, residual: x, out: x2, M, layer }),
        ...normThenMatmul(x2, L.ln2, h, { w: L.mlpUp.w, bias: L.mlpUp.b.buffer, out: up, M, epilogue: "gelu", layer }),
        matmul(gpu, { x: up, w: L.mlpDown.w, bias: L.mlpDown.b.buffer, residual: x2, out: x, M, layer }),
      );
    });
    // Every row's hidden state stays in `hidden` (external memory); the LM head reads only the
    // rows it needs: the last one unless all logits are asked for.
    ds.push(...normThenMatmul(x, w.lnF, hidden, { xRowOffset: M - rows, w: w.lmHead ?? w.wte, out: logits, M: rows }, true));
    return {
      M,
      ids,
      positions,
      logits,
      hidden,
      dispatches: ds,
      dispose: () => {
        releaseDispatches(gpu, ds);
        for (const b of buffers) gpu.pool.release(b);
      },
    };
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
