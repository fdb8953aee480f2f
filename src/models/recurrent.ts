// A recurrent language model (LSTM or plain RNN) as a composition of kernels: embedding →
// n_layers × (input projection of every timestep as one matmul, then the recurrence step
// by step: lstm.wgsl's fused four gates or rnn.wgsl's one) → linear head. Its state is
// every layer's h (and, for the LSTM, c), kept on the GPU.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { readAll, type Readout } from "../gpu/readback.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { embeddingDispatches } from "../kernels/embedding.js";
import { recurrentKeepState, lstmStep } from "../kernels/lstm.js";
import { rnnStep } from "../kernels/rnn.js";
import { matmul, matmulDispatches } from "../kernels/matmul.js";
import { releaseTensor } from "../kernels/weights.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { SnapshotTensor } from "../base/snapshot-tensor.js";
import { gatesPerUnit, type RecurrentConfig } from "./recurrent-config.js";
import type { ForwardPlan, LanguageModel, ModelInfo, ModelState, PlanForwardOptions } from "./types.js";

/** One recurrent layer on the GPU (PyTorch layout; G = 4 gates i, f, g, o for the LSTM, 1 for the RNN). */
export interface RecurrentLayer {
  /** [G·H, in]. */
  wIh: GpuTensor;
  /** [G·H, H] values in the step kernel's layout (interleaveRecurrentWeights, transposeRecurrentWeights). */
  wHh: GpuTensor;
  /** [G·H]: b_ih + b_hh, added once in the input projection. */
  bias: GpuTensor;
}

export interface RecurrentWeights {
  /** [V, E]. */
  embedding: GpuTensor;
  layers: RecurrentLayer[];
  head: { w: GpuTensor; b: GpuTensor };
}

/** The h (and, for the LSTM, c) state of every layer: f32 [H] each. */
export class RecurrentState implements ModelState {
  position = 0;
  readonly h: GPUBuffer[] = [];
  readonly c: GPUBuffer[] = [];
  readonly bytes: number;

  constructor(
    private readonly gpu: Gpu,
    readonly config: RecurrentConfig,
  ) {
    const { numLayers, hiddenSize: H, cell } = config;
    for (let l = 0; l < numLayers; l++) {
      this.h.push(gpu.createStorage(H * 4, `${cell}.h${l}`));
      if (cell === "lstm") this.c.push(gpu.createStorage(H * 4, `${cell}.c${l}`));
    }
    this.bytes = (this.h.length + this.c.length) * H * 4;
    this.clear();
  }

  /** Zero state (pooled buffers may hold old values). */
  clear(): void {
    const zeros = new Float32Array(this.config.hiddenSize);
    for (const b of [...this.h, ...this.c]) this.gpu.write(b, zeros);
    this.position = 0;
  }

  /** The state's buffers by snapshot name: h0, c0, h1, c1, … (no c for the plain RNN). */
  private named(): [string, GPUBuffer][] {
    return this.h.flatMap((h, l): [string, GPUBuffer][] =>
      this.c[l]
        ? [
            [`h${l}`, h],
            [`c${l}`, this.c[l]],
          ]
        : [[`h${l}`, h]],
    );
  }

  /** Every layer's h (and c), f32 [H] each. */
  readout(): Readout<Record<string, SnapshotTensor>> {
    const H = this.config.hiddenSize;
    const named = this.named();
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
    const what = `${this.h.length}-layer ${this.config.cell.toUpperCase()}`;
    // Check everything before writing anything, so a bad snapshot leaves the state as it was.
    const parts: [GPUBuffer, Float32Array][] = [];
    for (const [name, buffer] of this.named()) {
      const t = tensors[name];
      if (!t) throw new MnemoError("BAD_INPUT", `Snapshot has no tensor ${name} for this ${what}.`);
      if (t.dtype !== "f32" || t.shape.join() !== String(H)) {
        throw new MnemoError("SHAPE_MISMATCH", `Snapshot tensor ${name} is ${t.dtype} [${t.shape}], this ${what} needs f32 [${H}].`);
      }
      parts.push([buffer, t.data as Float32Array]);
    }
    const names = new Set(this.named().map(([name]) => name));
    const extra = Object.keys(tensors).find((name) => !names.has(name));
    if (extra) throw new MnemoError("SHAPE_MISMATCH", `Snapshot tensor ${extra} has no place in this ${what} (a snapshot of another model?).`);
    for (const [buffer, data] of parts) this.gpu.write(buffer, data);
    this.position = position;
  }

  copyTo(encoder: GPUCommandEncoder, other: ModelState): void {
    const o = other as RecurrentState;
    const bytes = this.config.hiddenSize * 4;
    for (let l = 0; l < this.h.length; l++) encoder.copyBufferToBuffer(this.h[l], 0, o.h[l], 0, bytes);
    for (let l = 0; l < this.c.length; l++) encoder.copyBufferToBuffer(this.c[l], 0, o.c[l], 0, bytes);
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

export class RecurrentModel implements LanguageModel {
  readonly info: ModelInfo;
  readonly maxChunk = MAX_CHUNK;
  /** Plans expose no hidden states (no external memory for recurrent models yet). */
  readonly hiddenSize = 0;

  constructor(
    readonly gpu: Gpu,
    readonly config: RecurrentConfig,
    readonly weights: RecurrentWeights,
    readonly tokenizer: Tokenizer,
    fingerprint: string,
  ) {
    const c = config;
    const cell = c.cell === "lstm" ? "LSTM" : `RNN (${c.nonlinearity})`;
    this.info = {
      type: c.cell,
      vocabSize: c.vocabSize,
      contextLength: Infinity,
      weightType: "f32",
      gpuBytes: allTensors(weights).reduce((a, t) => a + t.byteSize, 0),
      description: `${cell}, ${c.numLayers} layers of ${c.hiddenSize}, ${c.embeddingDim}-wide embedding, ${c.vocabSize} tokens, f32 weights`,
      fingerprint,
    };
  }

  createState(): RecurrentState {
    return new RecurrentState(this.gpu, this.config);
  }

  /**
   * Records M timesteps: per layer, one matmul projects every timestep's input (x W_ihᵀ +
   * biases), then M fused steps run the recurrence; the last h is kept in the state.
   */
  planForward(state: ModelState, M: number, options: PlanForwardOptions = {}): ForwardPlan {
    const s = state as RecurrentState;
    const { gpu, config: c, weights: w } = this;
    if (!Number.isInteger(M) || M < 1 || M > MAX_CHUNK) throw new MnemoError("BAD_INPUT", `A forward pass takes 1..${MAX_CHUNK} tokens, got ${M}.`);
    const H = c.hiddenSize;
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
    const x = buf(M * c.embeddingDim * 4, "embedded");
    const xproj = buf(M * gatesPerUnit(c.cell) * H * 4, "xproj");
    // Layer l reads the h sequence of layer l − 1: two buffers, used alternately.
    const hsPair = [buf(M * H * 4, "hs.a"), buf(M * H * 4, "hs.b")];
    const logits = buf(rows * c.vocabSize * 4, "logits");
    const ds: KernelDispatch[] = embeddingDispatches(gpu, { ids, tokenTable: w.embedding, out: x, M });
    let input = x;
    w.layers.forEach((L, layer) => {
      const hs = hsPair[layer % 2];
      ds.push(matmul(gpu, { x: input, w: L.wIh, bias: L.bias.buffer, out: xproj, M, layer }));
      for (let t = 0; t < M; t++) {
        const step = { xproj, wHh: L.wHh.buffer, hState: s.h[layer], hs, H, M, t, layer };
        ds.push(c.cell === "lstm" ? lstmStep(gpu, { ...step, c: s.c[layer] }) : rnnStep(gpu, { ...step, nonlinearity: c.nonlinearity }));
      }
      ds.push(recurrentKeepState(gpu, { hs, hState: s.h[layer], H, M, layer }));
      input = hs;
    });
    ds.push(...matmulDispatches(gpu, { x: input, xRowOffset: M - rows, w: w.head.w, bias: w.head.b.buffer, out: logits, M: rows }));
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

function allTensors(w: RecurrentWeights): GpuTensor[] {
  return [w.embedding, w.head.w, w.head.b, ...w.layers.flatMap((L) => [L.wIh, L.wHh, L.bias])];
}
