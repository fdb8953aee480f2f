// GPT-2's decode kernels chosen by measurement: what the tuner picks is reported and
// reused, every variant decodes the same model, and bad choices are refused.
import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { memoryTunerStore } from "../../src/base/tuner-store.js";
import type { DecodeMatmulVariant } from "../../src/kernels/matmul-variants.js";
import { gemvI8Shapes } from "../../src/kernels/matmul-i8.js";
import { GPT2_DECODE_ROLES, GPT2_PREFILL_ROLES, type Gpt2DecodeRole, type Gpt2Model, type PrefillRole } from "../../src/models/gpt2.js";
import type { LanguageModel } from "../../src/models/types.js";
import { Session } from "../../src/runtime/session.js";
import { INT8_PREFERENCE, preferInt8 } from "../../src/models/gpt2-tune.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { fixture, greedyIds, loadModelAt, readJsonFile } from "../helpers/models.js";
import { errorReport } from "../helpers/compare.js";

const Q8 = "tests/fixtures/models/gpt2-gutenberg-q8_0.gguf";
let gpu: Gpu;
let prompt: number[];
beforeAll(async () => {
  gpu = await testGpu();
  prompt = (await readJsonFile<{ cases: { prompt_ids: number[] }[] }>(fixture("reference/gpt2-gutenberg.json"))).cases[0].prompt_ids;
});

/** The next-token logits after `ids`, the last token through a decode step. */
async function decodeLogits(model: LanguageModel, ids: number[]): Promise<Float32Array> {
  const s = new Session(model);
  try {
    await s.append(ids.slice(0, -1));
    await s.append(ids.slice(-1));
    return await s.nextTokenLogits();
  } finally {
    s.dispose();
  }
}

describe("decode kernels chosen by measurement", () => {
  it("an int8 decode variant within 25% of a faster f32 one is preferred (a verification's rows are then the decode's)", () => {
    const choice = (variant: string, timingsMs: Record<string, number>) => ({ variant, timingsMs, source: "measured" as const });
    expect(preferInt8(choice("f32", { f32: 1, "i8-rows4": 1.2, "i8-coop-subgroup": 1.1 })).variant).toBe("i8-coop-subgroup");
    expect(preferInt8(choice("f32", { f32: 1, "i8-rows4": 1.3 })).variant).toBe("f32");
    expect(preferInt8(choice("i8-rows4", { f32: 1.01, "i8-rows4": 1 })).variant).toBe("i8-rows4");
    // F16 weights: no int8 candidate.
    expect(preferInt8(choice("f32-wide", { f32: 1.02, "f32-wide": 1 })).variant).toBe("f32-wide");
  });

  it("a Q8_0 model measures every role's candidates (decode and prefill), reports them, and a second load reuses the choices", async () => {
    const store = memoryTunerStore();
    const first = (await loadModelAt(gpu, Q8, { kernels: { store } })) as Gpt2Model;
    const kernels = first.info.kernels!;
    const roles = [...GPT2_DECODE_ROLES, "attention", "prefill.attention", ...GPT2_PREFILL_ROLES.map((r) => `prefill.${r}`)];
    expect(Object.keys(kernels).sort()).toEqual(roles.sort());
    for (const role of roles) {
      const k = kernels[role];
      expect(k.source, role).toBe("measured");
      expect(Object.keys(k.timingsMs).length, role).toBeGreaterThan(1);
      // The fastest measured candidate is the one that runs (attention: the one-pass kernel
      // unless the split is 25% faster).
      // A decode role may take an int8 variant within INT8_PREFERENCE of the fastest (preferInt8).
      const fastest = Math.min(...Object.values(k.timingsMs));
      if (role === "attention") expect(k.variant === "split").toBe(k.timingsMs.split <= 0.75 * k.timingsMs.rows);
      else if (role.startsWith("prefill.")) expect(fastest, role).toBe(k.timingsMs[k.variant]);
      else expect(k.timingsMs[k.variant] === fastest || (k.variant.startsWith("i8") && k.timingsMs[k.variant] <= (1 + INT8_PREFERENCE) * fastest), role).toBe(true);
      const runs =
        role === "attention"
          ? first.attentionKernel
          : role === "prefill.attention"
            ? `rows${first.prefillAttentionRows === 2 ? "2" : ""}`
            : role.startsWith("prefill.")
              ? first.prefillKernels[role.slice(8) as PrefillRole]
              : first.decodeKernels[role as Gpt2DecodeRole];
      expect(runs, role).toBe(k.variant);
    }
    expect(Object.keys(kernels.attention.timingsMs).sort()).toEqual(["rows", "split"]);
    expect(Object.keys(kernels["prefill.attention"].timingsMs).sort()).toEqual(["rows", "rows2"]);
    // A prefill runs the measured attention (64 rows x 4 heads: enough (row, head) pairs that
    // the one-pass kernel runs even where decode took the split).
    const prefillState = first.createState();
    const prefillPlan = first.planForward(prefillState, 64);
    const rows2 = kernels["prefill.attention"].variant === "rows2";
    expect(prefillPlan.dispatches.filter((d) => d.kernel === (rows2 ? "attention_rows2_f32" : "attention_f32")).length).toBe(8);
    prefillPlan.dispose();
    prefillState.dispose();
    // The plan runs what was chosen: an int8 choice shows as its gemv_i8 kernel by shape.
    const state = first.createState();
    const plan = first.planForward(state, 1);
    const names = plan.dispatches.map((d) => d.kernel);
    const head = kernels.head.variant;
    expect(names[names.length - 1]).toBe(head.startsWith("i8-") ? `gemv_i8_${head.slice(3)}_q8_0` : "ln_matmul_gemv_q8_0");
    // The measured attention: the split pass and its combine, or one pass.
    expect(names.filter((n) => n === "attention_reduce").length).toBe(kernels.attention.variant === "split" ? 8 : 0);
    plan.dispose();
    state.dispose();
    first.dispose();

    const second = (await loadModelAt(gpu, Q8, { kernels: { store } })) as Gpt2Model;
    for (const role of roles) {
      expect(second.info.kernels![role], role).toEqual({ ...kernels[role], source: "cached" });
    }
    second.dispose();
  }, 120_000);

  it("every variant decodes the same logits (int8 variants: within the rounding of the activations)", async () => {
    const reference = await loadModelAt(gpu, Q8, { kernels: { decodeMatmul: "f32", attention: "rows" } });
    const want = await decodeLogits(reference, prompt);
    const wantIds = await greedyIds(reference, prompt, 4);
    reference.dispose();
    // The workgroup-tree shape is for adapters without subgroups; where they exist (SwiftShader)
    // tests/kernels/matmul-i8.test.ts holds it to its reference and a whole model is left out.
    const shapes = gemvI8Shapes(gpu);
    const modelShapes = shapes.includes("coop-subgroup") ? shapes.filter((s) => s !== "coop-workgroup") : shapes;
    const variants: DecodeMatmulVariant[] = ["f32", "f32-wide", "f32-few", ...modelShapes.map((s) => `i8-${s}` as const)];
    let int8Ids: number[] | undefined;
    const dispatches: Record<string, number> = {};
    for (const variant of variants) {
      // Attention forced to one pass: the dispatch count below is the matmuls' (a tuner that
      // measured the split faster, as one CI run did, adds a combine per layer).
      const model = (await loadModelAt(gpu, Q8, { kernels: { decodeMatmul: variant, attention: "rows" } })) as Gpt2Model;
      // An int8 GEMV quantizes its own row: a decode step has as many dispatches in every variant.
      const state = model.createState();
      const plan = model.planForward(state, 1);
      dispatches[variant] = plan.dispatches.length;
      plan.dispose();
      state.dispose();
      const got = await decodeLogits(model, prompt);
      const { maxAbs } = errorReport(got, want);
      console.log(`${variant}: decode logits max |diff| from f32 ${maxAbs.toExponential(2)}`);
      // f32 variants differ in summation order only (measured 5.7e-6, f32-wide); int8
      // activations move logits by their rounding (measured 0.064 on this prompt).
      expect(maxAbs, variant).toBeLessThan(variant.startsWith("i8-") ? 0.25 : 2e-5);
      if (variant.startsWith("i8-")) {
        // The int8 shapes sum the same integers in another order: the same greedy tokens.
        const ids = await greedyIds(model, prompt, 4);
        int8Ids ??= ids;
        expect(ids, variant).toEqual(int8Ids);
      } else if (variant === "f32") {
        // (The other f32 grids: their logits within 2e-5 of these say as much.)
        expect(await greedyIds(model, prompt, 4), variant).toEqual(wantIds);
      }
      model.dispose();
    }
    // 1 embedding + 8 layers × (4 matmuls + attention) + the LM head.
    expect(new Set(Object.values(dispatches)), JSON.stringify(dispatches)).toEqual(new Set([2 + 8 * 5]));
  }, 300_000);

  it("gemm's workgroup tiles (prefill), two query rows per attention invocation (prefill) and the split attention (decode) give the one-pass kernels' logits and tokens", async () => {
    const reference = await loadModelAt(gpu, Q8, { kernels: { decodeMatmul: "f32", attention: "rows", prefillAttention: "rows" } });
    const want = await decodeLogits(reference, prompt);
    const wantIds = await greedyIds(reference, prompt, 4);
    reference.dispose();
    for (const kernels of [
      { decodeMatmul: "f32", prefillMatmul: "f32-wg", attention: "rows", prefillAttention: "rows" },
      { decodeMatmul: "f32", attention: "rows", prefillAttention: "rows2" },
      { decodeMatmul: "f32", attention: "split", prefillAttention: "rows" },
    ] as const) {
      const model = await loadModelAt(gpu, Q8, { kernels });
      const { maxAbs } = errorReport(await decodeLogits(model, prompt), want);
      console.log(`${JSON.stringify(kernels)}: logits max |diff| from f32 ${maxAbs.toExponential(2)}`);
      // The same f32 products summed in another order (the bound of the f32 decode variants).
      expect(maxAbs, JSON.stringify(kernels)).toBeLessThan(2e-5);
      expect(await greedyIds(model, prompt, 4)).toEqual(wantIds);
      model.dispose();
    }
  }, 120_000);

  it("refuses an int8 variant for F16 weights and unknown variant names", async () => {
    for (const [kernels, code] of [
      [{ decodeMatmul: "i8-rows4" }, "BAD_INPUT"],
      [{ decodeMatmul: "fastest" }, "BAD_INPUT"],
      [{ attention: "flash" }, "BAD_INPUT"],
      [{ prefillMatmul: "wg" }, "BAD_INPUT"],
      [{ prefillAttention: "rows4" }, "BAD_INPUT"],
    ] as const) {
      try {
        await loadModelAt(gpu, "weights/gpt2-gutenberg", { kernels: kernels as never });
        expect.unreachable();
      } catch (e) {
        expect(isMnemoError(e) && e.code, JSON.stringify(kernels)).toBe(code);
      }
    }
    // Two query rows per attention invocation need heads of 64 (tiny-gpt2's are 16 wide).
    await expect(loadModelAt(gpu, "tests/fixtures/models/tiny-gpt2", { kernels: { prefillAttention: "rows2" } })).rejects.toMatchObject({ code: "UNSUPPORTED_FEATURE" });
  });
});
