// A GPT-2 with an untied LM head (`lm_head.weight` beside `wte.weight`): tiny-gpt2 plus a
// separate random head (tests/helpers/gpt2-f64.ts writes the folder). Logits are checked
// against a float64 forward pass written from the GPT-2 definition, which itself is first
// checked against the PyTorch fixture of the tied model.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Gpu } from "../../src/gpu/device.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { resolveModelFiles } from "../../src/loading/model-files.js";
import { loadLanguageModel } from "../../src/models/load.js";
import { gpt2ToGguf } from "../../src/models/gpt2-convert.js";
import { openGguf } from "../../src/formats/gguf.js";
import { bufferSource } from "../../src/formats/source.js";
import { testGpu } from "../helpers/gpu.js";
import { fixture, fullForwardLogits, loadModelAt, readFixtureTensor, readJsonFile } from "../helpers/models.js";
import { maxAbsDiff, readGpt2Folder, refForward, refModel, roundF16, writeTinyFolder, type RefGpt2 } from "../helpers/gpt2-f64.js";

// Worst |GPU − float64| logit error measured on SwiftShader (Dawn, Node 20): all 24 positions
// 2.1e-6, decode steps 1.4e-6, the F16 GGUF 1.3e-6 (against the f16-rounded weights). The bound
// is 5x the worst of these; the tied head's logits are 5.3 away.
const BOUND = 1e-5;
// Worst |float64 − PyTorch float32| on the tied fixture: 1.8e-6 (PyTorch's own f32 rounding).
const FIXTURE_BOUND = 1e-5;

let gpu: Gpu;
let dir: string;
let model: LanguageModel;
let ref: RefGpt2;
let ids: number[];

beforeAll(async () => {
  gpu = await testGpu();
  dir = await mkdtemp(join(tmpdir(), "mnemo-untied-"));
  await writeTinyFolder(dir, { untiedHead: true });
  model = await loadLanguageModel(gpu, await resolveModelFiles(dir));
  ref = refModel(await readGpt2Folder(dir));
  ids = (await readJsonFile<{ input_ids: number[] }>(fixture("reference/tiny-gpt2.json"))).input_ids;
});
afterAll(async () => {
  model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("float64 GPT-2 reference (tests/helpers/gpt2-f64.ts)", () => {
  it("reproduces the PyTorch logits of tied tiny-gpt2 at all 24 positions", async () => {
    const want = await readFixtureTensor("tiny-gpt2-logits.safetensors", "input_logits");
    const got = refForward(refModel(await readGpt2Folder()), ids).logits;
    const err = maxAbsDiff(got, want);
    console.log(`float64 reference vs PyTorch: max |diff| ${err.toExponential(2)}`);
    expect(err).toBeLessThan(FIXTURE_BOUND);
  });
});

describe("GPT-2 with an untied lm_head.weight", () => {
  it("loads the separate head: 1000 × 64 more f32 on the GPU than tied tiny-gpt2", async () => {
    const tied = await loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2");
    expect(model.info.gpuBytes - tied.info.gpuBytes).toBe(1000 * 64 * 4);
    tied.dispose();
  });

  it("logits at all 24 positions (prefill, tiled LM head) match the float64 reference with the untied head", async () => {
    const got = await fullForwardLogits(model, ids);
    const want = refForward(ref, ids).logits;
    const err = maxAbsDiff(got, want);
    const tiedErr = maxAbsDiff(got, refForward({ ...ref, head: ref.wte }, ids).logits);
    console.log(`untied head, 24 positions: max |GPU − float64| ${err.toExponential(2)}; against the tied head ${tiedErr.toFixed(3)}`);
    expect(err).toBeLessThan(BOUND);
    expect(tiedErr).toBeGreaterThan(100 * BOUND);
  });

  it("decode steps (one row: ln_f fused into the LM-head GEMV) match the reference", async () => {
    const session = new Session(model);
    const prompt = ids.slice(0, 20);
    await session.append(prompt);
    let worst = 0;
    for (let t = 20; t <= 23; t++) {
      const want = refForward(ref, ids.slice(0, t)).logits.subarray((t - 1) * 1000, t * 1000);
      worst = Math.max(worst, maxAbsDiff(await session.nextTokenLogits(), want));
      if (t < 23) await session.append([ids[t]]);
    }
    session.dispose();
    console.log(`untied head, decode: max |GPU − float64| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(BOUND);
  });

  it("converts to GGUF with output.weight, which the loader uses (F16, against the f16-rounded reference)", async () => {
    const files = await resolveModelFiles(dir);
    const chunks = await gpt2ToGguf(files, { type: "f16" }).finally(() => files.close?.());
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    chunks.reduce((at, c) => (bytes.set(c, at), at + c.byteLength), 0);
    const gguf = await openGguf(bufferSource(bytes));
    expect(gguf.tensor("output.weight")).toMatchObject({ typeName: "F16", dims: [64, 1000] });
    const fromGguf = await loadLanguageModel(gpu, await resolveModelFiles({ "model.gguf": bytes }));
    const f16 = refModel(await readGpt2Folder(dir), (_n, nk) => roundF16(nk));
    const err = maxAbsDiff(await fullForwardLogits(fromGguf, ids), refForward(f16, ids).logits);
    fromGguf.dispose();
    console.log(`untied head, F16 GGUF: max |GPU − float64 (f16 weights)| ${err.toExponential(2)}`);
    expect(err).toBeLessThan(BOUND);
  });
});
