// `mnemo memory build|inspect`, and the --memory flags that eval and generate share.
import { readFile, rename, writeFile } from "node:fs/promises";
import { GpuKnnStore, memoryMixOptions, type MemoryMixOptions } from "../memory/gpu-store.js";
import { buildKnnStore } from "../runtime/memory-build.js";
import { decodeKnnStore, encodeKnnStore, readKnnStoreHeader, type KeyType } from "../memory/store-file.js";
import type { LanguageModel } from "../models/types.js";
import type { KnnMetric } from "../kernels/knn.js";
import { UsageError, num, parseFlags } from "./args.js";
import { openModel, type CliIo } from "./common.js";
import { benchMemorySearch } from "../memory/bench.js";
import { syntheticKnnStore } from "../memory/synthetic.js";
import { withMemory } from "../memory/memory-model.js";
import { benchmark, type BenchOptions } from "../runtime/bench.js";

/** Flags of eval and generate that attach a memory store. */
export const MEMORY_FLAGS = ["memory", "k", "memory-temperature", "lambda", "metric"] as const;

/** The text of --text-file between --start-char and --end-char (characters). */
export async function readTextFlag(flags: Record<string, string | boolean>, command: string): Promise<string> {
  if (typeof flags["text-file"] !== "string") throw new UsageError(`${command} needs --text-file <path>.`);
  const text = await readFile(flags["text-file"], "utf8");
  return text.slice(num(flags, "start-char", 0), num(flags, "end-char", text.length));
}

/** Loads --memory <file> onto the model's GPU, with --k, --memory-temperature, --lambda, --metric. */
export async function openMemory(model: LanguageModel, flags: Record<string, string | boolean>): Promise<{ store: GpuKnnStore; options: Required<MemoryMixOptions> } | null> {
  if (typeof flags.memory !== "string") return null;
  const options = memoryMixOptions({ k: num(flags, "k"), temperature: num(flags, "memory-temperature"), lambda: num(flags, "lambda"), metric: flags.metric as KnnMetric | undefined });
  const data = decodeKnnStore(new Uint8Array(await readFile(flags.memory)));
  return { store: await GpuKnnStore.upload(model.gpu, data), options };
}

async function buildCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, { values: ["model", "quant", "text-file", "start-char", "end-char", "out", "key-type", "window"], booleans: ["json", "keep-token-table-f16"] });
  if (typeof flags.out !== "string") throw new UsageError("memory build needs --out <file>.");
  const keyType = (flags["key-type"] ?? "f16") as KeyType;
  if (keyType !== "f16" && keyType !== "f32") throw new UsageError("--key-type must be f16 or f32.");
  const text = await readTextFlag(flags, "memory build");
  const model = await openModel(flags);
  try {
    const t0 = performance.now();
    const ids = model.tokenizer.encode(text);
    const store = await buildKnnStore(model, ids, {
      keyType,
      window: num(flags, "window"),
      onProgress: (done, total) => io.stderr(`mnemo memory build: ${done} / ${total} positions\n`),
    });
    const bytes = encodeKnnStore(store);
    // A temporary name first, so a failed run never leaves a half file under --out.
    await writeFile(`${flags.out}.partial`, bytes);
    await rename(`${flags.out}.partial`, flags.out);
    const summary = { out: flags.out, entries: store.count, dims: store.dims, key_type: keyType, bytes: bytes.byteLength, ms: performance.now() - t0 };
    io.stdout(flags.json ? JSON.stringify(summary) + "\n" : `wrote ${flags.out}: ${store.count} entries of ${store.dims} ${keyType} (${(bytes.byteLength / 1e6).toFixed(1)} MB)\n`);
    return 0;
  } finally {
    model.dispose();
  }
}

async function inspectCommand(argv: string[], io: CliIo): Promise<number> {
  const [path, ...rest] = argv;
  if (!path || path.startsWith("--")) throw new UsageError("memory inspect needs a store file: mnemo memory inspect <file> [--json].");
  const flags = parseFlags(rest, { values: [], booleans: ["json"] });
  const bytes = new Uint8Array(await readFile(path));
  const h = readKnnStoreHeader(bytes);
  const info = { file: path, entries: h.count, dims: h.dims, key_type: h.keyType, model_fingerprint: h.fingerprint, bytes: h.fileBytes };
  io.stdout(flags.json ? JSON.stringify(info) + "\n" : `${path}: ${h.count} entries, keys ${h.dims} × ${h.keyType}, ${(h.fileBytes / 1e6).toFixed(1)} MB, model ${h.fingerprint.slice(0, 16)}…\n`);
  return 0;
}

/** `mnemo memory build ...` and `mnemo memory inspect <file>`. */
export async function memoryCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "build") return buildCommand(rest, io);
  if (sub === "inspect") return inspectCommand(rest, io);
  throw new UsageError(`memory needs "build" or "inspect", got ${sub === undefined ? "nothing" : `"${sub}"`}.`);
}

/** A synthetic memory attached for `mnemo bench --memory-entries N`, and what it measured. */
export interface MemoryBench {
  store: GpuKnnStore;
  model: LanguageModel;
  report: Record<string, unknown>;
}

/** Builds and uploads N synthetic entries, times one search, and the decode step without memory. */
export async function benchMemory(model: LanguageModel, entries: number, flags: Record<string, string | boolean>, options: BenchOptions, io: CliIo): Promise<MemoryBench> {
  if (!Number.isInteger(entries) || entries < 1) throw new UsageError("--memory-entries must be a positive integer.");
  const mix = memoryMixOptions({ k: num(flags, "k"), temperature: num(flags, "memory-temperature"), lambda: num(flags, "lambda"), metric: flags.metric as KnnMetric | undefined });
  if (model.hiddenSize === 0) throw new UsageError("--memory-entries needs a GPT-2 model.");
  io.stderr(`mnemo bench: ${entries} synthetic memory entries…\n`);
  const store = await GpuKnnStore.upload(model.gpu, syntheticKnnStore({ fingerprint: model.info.fingerprint, dims: model.hiddenSize, entries, vocab: model.info.vocabSize }));
  try {
    const search = await benchMemorySearch(model, store, mix);
    io.stderr("mnemo bench: decode without memory…\n");
    const plain = await benchmark(model, { ...options, profileSteps: 0, onProgress: undefined });
    const report: Record<string, unknown> = {
      entries,
      key_type: "f16",
      shards: store.shardCount,
      gpu_bytes: store.gpuBytes,
      k: mix.k,
      search_ms_per_token: search,
      decode_ms_per_step_without: plain.decode.msPerStep.median,
    };
    return { store, model: withMemory(model, store, mix), report };
  } catch (e) {
    store.dispose();
    throw e;
  }
}

/** The bench table's memory line. */
export function memoryLine(r: Record<string, unknown>): string {
  const search = r.search_ms_per_token as { median: number };
  const without = r.decode_ms_per_step_without as number;
  const withMemory = r.decode_ms_per_step_with as number;
  return `memory: ${r.entries} entries (${r.shards} shard(s), ${((r.gpu_bytes as number) / 1e6).toFixed(1)} MB), search ${search.median.toFixed(2)} ms/token; decode ${without.toFixed(2)} → ${withMemory.toFixed(2)} ms/step\n`;
}
