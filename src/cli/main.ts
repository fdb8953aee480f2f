// The `mnemo` command: generate, chat, tokenize, eval, memory, embed, search, convert, bench, profile. The library never imports this file.
import { open, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MnemoError } from "../errors.js";
import { installNodeHost } from "../host.js";
import { NODE_HOST } from "../node-host.js";
import { resolveModelFiles } from "../loading/model-files.js";
import { gpt2ToGguf, syntheticToGguf, type GgufWeightType } from "../models/gpt2-convert.js";
import { SYNTHETIC_MODELS, isSyntheticName } from "../models/synthetic.js";
import { benchmark, type BenchResult, type SpeculationBench } from "../runtime/bench.js";
import { chromeTrace } from "../runtime/trace.js";
import type { KernelSummary } from "../gpu/profiler.js";
import { Session } from "../runtime/session.js";
import { evaluatePerplexity } from "../runtime/eval.js";
import { UsageError, num, parseFlags } from "./args.js";
import { defaultIo, openModel, packageRoot, type CliIo } from "./common.js";
import { chatCommand } from "./chat.js";
import { MEMORY_FLAGS, benchMemory, memoryCommand, memoryLine, openMemory, readTextFlag, type MemoryBench } from "./memory.js";
import { withMemory } from "../memory/memory-model.js";
import type { TokenAlternative } from "../runtime/types.js";
import { OUTPUT_FLAGS, outputOptions } from "./output-flags.js";
import { benchEncoderCommand, embedCommand, isEncoderFolder, searchCommand } from "./encoder.js";
export type { CliIo } from "./common.js";

const USAGE = `Usage: mnemo <command> [flags]

  generate  --model <dir|file> --prompt <text> [--max-tokens N] [--temperature T] [--top-k K]
            [--top-p P] [--repetition-penalty R] [--seed S] [--greedy] [--quant q8_0|q4_0|f16|f32]
            [--speculate off|context|memory] (drafts from the context, or also from --memory's store,
            verified in one forward; the same tokens)
            [--kernels auto|f32|f32-wide|f32-few|i8-rows4|i8-coop-subgroup|i8-coop-workgroup] (decode matmuls;
            default auto: measured on the adapter once, then cached) [--prefill-kernels auto|f32|f32-wg|i8]
            [--attention auto|rows|split] (decode attention: one pass per head, or the keys split)
            [--prefill-attention auto|rows|rows2] (prefill attention: one or two query rows per invocation)
            [--json-schema <file.json> | --regex <pattern> | --grammar <file.ebnf>] (output held to it)
            [--logprobs N] (each token's log-probability and N alternatives) [--logit-bias id:bias,...]
            [--frequency-penalty F] [--presence-penalty P] [--memory <store> (memory flags)] [--json]
  chat      --model <dir|file> [--system <text>] [--max-tokens N] [--cache f32|f16] (sampling flags as generate)
            a conversation in the terminal: each line is a user turn; /reset, /usage, /exit.
  tokenize  --model <dir|file> --text <text> [--json]
  eval      --model <dir|file> --text-file <path> [--start-char C] [--end-char C] [--max-tokens N]
            [--window W] [--quant ...] [--memory <store> (memory flags)] [--json]
            GPT-2: fresh windows of W tokens (default 1024); LSTM, RNN: one continuous stateful pass.
            With --memory: perplexity with and without the store, from the same forward passes.
  memory    build --model <dir|file> --text-file <path> [--start-char C] [--end-char C]
            [--key-type f16|f32] [--window W] --out <store>      a kNN-LM store of the text
            inspect <store> [--json]                              what a store file holds
            memory flags (eval, generate): --memory <store> [--k 128] [--memory-temperature 100]
            [--lambda 0.2] [--metric l2|ip]
  embed     --model <BERT dir> (--text <text> | --text-file <path>, a text per line) [--pooling mean|cls|pooler]
            [--raw] (not L2-normalised) [--weight-type f32|f16|q8_0] [--json]      sentence vectors
            --out <store>: a document store of the texts for search (texts in <store>.texts.json)
  search    --model <BERT dir> --index <store> --query <text> [--k 5] [--json]
            the documents most similar to the query (cosine), searched on the GPU
  convert   --in <hf gpt2 dir|synthetic:gpt2-NAME> --out <file.gguf> --type f16|q8_0|q4_0 [--keep-token-table-f16]
            writes a GGUF v3 file (llama.cpp's GPT-2 names) that Mnemo and llama.cpp open; a synthetic
            GPT-2 gets its deterministic weights and a made-up byte-level vocabulary.

  bench     --model <dir|file|synthetic:NAME> [--quant f16|q8_0|q4_0] [--kernels auto|f32|i8-rows4|...] [--prefill-kernels auto|f32|f32-wg|i8] [--attention auto|rows|split] [--prefill-attention auto|rows|rows2] [--prompt-tokens 128]
            [--gen-tokens 32] [--profile-steps 8] [--memory-entries N [--k 128]] [--memory <store> (memory flags)]
            [--speculate context|memory] [--json]
            --memory-entries: also a store of N synthetic keys: search time per token, and decode
            with and without it; --memory: the whole bench with that store attached
            --speculate: also greedy decoding with and without speculation on the prompt's first
            half said twice: tokens/s of both, acceptance, tokens per forward
            --model <BERT dir> [--sentences 64] [--weight-type f32|f16|q8_0]: sentence embeddings per second
  profile   (bench's flags) --trace <file.json>: also writes a Chrome trace (Perfetto, chrome://tracing)

--model defaults to the bundled weights/gpt2-gutenberg-q8_0.gguf. Synthetic models (random weights,
exact shapes): ${SYNTHETIC_MODELS.map((n) => `synthetic:${n}`).join(", ")}.
`;

async function generateCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, {
    values: [
      "model",
      "prompt",
      "max-tokens",
      "temperature",
      "top-k",
      "top-p",
      "repetition-penalty",
      "seed",
      "quant",
      "kernels",
      "prefill-kernels",
      "attention",
      "prefill-attention",
      "speculate",
      ...OUTPUT_FLAGS,
      ...MEMORY_FLAGS,
    ],
    booleans: ["greedy", "json", "keep-token-table-f16"],
  });
  if (typeof flags.prompt !== "string") throw new UsageError("generate needs --prompt <text>.");
  const output = await outputOptions(flags);
  const model = await openModel(flags);
  let memory: Awaited<ReturnType<typeof openMemory>> = null;
  try {
    memory = await openMemory(model, flags);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const session = new Session(memory ? withMemory(model, memory.store, memory.options) : model);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  const ids: number[] = [];
  const logprobs: { id: number; text: string; logprob: number; top?: TokenAlternative[] }[] = [];
  let text = "";
  try {
    const promptIds = model.tokenizer.encode(flags.prompt);
    if (!flags.json) io.stdout(flags.prompt);
    const stream = session.generate(promptIds, {
      maxTokens: num(flags, "max-tokens", 64),
      temperature: num(flags, "temperature", 0.8),
      topK: num(flags, "top-k", 40),
      topP: num(flags, "top-p", 0.95),
      repetitionPenalty: num(flags, "repetition-penalty", 1),
      seed: num(flags, "seed"),
      greedy: flags.greedy === true,
      signal: controller.signal,
      // Checked by generate() with the other options ("off", "context" or "memory").
      ...(typeof flags.speculate === "string" ? { speculate: flags.speculate as "off" | "context" | "memory" } : {}),
      ...output,
    });
    for await (const t of stream) {
      ids.push(t.id);
      text += t.text;
      if (t.logprob !== undefined) logprobs.push({ id: t.id, text: model.tokenizer.decode([t.id]), logprob: t.logprob, ...(t.topLogprobs ? { top: t.topLogprobs } : {}) });
      if (!flags.json) io.stdout(t.text);
    }
    const tm = session.lastTimings!;
    const usage = session.usage();
    if (flags.json) {
      io.stdout(
        JSON.stringify({
          prompt_ids: promptIds,
          ids,
          text,
          timings: {
            prefill_ms: tm.prefillMs,
            ttft_ms: tm.ttftMs,
            decode_ms_per_token: tm.decodeMsPerToken,
            tokens_per_s: tm.tokensPerSecond,
            state_bytes: usage.stateBytes,
            kv_cache_bytes: usage.stateBytes,
            kv_cache_bytes_per_token: usage.bytesPerToken,
            context_tokens: usage.tokens,
          },
          ...(tm.speculation ? { speculation: tm.speculation } : {}),
          ...(output.logprobs !== undefined ? { logprobs } : {}),
          model: model.info,
          adapter: model.gpu.adapter,
        }) + "\n",
      );
    } else {
      io.stdout("\n");
      for (const l of logprobs)
        io.stderr(`${JSON.stringify(l.text).padEnd(16)} ${l.logprob.toFixed(4)}${l.top ? `  ${l.top.map((a) => `${JSON.stringify(a.text)} ${a.logprob.toFixed(3)}`).join("  ")}` : ""}\n`);
      const drafts = tm.speculation ? `, ${tm.speculation.accepted} of ${tm.speculation.drafted} drafted tokens accepted` : "";
      io.stderr(`[${ids.length} tokens, ${tm.tokensPerSecond.toFixed(1)} tokens/s, first token ${tm.ttftMs.toFixed(0)} ms${drafts}, ${model.gpu.adapter.vendor} ${model.gpu.adapter.architecture}]\n`);
    }
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
    session.dispose();
    memory?.store.dispose();
    model.dispose();
  }
}

async function tokenizeCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, { values: ["model", "text"], booleans: ["json"] });
  if (typeof flags.text !== "string") throw new UsageError("tokenize needs --text <text>.");
  const model = await openModel(flags);
  try {
    const ids = model.tokenizer.encode(flags.text);
    io.stdout(flags.json ? JSON.stringify({ ids }) + "\n" : ids.join(" ") + "\n");
    return 0;
  } finally {
    model.dispose();
  }
}

async function evalCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, {
    values: ["model", "text-file", "window", "max-tokens", "start-char", "end-char", "quant", "kernels", "prefill-kernels", "attention", "prefill-attention", ...MEMORY_FLAGS],
    booleans: ["json", "keep-token-table-f16"],
  });
  const text = await readTextFlag(flags, "eval");
  const model = await openModel(flags);
  let memory: Awaited<ReturnType<typeof openMemory>> = null;
  try {
    memory = await openMemory(model, flags);
    const ids = model.tokenizer.encode(text);
    const maxTokens = num(flags, "max-tokens");
    const r = await evaluatePerplexity(model, maxTokens ? ids.slice(0, maxTokens) : ids, {
      window: num(flags, "window"),
      memory: memory ?? undefined,
      onProgress: memory ? (done, total) => io.stderr(`mnemo eval: window ${done} / ${total}\n`) : undefined,
    });
    const out: Record<string, unknown> = {
      mean_nll: r.meanNll,
      ppl: r.perplexity,
      tokens: r.predicted,
      ms: r.ms,
      ms_per_token: r.msPerToken,
      weight_type: model.info.weightType,
      gpu_weight_bytes: model.info.gpuBytes,
    };
    if (memory && r.memory) {
      const { k, temperature, lambda, metric } = memory.options;
      out.memory = {
        entries: memory.store.count,
        k,
        temperature,
        lambda,
        metric,
        mean_nll: r.memory.meanNll,
        ppl: r.memory.perplexity,
        ms_per_token: r.memory.msPerToken,
        ppl_change: r.memory.perplexity / r.perplexity - 1,
      };
    }
    let line = `perplexity ${r.perplexity.toFixed(3)} (mean NLL ${r.meanNll.toFixed(5)}) over ${r.predicted} tokens\n`;
    if (r.memory) line += `with memory (${memory!.store.count} entries): perplexity ${r.memory.perplexity.toFixed(3)} (${(100 * (r.memory.perplexity / r.perplexity - 1)).toFixed(1)}%)\n`;
    io.stdout(flags.json ? JSON.stringify(out) + "\n" : line);
    return 0;
  } finally {
    memory?.store.dispose();
    model.dispose();
  }
}

async function convertCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, { values: ["in", "out", "type"], booleans: ["keep-token-table-f16", "json"] });
  if (typeof flags.in !== "string" || typeof flags.out !== "string") throw new UsageError("convert needs --in <dir|synthetic:NAME> and --out <file.gguf>.");
  const type = flags.type as GgufWeightType;
  if (!["f16", "q8_0", "q4_0"].includes(type)) throw new UsageError("--type must be f16, q8_0 or q4_0.");
  const t0 = performance.now();
  const options = { type, keepTokenTableF16: flags["keep-token-table-f16"] === true };
  let chunks: Uint8Array[];
  if (isSyntheticName(flags.in)) {
    // The synthetic weights themselves, so other runtimes (llama.cpp) run what Mnemo measures.
    chunks = await syntheticToGguf(flags.in, options);
  } else {
    const files = await resolveModelFiles(resolve(flags.in));
    try {
      chunks = await gpt2ToGguf(files, options);
    } finally {
      await files.close?.();
    }
  }
  // Write to a temporary name first, so a failed run never leaves a half file under --out.
  const tmp = `${flags.out}.partial`;
  const handle = await open(tmp, "w");
  let bytes = 0;
  try {
    for (const c of chunks) {
      await handle.write(c);
      bytes += c.byteLength;
    }
  } finally {
    await handle.close();
  }
  await rename(tmp, flags.out);
  const summary = { out: flags.out, type, bytes, ms: performance.now() - t0 };
  io.stdout(flags.json ? JSON.stringify(summary) + "\n" : `wrote ${flags.out} (${type}, ${(bytes / 1e6).toFixed(1)} MB)\n`);
  return 0;
}

const BENCH_FLAGS = {
  values: [
    "model",
    "quant",
    "kernels",
    "prefill-kernels",
    "attention",
    "prefill-attention",
    "prompt-tokens",
    "gen-tokens",
    "profile-steps",
    "trace",
    "memory-entries",
    "memory",
    "speculate",
    "k",
    "memory-temperature",
    "lambda",
    "metric",
    "sentences",
    "weight-type",
  ],
  booleans: ["json", "keep-token-table-f16"],
};

/** The bench result as printed: snake_case JSON, per-step records left out. */
/** What the browser entry costs a page (dist/bundle-size.json, written by `npm run build:lib`). */
interface BundleSize {
  gzipBytes: number;
  minifiedBytes: number;
  goalGzipBytes: number;
  /** What is imported on demand (the grammar engine). */
  lazyGzipBytes?: number;
}

async function readBundleSize(): Promise<BundleSize | null> {
  try {
    return JSON.parse(await readFile(join(packageRoot(), "dist", "bundle-size.json"), "utf8")) as BundleSize;
  } catch {
    return null;
  }
}

function benchJson(r: BenchResult, bundle: BundleSize | null): Record<string, unknown> {
  const k = (list: KernelSummary[]) => list.map((x) => ({ kernel: x.kernel, calls_per_step: x.callsPerStep, ms_per_step: x.msPerStep, share: x.share, gb_per_s: x.gbPerS, gflop_per_s: x.gflopPerS }));
  return {
    model: r.model,
    adapter: r.adapter,
    limits: r.limits,
    prompt_tokens: r.promptTokens,
    gen_tokens: r.genTokens,
    prefill_ms: r.prefillMs,
    ttft_ms: r.ttftMs,
    decode_tokens_per_s: r.decode.tokensPerSecond,
    decode_ms_per_step: r.decode.msPerStep,
    dispatches_per_decode_step: r.decode.dispatchesPerStep,
    // What each tuned operation runs, with the tuner's timings per candidate (also in model.kernels).
    kernel_choices: r.model.kernels ?? {},
    decode_cpu_ms: { record: r.decode.cpu.recordMs, submit: r.decode.cpu.submitMs },
    decode_cpu_overlapped_ms: { record: r.decode.overlappedCpu.recordMs, submit: r.decode.overlappedCpu.submitMs },
    gpu: r.gpu && {
      steps: r.gpu.steps,
      step_ms: r.gpu.stepMs,
      kernel_ms_per_step: r.gpu.kernelMsPerStep,
      cpu_phases_ms: { record: r.gpu.cpu.recordMs, submit: r.gpu.cpu.submitMs, wait: r.gpu.cpu.waitMs },
      kernels: k(r.gpu.kernels),
      layers: r.gpu.layers,
      prefill_kernels: k(r.gpu.prefillKernels),
    },
    profile_skipped: r.profileSkipped,
    constrained_decode: r.constrained
      ? {
          ms_per_step: r.constrained.msPerStep,
          plain_ms_per_step: r.constrained.plainMsPerStep,
          mask_cpu_ms_per_step: r.constrained.maskCpuMsPerStep,
          mask_kernel_ms: r.constrained.maskKernelMs ?? null,
        }
      : r.constrainedSkipped,
    ...(r.speculation ? { speculation: speculationJson(r.speculation) } : {}),
    browser_entry: bundle
      ? { gzip_bytes: bundle.gzipBytes, minified_bytes: bundle.minifiedBytes, goal_gzip_bytes: bundle.goalGzipBytes, lazy_gzip_bytes: bundle.lazyGzipBytes ?? 0 }
      : "not measured: run `npm run build:lib` first",
  };
}

function speculationJson(s: SpeculationBench): Record<string, unknown> {
  return {
    draft: s.draft,
    prompt_tokens: s.promptTokens,
    gen_tokens: s.genTokens,
    plain_tokens_per_s: s.plainTokensPerSecond,
    tokens_per_s: s.tokensPerSecond,
    ratio: s.ratio,
    forwards: s.forwards,
    drafted: s.drafted,
    accepted: s.accepted,
    acceptance: s.acceptance,
    tokens_per_forward: s.tokensPerForward,
    ...(s.memory ? { memory: s.memory } : {}),
    same_tokens: s.sameTokens,
  };
}

function benchTable(r: BenchResult, bundle: BundleSize | null): string {
  const lines = [
    `${r.model.description} on ${r.adapter.vendor} ${r.adapter.architecture}${r.adapter.isSoftware ? " (CPU emulation: compare ratios only)" : ""}`,
    `prefill ${r.promptTokens} tokens: ${r.prefillMs.toFixed(1)} ms · first token ${r.ttftMs.toFixed(1)} ms`,
    `decode: ${r.decode.tokensPerSecond.toFixed(2)} tokens/s (median ${r.decode.msPerStep.median.toFixed(2)} ms/step, p10 ${r.decode.msPerStep.p10.toFixed(2)}, p90 ${r.decode.msPerStep.p90.toFixed(2)})`,
    `decode step: ${r.decode.dispatchesPerStep} dispatches, CPU ${r.decode.cpu.recordMs.toFixed(3)} ms to record + ${r.decode.cpu.submitMs.toFixed(3)} ms to submit`,
  ];
  const choices = Object.entries(r.model.kernels ?? {});
  if (choices.length) lines.push(`decode kernels: ${choices.map(([role, c]) => `${role} ${c.variant} (${c.source})`).join(", ")}`);
  if (r.gpu) {
    lines.push(`GPU step ${r.gpu.stepMs.toFixed(2)} ms (kernels ${r.gpu.kernelMsPerStep.toFixed(2)} ms) over ${r.gpu.steps} profiled steps`, "");
    lines.push("kernel                          calls     ms/step   share     GB/s   GFLOP/s");
    for (const x of r.gpu.kernels) {
      lines.push(
        `${x.kernel.padEnd(30)} ${x.callsPerStep.toFixed(0).padStart(6)} ${x.msPerStep.toFixed(3).padStart(11)} ${(100 * x.share).toFixed(1).padStart(6)}% ${x.gbPerS.toFixed(2).padStart(8)} ${x.gflopPerS.toFixed(2).padStart(9)}`,
      );
    }
  } else if (r.profileSkipped) {
    lines.push(r.profileSkipped);
  }
  const sp = r.speculation;
  if (sp) {
    lines.push(
      `speculative decode (${sp.draft}, prompt of ${sp.promptTokens}: its first half twice): ${sp.tokensPerSecond.toFixed(2)} tokens/s against ${sp.plainTokensPerSecond.toFixed(2)} plain (${sp.ratio.toFixed(2)}x); ${sp.accepted} of ${sp.drafted} drafts accepted, ${sp.tokensPerForward.toFixed(2)} tokens per forward${sp.sameTokens ? "" : "; TOKENS DIFFER"}`,
    );
  }
  const c = r.constrained;
  if (c) {
    const kernel = c.maskKernelMs === undefined ? "" : `, GPU ${c.maskKernelMs.toFixed(3)} ms (logits.bias)`;
    lines.push(`constrained decode: ${c.msPerStep.median.toFixed(2)} ms/step (plain ${c.plainMsPerStep.toFixed(2)}); mask CPU ${c.maskCpuMsPerStep.toFixed(3)} ms/step${kernel}`);
  }
  if (bundle)
    lines.push(`browser entry: ${(bundle.gzipBytes / 1000).toFixed(1)} kB gzipped (goal < ${bundle.goalGzipBytes / 1000} kB; ${((bundle.lazyGzipBytes ?? 0) / 1000).toFixed(1)} kB more on demand)`);
  return lines.join("\n") + "\n";
}

async function runBench(argv: string[], io: CliIo, trace: boolean): Promise<number> {
  const flags = parseFlags(argv, BENCH_FLAGS);
  if (trace && typeof flags.trace !== "string") throw new UsageError("profile needs --trace <file.json>.");
  if (!trace && (await isEncoderFolder(flags.model))) return benchEncoderCommand(flags, io);
  const model = await openModel(flags);
  let memory: MemoryBench | null = null;
  let attached: Awaited<ReturnType<typeof openMemory>> = null;
  try {
    const genTokens = num(flags, "gen-tokens", trace ? 8 : 32)!;
    const options = {
      promptTokens: num(flags, "prompt-tokens", 128),
      genTokens,
      profileSteps: num(flags, "profile-steps", trace ? genTokens : undefined),
      onProgress: (phase: string) => io.stderr(`mnemo bench: ${phase}…\n`),
    };
    const speculate = flags.speculate;
    if (speculate !== undefined && speculate !== "context" && speculate !== "memory") throw new UsageError("--speculate must be context or memory.");
    const entries = num(flags, "memory-entries");
    if (entries !== undefined && typeof flags.memory === "string") throw new UsageError("--memory-entries and --memory: give one.");
    memory = entries === undefined ? null : await benchMemory(model, entries, flags, options, io);
    attached = await openMemory(model, flags);
    const benched = memory ? memory.model : attached ? withMemory(model, attached.store, attached.options) : model;
    const r = await benchmark(benched, { ...options, ...(speculate ? { speculate } : {}) });
    if (memory) memory.report.decode_ms_per_step_with = r.decode.msPerStep.median;
    if (trace) {
      if (!r.gpu) throw new MnemoError("UNSUPPORTED_FEATURE", r.profileSkipped ?? "No GPU timings were recorded.");
      await writeFile(flags.trace as string, JSON.stringify(chromeTrace(r.records, { model: r.model.description, adapter: r.adapter })));
    }
    const bundle = await readBundleSize();
    const json = { ...benchJson(r, bundle), ...(memory ? { memory: memory.report } : {}) };
    io.stdout(flags.json ? JSON.stringify(json) + "\n" : benchTable(r, bundle) + (memory ? memoryLine(memory.report) : ""));
    if (trace && !flags.json) io.stdout(`trace written to ${flags.trace} (open it in https://ui.perfetto.dev or chrome://tracing)\n`);
    return 0;
  } finally {
    memory?.store.dispose();
    attached?.store.dispose();
    model.dispose();
  }
}

const COMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {
  bench: (argv, io) => runBench(argv, io, false),
  profile: (argv, io) => runBench(argv, io, true),
  generate: generateCommand,
  chat: chatCommand,
  tokenize: tokenizeCommand,
  eval: evalCommand,
  convert: convertCommand,
  memory: memoryCommand,
  embed: embedCommand,
  search: searchCommand,
};

/** Runs the CLI; returns the exit code (2 for usage errors, 1 for failures). */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  installNodeHost(NODE_HOST);
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "help") {
    io.stdout(USAGE);
    return command ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.stderr(`Unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof MnemoError) {
      io.stderr(`mnemo: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
