// `mnemo convert --in synthetic:gpt2-124m`: the device bench (scripts/bench-gpu/run.sh) runs
// llama.cpp on this file, so it must hold the synthetic model's very weights and a vocabulary
// llama.cpp accepts. 124M is the smallest synthetic GPT-2 (conversion takes seconds, no GPU).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { main } from "../../src/cli/main.js";
import { openGguf, type GgufFile } from "../../src/formats/gguf.js";
import { fileSource } from "../../src/formats/node-file-source.js";
import { convert } from "../../src/models/gpt2-load.js";
import { syntheticVocabulary } from "../../src/models/gpt2-convert.js";
import { syntheticGpt2Source } from "../../src/models/synthetic.js";
import { BpeTokenizer } from "../../src/tokenizers/bpe.js";

let dir: string;
let out: string;
let gguf: GgufFile;
let source: Awaited<ReturnType<typeof fileSource>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mnemo-synthetic-gguf-"));
  out = join(dir, "gpt2-124m-q8_0.gguf");
  const printed: string[] = [];
  const code = await main(["convert", "--in", "synthetic:gpt2-124m", "--out", out, "--type", "q8_0", "--json"], {
    stdout: (s) => printed.push(s),
    stderr: () => {},
  });
  expect(code).toBe(0);
  expect(JSON.parse(printed.join("")).bytes).toBeGreaterThan(130e6);
  source = await fileSource(out);
  gguf = await openGguf(source);
});

afterAll(async () => {
  await source?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("mnemo convert --in synthetic:gpt2-124m", () => {
  it("writes GPT-2 124M's shapes with the synthetic model's own weights, block for block", async () => {
    expect(gguf.getNumber("gpt2.block_count")).toBe(12);
    expect(gguf.getNumber("gpt2.embedding_length")).toBe(768);
    expect(gguf.getNumber("general.file_type")).toBe(7); // Q8_0
    expect(gguf.tensor("token_embd.weight").dims).toEqual([768, 50257]);
    expect(gguf.tensor("token_embd.weight").typeName).toBe("Q8_0");
    expect(gguf.tensor("position_embd.weight").typeName).toBe("F32");

    const { reader } = syntheticGpt2Source("synthetic:gpt2-124m");
    const bias = new Float32Array((await gguf.readTensor("blk.3.attn_norm.bias")).slice().buffer);
    expect(bias).toEqual(await reader.vector("h.3.ln_1.bias"));
    // The Q8_0 blocks the synthetic model uploads (the source draws them as quants when
    // asked for Q8_0, for the model and for convert alike).
    const want = convert(await reader.matrix("h.0.attn.c_proj.weight", "q8_0"), 768, 768, "q8_0");
    expect(Buffer.from(await gguf.readTensor("blk.0.attn_output.weight")).equals(Buffer.from(want.data as Uint8Array))).toBe(true);
  });

  it("carries a byte-level vocabulary of 50257 tokens that encodes and decodes any text", () => {
    const tokens = gguf.getStringArray("tokenizer.ggml.tokens");
    expect(tokens.length).toBe(50257);
    expect(tokens[50256]).toBe("<|endoftext|>");
    expect(gguf.getNumber("tokenizer.ggml.eos_token_id")).toBe(50256);
    const tok = BpeTokenizer.fromGgufVocab(tokens, gguf.getStringArray("tokenizer.ggml.merges"), { eosId: 50256 });
    const text = "Héllo, wörld!\n\t12 ✓";
    const ids = tok.encode(text);
    expect(ids.every((id) => id >= 0 && id < 50256)).toBe(true);
    expect(tok.decode(ids)).toBe(text);
    expect(() => syntheticVocabulary(100)).toThrow(/257/);
  });

  it("opens in llama.cpp (CPU build), which tokenizes and detokenizes with it", async () => {
    const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error, build: "never" });
    const model = await llama.loadModel({ modelPath: out, gpuLayers: 0 });
    try {
      expect(model.fileInsights.totalLayers).toBe(13); // 12 blocks + the output layer
      const ids = model.tokenize("Hello, world");
      expect(ids.length).toBeGreaterThan(0);
      expect(model.detokenize(ids)).toBe("Hello, world");
    } finally {
      await model.dispose();
      await llama.dispose();
    }
  });
});
