// What every CLI command shares: its input and output, and opening --model.
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createGpu } from "../gpu/device.js";
import { resolveModelFiles } from "../loading/model-files.js";
import { loadLanguageModel } from "../models/load.js";
import { isSyntheticName, loadSyntheticModel } from "../models/synthetic.js";
import { isDecodeMatmulVariant, isPrefillMatmulVariant, type DecodeMatmulVariant, type PrefillMatmulVariant } from "../kernels/matmul-variants.js";
import type { LanguageModel } from "../models/types.js";
import type { PrefillAttentionVariant } from "../models/gpt2-tune.js";
import type { WeightQuant } from "../base/dtype.js";
import { UsageError } from "./args.js";

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Lines typed by the user (interactive commands); standard input by default. */
  lines?: () => AsyncIterable<string>;
}

export const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  lines: () => createInterface({ input: process.stdin, terminal: false }),
};

/** The bundled default: gpt2-gutenberg as Q8_0 GGUF (written by `mnemo convert`). */
export const DEFAULT_MODEL = "gpt2-gutenberg-q8_0.gguf";

/** The package root (two levels above src/cli or dist). */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith(join("src", "cli")) ? resolve(here, "..", "..") : resolve(here, "..");
}

export async function openModel(flags: Record<string, string | boolean>): Promise<LanguageModel> {
  const quant = flags.quant as WeightQuant | undefined;
  if (quant !== undefined && !["f32", "f16", "q8_0", "q4_0"].includes(quant)) throw new UsageError(`--quant must be f32, f16, q8_0 or q4_0.`);
  const decodeMatmul = flags.kernels;
  if (decodeMatmul !== undefined && (typeof decodeMatmul !== "string" || (decodeMatmul !== "auto" && !isDecodeMatmulVariant(decodeMatmul)))) {
    throw new UsageError("--kernels must be auto, f32, f32-wide, f32-few, i8-rows4, i8-coop-subgroup or i8-coop-workgroup.");
  }
  const prefillMatmul = flags["prefill-kernels"];
  if (prefillMatmul !== undefined && (typeof prefillMatmul !== "string" || (prefillMatmul !== "auto" && !isPrefillMatmulVariant(prefillMatmul)))) {
    throw new UsageError("--prefill-kernels must be auto, f32, f32-wg or i8.");
  }
  const attention = flags.attention;
  if (attention !== undefined && !["auto", "rows", "split"].includes(attention as string)) throw new UsageError("--attention must be auto, rows or split.");
  const prefillAttention = flags["prefill-attention"];
  if (prefillAttention !== undefined && !["auto", "rows", "rows2"].includes(prefillAttention as string)) throw new UsageError("--prefill-attention must be auto, rows or rows2.");
  const kernels =
    decodeMatmul === undefined && prefillMatmul === undefined && attention === undefined && prefillAttention === undefined
      ? undefined
      : {
          decodeMatmul: decodeMatmul as "auto" | DecodeMatmulVariant | undefined,
          prefillMatmul: prefillMatmul as "auto" | PrefillMatmulVariant | undefined,
          attention: attention as "auto" | "rows" | "split" | undefined,
          prefillAttention: prefillAttention as "auto" | PrefillAttentionVariant | undefined,
        };
  const gpu = await createGpu();
  if (isSyntheticName(flags.model)) return loadSyntheticModel(gpu, flags.model, { quant, kernels });
  const path = typeof flags.model === "string" ? resolve(flags.model) : join(packageRoot(), "weights", DEFAULT_MODEL);
  return loadLanguageModel(gpu, await resolveModelFiles(path), { quant, keepTokenTableF16: flags["keep-token-table-f16"] === true, kernels });
}
