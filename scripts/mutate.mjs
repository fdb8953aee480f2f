#!/usr/bin/env node
// Mutation check (`npm run mutate`; not part of CI): applies deliberate bugs to the source one
// at a time and runs the test files that should catch each, then prints which tests failed
// (caught) or that none did (MISSED).
//
// Everything happens in a copy of the working tree under /tmp/mnemo-mutate-XXXX (without .git
// and build outputs; node_modules, weights/ and tests/fixtures/ are symlinked), so the tree
// itself is never modified. The copy's tests first run unmutated: a test that already fails
// there cannot count as catching a mutation. Each mutation is one exact text replacement in
// one named file that must match exactly once; when the source has changed so that it no
// longer does, the script says so and exits with an error instead of testing nothing.
//
//   npm run mutate                        every mutation
//   npm run mutate -- --only lstm-gate    some (comma-separated names)
//   npm run mutate -- --list              names, files and tests
//   npm run mutate -- --keep              keep the copy (its path is printed)
//   npm run mutate -- --paths             instead: one bug per path issue #24 listed as untested
//
// Exit code: 0 when every mutation was caught, 1 otherwise.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The deliberate bugs. `tests`: the files run for it, each optionally with a vitest name
 * filter (-t); `why`: what the bug is and which tests should notice.
 */
const MUTATIONS = [
  {
    name: "attention-mask",
    why: "off by one in the causal mask: each query also attends to the key after its own position",
    file: "shaders/attention.wgsl",
    find: "let n_keys = min(positions[m], p.n_ctx - 1u) + 1u;",
    replace: "let n_keys = min(positions[m] + 1u, p.n_ctx - 1u) + 1u;",
    tests: ["tests/kernels/attention.test.ts", "tests/models/gpt2-tiny.test.ts"],
  },
  {
    name: "attention-rows2-mask",
    why: "two query rows per invocation: the first row also weighs the pair's second key when that key is one past its last",
    file: "shaders/attention.wgsl",
    find: "let ina1 = j + 1u < n_a;",
    replace: "let ina1 = j + 1u <= n_a;",
    tests: ["tests/kernels/attention.test.ts"],
  },
  {
    name: "layernorm-eps",
    why: "every GPT-2 layer norm's epsilon 20% too large (1.2e-5 instead of the config's 1e-5)",
    file: "src/models/gpt2.ts",
    find: "const eps = c.layerNormEpsilon;",
    replace: "const eps = c.layerNormEpsilon * 1.2;",
    tests: ["tests/models/gpt2-tiny.test.ts", "tests/models/gpt2-untied-head.test.ts", "tests/models/gpt2-quant-on-load.test.ts"],
  },
  {
    name: "dropped-bias",
    why: "the attention output projection (c_proj) loses its bias",
    file: "src/models/gpt2.ts",
    find: "matmul(gpu, { x: att, w: L.attnProj.w, bias: L.attnProj.b.buffer, residual: x, out: x2, M, layer })",
    replace: "matmul(gpu, { x: att, w: L.attnProj.w, residual: x, out: x2, M, layer })",
    tests: ["tests/models/gpt2-tiny.test.ts", "tests/models/gpt2-untied-head.test.ts", "tests/models/gpt2-quant-on-load.test.ts"],
  },
  {
    name: "lstm-gate",
    why: "LSTM input and forget gates swapped (PyTorch order is i, f, g, o)",
    file: "shaders/lstm.wgsl",
    find: "let c_new = sigmoid(g.y) * c[j] + sigmoid(g.x) * tanh_safe(g.z);",
    replace: "let c_new = sigmoid(g.x) * c[j] + sigmoid(g.y) * tanh_safe(g.z);",
    tests: ["tests/kernels/lstm.test.ts", "tests/models/lstm-tiny.test.ts"],
  },
  {
    name: "encoder-attention-window",
    why: "encoder attention stops one key short of the sequence's end (the last piece, [SEP], unseen)",
    file: "shaders/encoder_attention.wgsl",
    find: "for (var j = key_start[m]; j < key_end[m]; j++) {",
    replace: "for (var j = key_start[m]; j + 1u < key_end[m]; j++) {",
    tests: ["tests/kernels/encoder-attention.test.ts", "tests/models/bert-tiny.test.ts"],
  },
  {
    name: "bert-gelu-tanh",
    why: "BERT's erf GELU computed with GPT-2's tanh approximation instead",
    file: "shaders/matmul.wgsl",
    find: "  v = gelu_erf(v);",
    replace: "  v = gelu(v);",
    tests: ["tests/kernels/matmul.test.ts", "tests/models/bert-tiny.test.ts"],
  },
  {
    name: "wordpiece-shortest",
    why: "WordPiece takes the shortest piece that matches instead of the longest",
    file: "src/tokenizers/wordpiece.ts",
    find: "      let end = chars.length;\n      let id: number | undefined;\n      for (; end > start; end--) {",
    replace: "      let end = start + 1;\n      let id: number | undefined;\n      for (; end <= chars.length; end++) {",
    tests: ["tests/tokenizers/wordpiece.test.ts"],
  },
  {
    name: "rnn-remainder",
    why: "plain RNN step drops the recurrent terms past the last whole four (H % 4 != 0)",
    file: "shaders/rnn.wgsl",
    find: "    for (var k = H4; k < H; k++) {\n      acc += w[k * H + j] * hs[prev + k];",
    replace: "    for (var k = H; k < H; k++) {\n      acc += w[k * H + j] * hs[prev + k];",
    tests: ["tests/kernels/rnn.test.ts", "tests/models/rnn-tiny.test.ts"],
  },
  {
    name: "q4_0-nibbles",
    why: "Q4_0 weights of the many-row tiles read with the nibble order swapped (element j from the high nibble)",
    file: "shaders/common/weight4.wgsl",
    find: "let word = w[block * 4u + j % 4u] >> select(0u, 4u, j >= 4u);",
    replace: "let word = w[block * 4u + j % 4u] >> select(4u, 0u, j >= 4u);",
    tests: ["tests/kernels/matmul.test.ts", "tests/models/gpt2-quant-on-load.test.ts"],
  },
  {
    name: "tile16-row",
    why: "the 16-row prefill tile multiplies row 13 with row 12's activations (only forwards of 14+ rows reach it)",
    file: "shaders/matmul.wgsl",
    find: "let a13 = x[x13 + k4];",
    replace: "let a13 = x[x12 + k4];",
    tests: ["tests/kernels/matmul.test.ts"],
  },
  {
    name: "q4_0-nibbles-gemv",
    why: "the one-row Q4_0 GEMV (decode) pairs the low nibbles with the high half of the block",
    file: "shaders/matmul.wgsl",
    find: "t0 += lo * nibbles_low(q0) + hi * nibbles_high(q0);",
    replace: "t0 += hi * nibbles_low(q0) + lo * nibbles_high(q0);",
    tests: ["tests/kernels/matmul.test.ts", "tests/models/gpt2-quant-on-load.test.ts"],
  },
  {
    name: "gemv-i8-q4-offset",
    why: "the int8 GEMV forgets the - 8 of every Q4_0 nibble",
    file: "shaders/matmul_i8.wgsl",
    find: "return dot16(w & mask, lo) + dot16((w >> vec4<u32>(4u)) & mask, hi) - a8;",
    replace: "return dot16(w & mask, lo) + dot16((w >> vec4<u32>(4u)) & mask, hi);",
    tests: ["tests/kernels/matmul-i8.test.ts"],
  },
  {
    name: "gemv-i8-tree",
    why: "the workgroup-tree variant of the int8 GEMV overwrites instead of adding its partial sums",
    file: "shaders/matmul_i8.wgsl",
    find: "partial[lid] += partial[lid + half];",
    replace: "partial[lid] = partial[lid + half];",
    tests: ["tests/kernels/matmul-i8.test.ts"],
  },
  {
    name: "i8-tile-row",
    why: "the int8 prefill tile computes its second row from the first row's activations",
    file: "shaders/matmul_i8.wgsl",
    find: "if (TM > 1u) { a1 += tile_terms(min(m0 + 1u, last),",
    replace: "if (TM > 1u) { a1 += tile_terms(m0,",
    tests: ["tests/kernels/matmul-i8.test.ts"],
  },
  {
    name: "gemm-columns",
    why: "the workgroup-tiled GEMM gives an invocation's second column pair the wrong columns",
    file: "shaders/gemm.wgsl",
    find: "let cl1 = TS / 2u + 2u * tx;",
    replace: "let cl1 = TS / 2u + tx;",
    tests: ["tests/kernels/gemm.test.ts"],
  },
  {
    name: "gemv-i8-fused-ln",
    why: "the int8 GEMV quantizes its row without the fused layer norm",
    file: "shaders/matmul_i8.wgsl",
    find: "  return normalised(ln_stats, src, i);",
    replace: "  return x[src + i];",
    tests: ["tests/kernels/matmul-i8.test.ts"],
  },
  {
    name: "quantize-scale",
    why: "activations are quantized with 126 steps while the scale says 127",
    file: "shaders/common/quantize_block.wgsl",
    find: "let inv = select(0.0, 127.0 / amax, amax > 0.0);",
    replace: "let inv = select(0.0, 126.0 / amax, amax > 0.0);",
    tests: ["tests/kernels/matmul-i8.test.ts"],
  },
  {
    name: "tuner-slowest",
    why: "the kernel tuner keeps the slowest candidate",
    file: "src/gpu/tuner.ts",
    find: "if (!best || timingsMs[name] < timingsMs[best]) best = name;",
    replace: "if (!best || timingsMs[name] > timingsMs[best]) best = name;",
    tests: ["tests/gpu/tuner.test.ts"],
  },
  {
    name: "speculative-draws",
    why: "sampled speculation consumes one random number per forward instead of one per token (accepted drafts shift every later draw)",
    file: "src/runtime/speculative.ts",
    find: "        draws.consume(1);\n        yield { id: out[i], drafted: i < accepted };",
    replace: "        if (i === 0) draws.consume(1);\n        yield { id: out[i], drafted: i < accepted };",
    tests: ["tests/runtime/speculative.test.ts"],
  },
  {
    name: "speculative-accept-all",
    why: "speculation keeps every draft, whatever the model picked (a wrong acceptance rule: the chi-square and the greedy comparisons notice)",
    file: "src/runtime/speculative.ts",
    find: "while (accepted < drafts.length && drafts[accepted] === out[accepted]) accepted++;",
    replace: "while (accepted < drafts.length) accepted++;",
    tests: ["tests/runtime/speculative.test.ts"],
  },
  {
    name: "knn-causal-ring",
    why: "a verification row of a growing memory still sees the oldest ring slots the rows before it would have overwritten",
    file: "shaders/knn.wgsl",
    find: "  if (p.causal == 0u) {",
    replace: "  if (p.causal != 2u) {",
    tests: ["tests/kernels/knn.test.ts"],
  },
  {
    name: "speculative-memory-not-causal",
    why: "a verification row does not see the growing memory's entries of the rows before it",
    file: "src/runtime/speculative.ts",
    find: "causalMemory: !!host.memory",
    replace: "causalMemory: false",
    tests: ["tests/runtime/speculative.test.ts"],
  },
  {
    name: "penalty-count",
    why: "the frequency penalty counts a token once however often it was generated",
    file: "shaders/logits.wgsl",
    find: "out[id] = out[id] - (f32(c) * penalties.frequency + penalties.presence);",
    replace: "out[id] = out[id] - (penalties.frequency + penalties.presence);",
    tests: ["tests/kernels/logits.test.ts", "tests/runtime/logit-options.test.ts"],
  },
  {
    name: "logprob-lse",
    why: "log-probabilities against the largest block's sum only (logsumexp of one block instead of all)",
    file: "shaders/logits.wgsl",
    find: "let lse = all_max + log(reduce_f32(lid, s, false));",
    replace: "let lse = all_max + log(reduce_f32(lid, s, true));",
    tests: ["tests/kernels/logits.test.ts", "tests/runtime/logit-options.test.ts"],
  },
  {
    name: "grammar-mask-ignored",
    why: "constrained decoding uploads the grammar's mask but the logits kernel never applies it",
    file: "shaders/logits.wgsl",
    find: "if (shape.masked != 0u && ((mask[i >> 5u] >> (i & 31u)) & 1u) == 0u) {",
    replace: "if (shape.masked == 7u && ((mask[i >> 5u] >> (i & 31u)) & 1u) == 0u) {",
    tests: ["tests/kernels/logits.test.ts", "tests/runtime/constraint.test.ts"],
  },
  {
    name: "openai-stop-kept",
    why: "chat.completions returns the stop string with the text",
    file: "src/openai/stop-text.ts",
    find: "const out = this.pending.slice(0, cut);",
    replace: "const out = this.pending;",
    tests: ["tests/openai/chat-completions.test.ts"],
  },
  {
    name: "abort-decode",
    why: "an abort during generation does nothing (the decode loop never checks the signal)",
    file: "src/runtime/decoder.ts",
    find: "if (o.signal?.aborted) throw abortError(o.signal);",
    replace: "if (false && o.signal?.aborted) throw abortError(o.signal);",
    tests: ["tests/models/gpt2-bad-input.test.ts", "tests/runtime/reliability.test.ts", "tests/runtime/session-runtime.test.ts", "tests/api/error-codes.test.ts"],
  },
  {
    name: "abort-check",
    why: "throwIfAborted() does nothing (prefill chunks, memory build, downloads); the decode loop still checks",
    file: "src/errors.ts",
    find: "if (signal?.aborted) throw abortError(signal);",
    replace: "if (false && signal?.aborted) throw abortError(signal);",
    tests: [
      "tests/runtime/abort-points.test.ts",
      "tests/models/gpt2-bad-input.test.ts",
      "tests/runtime/reliability.test.ts",
      "tests/runtime/session-runtime.test.ts",
      "tests/api/error-codes.test.ts",
      "tests/formats/source.test.ts",
    ],
  },
  // Last: the sampler is being rewritten (shaders/sample_parallel.wgsl). Top-p is applied in
  // two places, so two mutations: the draw over every token when there is no top-k, and
  // the nucleus within the top-k.
  {
    name: "top-p-ignored",
    why: "without top-k the sampler ignores top-p (its fast path draws from every token)",
    file: "shaders/sample_parallel.wgsl",
    find: "if (!top_k_on() && sp.top_p >= 1.0) {",
    replace: "if (!top_k_on()) {",
    tests: ["tests/kernels/sample-parallel.test.ts", "tests/kernels/sample.test.ts", "tests/cli/sampling-flags-effect.test.ts"],
  },
  {
    name: "top-p-in-top-k",
    why: "with top-k the sampler ignores top-p (every one of the k tokens stays in the draw)",
    file: "shaders/sample_parallel.wgsl",
    find: "keep = top_p_within_top_k(lid, u_count, keep, m);",
    replace: "keep = keep;",
    tests: ["tests/kernels/sample-parallel.test.ts", "tests/kernels/sample.test.ts", "tests/cli/sampling-flags-effect.test.ts"],
  },
];

/**
 * With --paths instead: one bug in each path that issue #24 listed as untested, each with the
 * test file written for it (checks that those tests can fail).
 */
const PATH_MUTATIONS = [
  {
    name: "untied-head",
    why: "the LM head is always the token table",
    file: "src/models/gpt2.ts",
    find: "w: w.lmHead ?? w.wte, out: logits",
    replace: "w: w.wte, out: logits",
    tests: ["tests/models/gpt2-untied-head.test.ts"],
  },
  {
    name: "keep-table-f16",
    why: "keepTokenTableF16 ignored on load",
    file: "src/models/gpt2-load.ts",
    find: 'const tableQuant = opts.keepTokenTableF16 && (opts.quant === "q8_0" || opts.quant === "q4_0") ? "f16" : opts.quant;',
    replace: "const tableQuant = opts.quant;",
    tests: ["tests/models/gpt2-quant-on-load.test.ts", "tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "cli-quant",
    why: "the CLI drops --quant",
    file: "src/cli/common.ts",
    find: "{ quant, keepTokenTableF16: flags",
    replace: "{ quant: undefined, keepTokenTableF16: flags",
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "token-nll-target",
    why: "token_nll scores every row against the first row's target",
    file: "shaders/token_nll.wgsl",
    find: "let t = min(targets[m], p.V - 1u);",
    replace: "let t = min(targets[0], p.V - 1u);",
    tests: ["tests/kernels/token-nll.test.ts"],
  },
  {
    name: "webgpu-available",
    why: "isWebGpuAvailable always says yes",
    file: "src/api.ts",
    find: "return !!nav?.gpu || nodeHost() !== undefined;",
    replace: "return true;",
    tests: ["tests/api/public-entry.test.ts"],
  },
  {
    name: "cache-cut-short",
    why: "a download cut short is kept (as an empty file) and cached",
    file: "src/loading/cache.ts",
    find: "const bytes = await readWithProgress(response, file, opts.signal, opts.onProgress);",
    replace: "const bytes = await readWithProgress(response, file, opts.signal, opts.onProgress).catch(() => new Uint8Array(0));",
    tests: ["tests/browser/kernels.test.ts", "tests/loading/integrity.test.ts"],
  },
  {
    name: "clear-cache",
    why: "clearModelCache deletes nothing",
    file: "src/loading/cache.ts",
    find: "return store.delete(MODEL_CACHE_NAME);",
    replace: "return true;",
    tests: ["tests/api/public-entry.test.ts"],
  },
  {
    name: "kernel-profile",
    why: "onKernelProfile is never called",
    file: "src/api.ts",
    find: "const observer = onProfile ? kernelProfileObserver(this.lm, onProfile) : undefined;",
    replace: "const observer = undefined;",
    tests: ["tests/api/public-entry.test.ts"],
  },
  {
    name: "bin-exit-code",
    why: "bin/mnemo.mjs drops the exit code",
    file: "bin/mnemo.mjs",
    find: "process.exitCode = code;",
    replace: "void code;",
    tests: ["tests/cli/bin.test.ts"],
  },
  {
    name: "generate-temperature",
    why: "mnemo generate ignores --temperature",
    file: "src/cli/main.ts",
    find: 'temperature: num(flags, "temperature", 0.8),',
    replace: "temperature: 0.8,",
    tests: ["tests/cli/sampling-flags-effect.test.ts"],
  },
  {
    name: "chat-top-p",
    why: "mnemo chat ignores --top-p",
    file: "src/cli/chat.ts",
    find: 'topP: num(flags, "top-p", 0.95),',
    replace: "topP: 0.95,",
    tests: ["tests/cli/sampling-flags-effect.test.ts"],
  },
  {
    name: "convert-type",
    why: "mnemo convert ignores --keep-token-table-f16",
    file: "src/cli/main.ts",
    find: 'const options = { type, keepTokenTableF16: flags["keep-token-table-f16"] === true };',
    replace: "const options = { type, keepTokenTableF16: false };",
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "eval-window",
    why: "mnemo eval ignores --window",
    file: "src/cli/main.ts",
    find: 'window: num(flags, "window"),',
    replace: "window: undefined,",
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "end-char",
    why: "--end-char ignored (eval, memory build)",
    file: "src/cli/memory.ts",
    find: 'num(flags, "end-char", text.length)',
    replace: "text.length",
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "bench-profile-steps",
    why: "mnemo bench ignores --profile-steps",
    file: "src/cli/main.ts",
    find: 'profileSteps: num(flags, "profile-steps", trace ? genTokens : undefined),',
    replace: "profileSteps: trace ? genTokens : undefined,",
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "f16-keys",
    why: "f16 memory keys off by one f16 ulp",
    file: "src/runtime/memory-build.ts",
    find: 'keys: keyType === "f16" ? f32ToF16Array(keys) : keys,',
    replace: 'keys: keyType === "f16" ? f32ToF16Array(keys).map((h) => h + 1) : keys,',
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
  {
    name: "metric-ip",
    why: "eval --memory ignores --metric",
    file: "src/cli/memory.ts",
    find: 'const options = memoryMixOptions({ k: num(flags, "k"), temperature: num(flags, "memory-temperature"), lambda: num(flags, "lambda"), metric: flags.metric as KnnMetric | undefined });',
    replace: 'const options = memoryMixOptions({ k: num(flags, "k"), temperature: num(flags, "memory-temperature"), lambda: num(flags, "lambda") });',
    tests: ["tests/cli/tiny-model-flags.test.ts"],
  },
];

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const LIST = flag("--paths") ? PATH_MUTATIONS : MUTATIONS;

if (flag("--list")) {
  for (const m of LIST) console.log(`${m.name}\n  ${m.why}\n  ${m.file}\n  tests: ${m.tests.join(", ")}\n`);
  process.exit(0);
}

const only = value("--only")?.split(",");
const chosen = only ? LIST.filter((m) => only.includes(m.name)) : LIST;
if (only && chosen.length !== only.length) {
  console.error(`Unknown mutation(s): ${only.filter((n) => !LIST.some((m) => m.name === n)).join(", ")}. Known: ${LIST.map((m) => m.name).join(", ")}.`);
  process.exit(2);
}

// The copy: the working tree as it is now (committed or not), without VCS and build outputs.
const SKIP = new Set([".git", "node_modules", "dist", "demo-dist", "test-results", ".scratch", ".gpu", ".gpu-dry", "weights"]);
const LINKED = ["node_modules", "weights", "tests/fixtures"];
const copy = mkdtempSync(join(tmpdir(), "mnemo-mutate-"));
console.log(`mutate: copying the working tree to ${copy}`);
cpSync(ROOT, copy, {
  recursive: true,
  filter: (src) => {
    const rel = relative(ROOT, src);
    if (rel === "") return true;
    const top = rel.split(/[\\/]/)[0];
    return !SKIP.has(top) && rel !== join("tests", "fixtures") && !rel.endsWith(".tgz");
  },
});
for (const rel of LINKED) {
  mkdirSync(dirname(join(copy, rel)), { recursive: true });
  symlinkSync(join(ROOT, rel), join(copy, rel), "dir");
}

/** A vitest run may not take longer than this (a mutation can make a test loop for long). */
const RUN_LIMIT_MS = 20 * 60_000;
let running = null;

/** Runs vitest in its own process group (so its workers end with it); resolves with its exit status and the tail of its output. */
function vitest(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(copy, "node_modules", "vitest", "vitest.mjs"), ...args], {
      cwd: copy,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp/mnemo-xdg", FORCE_COLOR: "0" },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running = child;
    let tail = "";
    const keep = (d) => (tail = (tail + d).slice(-4000));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const killGroup = () => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(killGroup, RUN_LIMIT_MS);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      killGroup(); // workers left behind
      running = null;
      resolve({ code, signal, tail });
    });
  });
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (running) {
      try {
        process.kill(-running.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (!flag("--keep")) rmSync(copy, { recursive: true, force: true });
    process.exit(130);
  });
}

/** Runs vitest on `files` in the copy; returns the names of the failed and passed tests, or a reason the run did not report. */
async function runTests(files, label) {
  const out = join(copy, ".mutate-result.json");
  rmSync(out, { force: true });
  const started = Date.now();
  const r = await vitest(["run", ...files, "--reporter=json", `--outputFile=${out}`]);
  const seconds = Math.round((Date.now() - started) / 1000);
  if (!existsSync(out)) return { error: `vitest wrote no report (exit ${r.code}${r.signal ? `, ${r.signal}` : ""}): ${r.tail.trim().split("\n").slice(-5).join(" | ")}`, seconds };
  const report = JSON.parse(readFileSync(out, "utf8"));
  const failed = [];
  const passed = [];
  for (const file of report.testResults) {
    const rel = relative(copy, file.name);
    const asserts = file.assertionResults ?? [];
    // A file that fails to load or crashes has no assertions but a message.
    if (asserts.length === 0 && file.status === "failed") failed.push(`${rel} (the file failed: ${(file.message ?? "").split("\n")[0].slice(0, 160)})`);
    for (const a of asserts) (a.status === "failed" ? failed : passed).push(`${rel} > ${a.fullName}`);
  }
  console.log(`mutate: ${label}: ${failed.length} failed, ${passed.length} passed in ${seconds} s`);
  return { failed, passed, seconds };
}

/** Applies `m` to the copy's file; returns the original text, or throws when the pattern does not match exactly once. */
function apply(m) {
  const path = join(copy, m.file);
  const original = readFileSync(path, "utf8");
  const count = original.split(m.find).length - 1;
  if (count !== 1) throw new Error(`${m.file}: the pattern ${JSON.stringify(m.find)} matches ${count} times (must be exactly once); update the mutation "${m.name}" in scripts/mutate.mjs`);
  writeFileSync(
    path,
    original.replace(m.find, () => m.replace),
  );
  return original;
}

// Check every pattern before spending time on tests.
const broken = [];
for (const m of chosen) {
  try {
    writeFileSync(join(copy, m.file), apply(m));
  } catch (e) {
    broken.push(`${m.name}: ${e.message}`);
  }
}
if (broken.length) {
  console.error(`mutate: these mutations no longer apply to the source:\n  ${broken.join("\n  ")}`);
}
const runnable = chosen.filter((m) => !broken.some((b) => b.startsWith(`${m.name}:`)));

const missingFiles = new Set();
const testsOf = (m) =>
  m.tests.filter((f) => {
    if (existsSync(join(copy, f))) return true;
    missingFiles.add(f);
    return false;
  });
const allFiles = [...new Set(runnable.flatMap(testsOf))];

console.log(`mutate: baseline (no mutation) over ${allFiles.length} test files`);
const baseline = await runTests(allFiles, "baseline");
if (baseline.error) {
  console.error(`mutate: the baseline run failed: ${baseline.error}`);
  process.exit(1);
}
const baselineFailed = new Set(baseline.failed);
if (baselineFailed.size) console.log(`mutate: failing before any mutation (not counted):\n  ${[...baselineFailed].join("\n  ")}`);

const rows = [];
for (const m of runnable) {
  const files = testsOf(m);
  if (files.length === 0) {
    rows.push({ m, result: "NO TESTS", detail: `none of ${m.tests.join(", ")} exists` });
    continue;
  }
  const original = apply(m);
  let r;
  try {
    r = await runTests(files, m.name);
  } finally {
    writeFileSync(join(copy, m.file), original);
  }
  if (r.error) {
    rows.push({ m, result: "caught?", detail: r.error, seconds: r.seconds });
    continue;
  }
  const caughtBy = r.failed.filter((t) => !baselineFailed.has(t));
  rows.push({ m, result: caughtBy.length ? "caught" : "MISSED", detail: caughtBy.length ? caughtBy : [`no new failure in ${files.join(", ")}`], seconds: r.seconds });
}
for (const b of broken) rows.push({ m: { name: b.split(":")[0], why: "", file: "" }, result: "PATTERN", detail: [b.slice(b.indexOf(":") + 2)] });

console.log("\nmutation              result   tests that failed");
console.log("--------------------  -------  -----------------");
for (const row of rows) {
  const details = Array.isArray(row.detail) ? row.detail : [row.detail];
  console.log(`${row.m.name.padEnd(20)}  ${row.result.padEnd(7)}  ${details[0]}`);
  for (const d of details.slice(1, 6)) console.log(`${"".padEnd(20)}  ${"".padEnd(7)}  ${d}`);
  if (details.length > 6) console.log(`${"".padEnd(20)}  ${"".padEnd(7)}  … and ${details.length - 6} more`);
  if (row.m.why) console.log(`${"".padEnd(20)}  ${"".padEnd(7)}  (${row.m.why}; ${row.m.file})`);
}
if (missingFiles.size) console.log(`\nmutate: test files named but absent: ${[...missingFiles].join(", ")}`);
const caught = rows.filter((r) => r.result === "caught").length;
console.log(`\nmutate: ${caught} of ${rows.length} mutations caught.`);

if (flag("--keep")) console.log(`mutate: the copy stays at ${copy}`);
else rmSync(copy, { recursive: true, force: true });
process.exit(caught === rows.length ? 0 : 1);
