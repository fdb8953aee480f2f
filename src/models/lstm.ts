// An LSTM language model as a composition of kernels: embedding → n_layers × (input
// projection of every timestep as one matmul, then the fused recurrence step by step) →
// linear head. Its state is the (h, c) of every layer, kept on the GPU.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { readAll, type Readout } from "../gpu/readback.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { embedding } from "../kernels/embedding.js";
import { lstmKeepState, lstmStep } from "../kernels/lstm.js";
import { matmul } from "../kernels/matmul.js";
import { releaseTensor } from "../kernels/weights.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { SnapshotTensor } from "../base/snapshot-tensor.js";
import type { LstmConfig } from "./lstm-config.js";
import type { ForwardPlan, LanguageModel, ModelInfo, ModelState } from "./types.js";

/** One LSTM layer on the GPU (PyTorch layout, gate order i, f, g, o). */
export interface LstmLayer {
  /** [4H, in]. */
  wIh: GpuTensor;
  /** [4H, H] values in the step kernel's gate-interleaved layout (interleaveRecurrentWeights). */
  wHh: GpuTensor;
  /** [4H]: b_ih + b_hh, added once in the input projection. */
  bias: GpuTensor;
}

export interface LstmWeights {
  /** [V, E]. */
  embedding: GpuTensor;
  layers: LstmLayer[];
  head: { w: GpuTensor; b: GpuTensor };
}

/** The (h, c) state of every layer: f32 [H] each. */
export class LstmState implements ModelState {
  position = 0;
  readonly h: GPUBuffer[] = [];
  readonly c: GPUBuffer[] = [];
  readonly bytes: number;

  constructor(
    private readonly gpu: Gpu,
    readonly config: LstmConfig,
  ) {
    const { numLayers, hiddenSize: H } = config;
    for (let l = 0; l < numLayers; l++) {
      this.h.push(gpu.createStorage(H * 4, `lstm.h${l}`));
      this.c.push(gpu.createStorage(H * 4, `lstm.c${l}`));
    }
    this.bytes = 2 * numLayers * H * 4;
    this.clear();
  }

  /** Zero state (pooled buffers may hold old values). */
  clear(): void {
    const zeros = new Float32Array(this.config.hiddenSize);
    for (const b of [...this.h, ...this.c]) this.gpu.write(b, zeros);
    this.position = 0;
  }

  /** Every layer's h and c, f32 [H] each. */
  readout(): Readout<Record<string, SnapshotTensor>> {
    const H = this.config.hiddenSize;
    const named = this.h.flatMap(
      (h, l) =>
        [
          [`h${l}`, h],
          [`c${l}`, this.c[l]],
        ] as const,
    );
    return {
      regions: named.map(([, buffer]) => ({ buffer, offset: 0, size: H * 4 })),
      decode: (parts) => Object.fromEntries(named.map(([name], i) => [name, { dtype: "f32", shape: [H], data: new Float32Array(parts[i].slice().buffer) }])),
    };
  }

  async read(): Promise<Record<string, SnapshotTensor>> {
    const [tensors] = await readAll(this.gpu, [this.readout()]);
    return tensors;
  }

  write(tensors: Record<string, SnapshotTensor>, position: number): void {
    const H = this.config.hiddenSize;
    if (!Number.isInteger(position) || position < 0) throw new MnemoError("BAD_INPUT", `Snapshot position ${position} is not a token count.`);
    // Check everything before writing anything, so a bad snapshot leaves the state as it was.
    const parts: [GPUBuffer, Float32Array][] = [];
    for (const [name, bufs] of [
      ["h", this.h],
      ["c", this.c],
    ] as const) {
      for (let l = 0; l < bufs.length; l++) {
        const t = tensors[`${name}${l}`];
        if (!t) throw new MnemoError("BAD_INPUT", `Snapshot has no tensor ${name}${l} for this ${bufs.length}-layer LSTM.`);
        if (t.dtype !== "f32" || t.shape.join() !== String(H)) {
          throw new MnemoError("SHAPE_MISMATCH", `Snapshot tensor ${name}${l} is ${t.dtype} [${t.shape}], this LSTM needs f32 [${H}].`);
        }
        parts.push([bufs[l], t.data as Float32Array]);
      }
    }
    for (const [buffer, data] of parts) this.gpu.write(buffer, data);
    this.position = position;
  }

  copyTo(encoder: GPUCommandEncoder, other: ModelState): void {
    const o = other as LstmState;
    const bytes = this.config.hiddenSize * 4;
    for (let l = 0; l < this.h.length; l++) {
      encoder.copyBufferToBuffer(this.h[l], 0, o.h[l], 0, bytes);
      encoder.copyBufferToBuffer(this.c[l], 0, o.c[l], 0, bytes);
    }
    o.position = this.position;
  }

  dispose(): void {
    for (const b of [...this.h, ...this.c]) this.gpu.pool.release(b);
    this.h.length = 0;
    this.c.length = 0;
  }
}

/** Longest prompt chunk one plan records (each timestep is one dispatch per layer). */
const MAX_CHUNK = 512;

export class LstmModel implements LanguageModel {
  readonly info: ModelInfo;
  readonly maxChunk = MAX_CHUNK;
  /** Plans expose no hidden states (no external memory for LSTMs yet). */
  readonly hiddenSize = 0;

  constructor(
    readonly gpu: Gpu,
    readonly config: LstmConfig,
    readonly weights: LstmWeights,
    readonly tokenizer: Tokenizer,
    fingerprint: string,
  ) {
    const c = config;
    this.info = {
      type: "lstm",
      vocabSize: c.vocabSize,
      contextLength: Infinity,
      weightType: "f32",
      gpuBytes: allTensors(weights).reduce((a, t) => a + t.byteSize, 0),
      description: `LSTM, ${c.numLayers} layers of ${c.hiddenSize}, ${c.embeddingDim}-wide embedding, ${c.vocabSize} tokens, f32 weights`,
      fingerprint,
    };
  }

  createState(): LstmState {
    return new LstmState(this.gpu, this.config);
  }

  /**
   * Records M timesteps: per layer, one matmul projects every timestep's input (x W_ihᵀ +
   * biases), then M fused steps run the recurrence; the last h is kept in the state.
   */
  planForward(state: ModelState, M: number, options: { allLogits?: boolean } = {}): ForwardPlan {
    const s = state as LstmState;
    const { gpu, config: c, weights: w } = this;
    if (!Number.isInteger(M) || M < 1 || M > MAX_CHUNK) throw new MnemoError("BAD_INPUT", `A forward pass takes 1..${MAX_CHUNK} tokens, got ${M}.`);
    const H = c.hiddenSize;
    const rows = options.allLogits ? M : 1;
    const buffers: GPUBuffer[] = [];
    const buf = (bytes: number, label: string) => {
      const b = gpu.createStorage(bytes, label);
      buffers.push(b);
      return b;
    };
    const ids = buf(M * 4, "ids");
    const positions = buf(M * 4, "positions");
    const x = buf(M * c.embeddingDim * 4, "embedded");
    const xproj = buf(M * 4 * H * 4, "xproj");
    // Layer l reads the h sequence of layer l − 1: two buffers, used alternately.
    const hsPair = [buf(M * H * 4, "hs.a"), buf(M * H * 4, "hs.b")];
    const logits = buf(rows * c.vocabSize * 4, "logits");
    const ds: KernelDispatch[] = [embedding(gpu, { ids, tokenTable: w.embedding, out: x, M })];
    let input = x;
    w.layers.forEach((L, layer) => {
      const hs = hsPair[layer % 2];
      ds.push(matmul(gpu, { x: input, w: L.wIh, bias: L.bias.buffer, out: xproj, M, layer }));
      for (let t = 0; t < M; t++) {
        ds.push(lstmStep(gpu, { xproj, wHh: L.wHh.buffer, hState: s.h[layer], hs, c: s.c[layer], H, M, t, layer }));
      }
      ds.push(lstmKeepState(gpu, { hs, hState: s.h[layer], H, M, layer }));
      input = hs;
    });
    ds.push(matmul(gpu, { x: input, xRowOffset: M - rows, w: w.head.w, bias: w.head.b.buffer, out: logits, M: rows }));
    return {
      M,
      ids,
      positions,
      logits,
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

function allTensors(w: LstmWeights): GpuTensor[] {
  return [w.embedding, w.head.w, w.head.b, ...w.layers.flatMap((L) => [L.wIh, L.wHh, L.bias])];
}
