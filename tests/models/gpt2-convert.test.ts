// `mnemo convert` / gpt2ToGguf: the GGUF files Mnemo writes hold, matrix for matrix, the
// same blocks as the independent converter's files, keep the tokenizer, and load back into
// the same model.
import { describe, it, expect, beforeAll } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Gpu } from "../../src/gpu/device.js";
import { openGguf, type GgufFile } from "../../src/formats/gguf.js";
import { bufferSource } from "../../src/formats/source.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { gpt2ToGguf } from "../../src/models/gpt2-convert.js";
import { loadLanguageModel } from "../../src/models/load.js";
import { main } from "../../src/cli/main.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { ROOT, fixture, fullForwardLogits, loadModelAt, readJsonFile, topK } from "../helpers/models.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

function join_(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function convertBundled(type: "q8_0" | "q4_0"): Promise<GgufFile> {
  const files = await resolveModelFiles(join(ROOT, "weights/gpt2-gutenberg"));
  return openGguf(bufferSource(join_(await gpt2ToGguf(files, { type })), "converted.gguf"));
}

describe("gpt2ToGguf on the bundled GPT-2", () => {
  for (const type of ["q8_0", "q4_0"] as const) {
    it(`${type}: every matrix equals the independent converter's blocks bit for bit`, async () => {
      const ours = await convertBundled(type);
      const theirs = await openGguf(bufferSource(await readFile(fixture(`models/gpt2-gutenberg-${type}.gguf`)), "shared.gguf"));
      let compared = 0;
      for (const t of theirs.tensors) {
        const mine = ours.tensor(t.name);
        expect(mine.dims, t.name).toEqual(t.dims);
        // The position table stays F32 in our files (the other converter quantized it).
        if (t.name === "position_embd.weight") {
          expect(mine.typeName).toBe("F32");
          continue;
        }
        expect(mine.typeName, t.name).toBe(t.typeName);
        expect(Buffer.from(await ours.readTensor(t.name)).equals(Buffer.from(await theirs.readTensor(t.name))), t.name).toBe(true);
        compared++;
      }
      expect(compared).toBe(theirs.tensors.length - 1);
      for (const key of ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "gpt2.block_count", "gpt2.context_length", "general.file_type"]) {
        expect(ours.metadata.get(key), key).toEqual(theirs.metadata.get(key));
      }
    });
  }

  it("the converted Q8_0 file loads, tokenizes from its own metadata, and lands on the dequantized reference", async () => {
    const bytes = join_(await gpt2ToGguf(await resolveModelFiles(join(ROOT, "weights/gpt2-gutenberg")), { type: "q8_0" }));
    // f32 activations: the reference is the dequantized weights' float32 forward.
    const model = await loadLanguageModel(gpu, await resolveModelFiles({ "model.gguf": bytes }), { kernels: { decodeMatmul: "f32" } });
    expect(model.tokenizer.encode("Hello world")).toEqual([15496, 995]);
    const ref = (await readJsonFile<{ files: Record<string, { prompt_ids: number[]; top10_ids: number[] }[]> }>(fixture("reference/gguf-dequant-reference.json"))).files["gpt2-gutenberg-q8_0.gguf"];
    const V = model.info.vocabSize;
    for (const c of ref) {
      const T = c.prompt_ids.length;
      // Same blocks, F32 position table instead of Q8_0: the top-10 order still matches.
      expect(topK((await fullForwardLogits(model, c.prompt_ids)).subarray((T - 1) * V), 10)).toEqual(c.top10_ids);
    }
    model.dispose();
  });
});

describe("mnemo convert", () => {
  it("writes an F16 GGUF of tiny-gpt2 whose logits equal loading the safetensors as f16", async () => {
    const out = join(await mkdtemp(join(tmpdir(), "mnemo-")), "tiny.gguf");
    const io = { stdout: () => {}, stderr: () => {} };
    expect(await main(["convert", "--in", "tests/fixtures/models/tiny-gpt2", "--out", out, "--type", "f16"], io)).toBe(0);
    const fromGguf = await loadLanguageModel(gpu, await resolveModelFiles(out));
    const fromSt = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2", { quant: "f16" });
    const ids = [1, 5, 9, 100, 999, 0, 42];
    expectClose("gguf f16 vs safetensors f16", await fullForwardLogits(fromGguf, ids), await fullForwardLogits(fromSt, ids), { atol: 0 });
    fromGguf.dispose();
    fromSt.dispose();
  });

  it("refuses a bad --type with usage (exit 2) and a folder without weights with a clear error (exit 1)", async () => {
    const err: string[] = [];
    const io = { stdout: () => {}, stderr: (s: string) => err.push(s) };
    expect(await main(["convert", "--in", "x", "--out", "y.gguf", "--type", "q5_k"], io)).toBe(2);
    expect(err.join("")).toMatch(/--type must be f16, q8_0 or q4_0/);
    expect(await main(["convert", "--in", "tests/fixtures", "--out", join(tmpdir(), "never.gguf"), "--type", "f16"], io)).toBe(1);
    expect(err.join("")).toMatch(/BAD_MODEL_FILE/);
  });
});
