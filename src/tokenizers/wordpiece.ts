// BERT's WordPiece tokenizer, as Hugging Face's `BertTokenizer(Fast)` runs it (tokenizer.json
// with a BertNormalizer, a BertPreTokenizer, a WordPiece model and a [CLS] A [SEP] B [SEP]
// template; or vocab.txt + tokenizer_config.json):
//   0. special tokens written in the text ("[MASK]", "[SEP]", …, exactly as spelled) are
//      their ids, and the text between them goes through the steps below;
//   1. normalize: drop NUL, U+FFFD and other control characters, every whitespace character
//      becomes a space, CJK ideographs get spaces around them, then (when lower-casing)
//      accents are stripped (NFD, marks removed) and the text lower-cased;
//   2. split on whitespace, every punctuation character a word of its own;
//   3. each word greedily into the longest pieces of the vocabulary, later pieces prefixed
//      "##"; a word with no split (or over 100 characters) is [UNK] as a whole;
//   4. [CLS] first [SEP] (second [SEP]), token types 0 then 1, truncated longest-first.
import { MnemoError } from "../errors.js";

/** What a WordPiece vocabulary and its settings are. */
export interface WordPieceConfig {
  /** Pieces by id (vocab.txt order, or tokenizer.json's vocab map inverted). */
  vocab: readonly string[];
  /** Lower-case (and, unless `stripAccents` says otherwise, strip accents): BERT uncased. */
  lowercase: boolean;
  /** Strip accents; undefined follows `lowercase`, as Hugging Face does. */
  stripAccents?: boolean;
  /** Put spaces around CJK ideographs, so each is a word (default true). */
  handleChineseChars?: boolean;
  /** The special tokens' spellings (defaults "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"). */
  unkToken?: string;
  /** See unkToken. */
  clsToken?: string;
  /** See unkToken. */
  sepToken?: string;
  /** See unkToken. */
  padToken?: string;
  /** See unkToken; a vocabulary without it has no fill-mask. */
  maskToken?: string;
  /** Prefix of a piece that continues a word (default "##"). */
  continuingSubwordPrefix?: string;
  /** Words longer than this many characters are [UNK] (default 100). */
  maxInputCharsPerWord?: number;
}

/** Options of {@link WordPieceTokenizer.encode}. */
export interface WordPieceEncodeOptions {
  /** Add [CLS] and [SEP] (default true). */
  addSpecialTokens?: boolean;
  /**
   * The most ids the result may hold, special tokens included: longer inputs lose pieces
   * from the end of the longer sequence first (Hugging Face's "longest_first"). Without it
   * nothing is cut.
   */
  maxLength?: number;
}

/** One encoded sequence (or pair). */
export interface WordPieceEncoding {
  /** The ids, [CLS] and [SEP] included unless left out. */
  ids: number[];
  /** 0 for [CLS], the first text and its [SEP]; 1 for the second text and its [SEP]. */
  tokenTypeIds: number[];
  /** The pieces, as strings. */
  tokens: string[];
}

const CJK_RANGES: readonly [number, number][] = [
  [0x4e00, 0x9fff],
  [0x3400, 0x4dbf],
  [0x20000, 0x2a6df],
  [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f],
  [0x2b820, 0x2ceaf],
  [0xf900, 0xfaff],
  [0x2f800, 0x2fa1f],
];

function isChineseChar(cp: number): boolean {
  return CJK_RANGES.some(([a, b]) => cp >= a && cp <= b);
}

// Unicode White_Space, as Rust's char::is_whitespace (JavaScript's \s also takes U+FEFF).
const WHITESPACE = /\p{White_Space}/u;
// Other (Cc, Cf, Cs, Co, Cn), but tab, newline and carriage return are whitespace.
const CONTROL = /\p{C}/u;
const MARK_NONSPACING = /\p{Mn}/u;
// ASCII punctuation by BERT's rule (all of 33-47, 58-64, 91-96, 123-126, symbols such as $
// and ^ included), and every Unicode punctuation character.
const PUNCTUATION = /[\p{P}\u0021-\u002f\u003a-\u0040\u005b-\u0060\u007b-\u007e]/u;

/** BERT's tokenizer (see the top of this file for its rules). */
export class WordPieceTokenizer {
  /** Pieces in the vocabulary. */
  readonly vocabSize: number;
  /** The [UNK] id: a word with no split into pieces. */
  readonly unkId: number;
  /** The [CLS] id, first in every encoding. */
  readonly clsId: number;
  /** The [SEP] id, after each text. */
  readonly sepId: number;
  /** The [PAD] id. */
  readonly padId: number;
  /** The [MASK] id, when the vocabulary has one (masked-language models). */
  readonly maskId?: number;
  private readonly ids = new Map<string, number>();
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;
  private readonly handleChineseChars: boolean;
  private readonly prefix: string;
  private readonly maxWordChars: number;
  /** The special tokens' spellings, longest first, and a pattern that finds any of them. */
  private readonly specialPattern: RegExp;

  /** A tokenizer of this vocabulary and settings; BAD_MODEL_FILE when a special token is missing. */
  constructor(private readonly config: WordPieceConfig) {
    config.vocab.forEach((piece, id) => {
      // vocab.txt keeps the first of two equal lines, as Hugging Face's reader does.
      if (!this.ids.has(piece)) this.ids.set(piece, id);
    });
    this.vocabSize = config.vocab.length;
    const special = (token: string | undefined, fallback: string, what: string): number => {
      const id = this.ids.get(token ?? fallback);
      if (id === undefined) throw new MnemoError("BAD_MODEL_FILE", `The WordPiece vocabulary has no ${what} token ${JSON.stringify(token ?? fallback)}.`);
      return id;
    };
    this.unkId = special(config.unkToken, "[UNK]", "unknown");
    this.clsId = special(config.clsToken, "[CLS]", "classifier");
    this.sepId = special(config.sepToken, "[SEP]", "separator");
    this.padId = special(config.padToken, "[PAD]", "padding");
    this.maskId = this.ids.get(config.maskToken ?? "[MASK]");
    this.lowercase = config.lowercase;
    this.stripAccents = config.stripAccents ?? config.lowercase;
    this.handleChineseChars = config.handleChineseChars ?? true;
    this.prefix = config.continuingSubwordPrefix ?? "##";
    this.maxWordChars = config.maxInputCharsPerWord ?? 100;
    const specials = [config.unkToken ?? "[UNK]", config.clsToken ?? "[CLS]", config.sepToken ?? "[SEP]", config.padToken ?? "[PAD]", config.maskToken ?? "[MASK]"]
      .filter((t) => this.ids.has(t))
      .sort((a, b) => b.length - a.length);
    this.specialPattern = new RegExp(specials.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  }

  /** Step 1: the normalized text. */
  normalize(text: string): string {
    let out = "";
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd) continue;
      if (WHITESPACE.test(ch)) out += " ";
      else if (CONTROL.test(ch)) continue;
      else if (this.handleChineseChars && isChineseChar(cp)) out += ` ${ch} `;
      else out += ch;
    }
    if (this.stripAccents) out = [...out.normalize("NFD")].filter((c) => !MARK_NONSPACING.test(c)).join("");
    return this.lowercase ? out.toLowerCase() : out;
  }

  /** Steps 1-2: the words of the text. */
  words(text: string): string[] {
    const words: string[] = [];
    let word = "";
    for (const ch of this.normalize(text)) {
      if (ch === " ") {
        if (word) words.push(word);
        word = "";
      } else if (PUNCTUATION.test(ch)) {
        if (word) words.push(word);
        words.push(ch);
        word = "";
      } else {
        word += ch;
      }
    }
    if (word) words.push(word);
    return words;
  }

  /** Step 3 for one word: its pieces' ids, or [UNK] alone. */
  private wordIds(word: string): number[] {
    const chars = [...word];
    if (chars.length > this.maxWordChars) return [this.unkId];
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let id: number | undefined;
      for (; end > start; end--) {
        const piece = (start > 0 ? this.prefix : "") + chars.slice(start, end).join("");
        id = this.ids.get(piece);
        if (id !== undefined) break;
      }
      if (id === undefined) return [this.unkId];
      out.push(id);
      start = end;
    }
    return out;
  }

  /** The pieces of a text (special tokens spelled in it included), without [CLS] and [SEP] around it. */
  tokenize(text: string): number[] {
    const out: number[] = [];
    let last = 0;
    for (const m of text.matchAll(this.specialPattern)) {
      for (const w of this.words(text.slice(last, m.index))) out.push(...this.wordIds(w));
      out.push(this.ids.get(m[0])!);
      last = m.index! + m[0].length;
    }
    for (const w of this.words(text.slice(last))) out.push(...this.wordIds(w));
    return out;
  }

  /**
   * Encodes a text, or a pair of texts (a question and a passage, two sentences). An empty
   * second text is no pair, as transformers.js has it (Python's tokenizers would add an empty
   * segment and a second [SEP]).
   */
  encode(text: string, pair?: string | WordPieceEncodeOptions, options: WordPieceEncodeOptions = {}): WordPieceEncoding {
    const second = typeof pair === "string" && pair !== "" ? pair : undefined;
    const o = typeof pair === "object" ? pair : options;
    const special = o.addSpecialTokens ?? true;
    let a = this.tokenize(text);
    let b = second === undefined ? undefined : this.tokenize(second);
    if (o.maxLength !== undefined) [a, b] = this.truncate(a, b, o.maxLength, special);
    const ids = special ? [this.clsId, ...a, this.sepId, ...(b ? [...b, this.sepId] : [])] : [...a, ...(b ?? [])];
    const firstLength = special ? a.length + 2 : a.length;
    return { ids, tokenTypeIds: ids.map((_, i) => (i < firstLength ? 0 : 1)), tokens: ids.map((id) => this.config.vocab[id]) };
  }

  /** Cuts pieces from the end of the longer sequence (the second on a tie) until the whole fits. */
  private truncate(a: number[], b: number[] | undefined, maxLength: number, special: boolean): [number[], number[] | undefined] {
    const reserved = special ? (b ? 3 : 2) : 0;
    if (!Number.isInteger(maxLength) || maxLength < reserved) {
      throw new MnemoError("BAD_INPUT", `maxLength must be an integer of at least ${reserved} (the special tokens), got ${maxLength}.`);
    }
    let n1 = a.length;
    let n2 = b?.length ?? 0;
    while (n1 + n2 > maxLength - reserved) {
      if (n1 > n2) n1--;
      else n2--;
    }
    return [a.slice(0, n1), b?.slice(0, n2)];
  }

  /** Ids back to text: pieces joined by spaces, "##" continuations glued on, special tokens left out. */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const specials = new Set([this.clsId, this.sepId, this.padId, ...(this.maskId === undefined ? [] : [this.maskId])]);
    let out = "";
    for (const id of ids) {
      if (skip && specials.has(id)) continue;
      const piece = this.config.vocab[id];
      if (piece === undefined) throw new MnemoError("BAD_INPUT", `Token id ${id} is outside the vocabulary of ${this.vocabSize}.`);
      out += piece.startsWith(this.prefix) ? piece.slice(this.prefix.length) : out ? ` ${piece}` : piece;
    }
    return out;
  }
}

/** A WordPiece tokenizer from a Hugging Face tokenizer.json (WordPiece model, BertNormalizer). */
export function wordPieceFromTokenizerJson(json: unknown): WordPieceTokenizer {
  const t = json as {
    model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
    normalizer?: Record<string, unknown> | null;
  };
  if (t?.model?.type !== "WordPiece" || !t.model.vocab || typeof t.model.vocab !== "object") {
    throw new MnemoError("UNSUPPORTED_MODEL", `tokenizer.json: a BERT tokenizer needs a "WordPiece" model, not ${JSON.stringify(t?.model?.type)}.`);
  }
  const n = t.normalizer;
  if (n && n.type !== "BertNormalizer") throw new MnemoError("UNSUPPORTED_MODEL", `tokenizer.json: normalizer ${JSON.stringify(n.type)} is not supported (BertNormalizer is).`);
  const entries = Object.entries(t.model.vocab);
  const vocab: string[] = new Array(entries.length);
  for (const [piece, id] of entries) {
    if (!Number.isInteger(id) || id < 0 || id >= entries.length || vocab[id] !== undefined) {
      throw new MnemoError("BAD_MODEL_FILE", `tokenizer.json: the WordPiece ids must be 0..${entries.length - 1}, each once (${JSON.stringify(piece)} has ${id}).`);
    }
    vocab[id] = piece;
  }
  return new WordPieceTokenizer({
    vocab,
    lowercase: n ? n.lowercase !== false : false,
    stripAccents: typeof n?.strip_accents === "boolean" ? n.strip_accents : undefined,
    handleChineseChars: n ? n.handle_chinese_chars !== false : false,
    unkToken: t.model.unk_token,
    continuingSubwordPrefix: t.model.continuing_subword_prefix,
    maxInputCharsPerWord: t.model.max_input_chars_per_word,
  });
}

/** A WordPiece tokenizer from vocab.txt (one piece per line) and tokenizer_config.json. */
export function wordPieceFromVocabTxt(text: string, config: Record<string, unknown> = {}): WordPieceTokenizer {
  const vocab = text.split(/\r?\n/);
  if (vocab.at(-1) === "") vocab.pop();
  const str = (key: string) => (typeof config[key] === "string" ? (config[key] as string) : undefined);
  return new WordPieceTokenizer({
    vocab,
    lowercase: config.do_lower_case !== false,
    stripAccents: typeof config.strip_accents === "boolean" ? config.strip_accents : undefined,
    handleChineseChars: config.tokenize_chinese_chars !== false,
    unkToken: str("unk_token"),
    clsToken: str("cls_token"),
    sepToken: str("sep_token"),
    padToken: str("pad_token"),
    maskToken: str("mask_token"),
  });
}
