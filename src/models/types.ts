import type { Gpu } from "../gpu/device.js";
import type { Readout } from "../gpu/readback.js";
import type { KernelDispatch } from "../gpu/dispatch.js";
import type { WeightType } from "../base/dtype.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { SnapshotTensor } from "../base/snapshot-tensor.js";

/** What a loaded model is. */
export interface ModelInfo {
  /** The architecture. */
  type: "gpt2" | "lstm" | "rnn";
  /** Tokens in the vocabulary (rows of the token table). */
  vocabSize: number;
  /** Positions the model can attend to; Infinity for recurrent models. */
  contextLength: number;
  /** How the matrices are stored on the GPU (Q8_0/Q4_0 dequantize inside the kernels). */
  weightType: WeightType;
  /** Bytes of weights on the GPU. */
  gpuBytes: number;
  /** A short human description ("8 layers, 256 wide, 4 heads"). */
  description: string;
  /** Identifies the weights, so a snapshot is never restored into another model. */
  fingerprint: string;
  /**
   * The kernel variant each tuned operation runs, with what the tuner measured ("head":
   * GPT-2's decode LM head, ...); absent for models with nothing to choose.
   */
  kernels?: Record<string, KernelChoice>;
}

/** One operation's kernel variant, as the tuner (src/gpu/tuner.ts) chose it or the caller forced it. */
export interface KernelChoice {
  /** The variant that runs ("f32", "i8-rows4", ...). */
  variant: string;
  /** What each candidate cost, ms per run (empty when forced). */
  timingsMs: Record<string, number>;
  /** "measured" now, "cached" from an earlier measurement on this adapter, or "forced" by the caller. */
  source: "measured" | "cached" | "forced";
}

/**
 * A model's state on the GPU (KV cache or recurrent (h, c)). The model records into it;
 * sessions own it.
 */
export interface ModelState {
  /** Tokens consumed so far (the next token's position). */
  position: number;
  /** Bytes the state holds on the GPU. */
  readonly bytes: number;
  /** Copies the state to the CPU (snapshot tensors), one submit and one map. */
  read(): Promise<Record<string, SnapshotTensor>>;
  /** The regions {@link read} copies, for a caller that batches them with others (a session snapshot). */
  readout(): Readout<Record<string, SnapshotTensor>>;
  /** Loads snapshot tensors back; SHAPE_MISMATCH / BAD_INPUT when they do not fit. */
  write(tensors: Record<string, SnapshotTensor>, position: number): void;
  /** Forgets everything: position 0 and, for recurrent models, a zero state. */
  clear(): void;
  /** Copies this state into `other` on the GPU (fork). */
  copyTo(encoder: GPUCommandEncoder, other: ModelState): void;
  dispose(): void;
}

/**
 * A recorded forward of M tokens: write ids/positions into its input buffers, encode its
 * dispatches, and the logits of every row (or the last) are in `logits`.
 */
export interface ForwardPlan {
  readonly M: number;
  /** u32 [M] token ids (the sample kernel may write the next id straight into it). */
  readonly ids: GPUBuffer;
  /** u32 [M] positions. */
  readonly positions: GPUBuffer;
  /** f32 [rows, vocab]: rows = M with allLogits, else 1 (the last position). */
  readonly logits: GPUBuffer;
  readonly dispatches: readonly KernelDispatch[];
  /**
   * f32 [M, hiddenSize]: each row's final hidden state (GPT-2: after ln_f, before the LM
   * head), the key of an external memory. Absent for models that do not expose it.
   */
  readonly hidden?: GPUBuffer;
  /** With an external memory: where the last row's k nearest entries land. */
  readonly neighbours?: PlanNeighbours;
  /** With an external memory and allLogits: every row's nearest entries and what they hold. */
  readonly memoryRows?: PlanMemoryRows;
  dispose(): void;
}

/** The nearest memory entries of every row of a forward, and the tokens of the entries (speculative drafts read them). */
export interface PlanMemoryRows {
  /** Where row `row`'s k nearest entries land, nearest first. */
  neighboursOf(row: number): PlanNeighbours;
  /** CPU copies: the token at each entry's position and the token after it. */
  readonly entryInputs: Uint32Array;
  readonly entryValues: Uint32Array;
  /** Entries filled (indices at or above it are empty). */
  readonly entries: number;
}

/** The k nearest memory entries of one row: f32 distances and u32 entry indices. */
export interface PlanNeighbours {
  readonly dist: GPUBuffer;
  readonly index: GPUBuffer;
  /** Byte offset of the row's k values in both buffers. */
  readonly byteOffset: number;
  readonly k: number;
}

/** How a forward is planned. */
export interface PlanForwardOptions {
  /** Logits for every row (else the last row's only). */
  allLogits?: boolean;
  /**
   * Compute every row with the arithmetic of a one-row decode step (int8 activations
   * wherever the decode matmuls quantize them, f32 where they do not), so each row's logits
   * are the decode's up to summation order: what a speculative verification needs to keep
   * the tokens of plain decoding. Without it a many-row forward uses the prefill's kernels.
   */
  asDecode?: boolean;
  /**
   * With allLogits: the rows are consecutive positions that a growing memory appends as
   * they are fed, so each row consults that memory as decoding them one at a time would
   * (the rows before it included); the plan appends nothing (a speculative verification
   * keeps only the rows it accepts). A static memory is the same for every row.
   */
  causalMemory?: boolean;
}

/** The interface generate() and sessions drive. */
export interface LanguageModel {
  readonly gpu: Gpu;
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  createState(options?: { cacheType?: "f32" | "f16" }): ModelState;
  /** Records a forward of M tokens into `state` (ids at positions state.position..). */
  planForward(state: ModelState, M: number, options?: PlanForwardOptions): ForwardPlan;
  /** Largest M a single plan accepts (prompts are split into chunks of this). */
  readonly maxChunk: number;
  /** Width of `ForwardPlan.hidden` rows (0 when plans have no hidden states). */
  readonly hiddenSize: number;
  /** True once dispose() ran: its weights are gone. */
  readonly isDisposed: boolean;
  /** True when every forward consults an external memory (its plans with allLogits carry `memoryRows`). */
  readonly consultsMemory?: boolean;
  dispose(): void;
}
