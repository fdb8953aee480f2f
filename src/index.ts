/// <reference types="@webgpu/types" preserve="true" />
// Mnemo's package root: the public API for browsers and workers (the "browser" and
// "default" export conditions). The Node entry (node.ts) adds model paths, Dawn and
// snapshot files. Everything else is internal.
export { loadModel, isWebGpuAvailable, Model, type LoadModelOptions, type PublicModelInfo, type SessionOptions, type KernelProfile } from "./api.js";
export type { ModelInfo, KernelChoice } from "./models/types.js";
export type { KernelOptions, PrefillAttentionVariant } from "./models/gpt2-tune.js";
export type { DecodeMatmulVariant, PrefillMatmulVariant } from "./kernels/matmul-variants.js";
export type { GemvI8Shape } from "./kernels/matmul-i8.js";
export { memoryTunerStore, type TunerStore } from "./base/tuner-store.js";
export { loadEncoder, Encoder, type LoadEncoderOptions, type EmbedOptions, type FillMaskCandidate, type PublicEncoderInfo } from "./encoder-api.js";
export type { EncoderInfo } from "./models/bert.js";
export type { EncoderWeightType } from "./models/bert-load.js";
export type { Pooling } from "./kernels/pool.js";
export { WordPieceTokenizer, type WordPieceConfig, type WordPieceEncodeOptions, type WordPieceEncoding } from "./tokenizers/wordpiece.js";
export type { DocumentHit } from "./runtime/document-search.js";
export type { WeightType, WeightQuant } from "./base/dtype.js";
export type { KernelSummary } from "./gpu/profiler.js";
export { Session } from "./runtime/session.js";
export type {
  ChatOptions,
  GenerateOptions,
  GeneratedToken,
  MemoryNeighbour,
  GrowingMemoryUsage,
  GenerationTimings,
  SessionUsage,
  OverflowPolicy,
  SpeculateOptions,
  SpeculationStats,
  TokenAlternative,
} from "./runtime/types.js";
export { encodeSnapshot, decodeSnapshot, saveSnapshotToIndexedDb, loadSnapshotFromIndexedDb, type StateSnapshot, type StateSnapshot as SessionSnapshot } from "./runtime/snapshot.js";
export type { SnapshotTensor, SnapshotTensorF32, SnapshotTensorF16 } from "./base/snapshot-tensor.js";
export { renderChat, DEFAULT_CHAT_TEMPLATE, DEFAULT_CHAT_STOP, type ChatMessage, type ChatState, type ChatTemplateOptions } from "./runtime/chat.js";
export { clearModelCache, type FileProgress, type Integrity } from "./loading/cache.js";
export type { ModelSource } from "./loading/model-files.js";
export { MnemoError, isMnemoError, type MnemoErrorCode } from "./errors.js";
export { Memory, type MemoryEntryText } from "./memory/memory.js";
export type { MemoryMixOptions } from "./memory/gpu-store.js";
export type { GrowingMemoryOptions, GrowingMemoryState, PendingMemoryEntry } from "./runtime/session-memory.js";
export type { BuildMemoryOptions } from "./runtime/memory-build.js";
export { encodeKnnStore as encodeMemoryStore, decodeKnnStore as decodeMemoryStore, type KnnStoreData as MemoryStore, type KeyType as MemoryKeyType } from "./memory/store-file.js";
export type { KnnMetric as MemoryMetric } from "./kernels/knn.js";
export { saveMemoryStoreToIndexedDb, loadMemoryStoreFromIndexedDb } from "./memory/store-persist.js";
export type { OutputConstraint } from "./runtime/constraint.js";
export { ChatCompletions, Completions } from "./openai/completions.js";
export { MAX_CHOICES } from "./openai/request.js";
export {
  createWorkerEngine,
  serveWorkerEngine,
  type EngineInfo,
  type EngineLoader,
  type EngineModel,
  type EnginePort,
  type WorkerEngine,
  type WorkerEngineOptions,
} from "./openai/worker-engine.js";
export type {
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChatCompletionChunkChoice,
  ChatCompletionMessage,
  ChatCompletionRequest,
  ChatRequestMessage,
  ChoiceLogprobs,
  Completion,
  CompletionCallOptions,
  CompletionChoice,
  CompletionChunk,
  CompletionLogprobs,
  CompletionRequest,
  CompletionUsage,
  FinishReason,
  ResponseFormat,
  StreamOptions,
  TokenLogprobEntry,
  TopLogprob,
} from "./openai/types.js";
