#!/usr/bin/env node
// llama.cpp's speed on a GGUF file, measured the way `mnemo bench` measures Mnemo, so the two
// share a table: time to the first token after a prompt of P random ids (prefill), then the
// median wall time of one greedy decode step. Runs through node-llama-cpp's prebuilt binaries
// (CPU or Vulkan); it refuses to report CPU numbers under a GPU backend's name.
//
//   node llama-bench.mjs --model x.gguf [--backend vulkan|cpu] [--prompt 128] [--gen 128]
//                        [--long 1024] [--reps 3] [--threads N]   (--long 0 skips the long prefill)
// Threads default to the cores there are: more than that makes llama.cpp's workers spin
// against each other.
// Prints one JSON line on stdout; llama.cpp's warnings go to stderr.
import { statSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function readFlags(argv) {
  const flags = { backend: "vulkan", prompt: "128", gen: "128", long: "1024", reps: "3", threads: String(availableParallelism()) };
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}: flags come as --name value`);
    flags[argv[i].slice(2)] = argv[i + 1];
  }
  if (!flags.model) throw new Error("--model <file.gguf> is required");
  if (!["cpu", "vulkan", "cuda"].includes(flags.backend)) throw new Error(`--backend must be cpu, vulkan or cuda, not ${flags.backend}`);
  return flags;
}

const flags = readFlags(process.argv.slice(2));
const promptTokens = Number(flags.prompt);
const genTokens = Number(flags.gen);
const longTokens = Number(flags.long);
const reps = Math.max(1, Number(flags.reps));
const threads = Number(flags.threads);

/** Sorted-sample quantile (nearest rank), the same rule as Mnemo's bench. */
function quantile(values, q) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.round(q * (v.length - 1))))];
}

/** Deterministic prompt ids (xorshift32): the same prompt every run and every rep. */
function promptIds(n, vocab, seed) {
  let x = seed >>> 0 || 1;
  const ids = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    ids.push(x % (vocab - 1)); // never the last id (<|endoftext|>)
  }
  return ids;
}

const notes = [];
const t0 = performance.now();
const llama = await getLlama({
  gpu: flags.backend === "cpu" ? false : flags.backend,
  build: "never", // the device has no compiler and no network: prebuilt binaries or nothing
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  maxThreads: threads,
  logLevel: LlamaLogLevel.warn,
  logger: (level, message) => {
    const line = String(message).trim();
    if (line) process.stderr.write(`[llama.cpp ${level}] ${line}\n`);
    if (notes.length < 20 && line) notes.push(line);
  },
});
const loadedBackend = llama.gpu === false ? "cpu" : llama.gpu;
if (loadedBackend !== flags.backend) throw new Error(`asked for ${flags.backend}, node-llama-cpp loaded ${loadedBackend}`);
const devices = loadedBackend === "cpu" ? [] : await llama.getGpuDeviceNames();

const model = await llama.loadModel({ modelPath: flags.model, gpuLayers: loadedBackend === "cpu" ? 0 : "max" });
const totalLayers = model.fileInsights.totalLayers;
if (loadedBackend !== "cpu" && (devices.length === 0 || model.gpuLayers < totalLayers)) {
  // A GPU build without a usable device quietly runs on the CPU: say so instead of measuring it.
  throw new Error(`${loadedBackend}: ${model.gpuLayers} of ${totalLayers} layers on a GPU, devices ${JSON.stringify(devices)}`);
}
const trainContext = model.trainContextSize ?? 1024;
const contextSize = Math.min(trainContext, Math.max(promptTokens + genTokens, longTokens));
// One batch as large as the context, so a prefill is one evaluation, as Mnemo's is.
const context = await model.createContext({ contextSize, batchSize: contextSize, sequences: 1, threads });
const sequence = context.getSequence();
const loadMs = performance.now() - t0;

const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 50257;

/** Prefill `ids`, then `steps` greedy decode steps; ms to the first token and per step. */
async function generate(ids, steps) {
  await sequence.clearHistory();
  const tokens = sequence.evaluate(ids, { temperature: 0, yieldEogToken: true });
  let start = performance.now();
  await tokens.next();
  const firstTokenMs = performance.now() - start;
  const stepMs = [];
  for (let i = 0; i < steps; i++) {
    start = performance.now();
    const r = await tokens.next();
    stepMs.push(performance.now() - start);
    if (r.done) throw new Error(`generation stopped after ${i} decode steps`);
  }
  await tokens.return();
  return { firstTokenMs, stepMs };
}

// Warm-up at both prompt lengths: first use compiles pipelines and allocates buffers.
const tw = performance.now();
await generate(promptIds(Math.min(16, promptTokens), vocab, 7), Math.min(4, genTokens));
if (longTokens > 0) await generate(promptIds(longTokens, vocab, 8), 0);
const warmupMs = performance.now() - tw;

const prompt = promptIds(promptTokens, vocab, 1);
const longPrompt = longTokens > 0 ? promptIds(longTokens, vocab, 2) : null;
const firstToken = [];
const longFirstToken = [];
const steps = [];
for (let r = 0; r < reps; r++) {
  const run = await generate(prompt, genTokens);
  firstToken.push(run.firstTokenMs);
  steps.push(...run.stepMs);
  if (longPrompt) longFirstToken.push((await generate(longPrompt, 0)).firstTokenMs);
}
const median = quantile(steps, 0.5);

console.log(
  JSON.stringify({
    runtime: "llama.cpp",
    backend: loadedBackend,
    devices,
    model_file: flags.model,
    model_bytes: statSync(flags.model).size,
    gpu_layers: model.gpuLayers,
    total_layers: totalLayers,
    context_size: context.contextSize,
    batch_size: context.batchSize,
    flash_attention: context.flashAttention,
    threads: context.currentThreads ?? null,
    prompt_tokens: promptTokens,
    gen_tokens: genTokens,
    reps,
    // Median over reps of prompt in -> first token out (prefill plus one greedy pick).
    ttft_ms: quantile(firstToken, 0.5),
    ttft_ms_all: firstToken,
    long_prompt_tokens: longPrompt ? longTokens : null,
    long_ttft_ms: longPrompt ? quantile(longFirstToken, 0.5) : null,
    long_ttft_ms_all: longFirstToken,
    decode_tokens_per_s: median > 0 ? 1000 / median : 0,
    decode_ms_per_step: { median, p10: quantile(steps, 0.1), p90: quantile(steps, 0.9), min: Math.min(...steps), max: Math.max(...steps) },
    load_ms: loadMs,
    warmup_ms: warmupMs,
    llama_cpp_release: llama.llamaCppRelease?.release ?? null,
    build_type: llama.buildType,
    cpu: cpus()[0]?.model ?? null,
    cpu_count: availableParallelism(),
    node: process.version,
    log: notes,
  }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
