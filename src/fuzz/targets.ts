// Parsers that take outside bytes, each with a valid seed input, for the fuzz harness
// (harness.ts; scripts/fuzz.ts and tests/fuzz/fuzz.test.ts run it). A target must end every
// input in a result or a MnemoError; anything else (a RangeError from an allocation sized by
// a field, a TypeError, a hang) is a defect. The targets span formats, tokenizers, model
// configs and snapshots, so they live here, above all of them, and nothing in src imports it.
import { bufferSource } from "../formats/source.js";
import { openSafetensors, writeSafetensors } from "../formats/safetensors.js";
import { openGguf } from "../formats/gguf.js";
import { writeGguf } from "../formats/gguf-writer.js";
import { parseJson, parseJsonObject, decodeUtf8 } from "../formats/json.js";
import { parseGpt2Config } from "../models/gpt2-config.js";
import { parseRecurrentConfig } from "../models/recurrent-config.js";
import { BpeTokenizer } from "../tokenizers/bpe.js";
import { CharTokenizer } from "../tokenizers/char.js";
import { decodeSnapshot, encodeSnapshot } from "../runtime/snapshot.js";

export interface FuzzTarget {
  name: string;
  /** A valid input; mutations start from it. */
  seed(): Uint8Array;
  /** Parses the bytes all the way (reads every tensor, encodes a text). */
  parse(bytes: Uint8Array): Promise<unknown>;
  /** JSON inputs also get structural mutations (deep nesting, wrong types, huge numbers). */
  json?: boolean;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const jsonOf = (bytes: Uint8Array, what: string) => parseJsonObject(decodeUtf8(bytes, what), what);

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

export const FUZZ_TARGETS: FuzzTarget[] = [
  {
    name: "safetensors",
    seed: () =>
      writeSafetensors(
        [
          { name: "a", dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
          { name: "b", dtype: "F16", shape: [4], data: Uint16Array.from([0x3c00, 0x4000, 0xc000, 0]) },
          { name: "c", dtype: "BF16", shape: [1, 2], data: Uint16Array.from([0x3f80, 0x4000]) },
        ],
        { format: "pt" },
      ),
    async parse(bytes) {
      const f = await openSafetensors(bufferSource(bytes, "fuzz.safetensors"));
      for (const name of f.tensors.keys()) await f.readF32(name);
      return f.tensors.size;
    },
  },
  {
    name: "gguf",
    seed: () =>
      writeGguf({
        metadata: [
          ["general.architecture", { type: "string", value: "gpt2" }],
          ["gpt2.context_length", { type: "u32", value: 64 }],
          ["general.file_type", { type: "u64", value: 7n }],
          ["gpt2.attention.layer_norm_epsilon", { type: "f32", value: 1e-5 }],
          ["flag", { type: "bool", value: true }],
          ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: ["a", "b", "ab"] }],
          ["nested", { type: "array", itemType: "array", value: [{ type: "array", itemType: "i16", value: [1, -2] }] }],
        ],
        tensors: [
          { name: "w", type: "F32", dims: [4, 2], data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
          { name: "h", type: "F16", dims: [2], data: new Uint8Array(Uint16Array.from([0x3c00, 0x4000]).buffer) },
          // One Q8_0 block: f16 scale 1.0, then 32 int8 values.
          { name: "q", type: "Q8_0", dims: [32], data: Uint8Array.from([0x00, 0x3c, ...Array.from({ length: 32 }, (_, i) => i)]) },
        ],
      }),
    async parse(bytes) {
      const f = await openGguf(bufferSource(bytes, "fuzz.gguf"));
      for (const t of f.tensors) await f.readF32(t.name);
      return f.tensors.length;
    },
  },
  {
    name: "gpt2-config",
    json: true,
    seed: () => utf8(JSON.stringify({ model_type: "gpt2", n_embd: 64, n_head: 4, n_layer: 2, n_positions: 64, vocab_size: 1000, layer_norm_epsilon: 1e-5, activation_function: "gelu_new" })),
    parse: async (bytes) => parseGpt2Config(jsonOf(bytes, "config.json")),
  },
  {
    name: "lstm-config",
    json: true,
    seed: () => utf8(JSON.stringify({ model_type: "lstm", vocab_size: 65, embedding_dim: 16, hidden_size: 32, num_layers: 2, tokenizer: "char" })),
    parse: async (bytes) => parseRecurrentConfig(jsonOf(bytes, "config.json")),
  },
  {
    name: "tokenizer-json",
    json: true,
    seed: () =>
      utf8(
        JSON.stringify({
          model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2, Ġ: 3, Ġa: 4 }, merges: ["a b", "Ġ a"] },
          added_tokens: [{ id: 5, content: "<|endoftext|>", special: true }],
        }),
      ),
    async parse(bytes) {
      const t = BpeTokenizer.fromTokenizerJson(jsonOf(bytes, "tokenizer.json"));
      return t.decode(t.encode("ab a<|endoftext|>"));
    },
  },
  {
    name: "vocab-merges",
    seed: () => utf8(`${JSON.stringify({ a: 0, b: 1, ab: 2, Ġ: 3 })}\n#version: 0.2\na b\n`),
    async parse(bytes) {
      // One input holds both files: vocab.json's line, then merges.txt.
      const text = decodeUtf8(bytes, "vocab + merges");
      const nl = text.indexOf("\n");
      const t = BpeTokenizer.fromVocabAndMerges(parseJsonObject(nl < 0 ? text : text.slice(0, nl), "vocab.json"), nl < 0 ? "" : text.slice(nl + 1));
      return t.encode("ab ba");
    },
  },
  {
    name: "char-vocab",
    json: true,
    seed: () => utf8(JSON.stringify({ type: "char", chars: ["\n", " ", "a", "b", "é"] })),
    async parse(bytes) {
      const t = CharTokenizer.fromVocabJson(parseJson(decodeUtf8(bytes, "vocab.json"), "vocab.json"), { unknown: "skip" });
      return t.decode(t.encode("ab é"));
    },
  },
  {
    name: "snapshot",
    seed: () =>
      encodeSnapshot({
        modelFingerprint: "fuzz",
        kind: "kv-cache",
        tokens: [1, 2, 3],
        droppedTokens: 0,
        position: 3,
        tensors: { "layer0.k": { dtype: "f16", shape: [2, 2], data: Uint16Array.from([1, 2, 3, 4]) } },
        nextLogits: Float32Array.from([0.5, -1]),
        chat: { messages: [{ role: "user", content: "hi" }], fed: "User: hi" },
      }),
    parse: (bytes) => decodeSnapshot(bytes),
  },
  {
    name: "lstm-snapshot",
    seed: () =>
      encodeSnapshot({
        modelFingerprint: "fuzz-lstm",
        kind: "recurrent",
        tokens: [4, 0, 9],
        droppedTokens: 0,
        position: 3,
        tensors: {
          h0: { dtype: "f32", shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => i / 8) },
          c0: { dtype: "f32", shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => -i / 8) },
        },
        nextLogits: Float32Array.from([0.25, 1, -2]),
      }),
    parse: (bytes) => decodeSnapshot(bytes),
  },
];
