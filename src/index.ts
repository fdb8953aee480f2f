// Mnemo's package root: the public API. Everything else is internal.
export { loadModel, isWebGpuAvailable, Model, type LoadModelOptions, type PublicModelInfo, type SessionOptions, type KernelProfile } from "./api.js";
export type { KernelSummary } from "./gpu/profiler.js";
export { Session, type ChatOptions, type GenerateOptions, type GeneratedToken, type GenerationTimings, type SessionUsage, type OverflowPolicy } from "./runtime/session.js";
export { encodeSnapshot, decodeSnapshot, type StateSnapshot, type StateSnapshot as SessionSnapshot } from "./runtime/snapshot.js";
export { renderChat, DEFAULT_CHAT_TEMPLATE, DEFAULT_CHAT_STOP, type ChatMessage } from "./runtime/chat.js";
export { clearModelCache, type FileProgress, type Integrity } from "./loading/cache.js";
export type { ModelSource } from "./loading/model-files.js";
export { MnemoError, isMnemoError, type MnemoErrorCode } from "./errors.js";
