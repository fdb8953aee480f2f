// `mnemo embed` and `mnemo search`: sentence embeddings from a BERT encoder and semantic
// search over a document store built from them (the kNN store format, searched on the GPU).
import { readFile, rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { loadEncoder, type Encoder } from "../encoder-api.js";
import { benchmarkEncoder } from "../runtime/encoder-bench.js";
import { loadBert } from "../models/bert-load.js";
import { createGpu } from "../gpu/device.js";
import { resolveModelFiles } from "../loading/model-files.js";
import { readJson } from "../loading/file-set.js";
import type { Pooling } from "../kernels/pool.js";
import { decodeKnnStore, encodeKnnStore } from "../memory/store-file.js";
import { MnemoError } from "../errors.js";
import { UsageError, num, parseFlags } from "./args.js";
import type { CliIo } from "./common.js";

/** The texts of --text, or the non-empty lines of --text-file. */
async function texts(flags: Record<string, string | boolean>): Promise<string[]> {
  if (typeof flags.text === "string") return [flags.text];
  if (typeof flags["text-file"] !== "string") throw new UsageError("embed needs --text <text> or --text-file <path> (one text per line).");
  const lines = (await readFile(flags["text-file"], "utf8")).split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length === 0) throw new UsageError(`--text-file ${flags["text-file"]} has no non-empty line.`);
  return lines;
}

function pooling(flags: Record<string, string | boolean>): Pooling | "pooler" {
  const p = (flags.pooling ?? "mean") as string;
  if (p !== "mean" && p !== "cls" && p !== "pooler") throw new UsageError("--pooling must be mean, cls or pooler.");
  return p;
}

async function openEncoder(flags: Record<string, string | boolean>): Promise<Encoder> {
  if (typeof flags.model !== "string") throw new UsageError("This command needs --model <BERT folder> (no encoder is bundled).");
  const weightType = flags["weight-type"] as "f32" | "f16" | "q8_0" | undefined;
  if (weightType !== undefined && !["f32", "f16", "q8_0"].includes(weightType)) throw new UsageError("--weight-type must be f32, f16 or q8_0.");
  return loadEncoder(resolve(flags.model), { weightType });
}

/** The side file holding a document store's texts (the store itself holds vectors and indices). */
export function textsFileOf(store: string): string {
  return `${store}.texts.json`;
}

export async function embedCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, { values: ["model", "text", "text-file", "pooling", "weight-type", "out"], booleans: ["raw", "json"] });
  const list = await texts(flags);
  const p = pooling(flags);
  const encoder = await openEncoder(flags);
  try {
    if (typeof flags.out === "string") {
      if (p === "pooler" || flags.raw) throw new UsageError("A document store holds unit vectors of mean or cls pooling (no --raw, no pooler).");
      const t0 = performance.now();
      const store = await encoder.indexDocuments(list, { pooling: p });
      const ms = performance.now() - t0;
      // Written beside, then renamed: an interrupted run leaves no half-written store.
      await writeFile(`${flags.out}.part`, encodeKnnStore(store));
      await writeFile(textsFileOf(flags.out), JSON.stringify(list));
      await rename(`${flags.out}.part`, flags.out);
      const summary = { documents: list.length, dims: store.dims, out: flags.out, texts: textsFileOf(flags.out), ms, sentences_per_s: (list.length / ms) * 1000 };
      io.stdout(
        flags.json
          ? `${JSON.stringify(summary)}\n`
          : `${list.length} documents of ${store.dims} values → ${flags.out} (texts in ${summary.texts}); ${summary.sentences_per_s.toFixed(1)} sentences/s\n`,
      );
      return 0;
    }
    const vectors = await encoder.embed(list, { pooling: p, normalize: !flags.raw });
    if (flags.json) {
      io.stdout(`${JSON.stringify({ dims: vectors[0].length, pooling: p, normalized: p !== "pooler" && !flags.raw, vectors: vectors.map((v) => Array.from(v)) })}\n`);
    } else {
      for (const [i, v] of vectors.entries()) io.stdout(`${i}: [${Array.from(v.subarray(0, 6), (x) => x.toFixed(4)).join(", ")}, …] (${v.length} values)\n`);
    }
    return 0;
  } finally {
    encoder.dispose();
  }
}

export async function searchCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, { values: ["model", "index", "query", "k", "pooling", "weight-type"], booleans: ["json"] });
  if (typeof flags.index !== "string") throw new UsageError("search needs --index <store> (from mnemo embed --out).");
  if (typeof flags.query !== "string") throw new UsageError("search needs --query <text>.");
  const p = pooling(flags);
  if (p === "pooler") throw new UsageError("search compares unit vectors of mean or cls pooling.");
  const store = decodeKnnStore(new Uint8Array(await readFile(flags.index)));
  let docs: string[] | undefined;
  try {
    docs = JSON.parse(await readFile(textsFileOf(flags.index), "utf8")) as string[];
  } catch {
    docs = undefined; // without the side file, hits are reported by index only
  }
  if (docs && docs.length !== store.count) throw new MnemoError("BAD_MODEL_FILE", `${textsFileOf(flags.index)} has ${docs.length} texts; the store ${store.count} documents.`);
  const encoder = await openEncoder(flags);
  try {
    const hits = await encoder.search(store, flags.query, { k: num(flags, "k", 5), pooling: p });
    const rows = hits.map((h) => ({ ...h, text: docs?.[h.index] }));
    if (flags.json) io.stdout(`${JSON.stringify({ query: flags.query, hits: rows })}\n`);
    else for (const r of rows) io.stdout(`${r.score.toFixed(4)}  #${r.index}  ${r.text ?? ""}\n`);
    return 0;
  } finally {
    encoder.dispose();
  }
}

/** True when --model is a folder whose config.json says BERT (mnemo bench then times embeddings). */
export async function isEncoderFolder(model: string | boolean | undefined): Promise<boolean> {
  if (typeof model !== "string") return false;
  try {
    const config = JSON.parse(await readFile(resolve(model, "config.json"), "utf8")) as { model_type?: unknown };
    return config.model_type === "bert";
  } catch {
    return false;
  }
}

/** `mnemo bench --model <BERT folder>`: sentence embeddings per second and per-kernel times. */
export async function benchEncoderCommand(flags: Record<string, string | boolean>, io: CliIo): Promise<number> {
  const weightType = (flags["weight-type"] ?? "f32") as "f32" | "f16" | "q8_0";
  if (!["f32", "f16", "q8_0"].includes(weightType)) throw new UsageError("--weight-type must be f32, f16 or q8_0.");
  const gpu = await createGpu();
  const files = await resolveModelFiles(resolve(flags.model as string));
  const model = await loadBert(gpu, files, await readJson(files, "config.json"), { weightType });
  try {
    const r = await benchmarkEncoder(model, { sentences: num(flags, "sentences", 64), onProgress: (phase) => io.stderr(`mnemo bench: ${phase}…\n`) });
    if (flags.json) {
      const kernels = r.kernels?.map((k) => ({ kernel: k.kernel, calls: k.callsPerStep, ms: k.msPerStep, share: k.share }));
      io.stdout(
        `${JSON.stringify({ model: r.model, adapter: r.adapter, sentences: r.sentences, tokens: r.tokens, ms_per_batch: r.msPerBatch, sentences_per_s: r.sentencesPerS, tokens_per_s: r.tokensPerS, kernels })}\n`,
      );
    } else {
      const lines = [
        `${r.model} on ${r.adapter}`,
        `${r.sentences} sentences (${r.tokens} pieces) per batch: ${r.msPerBatch.median.toFixed(1)} ms · ${r.sentencesPerS.toFixed(1)} sentences/s · ${r.tokensPerS.toFixed(0)} pieces/s`,
      ];
      for (const k of r.kernels ?? [])
        lines.push(`  ${k.kernel.padEnd(24)} ${String(k.callsPerStep).padStart(4)} calls ${k.msPerStep.toFixed(3).padStart(10)} ms ${(100 * k.share).toFixed(1).padStart(6)}%`);
      io.stdout(`${lines.join("\n")}\n`);
    }
    return 0;
  } finally {
    model.dispose();
    await files.close?.();
    gpu.destroy();
  }
}
