// Serialisable copies of a session: the model's state (a GPT-2 KV cache, a recurrent model's h (and c)
// state), its tokens, next-token logits and growing memory.
// On disk or in IndexedDB a snapshot is a safetensors file: the state tensors plus
// `__metadata__` naming the format, the model it belongs to and the tokens it has seen.
// Reusing safetensors keeps one validated parser for every tensor file Mnemo reads.
import { MnemoError } from "../errors.js";
import { bufferSource } from "../formats/source.js";
import { getBytes, putBytes, type IdbPlace } from "../loading/idb-bytes.js";
import type { ChatState } from "./chat.js";
import { openSafetensors, writeSafetensors, type SafetensorsDtype, type SafetensorsFile, type SafetensorsTensorInput } from "../formats/safetensors.js";
import type { GrowingMemoryState } from "./session-memory.js";
import type { SnapshotTensor } from "../base/snapshot-tensor.js";

/** A session at one moment (the model's state, its tokens, logits and growing memory), detached from the GPU. */
export interface StateSnapshot {
  /** Which model produced it: restoring into another model is refused. */
  modelFingerprint: string;
  /** "kv-cache" (attention) or "recurrent" (LSTM, plain RNN). */
  kind: "kv-cache" | "recurrent";
  /** Token ids the state has consumed, oldest first (what a context policy may re-prefill). */
  tokens: number[];
  /** Tokens dropped so far by the context-overflow policy. */
  droppedTokens: number;
  /** Tokens the state tensors hold (the last context token may not be in them yet). */
  position: number;
  /** The state tensors by name (KV cache layers, or h and c). */
  tensors: Record<string, SnapshotTensor>;
  /** Logits for the token after `tokens`, when the state holds all of them. */
  nextLogits?: Float32Array;
  /** The conversation held by chat() turns, when there is one. */
  chat?: ChatState;
  /** The session's growing memory (`model.session({ growingMemory })`), when it has one. */
  growingMemory?: GrowingMemoryState;
}

/** The tensor name next-token logits travel under (never a state tensor's name). */
const NEXT_LOGITS = "session.next_logits";

const FORMAT = "mnemo-state";
const VERSION = "1";

/** Encodes a snapshot as safetensors bytes (for a file, IndexedDB or the network). */
export function encodeSnapshot(s: StateSnapshot): Uint8Array {
  const tensors: SafetensorsTensorInput[] = Object.entries(s.tensors).map(([name, t]) => ({
    name,
    dtype: (t.dtype === "f16" ? "F16" : "F32") as SafetensorsDtype,
    shape: t.shape,
    data: t.data,
  }));
  if (s.nextLogits) tensors.push({ name: NEXT_LOGITS, dtype: "F32", shape: [s.nextLogits.length], data: s.nextLogits });
  const g = s.growingMemory;
  if (g) {
    const slots = g.values.length;
    tensors.push(
      { name: MEMORY.keys, dtype: "F32", shape: [slots, slots ? g.keys.length / slots : 0], data: g.keys },
      { name: MEMORY.values, dtype: "U32", shape: [slots], data: g.values },
      { name: MEMORY.inputs, dtype: "U32", shape: [slots], data: g.inputs },
    );
    if (g.pending) tensors.push({ name: MEMORY.pending, dtype: "F32", shape: [g.pending.key.length], data: g.pending.key });
  }
  return writeSafetensors(tensors, {
    format: FORMAT,
    version: VERSION,
    model: s.modelFingerprint,
    kind: s.kind,
    tokens: JSON.stringify(s.tokens),
    dropped: String(s.droppedTokens),
    position: String(s.position),
    ...(s.chat ? { chat: JSON.stringify(s.chat) } : {}),
    ...(g ? { memory_appended: String(g.appended), ...(g.pending ? { memory_pending_input: String(g.pending.input) } : {}) } : {}),
  });
}

function bad(message: string): never {
  throw new MnemoError("BAD_INPUT", `Not a usable Mnemo session snapshot: ${message}`);
}

/** Decodes bytes from {@link encodeSnapshot}; every malformed field is a BAD_INPUT error. */
export async function decodeSnapshot(bytes: Uint8Array): Promise<StateSnapshot> {
  const file = await openSafetensors(bufferSource(bytes, "snapshot"));
  const m = file.metadata;
  if (m.format !== FORMAT) bad(`format is ${JSON.stringify(m.format)}, expected "${FORMAT}".`);
  if (m.version !== VERSION) bad(`version ${JSON.stringify(m.version)} is not supported (expected ${VERSION}).`);
  if (m.kind !== "kv-cache" && m.kind !== "recurrent") bad(`unknown kind ${JSON.stringify(m.kind)}.`);
  if (typeof m.model !== "string" || m.model.length === 0) bad("no model fingerprint.");
  let tokens: unknown;
  try {
    tokens = JSON.parse(m.tokens ?? "");
  } catch {
    bad("the token list is not JSON.");
  }
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && t >= 0 && t < 2 ** 32)) bad("the token list is not a list of token ids.");
  const dropped = Number(m.dropped);
  if (!Number.isSafeInteger(dropped) || dropped < 0) bad("the dropped-token count is invalid.");
  const position = Number(m.position);
  if (!Number.isSafeInteger(position) || position < 0 || position > (tokens as number[]).length) bad("the position is invalid.");
  const chat = m.chat === undefined ? undefined : parseChat(m.chat);
  const tensors: Record<string, SnapshotTensor> = {};
  const growingMemory = await readGrowingMemory(file, m);
  for (const info of file.tensors.values()) {
    if ((Object.values(MEMORY) as string[]).includes(info.name)) continue;
    const raw = await file.readRaw(info.name);
    if (info.dtype === "F32") tensors[info.name] = { dtype: "f32", shape: info.shape, data: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) };
    else if (info.dtype === "F16") tensors[info.name] = { dtype: "f16", shape: info.shape, data: new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2) };
    else bad(`tensor ${info.name} has dtype ${info.dtype}; snapshots hold F32 or F16 only.`);
  }
  const next = tensors[NEXT_LOGITS];
  delete tensors[NEXT_LOGITS];
  if (next && (next.dtype !== "f32" || next.shape.length !== 1)) bad("the next-token logits are not an f32 vector.");
  const nextLogits = next ? (next.data as Float32Array) : undefined;
  return { modelFingerprint: m.model, kind: m.kind, tokens: tokens as number[], droppedTokens: dropped, position, tensors, nextLogits, chat, growingMemory };
}

/** Tensor names of a growing memory in a snapshot (never a state tensor's name). */
const MEMORY = { keys: "memory.keys", values: "memory.values", inputs: "memory.inputs", pending: "memory.pending" } as const;

async function readGrowingMemory(file: SafetensorsFile, m: Record<string, string>): Promise<GrowingMemoryState | undefined> {
  if (!file.tensors.has(MEMORY.keys)) return undefined;
  const keys = file.tensor(MEMORY.keys);
  const values = file.tensor(MEMORY.values);
  const inputs = file.tensor(MEMORY.inputs);
  const slots = keys.shape[0];
  if (keys.dtype !== "F32" || keys.shape.length !== 2 || values.dtype !== "U32" || inputs.dtype !== "U32" || values.shape[0] !== slots || inputs.shape[0] !== slots) {
    bad("the growing memory's tensors do not have matching shapes (f32 [slots, dims], u32 [slots], u32 [slots]).");
  }
  const appended = Number(m.memory_appended);
  if (!Number.isSafeInteger(appended) || appended < 0) bad("the growing memory's entry count is invalid.");
  const u32 = async (name: string) => {
    const raw = await file.readRaw(name);
    return new Uint32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  };
  const state: GrowingMemoryState = { keys: await file.readF32(MEMORY.keys), values: await u32(MEMORY.values), inputs: await u32(MEMORY.inputs), appended };
  if (file.tensors.has(MEMORY.pending)) {
    const input = Number(m.memory_pending_input);
    if (!Number.isInteger(input) || input < 0) bad("the growing memory's pending token is invalid.");
    state.pending = { key: await file.readF32(MEMORY.pending), input };
  }
  return state;
}

function parseChat(text: string): ChatState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    bad("the conversation is not JSON.");
  }
  const c = v as ChatState;
  const ok = !!c && typeof c.fed === "string" && Array.isArray(c.messages) && c.messages.every((m) => !!m && typeof m.role === "string" && typeof m.content === "string");
  if (!ok) bad("the conversation is not a list of { role, content } messages with its fed text.");
  return { messages: c.messages.map((m) => ({ role: m.role, content: m.content })), fed: c.fed };
}

const SNAPSHOTS: IdbPlace = { database: "mnemo-sessions", store: "snapshots", alternative: "use encodeSnapshot() bytes or a file." };

/** Saves a snapshot in IndexedDB under `key` (browsers and workers). */
export async function saveSnapshotToIndexedDb(key: string, s: StateSnapshot): Promise<void> {
  await putBytes(SNAPSHOTS, key, encodeSnapshot(s));
}

/** Loads a snapshot saved with {@link saveSnapshotToIndexedDb}; null when there is none. */
export async function loadSnapshotFromIndexedDb(key: string): Promise<StateSnapshot | null> {
  const bytes = await getBytes(SNAPSHOTS, key);
  return bytes ? decodeSnapshot(bytes) : null;
}
