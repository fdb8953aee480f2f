// generate's flags that shape the output: a constraint (--json-schema, --regex, --grammar),
// log-probabilities (--logprobs N), a logit bias and OpenAI's penalties.
import { readFile } from "node:fs/promises";
import type { GenerateOptions } from "../runtime/types.js";
import { UsageError, num } from "./args.js";

export const OUTPUT_FLAGS = ["json-schema", "regex", "grammar", "logprobs", "logit-bias", "frequency-penalty", "presence-penalty"] as const;

type Flags = Record<string, string | boolean>;

async function constraintFrom(flags: Flags): Promise<GenerateOptions["constraint"]> {
  const given = (["json-schema", "regex", "grammar"] as const).filter((f) => typeof flags[f] === "string");
  if (given.length > 1) throw new UsageError(`Give one of --${given.join(", --")}.`);
  if (typeof flags["json-schema"] === "string") {
    const text = await readFile(flags["json-schema"], "utf8").catch(() => {
      throw new UsageError(`--json-schema: cannot read ${flags["json-schema"]}.`);
    });
    return { type: "json_schema", schema: text };
  }
  if (typeof flags.regex === "string") return { type: "regex", pattern: flags.regex };
  if (typeof flags.grammar === "string") return { type: "grammar", ebnf: await readFile(flags.grammar, "utf8") };
  return undefined;
}

/** `--logit-bias 50256:-100,262:2.5` as generate's logitBias. */
function logitBiasFrom(flags: Flags): Record<number, number> | undefined {
  const v = flags["logit-bias"];
  if (typeof v !== "string") return undefined;
  const bias: Record<number, number> = {};
  for (const pair of v.split(",")) {
    const m = /^\s*(\d+)\s*:\s*(-?[\d.]+(?:e-?\d+)?)\s*$/.exec(pair);
    if (!m) throw new UsageError(`--logit-bias takes id:bias pairs separated by commas, got "${pair}".`);
    bias[Number(m[1])] = Number(m[2]);
  }
  return bias;
}

/** The generate options these flags ask for (checked again by generate()). */
export async function outputOptions(flags: Flags): Promise<GenerateOptions> {
  const o: GenerateOptions = {};
  const constraint = await constraintFrom(flags);
  if (constraint) o.constraint = constraint;
  const logprobs = num(flags, "logprobs");
  if (logprobs !== undefined) o.logprobs = logprobs;
  const bias = logitBiasFrom(flags);
  if (bias) o.logitBias = bias;
  const frequency = num(flags, "frequency-penalty");
  if (frequency !== undefined) o.frequencyPenalty = frequency;
  const presence = num(flags, "presence-penalty");
  if (presence !== undefined) o.presencePenalty = presence;
  return o;
}
