// Benchmark of one model on one adapter: prefill, time to first token, decode speed, and a
// per-kernel GPU profile of decode steps. Two passes, so timestamps never slow the timed one:
// first plain (wall-clock), then with a GPU profiler (one timed pass per dispatch).
import { MnemoError } from "../errors.js";
import { GpuProfiler, MAX_TIMED_DISPATCHES, summarizeKernels, summarizeLayers, type DispatchTiming, type KernelSummary } from "../gpu/profiler.js";
import type { KernelDispatch } from "../gpu/dispatch.js";
import type { LanguageModel, ModelInfo } from "../models/types.js";
import type { AdapterSummary } from "../gpu/device.js";
import { SeededRandom } from "../base/random.js";
import { spread, type Spread } from "../base/stats.js";
import { Session } from "./session.js";
import { StepRunner } from "./step-runner.js";
import type { StepRecord } from "./types.js";

export interface BenchOptions {
  promptTokens?: number;
  genTokens?: number;
  /** Decode steps to profile with GPU timestamps (0: skip; default min(genTokens, 8)). */
  profileSteps?: number;
  /** Also a speculative pass (see BenchResult.speculation); "memory" needs a model with a memory attached. */
  speculate?: "context" | "memory";
  onProgress?: (phase: string) => void;
}

/** The speculative pass: greedy decoding of one prompt with and without speculation, same run. */
export interface SpeculationBench {
  draft: "context" | "memory";
  /** The bench prompt's first half twice: a prompt whose continuation the context can draft. */
  promptTokens: number;
  genTokens: number;
  plainTokensPerSecond: number;
  tokensPerSecond: number;
  /** tokensPerSecond / plainTokensPerSecond. */
  ratio: number;
  forwards: number;
  drafted: number;
  accepted: number;
  /** accepted / drafted (0 when nothing was drafted). */
  acceptance: number;
  /** Generated tokens per verification forward (the first token comes from the prefill and is not counted). */
  tokensPerForward: number;
  /** With "memory": drafts proposed and accepted from the memory store. */
  memory?: { drafted: number; accepted: number };
  /** Whether both gave the same tokens (greedy: they must). */
  sameTokens: boolean;
}

export interface BenchResult {
  model: ModelInfo;
  adapter: AdapterSummary;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
  promptTokens: number;
  genTokens: number;
  prefillMs: number;
  ttftMs: number;
  decode: {
    tokensPerSecond: number;
    /** Wall-clock time between consecutive generated tokens. */
    msPerStep: Spread;
    /** Kernel launches of one decode step (forward of one token plus sampling). */
    dispatchesPerStep: number;
    /**
     * CPU time to record and to submit one decode step (median ms), fed back to back: what
     * the CPU needs per step when the GPU is fast, so 1000 / (record + submit) bounds tokens/s.
     */
    cpu: { recordMs: number; submitMs: number };
    /**
     * The same phases inside the timed pass, where each step is recorded while the previous
     * one runs. On a software adapter that one computes on the same CPU cores (and the CPU
     * comes back to recording with cold caches after each long step), so these exceed `cpu`.
     */
    overlappedCpu: { recordMs: number; submitMs: number };
  };
  /** Absent when the adapter has no timestamp-query (see `profileSkipped`). */
  gpu?: {
    steps: number;
    /** Sum of the kernels' own times in one step (median over steps). */
    kernelMsPerStep: number;
    /** First kernel begin to last kernel end in one step (median): the GPU step time. */
    stepMs: number;
    /** CPU phases of a profiled decode step (median ms). */
    cpu: { recordMs: number; submitMs: number; waitMs: number };
    kernels: KernelSummary[];
    layers: { layer: number; msPerStep: number }[];
    prefillKernels: KernelSummary[];
  };
  profileSkipped?: string;
  /**
   * Decode held to a grammar (a regular expression over most of the vocabulary's letters):
   * wall-clock ms per step beside the plain timed pass, the CPU's part (building each mask
   * and advancing the grammar; xgrammar) and, with timestamps, the GPU's (the logits kernel
   * that applies the mask; the steps do not overlap, so their wall clock also shows the
   * lost CPU/GPU overlap).
   */
  constrained?: { msPerStep: Spread; plainMsPerStep: number; maskCpuMsPerStep: number; maskKernelMs?: number };
  constrainedSkipped?: string;
  /** With `speculate`. */
  speculation?: SpeculationBench;
  /** Every profiled step (for trace export). */
  records: StepRecord[];
}

function promptIds(model: LanguageModel, n: number): number[] {
  const r = new SeededRandom(1234);
  const V = Math.min(model.info.vocabSize, 50000);
  return Array.from({ length: n }, () => Math.floor(r.next() * V));
}

/** Decode steps recorded back to back to time the CPU's part of a step, and how many of them are submitted. */
const FEED_RECORDS = 32;
const FEED_SUBMITS = 8;

/**
 * The CPU's part of a decode step when nothing else competes for the CPU, as on a machine
 * whose GPU keeps up: FEED_RECORDS decode steps (of a session about to be disposed: they
 * rewrite its last KV row) are recorded back to back, then the last FEED_SUBMITS submitted
 * back to back (the rest are dropped unsubmitted). Recording comes first because on a
 * software adapter the first submit starts the emulated GPU on the CPU cores the rest would
 * be timed on. Returns the median record and submit times.
 */
async function feedCpu(model: LanguageModel, step: readonly KernelDispatch[]): Promise<{ recordMs: number; submitMs: number }> {
  const runner = new StepRunner(model.gpu);
  const recorded = Array.from({ length: FEED_RECORDS }, () => runner.record({ kind: "decode", tokens: 1, dispatches: step }));
  const submitted = recorded.slice(-FEED_SUBMITS).map((r) => runner.submitRecorded(r));
  await model.gpu.sync();
  return { recordMs: spread(recorded.map((r) => r.recordMs)).median, submitMs: spread(submitted.map((s) => s.submitMs)).median };
}

/** Runs the benchmark; throws BAD_INPUT for sizes the model cannot take. */
export async function benchmark(model: LanguageModel, opts: BenchOptions = {}): Promise<BenchResult> {
  const promptTokens = opts.promptTokens ?? 128;
  const genTokens = opts.genTokens ?? 32;
  const ctx = model.info.contextLength;
  if (!Number.isInteger(promptTokens) || promptTokens < 1 || !Number.isInteger(genTokens) || genTokens < 1) {
    throw new MnemoError("BAD_INPUT", "Prompt and generated token counts must be positive integers.");
  }
  // The last generated token is never fed back, so it needs no position.
  if (promptTokens + genTokens - 1 > ctx) {
    throw new MnemoError("BAD_INPUT", `${promptTokens} prompt + ${genTokens} generated tokens exceed the model's context of ${ctx}.`);
  }
  const ids = promptIds(model, promptTokens);
  const gen = { greedy: true, maxTokens: genTokens, stopOnEos: false } as const;

  // Warm-up: compiles every pipeline the passes use (first use costs far more than a step).
  opts.onProgress?.("warm-up");
  const warm = new Session(model);
  try {
    for await (const _ of warm.generate(ids.slice(0, Math.min(8, promptTokens)), { ...gen, maxTokens: 2 }));
  } finally {
    warm.dispose();
  }

  // Pass 1: wall clock between tokens, CPU phases of each step, no timestamps.
  opts.onProgress?.("timed pass");
  const decodeSteps: StepRecord[] = [];
  const arrivals: number[] = [];
  const timed = new Session(model, { observer: { onStep: (s) => s.kind === "decode" && s.tokens > 0 && decodeSteps.push(s) } });
  let feedCost: { recordMs: number; submitMs: number };
  let dispatchesPerStep = 0;
  try {
    for await (const _ of timed.generate(ids, gen)) arrivals.push(performance.now());
    const step = timed.internals.decoder.forwardStep;
    dispatchesPerStep = step.length;
    feedCost = await feedCpu(model, step);
  } finally {
    timed.dispose();
  }
  const t = timed.lastTimings!;
  const msPerStep = spread(arrivals.slice(1).map((at, i) => at - arrivals[i]));
  const result: BenchResult = {
    model: model.info,
    adapter: model.gpu.adapter,
    limits: {
      maxStorageBufferBindingSize: model.gpu.limits.maxStorageBufferBindingSize,
      maxBufferSize: model.gpu.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: model.gpu.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: model.gpu.limits.maxComputeInvocationsPerWorkgroup,
    },
    promptTokens,
    genTokens,
    prefillMs: t.prefillMs,
    ttftMs: t.ttftMs,
    decode: {
      tokensPerSecond: msPerStep.median > 0 ? 1000 / msPerStep.median : 0,
      msPerStep,
      dispatchesPerStep,
      cpu: feedCost,
      overlappedCpu: { recordMs: spread(decodeSteps.map((s) => s.recordMs)).median, submitMs: spread(decodeSteps.map((s) => s.submitMs)).median },
    },
    records: [],
  };

  await constrainedPass(model, ids, gen, result, opts);
  if (opts.speculate) {
    opts.onProgress?.("speculative pass");
    result.speculation = await speculativePass(model, ids, gen, opts.speculate);
  }

  // Pass 2: GPU timestamps per dispatch.
  const profileSteps = Math.min(opts.profileSteps ?? Math.min(genTokens, 8), genTokens);
  if (profileSteps === 0) return result;
  if (!model.gpu.hasTimestamps) {
    result.profileSkipped = `The adapter has no "timestamp-query" feature; per-kernel GPU times are unavailable.`;
    return result;
  }
  opts.onProgress?.("profiled pass");
  const profiler = new GpuProfiler(model.gpu, MAX_TIMED_DISPATCHES);
  const records: StepRecord[] = [];
  const profiled = new Session(model, { observer: { profiler, onStep: (s) => records.push(s) } });
  try {
    for await (const _ of profiled.generate(ids, { ...gen, maxTokens: profileSteps + 1 }));
  } finally {
    profiled.dispose();
    profiler.dispose();
  }
  const decodeGpu = records.filter((s) => s.kind === "decode" && s.tokens > 0).map((s) => s.gpu!);
  const prefillGpu = records.filter((s) => s.kind === "prefill").map((s) => s.gpu!);
  const sumNs = (step: DispatchTiming[]) => step.reduce((a, d) => a + d.endNs - d.beginNs, 0);
  const spanNs = (step: DispatchTiming[]) => Math.max(...step.map((d) => d.endNs)) - Math.min(...step.map((d) => d.beginNs));
  const decodeRecords = records.filter((s) => s.kind === "decode" && s.tokens > 0);
  result.gpu = {
    steps: decodeGpu.length,
    kernelMsPerStep: spread(decodeGpu.map(sumNs)).median / 1e6,
    stepMs: spread(decodeGpu.map(spanNs)).median / 1e6,
    cpu: {
      recordMs: spread(decodeRecords.map((s) => s.recordMs)).median,
      submitMs: spread(decodeRecords.map((s) => s.submitMs)).median,
      waitMs: spread(decodeRecords.map((s) => s.waitMs)).median,
    },
    kernels: summarizeKernels(decodeGpu),
    layers: summarizeLayers(decodeGpu),
    // Prefill in chunks counts as one "step" per chunk.
    prefillKernels: summarizeKernels(prefillGpu),
  };
  result.records = records;
  return result;
}

/** A pattern that never ends within the pass and allows much of the vocabulary. */
const CONSTRAINED_PATTERN = "[a-zA-Z ,.;'-]+";

/** The constrained decode pass (see BenchResult.constrained). */
async function constrainedPass(model: LanguageModel, ids: number[], gen: { greedy: true; maxTokens: number; stopOnEos: false }, result: BenchResult, opts: BenchOptions): Promise<void> {
  if (!model.tokenizer.grammarVocabulary()) {
    result.constrainedSkipped = "The model has no tokenizer vocabulary for a grammar.";
    return;
  }
  opts.onProgress?.("constrained pass");
  const eos = model.tokenizer.eosId;
  const o = { ...gen, constraint: { type: "regex", pattern: CONSTRAINED_PATTERN } as const, ...(eos === undefined ? {} : { logitBias: { [eos]: -100 } }) };
  const arrivals: number[] = [];
  const session = new Session(model);
  try {
    for await (const _ of session.generate(ids, o)) arrivals.push(performance.now());
  } finally {
    session.dispose();
  }
  const c = session.lastTimings?.constraint;
  result.constrained = {
    msPerStep: spread(arrivals.slice(1).map((at, i) => at - arrivals[i])),
    plainMsPerStep: result.decode.msPerStep.median,
    maskCpuMsPerStep: c?.maskMsPerStep ?? 0,
  };
  if (!model.gpu.hasTimestamps || (opts.profileSteps ?? 1) === 0) return;
  const profiler = new GpuProfiler(model.gpu, MAX_TIMED_DISPATCHES);
  const records: StepRecord[] = [];
  const profiled = new Session(model, { observer: { profiler, onStep: (s) => records.push(s) } });
  try {
    for await (const _ of profiled.generate(ids, { ...o, maxTokens: Math.min(gen.maxTokens, 8) }));
  } finally {
    profiled.dispose();
    profiler.dispose();
  }
  const kernels = summarizeKernels(records.filter((s) => s.kind === "decode" && s.tokens > 0).map((s) => s.gpu!));
  result.constrained.maskKernelMs = kernels.find((k) => k.kernel === "logits.bias")?.msPerStep;
}

/** Greedy decoding with and without speculation on the bench prompt's first half said twice (see SpeculationBench). */
async function speculativePass(model: LanguageModel, ids: number[], gen: { greedy: true; maxTokens: number; stopOnEos: false }, draft: "context" | "memory"): Promise<SpeculationBench> {
  const half = ids.slice(0, Math.max(1, Math.floor(ids.length / 2)));
  const prompt = [...half, ...half].slice(0, Math.max(ids.length, 2));
  const run = async (speculate: boolean) => {
    const session = new Session(model);
    try {
      const out: number[] = [];
      for await (const t of session.generate(prompt, { ...gen, ...(speculate ? { speculate: draft } : {}) })) out.push(t.id);
      return { ids: out, timings: session.lastTimings! };
    } finally {
      session.dispose();
    }
  };
  const plain = await run(false);
  const spec = await run(true);
  const s = spec.timings.speculation!;
  return {
    draft,
    promptTokens: prompt.length,
    genTokens: spec.ids.length,
    plainTokensPerSecond: plain.timings.tokensPerSecond,
    tokensPerSecond: spec.timings.tokensPerSecond,
    ratio: spec.timings.tokensPerSecond / plain.timings.tokensPerSecond,
    forwards: s.forwards,
    drafted: s.drafted,
    accepted: s.accepted,
    acceptance: s.drafted > 0 ? s.accepted / s.drafted : 0,
    tokensPerForward: (spec.ids.length - 1) / Math.max(1, s.forwards),
    ...(s.memory ? { memory: s.memory } : {}),
    sameTokens: plain.ids.length === spec.ids.length && plain.ids.every((id, i) => id === spec.ids[i]),
  };
}
