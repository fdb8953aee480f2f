// CLI flags no other test runs, on tiny-gpt2 with a byte-level vocabulary (each ASCII
// character is one token, id = its code) against the float64 reference of
// tests/helpers/gpt2-f64.ts: `eval --start-char/--end-char/--window/--quant
// --keep-token-table-f16`, `memory build` with its default f16 keys and `eval --memory
// --metric ip`, `convert --type q8_0|q4_0 [--keep-token-table-f16]`, `bench --quant
// --profile-steps`.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import type { Gpu } from "../../src/gpu/device.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { loadLanguageModel } from "../../src/models/load.js";
import { openGguf } from "../../src/formats/gguf.js";
import { bufferSource } from "../../src/formats/source.js";
import { f16ToF32 } from "../../src/formats/f16.js";
import { quantizeQ4_0, quantizeQ8_0 } from "../../src/formats/quant.js";
import { decodeKnnStore } from "../../src/memory/store-file.js";
import { testGpu } from "../helpers/gpu.js";
import { fixture, fullForwardLogits } from "../helpers/models.js";
import { dequantQ4_0Blocks, readGpt2Folder, refForward, refMeanNll, refModel, roundF16, writeTinyFolder, type MatrixView, type RefGpt2, type TinyTensors } from "../helpers/gpt2-f64.js";

let TEXT: string;
let dir: string;
let text: string;
let tiny: TinyTensors;
let ref: RefGpt2;
let gpu: Gpu;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mnemo-tiny-flags-"));
  await writeTinyFolder(join(dir, "model"), { tokenizer: true });
  // The first 2000 characters of tinyshakespeare (ASCII), so that a command which ignored
  // --start-char/--end-char would read a different, but still short, text.
  text = (await readFile(fixture("data/tinyshakespeare.txt"), "utf8")).slice(0, 2000);
  TEXT = join(dir, "text.txt");
  await writeFile(TEXT, text);
  tiny = await readGpt2Folder();
  ref = refModel(tiny);
  gpu = await testGpu();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, out: out.join(""), err: err.join("") };
}
const json = async (args: string[]) => {
  const r = await cli(args);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
};

/** Token ids of text[start, end): one per ASCII character with this vocabulary. */
const idsOf = (start: number, end: number) => Array.from(text.slice(start, end), (c) => c.charCodeAt(0));
const q4Table16: MatrixView = (name, nk) => (name === "wte.weight" ? roundF16(nk) : dequantQ4_0Blocks(quantizeQ4_0(nk), nk.length));

// |GPU − float64| of a mean NLL measured on SwiftShader: 2.1e-7 (f32, window 16), 5.6e-8
// (q4_0 + f16 table, window 8), 1.7e-8 (with memory, ip). The bound is ~10x the worst; what
// each flag changes is far larger (checked next to each use).
const NLL_BOUND = 2e-6;

describe("mnemo eval on tiny-gpt2", () => {
  it("--start-char/--end-char pick the text, --window the protocol", async () => {
    const r = await json(["eval", "--model", join(dir, "model"), "--text-file", TEXT, "--start-char", "1000", "--end-char", "1100", "--window", "16", "--json"]);
    const ids = idsOf(1000, 1100);
    expect(r.tokens).toBe(99);
    expect(r.weight_type).toBe("f32");
    const want = refMeanNll(ref, ids, 16);
    console.log(`eval window 16: mean NLL ${r.mean_nll} vs float64 ${want} (window 64: ${refMeanNll(ref, ids, 64)})`);
    expect(Math.abs(r.mean_nll - want)).toBeLessThan(NLL_BOUND);
    expect(r.ppl).toBeCloseTo(Math.exp(r.mean_nll), 10);
    // What the flags change: the default window (the context, 64), another slice.
    expect(Math.abs(refMeanNll(ref, ids, 64) - want)).toBeGreaterThan(10 * NLL_BOUND);
    expect(Math.abs(refMeanNll(ref, idsOf(1001, 1101), 16) - want)).toBeGreaterThan(10 * NLL_BOUND);
  });

  it("--quant q4_0 --keep-token-table-f16 quantizes on load (token table in f16) and scores with those weights", async () => {
    const r = await json([
      "eval",
      "--model",
      join(dir, "model"),
      "--text-file",
      TEXT,
      "--start-char",
      "1000",
      "--end-char",
      "1100",
      "--window",
      "8",
      "--quant",
      "q4_0",
      "--keep-token-table-f16",
      // f32 activations: the reference is the float64 forward of the converted weights.
      "--kernels",
      "f32",
      "--json",
    ]);
    expect(r.weight_type).toBe("q4_0");
    // tests/models/gpt2-quant-on-load.test.ts: Q4_0 matrices (20 bytes per 32 values), the f16 table, f32 positions and vectors.
    expect(r.gpu_weight_bytes).toBe(212992);
    const ids = idsOf(1000, 1100);
    const want = refMeanNll(refModel(tiny, q4Table16), ids, 8);
    console.log(`eval q4_0 + f16 table, window 8: mean NLL ${r.mean_nll} vs float64 ${want}`);
    expect(Math.abs(r.mean_nll - want)).toBeLessThan(NLL_BOUND);
    const allQ4 = refMeanNll(
      refModel(tiny, (_n, nk) => dequantQ4_0Blocks(quantizeQ4_0(nk), nk.length)),
      ids,
      8,
    );
    expect(Math.abs(allQ4 - want)).toBeGreaterThan(10 * NLL_BOUND);
    expect(Math.abs(refMeanNll(ref, ids, 8) - want)).toBeGreaterThan(10 * NLL_BOUND);
  });
});

describe("mnemo memory build (f16 keys) and eval --memory --metric ip", () => {
  it("builds f16 keys of the float64 hidden states, and eval mixes them by inner product", async () => {
    const store = join(dir, "tiny.mem");
    const built = await json(["memory", "build", "--model", join(dir, "model"), "--text-file", TEXT, "--start-char", "1000", "--end-char", "1100", "--window", "16", "--out", store, "--json"]);
    expect(built).toMatchObject({ entries: 99, dims: 64, key_type: "f16" });
    const data = decodeKnnStore(new Uint8Array(await readFile(store)));
    expect(data.keyType).toBe("f16");
    expect(data.keys).toBeInstanceOf(Uint16Array);
    const ids = idsOf(1000, 1100);
    expect(Array.from(data.values)).toEqual(ids.slice(1));
    // Keys: the hidden state after ln_f of each position, windows of 16 starting fresh, in f16.
    const hidden = new Float64Array(99 * 64);
    for (let s = 0; s < 99; s += 16) hidden.set(refForward(ref, ids.slice(s, Math.min(s + 16, 99))).hidden, s * 64);
    // Each key within half an f16 ulp of the float64 value, plus the GPU's f32 error (2e-6
    // measured on the logits; 1e-5 allowed). Truncating instead of rounding would be off by up to a whole ulp.
    let worst = 0;
    for (let i = 0; i < hidden.length; i++) {
      const a = Math.abs(hidden[i]);
      const halfUlp = 2 ** (Math.max(Math.floor(Math.log2(a)), -14) - 11);
      const err = Math.abs(f16ToF32(data.keys[i]) - hidden[i]);
      expect(err, `key value ${i}`).toBeLessThanOrEqual(halfUlp + 1e-5);
      worst = Math.max(worst, err / (halfUlp + 1e-5));
    }
    console.log(`memory build: worst f16 key error ${worst.toFixed(3)} of the allowance`);

    // eval --memory over the next 60 characters: k = 128 covers all 99 entries, so the
    // mixture is p = λ·softmax(q·key / T) summed per value + (1 − λ)·softmax(logits).
    const r = await json([
      "eval",
      "--model",
      join(dir, "model"),
      "--text-file",
      TEXT,
      "--start-char",
      "1100",
      "--end-char",
      "1160",
      "--window",
      "16",
      "--memory",
      store,
      "--metric",
      "ip",
      "--k",
      "128",
      "--memory-temperature",
      "10",
      "--lambda",
      "0.5",
      "--json",
    ]);
    expect(r.memory).toMatchObject({ entries: 99, k: 128, temperature: 10, lambda: 0.5, metric: "ip" });
    const keys = Float64Array.from(data.keys, f16ToF32);
    const evalIds = idsOf(1100, 1160);
    const mixedNll = (metric: "ip" | "l2") => {
      let total = 0;
      for (let s = 0; s < evalIds.length - 1; s += 16) {
        const chunk = evalIds.slice(s, s + 17);
        const out = refForward(ref, chunk.slice(0, -1));
        chunk.slice(1).forEach((target, r) => {
          const q = out.hidden.subarray(r * 64, (r + 1) * 64);
          const d = Array.from({ length: 99 }, (_, j) => {
            let acc = 0;
            for (let i = 0; i < 64; i++) acc += metric === "ip" ? -q[i] * keys[j * 64 + i] : (q[i] - keys[j * 64 + i]) ** 2;
            return acc;
          });
          const d0 = Math.min(...d);
          const w = d.map((x) => Math.exp((d0 - x) / 10));
          const pKnn = w.reduce((a, x, j) => a + (data.values[j] === target ? x : 0), 0) / w.reduce((a, x) => a + x, 0);
          const row = out.logits.subarray(r * 1000, (r + 1) * 1000);
          const max = Math.max(...row);
          const pLm = Math.exp(row[target] - max) / row.reduce((a, x) => a + Math.exp(x - max), 0);
          total -= Math.log(0.5 * pKnn + 0.5 * pLm);
        });
      }
      return total / (evalIds.length - 1);
    };
    const want = mixedNll("ip");
    console.log(`eval --memory --metric ip: mean NLL ${r.memory.mean_nll} vs float64 ${want} (l2: ${mixedNll("l2")}; no memory ${r.mean_nll})`);
    expect(Math.abs(r.memory.mean_nll - want)).toBeLessThan(NLL_BOUND);
    expect(Math.abs(mixedNll("l2") - want)).toBeGreaterThan(10 * NLL_BOUND);
    expect(Math.abs(r.mean_nll - refMeanNll(ref, evalIds, 16))).toBeLessThan(NLL_BOUND);
  });
});

describe("mnemo convert --type", () => {
  for (const [type, keep] of [
    ["q8_0", false],
    ["q4_0", true],
  ] as const) {
    it(`--type ${type}${keep ? " --keep-token-table-f16" : ""}: tensor types, and logits equal to quantizing on load`, async () => {
      const out = join(dir, `tiny-${type}.gguf`);
      const summary = await json(["convert", "--in", join(dir, "model"), "--out", out, "--type", type, ...(keep ? ["--keep-token-table-f16"] : []), "--json"]);
      const bytes = await readFile(out);
      expect(summary).toMatchObject({ type, bytes: bytes.byteLength });
      const gguf = await openGguf(bufferSource(bytes));
      expect(gguf.getNumber("general.file_type")).toBe(type === "q8_0" ? 7 : 2);
      const big = type.toUpperCase();
      expect(gguf.tensor("token_embd.weight").typeName).toBe(keep ? "F16" : big);
      expect(gguf.tensor("position_embd.weight").typeName).toBe("F32");
      for (const l of [0, 1]) {
        for (const m of ["attn_qkv", "attn_output", "ffn_up", "ffn_down"]) expect(gguf.tensor(`blk.${l}.${m}.weight`).typeName, `blk.${l}.${m}`).toBe(big);
        expect(gguf.tensor(`blk.${l}.attn_norm.weight`).typeName).toBe("F32");
      }
      // The blocks are the on-load quantizer's: a Conv1D matrix transposed to [out, in], quantized row by row.
      const qkv = tiny.tensors.get("h.1.attn.c_attn.weight")!.data;
      const nk = new Float32Array(192 * 64);
      for (let k = 0; k < 64; k++) for (let n = 0; n < 192; n++) nk[n * 64 + k] = qkv[k * 192 + n];
      expect(Buffer.from(await gguf.readTensor("blk.1.attn_qkv.weight")).equals(Buffer.from(type === "q8_0" ? quantizeQ8_0(nk) : quantizeQ4_0(nk)))).toBe(true);

      const fromFile = await loadLanguageModel(gpu, await resolveModelFiles(out));
      const onLoad = await loadLanguageModel(gpu, await resolveModelFiles(join(dir, "model")), { quant: type, keepTokenTableF16: keep });
      const ids = idsOf(1000, 1024);
      expect(fromFile.tokenizer.encode(text.slice(1000, 1024))).toEqual(ids);
      expect(Array.from(await fullForwardLogits(fromFile, ids))).toEqual(Array.from(await fullForwardLogits(onLoad, ids)));
      fromFile.dispose();
      onLoad.dispose();
    });
  }
});

describe("mnemo bench --quant --profile-steps", () => {
  it("--quant q4_0 benches Q4_0 kernels; --profile-steps sets how many decode steps are profiled", async () => {
    const tinyPath = "tests/fixtures/models/tiny-gpt2";
    const j = await json(["bench", "--model", tinyPath, "--quant", "q4_0", "--prompt-tokens", "4", "--gen-tokens", "4", "--profile-steps", "2", "--json"]);
    expect(j.model.weightType).toBe("q4_0");
    expect(j.model.description).toMatch(/q4_0 weights/);
    // Without the flag: min(gen tokens, 8) = 4 steps.
    expect(j.gpu.steps).toBe(2);
    const names: string[] = j.gpu.kernels.map((k: { kernel: string }) => k.kernel);
    console.log(`bench q4_0 kernels: ${names.join(", ")}`);
    expect(names.filter((n) => n.includes("matmul")).every((n) => n.includes("q4_0"))).toBe(true);
    expect(names.some((n) => n.includes("matmul"))).toBe(true);
  });
});
