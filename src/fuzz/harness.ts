// Mutation fuzzing of the parsers in targets.ts: seeded, so every failure replays.
// Mutations that matter for these formats: truncation, byte flips, 64-bit and 32-bit fields
// overwritten with huge, negative or boundary values, inserted and deleted runs, and for
// JSON deep nesting, wrong types, huge numbers and invalid UTF-8.
import { MnemoError } from "../errors.js";
import type { FuzzTarget } from "./targets.js";

/** xorshift32: small, fast, deterministic. */
export class FuzzRandom {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % Math.max(1, n);
  }
}

const BOUNDARY_U64 = [0n, 1n, 0x7fn, 0xffn, 0xffffn, 0x7fffffffn, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn, 1n << 53n];

function writeU64(out: Uint8Array, at: number, v: bigint): void {
  for (let i = 0; i < 8 && at + i < out.length; i++) out[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}

/** One binary mutation of `input` (a new array). */
export function mutateBytes(input: Uint8Array, r: FuzzRandom): Uint8Array {
  const at = r.below(input.length + 1);
  switch (r.below(7)) {
    case 0: // truncation at any point
      return input.slice(0, at);
    case 1: {
      const out = input.slice();
      for (let i = 0, n = 1 + r.below(4); i < n && out.length; i++) out[r.below(out.length)] ^= 1 << r.below(8);
      return out;
    }
    case 2: {
      const out = input.slice();
      writeU64(out, at, BOUNDARY_U64[r.below(BOUNDARY_U64.length)]);
      return out;
    }
    case 3: {
      const out = input.slice();
      const v = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe][r.below(6)];
      for (let i = 0; i < 4 && at + i < out.length; i++) out[at + i] = (v >>> (8 * i)) & 0xff;
      return out;
    }
    case 4: {
      const run = Uint8Array.from({ length: 1 + r.below(16) }, () => r.below(256));
      const out = new Uint8Array(input.length + run.length);
      out.set(input.subarray(0, at));
      out.set(run, at);
      out.set(input.subarray(at), at + run.length);
      return out;
    }
    case 5: {
      // Delete a run of up to 16 bytes at `at`.
      const end = Math.min(input.length, at + 1 + r.below(16));
      const out = new Uint8Array(input.length - (end - at));
      out.set(input.subarray(0, at));
      out.set(input.subarray(end), at);
      return out;
    }
    default: {
      // Copy a run of the input over another place (duplicated or overlapping fields).
      const out = input.slice();
      const from = r.below(input.length);
      const n = 1 + r.below(24);
      out.set(input.subarray(from, from + n).subarray(0, Math.max(0, out.length - at)), Math.min(at, out.length));
      return out;
    }
  }
}

const JSON_REPLACEMENTS: (() => unknown)[] = [
  () => -1,
  () => 0,
  () => 1e308,
  () => 2 ** 53 + 1,
  () => 1.5,
  () => "x",
  () => "",
  () => null,
  () => true,
  () => [],
  () => ({}),
  () => Array.from({ length: 3 }, () => "a b"),
  () => "\u0000\ud800",
];

function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

/** One structural mutation of a JSON document (falls back to a byte mutation). */
export function mutateJson(input: Uint8Array, r: FuzzRandom): Uint8Array {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(input));
    JSON.stringify(doc); // documents too deep to re-serialise get byte mutations instead
  } catch {
    return mutateBytes(input, r);
  }
  const kind = r.below(5);
  if (kind === 0) {
    // Nesting far deeper than any stack: built as text, since JSON.stringify would overflow.
    const depth = 1 + r.below(100_000);
    const open = r.below(2) ? "[" : '{"a":';
    return new TextEncoder().encode(open.repeat(depth) + "1" + (open === "[" ? "]" : "}").repeat(depth));
  }
  if (kind === 1) {
    // Invalid UTF-8 inside a string.
    const text = new TextEncoder().encode(JSON.stringify(doc));
    const quote = text.indexOf(0x22);
    const out = new Uint8Array(text.length + 2);
    out.set(text.subarray(0, quote + 1));
    out.set([0xc3, 0x28], quote + 1);
    out.set(text.subarray(quote + 1), quote + 3);
    return out;
  }
  // Replace a random value somewhere in the tree.
  const paths: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  // Iterative walk: documents may be nested thousands deep.
  const todo: unknown[] = [doc];
  while (todo.length) {
    const v = todo.pop();
    if (Array.isArray(v)) v.forEach((x, i) => (paths.push({ parent: v, key: i }), todo.push(x)));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths.push({ parent: v as Record<string, unknown>, key: k }), todo.push(x);
  }
  if (paths.length === 0) return mutateBytes(input, r);
  const p = paths[r.below(paths.length)];
  const value = kind === 2 ? JSON_REPLACEMENTS[r.below(JSON_REPLACEMENTS.length)]() : kind === 3 ? deep(1 + r.below(2000)) : undefined;
  if (Array.isArray(p.parent)) {
    if (value === undefined) p.parent.splice(p.key as number, 1);
    else p.parent[p.key as number] = value;
  } else if (value === undefined) {
    delete p.parent[p.key as string];
  } else {
    p.parent[p.key as string] = value;
  }
  try {
    return new TextEncoder().encode(JSON.stringify(doc));
  } catch {
    return mutateBytes(input, r); // nested past what JSON.stringify can write
  }
}

/** What happened to one input. */
export type FuzzOutcome = { ok: true; error?: string; ms: number } | { ok: false; reason: string; ms: number };

/** Inputs slower than this count as hangs. */
export const FUZZ_TIME_LIMIT_MS = 2000;

/** Runs the parser on one input: a result or a MnemoError is fine; anything else fails. */
export async function runFuzzInput(target: FuzzTarget, bytes: Uint8Array): Promise<FuzzOutcome> {
  const t0 = performance.now();
  let outcome: FuzzOutcome;
  try {
    await target.parse(bytes);
    outcome = { ok: true, ms: 0 };
  } catch (e) {
    outcome = e instanceof MnemoError ? { ok: true, error: e.code, ms: 0 } : { ok: false, reason: `${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}`, ms: 0 };
  }
  outcome.ms = performance.now() - t0;
  if (outcome.ok && outcome.ms > FUZZ_TIME_LIMIT_MS) return { ok: false, reason: `took ${outcome.ms.toFixed(0)} ms`, ms: outcome.ms };
  return outcome;
}

/** The i-th input of a run: mutations stack 1..3 deep on the seed. */
export function fuzzInput(target: FuzzTarget, seedBytes: Uint8Array, runSeed: number, i: number): Uint8Array {
  const r = new FuzzRandom((runSeed * 0x85ebca6b) ^ (i * 0xc2b2ae35) ^ 0x27d4eb2f);
  let bytes = seedBytes;
  for (let k = 0, n = 1 + r.below(3); k < n; k++) bytes = target.json && r.below(2) === 0 ? mutateJson(bytes, r) : mutateBytes(bytes, r);
  return bytes;
}
