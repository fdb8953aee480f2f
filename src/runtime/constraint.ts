// Constrained decoding: output held to a JSON schema, any JSON, a regular expression or an
// EBNF grammar. The grammar side is xgrammar (`@mlc-ai/web-xgrammar`, the engine WebLLM
// uses), loaded on first use: it compiles the constraint against the tokenizer's vocabulary
// and, before each step, gives the set of tokens that can come next as a bit mask, which the
// decoder uploads and the logits kernel applies before sampling (src/kernels/logits.ts).
import { MnemoError } from "../errors.js";
import { nodeHost } from "../host.js";
import type { Tokenizer } from "../tokenizers/types.js";

/** What the output must match. */
export type OutputConstraint =
  | {
      /** Any JSON value (xgrammar's built-in JSON grammar). */
      type: "json";
    }
  | {
      /** JSON matching a JSON schema, written compactly. */
      type: "json_schema";
      /** The schema, or its JSON text. */
      schema: object | string;
    }
  | {
      /** Text matching a regular expression, as a whole. */
      type: "regex";
      /** The expression (xgrammar's regex syntax, like JavaScript's without flags). */
      pattern: string;
    }
  | {
      /** Text of an EBNF grammar in xgrammar's (GBNF-like) notation. */
      type: "grammar";
      /** The grammar's rules. */
      ebnf: string;
      /** The rule the output starts from (default "root"). */
      root?: string;
    };

// The parts of xgrammar's API used here (its own types come with the package).
interface XgMatcher {
  getNextTokenBitmask(): Promise<Int32Array>;
  acceptToken(id: number): boolean;
  isTerminated(): boolean;
  dispose(): void;
}
interface XgCompiled {
  dispose(): void;
}
interface XgCompiler {
  compileJSONSchema(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string]): Promise<XgCompiled>;
  compileBuiltinJSONGrammar(): Promise<XgCompiled>;
  compileGrammar(ebnf: string, root?: string): Promise<XgCompiled>;
  compileStructuralTag(tag: object): Promise<XgCompiled>;
}
interface Xgrammar {
  TokenizerInfo: { createTokenizerInfo(vocab: string[], type: string, prependSpace: boolean, vocabSize: number, stopIds: number[]): Promise<unknown> };
  GrammarCompiler: { createGrammarCompiler(info: unknown, cache?: boolean): Promise<XgCompiler> };
  GrammarMatcher: { createGrammarMatcher(compiled: XgCompiled, stopIds?: number[], terminateWithoutStop?: boolean): Promise<XgMatcher> };
}

let engine: Promise<Xgrammar> | null = null;

async function importEngine(): Promise<Xgrammar> {
  const host = nodeHost();
  let api: unknown;
  try {
    if (host) api = await host.importGrammarEngine();
    else {
      const mod = (await import("@mlc-ai/web-xgrammar")) as { default?: unknown };
      api = mod.default ?? (globalThis as { xgrammar?: unknown }).xgrammar;
    }
  } catch (cause) {
    throw new MnemoError("UNSUPPORTED_FEATURE", `Constrained decoding needs the grammar engine @mlc-ai/web-xgrammar, which did not load: ${String((cause as Error)?.message ?? cause)}`, { cause });
  }
  if (!(api as Partial<Xgrammar> | undefined)?.GrammarCompiler) throw new MnemoError("UNSUPPORTED_FEATURE", "The grammar engine @mlc-ai/web-xgrammar loaded without its API.");
  return api as Xgrammar;
}

function grammarEngine(): Promise<Xgrammar> {
  engine ??= importEngine().catch((e) => {
    engine = null;
    throw e;
  });
  return engine;
}

/** One compiler per tokenizer (building the vocabulary's tables takes ~60 ms for GPT-2). */
const compilers = new WeakMap<Tokenizer, Promise<XgCompiler>>();
/**
 * Compiled constraints per compiler, the most recent few (a schema compiles in ~40 ms). This
 * is the only cache: xgrammar's own is off, because compiling again something that failed
 * once hung inside its WebAssembly with it on (web-xgrammar 0.1.27).
 */
const compiledCache = new WeakMap<XgCompiler, Map<string, Promise<XgCompiled>>>();
const COMPILED_KEPT = 8;

function compilerFor(tokenizer: Tokenizer, vocabSize: number): Promise<XgCompiler> {
  let c = compilers.get(tokenizer);
  if (!c) {
    const vocab = tokenizer.grammarVocabulary();
    if (!vocab) throw new MnemoError("UNSUPPORTED_FEATURE", "Constrained decoding needs the model's tokenizer (this model has none).");
    c = (async () => {
      const xg = await grammarEngine();
      const stop = tokenizer.eosId === undefined ? [] : [tokenizer.eosId];
      const info = await xg.TokenizerInfo.createTokenizerInfo([...vocab.tokens], vocab.type, false, vocabSize, stop);
      return xg.GrammarCompiler.createGrammarCompiler(info, false);
    })();
    compilers.set(tokenizer, c);
    c.catch(() => compilers.delete(tokenizer));
  }
  return c;
}

/** Checks a constraint's shape (BAD_INPUT), before anything runs. */
export function checkConstraint(c: unknown): OutputConstraint {
  const bad = (why: string): never => {
    throw new MnemoError("BAD_INPUT", `constraint: ${why}.`);
  };
  if (typeof c !== "object" || c === null) bad("must be an object with a type");
  const o = c as Record<string, unknown>;
  const only = (...keys: string[]) => {
    for (const k of Object.keys(o)) if (k !== "type" && !keys.includes(k)) bad(`unknown field "${k}" for type "${String(o.type)}"`);
  };
  switch (o.type) {
    case "json":
      only();
      break;
    case "json_schema":
      only("schema");
      if (typeof o.schema === "string") {
        try {
          JSON.parse(o.schema);
        } catch {
          bad("schema is not valid JSON text");
        }
      } else if (typeof o.schema !== "object" || o.schema === null || Array.isArray(o.schema)) bad("schema must be a JSON schema object or its text");
      break;
    case "regex":
      only("pattern");
      if (typeof o.pattern !== "string" || o.pattern.length === 0) bad("pattern must be a non-empty string");
      break;
    case "grammar":
      only("ebnf", "root");
      if (typeof o.ebnf !== "string" || o.ebnf.length === 0) bad("ebnf must be a non-empty string");
      if (o.root !== undefined && typeof o.root !== "string") bad("root must be a string");
      break;
    default:
      bad(`type must be "json", "json_schema", "regex" or "grammar", got ${JSON.stringify(o.type)}`);
  }
  return o as OutputConstraint;
}

function compile(compiler: XgCompiler, c: OutputConstraint): Promise<XgCompiled> {
  switch (c.type) {
    case "json":
      return compiler.compileBuiltinJSONGrammar();
    case "json_schema":
      // Compact JSON (no indentation, ", " and ": "): the fewest tokens to generate.
      return compiler.compileJSONSchema(typeof c.schema === "string" ? c.schema : JSON.stringify(c.schema), false, -1, [", ", ": "]);
    case "regex":
      return compiler.compileStructuralTag({ type: "structural_tag", format: { type: "regex", pattern: c.pattern } });
    case "grammar":
      return compiler.compileGrammar(c.ebnf, c.root ?? "root");
  }
}

async function compiledFor(compiler: XgCompiler, c: OutputConstraint): Promise<XgCompiled> {
  let cache = compiledCache.get(compiler);
  if (!cache) compiledCache.set(compiler, (cache = new Map()));
  const key = JSON.stringify(c);
  let hit = cache.get(key);
  if (!hit) {
    hit = compile(compiler, c);
    cache.set(key, hit);
    hit.catch(() => cache.delete(key));
    if (cache.size > COMPILED_KEPT) cache.delete(cache.keys().next().value!);
  } else {
    // Most recently used last.
    cache.delete(key);
    cache.set(key, hit);
  }
  try {
    return await hit;
  } catch (cause) {
    throw new MnemoError(
      "BAD_INPUT",
      `The ${c.type === "json_schema" ? "JSON schema" : c.type === "regex" ? "regular expression" : c.type} could not be compiled: ${String((cause as Error)?.message ?? cause)}`,
      { cause },
    );
  }
}

/** One generation's grammar state: the tokens allowed next, and the tokens accepted so far. */
export class GrammarConstraint {
  /** CPU time spent building masks and accepting tokens (ms), and the masks built. */
  readonly cost = { ms: 0, masks: 0 };

  private constructor(
    private readonly matcher: XgMatcher,
    private readonly words: number,
  ) {}

  /** Compiles `c` for `tokenizer` (cached) and starts matching from its beginning. */
  static async create(tokenizer: Tokenizer, vocabSize: number, c: OutputConstraint): Promise<GrammarConstraint> {
    const compiler = await compilerFor(tokenizer, vocabSize);
    const compiled = await compiledFor(compiler, c);
    const xg = await grammarEngine();
    const stop = tokenizer.eosId === undefined ? [] : [tokenizer.eosId];
    // With an end-of-text token, the output ends when the model samples it (the mask allows
    // it wherever the grammar may end, and nothing else where nothing more can follow).
    // Without one (a character vocabulary), it ends at the first point the grammar may end.
    const matcher = await xg.GrammarMatcher.createGrammarMatcher(compiled, stop, stop.length === 0);
    return new GrammarConstraint(matcher, Math.ceil(vocabSize / 32));
  }

  /** The tokens allowed next: bit i % 32 of word i / 32 is set for an allowed token i. */
  async allowed(): Promise<Uint32Array> {
    const t0 = performance.now();
    const m = await this.matcher.getNextTokenBitmask();
    this.cost.ms += performance.now() - t0;
    this.cost.masks++;
    return new Uint32Array(m.buffer, m.byteOffset, this.words);
  }

  /** Advances past a sampled token (which the mask allowed). */
  accept(id: number): void {
    const t0 = performance.now();
    const ok = this.matcher.acceptToken(id);
    this.cost.ms += performance.now() - t0;
    if (!ok) throw new MnemoError("INTERNAL", `The grammar refused token ${id}, which its own mask allowed.`);
  }

  /** True once the output is complete and nothing more can follow. */
  get done(): boolean {
    return this.matcher.isTerminated();
  }

  dispose(): void {
    this.matcher.dispose();
  }
}
