// Minimal flag parsing for the `mnemo` command: --name value, --flag, and clear usage errors.

export class UsageError extends Error {}

export interface FlagSpec {
  /** Flags that take a value. */
  values: readonly string[];
  /** Flags that are booleans. */
  booleans: readonly string[];
}

export function parseFlags(argv: readonly string[], spec: FlagSpec): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new UsageError(`Unexpected argument "${a}".`);
    const eq = a.indexOf("=");
    const name = a.slice(2, eq > 0 ? eq : undefined);
    if (spec.booleans.includes(name)) {
      out[name] = true;
    } else if (spec.values.includes(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value.`);
      out[name] = v;
    } else {
      throw new UsageError(`Unknown flag --${name}.`);
    }
  }
  return out;
}

export function num(flags: Record<string, string | boolean>, name: string, fallback?: number): number | undefined {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${String(v)}".`);
  return n;
}
