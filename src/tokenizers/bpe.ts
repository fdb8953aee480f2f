// GPT-2 byte-level BPE, identical to Hugging Face `tokenizers` for GPT-2's files: bytes are
// mapped to printable characters, text is split by GPT-2's pre-tokenization regex, and each
// piece is merged by rank. Merging uses a linked list and a min-heap, so a 3000-character
// piece costs O(n log n), not O(n²).
import { MnemoError } from "../errors.js";
import type { ChatTemplateInfo, GrammarVocabulary, StreamDecoder, Tokenizer } from "./types.js";

const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's byte → printable character table (and its inverse). */
export function byteTables(): { toChar: string[]; toByte: Map<string, number> } {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const toChar: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) toChar[b] = String.fromCharCode(keep.includes(b) ? b : 256 + extra++);
  const toByte = new Map(toChar.map((c, b) => [c, b]));
  return { toChar, toByte };
}
const BYTES = byteTables();

function bad(message: string): never {
  throw new MnemoError("BAD_MODEL_FILE", `Tokenizer: ${message}`);
}

/** A small binary min-heap of [rank, position, version] candidates. */
class MinHeap {
  private items: number[][] = [];
  get size(): number {
    return this.items.length;
  }
  push(item: number[]): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (less(a[parent], a[i])) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }
  pop(): number[] {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l], a[m])) m = l;
        if (r < a.length && less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** Lower rank first; among equal ranks the leftmost pair first (as HF merges). */
function less(a: number[], b: number[]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** GPT-2 byte-level BPE tokenizer. */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosId?: number;
  chat?: ChatTemplateInfo;
  private readonly idToToken: string[];
  private readonly cache = new Map<string, number[]>();
  private readonly specialPattern: RegExp | null;

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly ranks: Map<string, number>,
    private readonly specials: Map<string, number>,
  ) {
    let max = -1;
    for (const id of vocab.values()) max = Math.max(max, id);
    for (const id of specials.values()) max = Math.max(max, id);
    this.vocabSize = max + 1;
    this.idToToken = new Array(this.vocabSize);
    for (const [t, id] of vocab) this.idToToken[id] = t;
    for (const [t, id] of specials) this.idToToken[id] = t;
    this.eosId = specials.get("<|endoftext|>") ?? vocab.get("<|endoftext|>");
    const escaped = [...specials.keys()].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.specialPattern = escaped.length ? new RegExp(`(${escaped.join("|")})`, "u") : null;
  }

  /** From a Hugging Face `tokenizer.json` (model.vocab, model.merges, added_tokens). */
  static fromTokenizerJson(json: unknown): BpeTokenizer {
    const j = json as { model?: { type?: string; vocab?: unknown; merges?: unknown }; added_tokens?: unknown };
    if (!j || typeof j !== "object" || !j.model || typeof j.model !== "object") bad("tokenizer.json has no model section.");
    if (j.model.type !== undefined && j.model.type !== "BPE") bad(`tokenizer.json model type ${JSON.stringify(j.model.type)} is not BPE.`);
    const merges = Array.isArray(j.model.merges)
      ? j.model.merges.map((m, i) => (Array.isArray(m) ? m : typeof m === "string" ? m.split(" ") : bad(`merge ${i} is neither a string nor a pair.`)))
      : bad("tokenizer.json has no model.merges list.");
    const specials = new Map<string, number>();
    if (Array.isArray(j.added_tokens)) {
      for (const t of j.added_tokens as { content?: unknown; id?: unknown }[]) {
        if (typeof t?.content !== "string" || !Number.isInteger(t?.id)) bad("an added token has no string content or integer id.");
        specials.set(t.content as string, t.id as number);
      }
    }
    return BpeTokenizer.build(j.model.vocab, merges as string[][], specials);
  }

  /** From `vocab.json` and `merges.txt`; `<|endoftext|>` is special when in the vocab. */
  static fromVocabAndMerges(vocab: unknown, mergesText: string): BpeTokenizer {
    const lines = mergesText.split(/\r?\n/).filter((l) => l.length > 0 && !l.startsWith("#version"));
    const merges = lines.map((l, i) => {
      const parts = l.split(" ");
      if (parts.length !== 2) bad(`merges.txt line ${i + 1} is not two tokens separated by a space.`);
      return parts;
    });
    const v = vocab as Record<string, unknown>;
    const specials = new Map<string, number>();
    if (v && typeof v === "object" && Number.isInteger(v["<|endoftext|>"])) specials.set("<|endoftext|>", v["<|endoftext|>"] as number);
    return BpeTokenizer.build(vocab, merges, specials);
  }

  /** From GGUF metadata: `tokenizer.ggml.tokens` (id = index) and `tokenizer.ggml.merges`. */
  static fromGgufVocab(tokens: readonly string[], merges: readonly string[], opts: { eosId?: number } = {}): BpeTokenizer {
    const vocab: Record<string, number> = {};
    tokens.forEach((t, i) => (vocab[t] = i));
    const specials = new Map<string, number>();
    const eos = opts.eosId ?? vocab["<|endoftext|>"];
    if (eos !== undefined && tokens[eos] !== undefined) specials.set(tokens[eos], eos);
    return BpeTokenizer.build(
      vocab,
      merges.map((m) => m.split(" ")),
      specials,
    );
  }

  private static build(vocab: unknown, merges: readonly (readonly string[])[], specials: Map<string, number>): BpeTokenizer {
    if (!vocab || typeof vocab !== "object" || Array.isArray(vocab)) bad("the vocabulary is not an object of token → id.");
    const entries = Object.entries(vocab as Record<string, unknown>);
    if (entries.length === 0) bad("the vocabulary is empty.");
    // Ids index a dense table: bound the largest by the number of entries (and 10M), so a
    // small file cannot ask for a huge allocation. Added tokens get the same check.
    const maxId = Math.min(10_000_000, 4 * (entries.length + specials.size) + 1024);
    for (const [t, id] of [...entries, ...specials]) {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > maxId) {
        bad(`token ${JSON.stringify(t)} has id ${String(id)}, outside 0..${maxId} for a vocabulary of ${entries.length} tokens.`);
      }
    }
    const map = new Map(entries as [string, number][]);
    const ranks = new Map<string, number>();
    merges.forEach((m, i) => {
      if (m.length !== 2 || typeof m[0] !== "string" || typeof m[1] !== "string") bad(`merge ${i} is not a pair of strings.`);
      if (!map.has(m[0] + m[1])) bad(`merge ${i} (${m[0]} ${m[1]}) makes a token that is not in the vocabulary.`);
      const key = `${m[0]} ${m[1]}`;
      if (!ranks.has(key)) ranks.set(key, i);
    });
    return new BpeTokenizer(map, ranks, specials);
  }

  /**
   * The vocabulary as GGUF stores it (`tokenizer.ggml.tokens` in id order, merges as
   * "a b" strings by rank, special ids), so a converter can write it without the JSON files.
   */
  toGgufVocab(): { tokens: string[]; merges: string[]; specialIds: number[] } {
    const tokens = Array.from(this.idToToken, (t, id) => {
      if (t === undefined) throw new MnemoError("BAD_MODEL_FILE", `Tokenizer: id ${id} has no token, so the vocabulary cannot be written densely.`);
      return t;
    });
    const merges = [...this.ranks.entries()].sort((a, b) => a[1] - b[1]).map(([m]) => m);
    return { tokens, merges, specialIds: [...this.specials.values()] };
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    const parts = this.specialPattern ? text.split(this.specialPattern) : [text];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part.length === 0) continue;
      // split() with a capturing group puts the separators at odd indices.
      if (this.specialPattern && i % 2 === 1) {
        ids.push(this.specials.get(part)!);
        continue;
      }
      for (const m of part.matchAll(PRETOKENIZE)) this.encodePiece(m[0], ids);
    }
    return ids;
  }

  private encodePiece(piece: string, ids: number[]): void {
    const cached = this.cache.get(piece);
    if (cached) {
      for (const id of cached) ids.push(id);
      return;
    }
    const bytes = new TextEncoder().encode(piece);
    const symbols = Array.from(bytes, (b) => BYTES.toChar[b]);
    const merged = this.merge(symbols);
    const out = merged.map((s) => {
      const id = this.vocab.get(s);
      if (id === undefined) throw new MnemoError("BAD_MODEL_FILE", `Tokenizer: the symbol ${JSON.stringify(s)} is not in the vocabulary.`);
      return id;
    });
    if (this.cache.size < 100_000) this.cache.set(piece, out);
    for (const id of out) ids.push(id);
  }

  /** Applies merges by rank over a linked list of symbols. */
  private merge(symbols: string[]): string[] {
    const n = symbols.length;
    if (n < 2) return symbols;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const version = new Int32Array(n); // bumps when the symbol at i changes or dies
    const heap = new MinHeap();
    const consider = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const rank = this.ranks.get(`${symbols[i]} ${symbols[j]}`);
      if (rank !== undefined) heap.push([rank, i, version[i], version[j], j]);
    };
    for (let i = 0; i < n - 1; i++) consider(i);
    while (heap.size > 0) {
      const [, i, vi, vj, j] = heap.pop();
      if (version[i] !== vi || version[j] !== vj || next[i] !== j) continue; // stale
      symbols[i] += symbols[j];
      version[i]++;
      version[j] = -1 - version[j]; // dead
      const k = next[j];
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(symbols[i]);
    return out;
  }

  /** The token's text as stored in the vocabulary (byte-level characters). */
  tokenToString(id: number): string | undefined {
    return this.idToToken[id];
  }

  private idBytes(id: number): number[] {
    const token = this.idToToken[id];
    if (token === undefined) throw new MnemoError("BAD_INPUT", `Token id ${id} is outside the vocabulary (size ${this.vocabSize}).`);
    if (this.specials.has(token)) return [...new TextEncoder().encode(token)];
    return Array.from(token, (c) => BYTES.toByte.get(c) ?? 0x3f);
  }

  grammarVocabulary(): GrammarVocabulary {
    return { tokens: this.idToToken, type: "byte_level" };
  }

  tokenBytes(id: number): Uint8Array {
    return Uint8Array.from(this.idBytes(id));
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) for (const b of this.idBytes(id)) bytes.push(b);
    return new TextDecoder("utf-8").decode(new Uint8Array(bytes));
  }

  createStreamDecoder(): StreamDecoder {
    const decoder = new TextDecoder("utf-8");
    return {
      push: (id) => decoder.decode(new Uint8Array(this.idBytes(id)), { stream: true }),
      flush: () => decoder.decode(),
    };
  }
}
