// A BERT encoder as a composition of kernels, over a packed batch (sequences one after
// another, unpadded): embeddings (word + position + token type, one lookup: the position and
// token-type tables are summed into one table at load) → LayerNorm → n_layers × post-LN
// layers (fused QKV matmul, bidirectional attention within each sequence, output projection
// + residual, LayerNorm, intermediate matmul + GELU, output matmul + residual, LayerNorm) →
// the last hidden states; then, on request, pooled sentence vectors (mean or [CLS], L2
// normalised on the GPU), the pooler (tanh of a dense layer on [CLS]) and the masked-LM head
// (dense + GELU + LayerNorm, then the decoder tied to the word embeddings).
import type { Gpu } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import type { WeightType } from "../base/dtype.js";
import { embeddingDispatches } from "../kernels/embedding.js";
import { encoderAttention } from "../kernels/encoder-attention.js";
import { layerNorm } from "../kernels/layernorm.js";
import { matmul, matmulDispatches } from "../kernels/matmul.js";
import { poolSequences, type Pooling } from "../kernels/pool.js";
import { releaseTensor } from "../kernels/weights.js";
import type { WordPieceTokenizer } from "../tokenizers/wordpiece.js";
import type { BertConfig } from "./bert-config.js";

/** LayerNorm parameters, f32 [H] each. */
export interface NormWeights {
  gamma: GpuTensor;
  beta: GpuTensor;
}

/** One encoder layer on the GPU. */
export interface BertLayerWeights {
  /** [3H, H]: query, key and value stacked (one matmul gives each row's [q | k | v]). */
  qkv: GpuTensor;
  qkvBias: GpuTensor;
  /** attention.output.dense [H, H]. */
  proj: GpuTensor;
  projBias: GpuTensor;
  attentionNorm: NormWeights;
  /** intermediate.dense [I, H]. */
  fc1: GpuTensor;
  fc1Bias: GpuTensor;
  /** output.dense [H, I]. */
  fc2: GpuTensor;
  fc2Bias: GpuTensor;
  outputNorm: NormWeights;
}

export interface BertWeights {
  /** [V, H]; also the masked-LM decoder (tied). */
  wordEmbeddings: GpuTensor;
  /** f32 [T · P, H]: row t · P + p is position p's embedding plus token type t's. */
  positionTypeTable: GpuTensor;
  embeddingNorm: NormWeights;
  layers: BertLayerWeights[];
  /** BertModel's pooler: tanh(W · h[CLS] + b), [H, H]. */
  pooler?: { w: GpuTensor; b: GpuTensor };
  /** BertForMaskedLM's head: transform (dense [H, H] + GELU + LayerNorm), then the tied decoder plus `bias` [V]. */
  mlm?: { w: GpuTensor; b: GpuTensor; norm: NormWeights; bias: GpuTensor };
}

/** What a loaded encoder is. */
export interface EncoderInfo {
  /** The architecture. */
  type: "bert";
  /** Word pieces in the vocabulary. */
  vocabSize: number;
  /** Values per hidden state (and per sentence vector). */
  hiddenSize: number;
  /** Longest sequence, special tokens included (max_position_embeddings). */
  maxPositions: number;
  /** How the matrices are kept on the GPU. */
  weightType: WeightType;
  /** Bytes of weights on the GPU. */
  gpuBytes: number;
  /** One line saying what the encoder is. */
  description: string;
  /** A hash of config and weights: document stores carry it, so vectors of different encoders are never compared. */
  fingerprint: string;
  /** It has BertModel's pooler (`pooling: "pooler"`). */
  hasPooler: boolean;
  /** It has a masked-LM head (`fillMask`). */
  hasMaskedLmHead: boolean;
}

/** What one encoder forward returns besides the last hidden states. */
export interface EncodeOutputs {
  /** Sentence vectors: "mean" or "cls" pooling on the GPU, or BertModel's "pooler". */
  pooling?: Pooling | "pooler";
  /** L2-normalise the mean or [CLS] vectors. */
  normalize?: boolean;
  /** Masked-LM logits of every row. */
  maskedLm?: boolean;
}

/** The dispatches of one encoder forward over a packed batch of `M` rows in `nSeq` sequences, and its buffers. */
export interface EncodePlan {
  M: number;
  nSeq: number;
  /** u32 [M]: word-piece ids. */
  ids: GPUBuffer;
  /** u32 [M]: token type · maxPositions + position (rows of the position-type table). */
  positionTypes: GPUBuffer;
  /** u32 [M] each: the rows each row attends to. */
  keyStart: GPUBuffer;
  keyEnd: GPUBuffer;
  /** u32 [nSeq + 1]: sequence starts. */
  seqStart: GPUBuffer;
  /** f32 [M, H]: the last hidden states. */
  hidden: GPUBuffer;
  /** f32 [nSeq, H], with `pooling`. */
  pooled?: GPUBuffer;
  /** f32 [M, V], with `maskedLm`. */
  maskedLmLogits?: GPUBuffer;
  dispatches: KernelDispatch[];
  dispose(): void;
}

export class BertModel {
  readonly info: EncoderInfo;

  constructor(
    readonly gpu: Gpu,
    readonly config: BertConfig,
    readonly weights: BertWeights,
    readonly tokenizer: WordPieceTokenizer,
    weightType: WeightType,
    fingerprint: string,
  ) {
    const c = config;
    this.info = {
      type: "bert",
      vocabSize: c.vocabSize,
      hiddenSize: c.hiddenSize,
      maxPositions: c.maxPositions,
      weightType,
      gpuBytes: allTensors(weights).reduce((a, t) => a + t.byteSize, 0),
      description: `BERT, ${c.numLayers} layers of ${c.hiddenSize}, ${c.numHeads} heads, ${c.vocabSize} word pieces, ${c.maxPositions} positions, ${weightType} weights${weights.mlm ? ", masked-LM head" : ""}`,
      fingerprint,
      hasPooler: !!weights.pooler,
      hasMaskedLmHead: !!weights.mlm,
    };
  }

  /** Records one forward of a packed batch: M rows in nSeq sequences. */
  planEncode(M: number, nSeq: number, outputs: EncodeOutputs = {}): EncodePlan {
    const { gpu, config: c, weights: w } = this;
    const H = c.hiddenSize;
    const eps = c.layerNormEps;
    const buffers: GPUBuffer[] = [];
    const buf = (bytes: number, label: string) => {
      const b = gpu.createStorage(bytes, `bert.${label}`);
      buffers.push(b);
      return b;
    };
    const ids = buf(M * 4, "ids");
    const positionTypes = buf(M * 4, "position_types");
    const keyStart = buf(M * 4, "key_start");
    const keyEnd = buf(M * 4, "key_end");
    const seqStart = buf((nSeq + 1) * 4, "seq_start");
    // The residual stream lives in `x`; each sub-layer writes its sum into `sum`, and the
    // LayerNorm brings it back to `x`.
    const x = buf(M * H * 4, "x");
    const sum = buf(M * H * 4, "sum");
    const qkv = buf(M * 3 * H * 4, "qkv");
    const attended = buf(M * H * 4, "attended");
    const normed = buf(M * H * 4, "normed");
    const inner = buf(M * c.intermediateSize * 4, "intermediate");
    const norm = (from: GPUBuffer, to: GPUBuffer, n: NormWeights, layer?: number) => layerNorm(gpu, { x: from, gamma: n.gamma.buffer, beta: n.beta.buffer, out: to, M, D: H, eps, layer });
    const ds: KernelDispatch[] = [
      ...embeddingDispatches(gpu, { ids, positions: positionTypes, tokenTable: w.wordEmbeddings, positionTable: w.positionTypeTable, out: sum, M }),
      norm(sum, x, w.embeddingNorm),
    ];
    w.layers.forEach((L, layer) => {
      ds.push(
        matmul(gpu, { x, w: L.qkv, bias: L.qkvBias.buffer, out: qkv, M, layer }),
        encoderAttention(gpu, { qkv, keyStart, keyEnd, out: attended, M, nHead: c.numHeads, headDim: H / c.numHeads, layer }),
        matmul(gpu, { x: attended, w: L.proj, bias: L.projBias.buffer, residual: x, out: sum, M, layer }),
        norm(sum, normed, L.attentionNorm, layer),
        matmul(gpu, { x: normed, w: L.fc1, bias: L.fc1Bias.buffer, out: inner, M, epilogue: c.activation, layer }),
        matmul(gpu, { x: inner, w: L.fc2, bias: L.fc2Bias.buffer, residual: normed, out: sum, M, layer }),
        norm(sum, x, L.outputNorm, layer),
      );
    });
    const plan: EncodePlan = { M, nSeq, ids, positionTypes, keyStart, keyEnd, seqStart, hidden: x, dispatches: ds, dispose: () => {} };
    if (outputs.pooling) plan.pooled = this.planPooling(ds, plan, outputs.pooling, outputs.normalize ?? false, buf);
    if (outputs.maskedLm) plan.maskedLmLogits = this.planMaskedLm(ds, x, M, buf);
    plan.dispose = () => {
      releaseDispatches(gpu, ds);
      for (const b of buffers) gpu.pool.release(b);
    };
    return plan;
  }

  private planPooling(ds: KernelDispatch[], plan: EncodePlan, pooling: Pooling | "pooler", normalize: boolean, buf: (bytes: number, label: string) => GPUBuffer): GPUBuffer {
    const H = this.config.hiddenSize;
    const out = buf(plan.nSeq * H * 4, "pooled");
    if (pooling !== "pooler") {
      ds.push(poolSequences(this.gpu, { hidden: plan.hidden, seqStart: plan.seqStart, out, M: plan.M, D: H, nSeq: plan.nSeq, pooling, normalize }));
      return out;
    }
    // The pooler reads each sequence's [CLS] row: gather them first (the "cls" pooling, not normalised).
    const pooler = this.weights.pooler!;
    const cls = buf(plan.nSeq * H * 4, "cls_rows");
    ds.push(
      poolSequences(this.gpu, { hidden: plan.hidden, seqStart: plan.seqStart, out: cls, M: plan.M, D: H, nSeq: plan.nSeq, pooling: "cls", normalize: false }),
      matmul(this.gpu, { x: cls, w: pooler.w, bias: pooler.b.buffer, out, M: plan.nSeq, epilogue: "tanh" }),
    );
    return out;
  }

  private planMaskedLm(ds: KernelDispatch[], hidden: GPUBuffer, M: number, buf: (bytes: number, label: string) => GPUBuffer): GPUBuffer {
    const { gpu, config: c } = this;
    const mlm = this.weights.mlm!;
    const H = c.hiddenSize;
    const t = buf(M * H * 4, "mlm.transform");
    const tn = buf(M * H * 4, "mlm.normed");
    const logits = buf(M * c.vocabSize * 4, "mlm.logits");
    ds.push(
      matmul(gpu, { x: hidden, w: mlm.w, bias: mlm.b.buffer, out: t, M, epilogue: c.activation }),
      layerNorm(gpu, { x: t, gamma: mlm.norm.gamma.buffer, beta: mlm.norm.beta.buffer, out: tn, M, D: H, eps: c.layerNormEps }),
      ...matmulDispatches(gpu, { x: tn, w: this.weights.wordEmbeddings, bias: mlm.bias.buffer, out: logits, M }),
    );
    return logits;
  }

  isDisposed = false;

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const t of allTensors(this.weights)) releaseTensor(this.gpu, t);
  }
}

function allTensors(w: BertWeights): GpuTensor[] {
  const norms = (n: NormWeights) => [n.gamma, n.beta];
  return [
    w.wordEmbeddings,
    w.positionTypeTable,
    ...norms(w.embeddingNorm),
    ...w.layers.flatMap((L) => [L.qkv, L.qkvBias, L.proj, L.projBias, ...norms(L.attentionNorm), L.fc1, L.fc1Bias, L.fc2, L.fc2Bias, ...norms(L.outputNorm)]),
    ...(w.pooler ? [w.pooler.w, w.pooler.b] : []),
    ...(w.mlm ? [w.mlm.w, w.mlm.b, ...norms(w.mlm.norm), w.mlm.bias] : []),
  ];
}
