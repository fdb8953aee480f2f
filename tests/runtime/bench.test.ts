// Profiler, bench and trace export: the per-kernel profile covers every dispatch of a decode
// step, the trace file has the structure Perfetto expects, synthetic models build at real
// scale. Times are printed, never bounded (CI shares two cores): the checks count work.
import { describe, it, expect } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import { summarizeKernels, GpuProfiler, type DispatchTiming } from "../../src/gpu/profiler.js";
import { isMnemoError } from "../../src/errors.js";
import { loadSyntheticModel } from "../../src/models/synthetic.js";
import { testGpu } from "../helpers/gpu.js";
import { caught, caughtAsync } from "../helpers/errors.js";

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, out: out.join(""), err: err.join("") };
}

describe("mnemo bench", () => {
  it("synthetic:gpt2-124m --json: the per-kernel profile counts every dispatch of each profiled decode step", async () => {
    const r = await cli(["bench", "--model", "synthetic:gpt2-124m", "--prompt-tokens", "4", "--gen-tokens", "3", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.model.description).toMatch(/12 layers, 768 wide, 12 heads/);
    expect(j.adapter.architecture).toBeTruthy();
    expect(j.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(j.prompt_tokens).toBe(4);
    expect(j.gen_tokens).toBe(3);
    expect(j.prefill_ms).toBeGreaterThan(0);
    expect(j.ttft_ms).toBeGreaterThanOrEqual(j.prefill_ms);
    expect(j.decode_tokens_per_s).toBeGreaterThan(0);
    expect(j.decode_ms_per_step.p90).toBeGreaterThanOrEqual(j.decode_ms_per_step.median);
    // The browser entry's gzipped size, as the last library build measured it (or why not).
    if (typeof j.browser_entry === "string") expect(j.browser_entry).toMatch(/not measured: run `npm run build:lib`/);
    else expect(j.browser_entry.gzip_bytes).toBeGreaterThan(0);
    const kernels: { kernel: string; calls_per_step: number; ms_per_step: number; share: number; gb_per_s: number }[] = j.gpu.kernels;
    const sum = kernels.reduce((a, k) => a + k.ms_per_step, 0);
    console.log(`gpt2-124m on SwiftShader: GPU step ${j.gpu.step_ms.toFixed(1)} ms, kernels sum ${sum.toFixed(1)} ms, ${j.decode_tokens_per_s.toFixed(2)} tokens/s`);
    // 12 layers × (4 matmuls) + the LM head: 49 GEMVs per decode step, three of each layer's
    // with a fused prologue or epilogue (ln_1 + KV write, ln_2; ln_f on the LM head).
    const calls = (name: string) => kernels.find((k) => k.kernel === name)?.calls_per_step;
    expect([calls("ln_matmul_gemv_f16_kv"), calls("matmul_gemv_f16"), calls("ln_matmul_gemv_f16")]).toEqual([12, 24, 13]);
    // 1 embedding + 12 × 5 + the LM head + the sampler's 3 (mark history, select, merge); the
    // unprofiled CPU phases are measured.
    // (12 more, the split attention's combine, where the tuner measured the split faster.)
    expect(j.dispatches_per_decode_step).toBe(65 + (j.kernel_choices.attention.variant === "split" ? 12 : 0));
    // The timestamps of every profiled step cover all of its dispatches: the profile's call
    // counts (from timestamp pairs) add up to the plan's dispatch count, over 3 decode steps
    // that fed a token (4 generated in the profiled pass, the first from the prefill's logits).
    expect(j.gpu.steps).toBe(3);
    expect(kernels.reduce((a, k) => a + k.calls_per_step, 0)).toBe(j.dispatches_per_decode_step);
    expect(j.decode_cpu_ms.record).toBeGreaterThan(0);
    expect(j.decode_cpu_ms.submit).toBeGreaterThan(0);
    expect(j.decode_cpu_overlapped_ms.record).toBeGreaterThan(0);
    expect(kernels[0].ms_per_step).toBeGreaterThanOrEqual(kernels.at(-1)!.ms_per_step);
    // What each tuned matmul runs (f16 weights: f32 activations on one of two grids).
    for (const role of ["qkv", "proj", "up", "down", "head"]) expect(j.kernel_choices[role].variant, role).toMatch(/^f32/);
    // A synthetic model has token ids but no vocabulary a grammar could read.
    expect(j.constrained_decode).toMatch(/no tokenizer vocabulary for a grammar/);
  });

  it("gpt2-gutenberg --json: the constrained pass times each step, the CPU's mask building and the kernel that applies the mask", async () => {
    const r = await cli(["bench", "--model", "weights/gpt2-gutenberg", "--prompt-tokens", "4", "--gen-tokens", "4", "--profile-steps", "2", "--json"]);
    expect(r.code, r.err).toBe(0);
    const c = JSON.parse(r.out).constrained_decode;
    expect(c.ms_per_step.median).toBeGreaterThan(0);
    expect(c.plain_ms_per_step).toBeGreaterThan(0);
    expect(c.mask_cpu_ms_per_step).toBeGreaterThan(0);
    if (JSON.parse(r.out).gpu) expect(c.mask_kernel_ms).toBeGreaterThan(0);
  }, 300_000);

  it("synthetic:lstm-2x512 prints a per-kernel table", async () => {
    const r = await cli(["bench", "--model", "synthetic:lstm-2x512", "--prompt-tokens", "16", "--gen-tokens", "4"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/LSTM, 2 layers of 512/);
    expect(r.out).toMatch(/lstm_step\s+2 /);
    expect(r.out).toMatch(/tokens\/s/);
  }, 120_000);

  it("synthetic:rnn-2x512 prints a per-kernel table with the plain RNN step", async () => {
    const r = await cli(["bench", "--model", "synthetic:rnn-2x512", "--prompt-tokens", "16", "--gen-tokens", "4"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/RNN \(tanh\), 2 layers of 512/);
    expect(r.out).toMatch(/rnn_step_tanh\s+2 /);
    expect(r.out).not.toMatch(/lstm_step/);
  }, 120_000);

  it("--memory-entries: search time per token, knn kernels in the profile, decode with and without memory", async () => {
    const r = await cli(["bench", "--model", "tests/fixtures/models/tiny-gpt2", "--prompt-tokens", "8", "--gen-tokens", "4", "--memory-entries", "3000", "--k", "32", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.memory).toMatchObject({ entries: 3000, key_type: "f16", shards: 1, k: 32 });
    expect(j.memory.gpu_bytes).toBeGreaterThanOrEqual(3000 * 64 * 2 + 3000 * 4);
    expect(j.memory.search_ms_per_token.median).toBeGreaterThan(0);
    expect(j.memory.decode_ms_per_step_with).toBeGreaterThan(0);
    expect(j.memory.decode_ms_per_step_without).toBeGreaterThan(0);
    if (j.gpu) {
      const names = j.gpu.kernels.map((k: { kernel: string }) => k.kernel);
      expect(names).toEqual(expect.arrayContaining(["knn_distances_f16", "knn_topk", "knn_mix"]));
    }
  }, 120_000);

  it("--speculate: greedy decoding with and without speculation in the same run, the same tokens; memory drafts need a memory", async () => {
    const r = await cli(["bench", "--model", "tests/fixtures/models/tiny-gpt2", "--prompt-tokens", "16", "--gen-tokens", "24", "--profile-steps", "0", "--speculate", "context", "--json"]);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out).speculation;
    console.log(`bench --speculate on tiny-gpt2: ${JSON.stringify(s)}`);
    expect(s.draft).toBe("context");
    expect(s.same_tokens).toBe(true);
    expect(s.prompt_tokens).toBe(16);
    expect(s.gen_tokens).toBe(24);
    expect(s.forwards).toBeGreaterThan(0);
    expect(s.tokens_per_forward).toBeGreaterThanOrEqual(1);
    expect(s.plain_tokens_per_s).toBeGreaterThan(0);
    expect(s.ratio).toBeCloseTo(s.tokens_per_s / s.plain_tokens_per_s, 6);
    const m = await cli(["bench", "--model", "tests/fixtures/models/tiny-gpt2", "--prompt-tokens", "8", "--gen-tokens", "4", "--speculate", "memory"]);
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/drafts from "memory" need a memory/);
    const bad = await cli(["bench", "--model", "tests/fixtures/models/tiny-gpt2", "--speculate", "fast"]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--speculate must be context or memory/);
  }, 120_000);

  it("refuses an unknown synthetic model and prompts longer than the context", async () => {
    const a = await cli(["bench", "--model", "synthetic:gpt5"]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/BAD_INPUT: Unknown synthetic model "gpt5"; choose one of synthetic:gpt2-124m/);
    const b = await cli(["bench", "--model", "tests/fixtures/models/tiny-gpt2", "--prompt-tokens", "60", "--gen-tokens", "10"]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/exceed the model's context of 64/);
  });
});

describe("mnemo profile --trace", () => {
  it("writes Chrome trace JSON with a CPU and a GPU track, monotonic and well formed", async () => {
    const path = join(await mkdtemp(join(tmpdir(), "mnemo-trace-")), "trace.json");
    const r = await cli(["profile", "--model", "tests/fixtures/models/tiny-gpt2", "--prompt-tokens", "8", "--gen-tokens", "4", "--trace", path]);
    expect(r.code, r.err).toBe(0);
    const trace = JSON.parse(await readFile(path, "utf8"));
    expect(Array.isArray(trace.traceEvents)).toBe(true);
    const names = trace.traceEvents.filter((e: { ph: string; name: string }) => e.ph === "M" && e.name === "thread_name");
    expect(names.map((e: { tid: number }) => e.tid).sort()).toEqual([1, 2]);
    const complete = trace.traceEvents.filter((e: { ph: string }) => e.ph === "X");
    for (const e of complete) {
      expect(typeof e.name).toBe("string");
      expect(e.name.length).toBeGreaterThan(0);
      expect(Number.isFinite(e.ts) && e.ts >= 0).toBe(true);
      expect(Number.isFinite(e.dur) && e.dur >= 0).toBe(true);
      expect(e.pid).toBe(1);
      expect([1, 2]).toContain(e.tid);
    }
    for (const tid of [1, 2]) {
      const track = complete.filter((e: { tid: number }) => e.tid === tid);
      expect(track.length, `track ${tid}`).toBeGreaterThan(0);
      // In file order, each event starts no earlier than the previous one ended (no overlap).
      for (let i = 1; i < track.length; i++) expect(track[i].ts).toBeGreaterThanOrEqual(track[i - 1].ts + track[i - 1].dur - 1e-6);
    }
    const gpuNames = new Set(complete.filter((e: { tid: number }) => e.tid === 2).map((e: { name: string }) => e.name));
    // One pass or the split keys, as the tuner measured.
    expect([...gpuNames].some((n) => /^attention_(split_)?f32$/.test(String(n)))).toBe(true);
    expect(gpuNames).toContain("sample.merge");
    expect(complete.some((e: { name: string }) => e.name === "decode: wait for GPU")).toBe(true);
  }, 120_000);
});

describe("GPU profiler", () => {
  it("aggregates per kernel: calls, ms per step, shares, GB/s and GFLOP/s", () => {
    const t = (kernel: string, beginNs: number, endNs: number): DispatchTiming => ({ kernel, layer: 0, beginNs, endNs, flops: 2e6, bytes: 4e6 });
    const steps = [
      [t("a", 0, 1e6), t("b", 1e6, 4e6), t("a", 4e6, 5e6)],
      [t("a", 0, 1e6), t("b", 1e6, 4e6), t("a", 4e6, 5e6)],
    ];
    const s = summarizeKernels(steps);
    expect(s.map((k) => k.kernel)).toEqual(["b", "a"]);
    expect(s[0]).toMatchObject({ callsPerStep: 1, msPerStep: 3, share: 0.6 });
    expect(s[1]).toMatchObject({ callsPerStep: 2, msPerStep: 2, share: 0.4 });
    expect(s[1].gbPerS).toBeCloseTo(4); // 4 MB per 1 ms
    expect(s[1].gflopPerS).toBeCloseTo(2);
  });

  it("refuses more dispatches than a query set holds", async () => {
    const gpu = await testGpu();
    expect(
      isMnemoError(
        caught(() => new GpuProfiler(gpu, 5000)),
        "BAD_INPUT",
      ),
    ).toBe(true);
  });

  it("synthetic models are deterministic", async () => {
    const gpu = await testGpu();
    const a = await loadSyntheticModel(gpu, "synthetic:lstm-2x512");
    const b = await loadSyntheticModel(gpu, "synthetic:lstm-2x512");
    expect(a.info.fingerprint).toBe(b.info.fingerprint);
    const { fullForwardLogits } = await import("../helpers/models.js");
    expect(Array.from(await fullForwardLogits(a, [1, 2, 3]))).toEqual(Array.from(await fullForwardLogits(b, [1, 2, 3])));
    expect(isMnemoError(await caughtAsync(() => loadSyntheticModel(gpu, "synthetic:lstm-2x512", { quant: "q8_0" })), "UNSUPPORTED_MODEL")).toBe(true);
    a.dispose();
    b.dispose();
  });
});
