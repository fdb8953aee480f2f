// The ways to run a matmul, by name, for a model to compose and a tuner to choose between.
// One row (decode): f32 activations through `matmul` (its fused layer norm on either grid), or
// int8 activations (`gemvI8` in one of its shapes, which quantizes the row itself, the layer
// norm fused) for Q8_0 / Q4_0 weights. Many rows (prefill): `layerNorm` + `matmul`'s register
// tiles or `gemm`'s workgroup-memory tiles, or `quantizeActivations` (the layer norm fused) +
// `matmulI8`'s tiles. Every variant computes the same product; the int8 ones round the
// activations to 8 bits per block of 32 first, as llama.cpp does.
import type { Gpu } from "../gpu/device.js";
import type { KernelDispatch } from "../gpu/dispatch.js";
import { gemm } from "./gemm.js";
import { layerNorm } from "./layernorm.js";
import { canRunGemvI8, gemvI8, gemvI8Shapes, gemvI8WorkgroupSize, hasDot4, int8ActivationBytes, matmulI8, quantizeActivations, type GemvI8Shape, type MatmulI8Common } from "./matmul-i8.js";
import { matmulDispatches, rowParts, type MatmulArgs } from "./matmul.js";

/**
 * "f32": `matmul` with its default grid; "f32-wide" / "f32-few": the fused layer norm on
 * the wide or the few-workgroup grid; "i8-<shape>": int8 activations and the int8 GEMV
 * (shaders/matmul_i8.wgsl) in that shape.
 */
export type DecodeMatmulVariant = "f32" | "f32-wide" | "f32-few" | `i8-${GemvI8Shape}`;

/** Whether `name` is a {@link DecodeMatmulVariant}. */
export function isDecodeMatmulVariant(name: string): name is DecodeMatmulVariant {
  return ["f32", "f32-wide", "f32-few", "i8-rows4", "i8-coop-subgroup", "i8-coop-workgroup"].includes(name);
}

/**
 * Many rows: "f32" (`layerNorm` + `matmul`'s barrier-free register tiles), "f32-wg"
 * (`layerNorm` + `gemm`'s workgroup-memory tiles, shaped for hardware GPUs) or "i8" (int8
 * activations and `matmulI8`).
 */
export type PrefillMatmulVariant = "f32" | "f32-wg" | "i8";

/** Whether `name` is a {@link PrefillMatmulVariant}. */
export function isPrefillMatmulVariant(name: string): name is PrefillMatmulVariant {
  return ["f32", "f32-wg", "i8"].includes(name);
}

/** Buffers the many-row int8 variant quantizes rows into (sized for a plan's rows and largest K). */
export interface Int8Scratch {
  xq: GPUBuffer;
  xs: GPUBuffer;
}

/** Allocates an {@link Int8Scratch} for `rows` rows of up to `maxK` values. */
export function createInt8Scratch(gpu: Gpu, maxK: number, rows = 1): Int8Scratch {
  const bytes = int8ActivationBytes(rows, maxK);
  return { xq: gpu.createStorage(bytes.xq, "xq"), xs: gpu.createStorage(bytes.xs, "xs") };
}

/** The prefill variants that can run `args` on this adapter, "f32" first. */
export function prefillMatmulVariants(gpu: Gpu, args: MatmulArgs): PrefillMatmulVariant[] {
  const out: PrefillMatmulVariant[] = ["f32"];
  if (args.w.shape[1] % 4 === 0) out.push("f32-wg");
  const quantized = args.w.dtype === "q8_0" || args.w.dtype === "q4_0";
  if (quantized && canRunGemvI8(gpu, { bias: !!args.bias, residual: !!args.residual })) out.push("i8");
  return out;
}

/**
 * The dispatches of `args` over M >= 2 rows in `variant`. `args.norm` here means "layer-
 * normalise each row first": "f32" and "f32-wg" write the normalised rows to `normed` and
 * multiply those; "i8" normalises inside the quantization. The int8 variant needs `scratch` for M rows;
 * with `likeGemv` its layer norm takes the row statistics as a one-row GEMV of that shape does,
 * so each row is quantized to the bytes decode gives it (a speculative verification).
 */
export function prefillMatmul(gpu: Gpu, args: MatmulArgs, variant: PrefillMatmulVariant, normed: GPUBuffer, scratch?: Int8Scratch, likeGemv?: GemvI8Shape): KernelDispatch[] {
  const { M, norm } = args;
  const [, K] = args.w.shape;
  if (variant !== "i8") {
    const product = (a: MatmulArgs) => (variant === "f32-wg" ? rowParts(a).map((p) => gemm(gpu, p)) : matmulDispatches(gpu, a));
    if (!norm) return product(args);
    const ln = layerNorm(gpu, { x: args.x, gamma: norm.gamma, beta: norm.beta, out: normed, M, D: K, eps: norm.eps, layer: args.layer });
    return [ln, ...product({ ...args, x: normed, norm: undefined })];
  }
  if (!scratch) throw new Error("prefillMatmul: the i8 variant needs an int8 scratch buffer");
  // The normalised rows are not kept: the many-row path has no use for them.
  const quantize = quantizeActivations(gpu, {
    x: args.x,
    M,
    K,
    xq: scratch.xq,
    xs: scratch.xs,
    norm: norm && { gamma: norm.gamma, beta: norm.beta, eps: norm.eps },
    ...(likeGemv ? { statsWorkgroupSize: gemvI8WorkgroupSize(gpu, likeGemv) } : {}),
    layer: args.layer,
  });
  const tiles = rowParts(args).map((a) => matmulI8(gpu, { ...int8Common(gpu, a), xq: scratch.xq, xs: scratch.xs, M }));
  return [quantize, ...tiles];
}

/**
 * The variants that can run `args` (M = 1) on this adapter, the default first. `forTuning`:
 * only those worth timing. The workgroup tree is the fallback for adapters without
 * subgroups; where subgroups exist it is the same shape with a costlier reduction (121 ms
 * against 5.8 on SwiftShader for an f32 3072 x 768 GEMV, measured 2026-12-01), so it is left out.
 */
export function decodeMatmulVariants(gpu: Gpu, args: MatmulArgs, options: { forTuning?: boolean } = {}): DecodeMatmulVariant[] {
  const out: DecodeMatmulVariant[] = args.norm ? ["f32", gpu.adapter.isSoftware ? "f32-wide" : "f32-few"] : ["f32"];
  const quantized = args.w.dtype === "q8_0" || args.w.dtype === "q4_0";
  // Without room for the KV cache's bindings the int8 QKV runs and kvWrite follows it.
  const row = { K: args.w.shape[1], norm: args.norm && { out: !!args.norm.out } };
  const fits = canRunGemvI8(gpu, { bias: !!args.bias, residual: !!args.residual, row });
  if (quantized && fits) {
    const shapes = gemvI8Shapes(gpu);
    const skipTree = options.forTuning && shapes.includes("coop-subgroup");
    for (const s of shapes) if (s !== "coop-workgroup" || !skipTree) out.push(`i8-${s}`);
  }
  return out;
}

/**
 * The dispatches of `args` (M = 1) in `variant`. A matrix split by rows (src/kernels/weights.ts)
 * takes a matmul per part (each int8 part quantizes the row again; the first keeps the
 * normalised row where `norm.out` asks).
 */
/** The int8 GEMV shape of a decode variant (undefined for the f32 ones). */
export function gemvShapeOf(variant: DecodeMatmulVariant): GemvI8Shape | undefined {
  return variant.startsWith("i8-") ? (variant.slice(3) as GemvI8Shape) : undefined;
}

export function decodeMatmul(gpu: Gpu, args: MatmulArgs, variant: DecodeMatmulVariant): KernelDispatch[] {
  if (!variant.startsWith("i8-")) {
    const grid = variant === "f32-wide" ? "wide" : variant === "f32-few" ? "few" : undefined;
    return matmulDispatches(gpu, { ...args, norm: args.norm && { ...args.norm, grid: grid ?? args.norm.grid } });
  }
  const shape = variant.slice(3) as GemvI8Shape;
  const { norm } = args;
  return rowParts(args).map((a, part) =>
    gemvI8(gpu, {
      ...int8Common(gpu, a),
      x: a.x,
      xRowOffset: a.xRowOffset,
      norm: norm && { gamma: norm.gamma, beta: norm.beta, eps: norm.eps, out: part === 0 ? norm.out : undefined },
      shape,
    }),
  );
}

/** The int8 matmul's arguments, besides its activations, for one (part of a) matmul. */
function int8Common(gpu: Gpu, a: MatmulArgs): MatmulI8Common {
  return {
    w: a.w,
    bias: a.bias,
    residual: a.residual,
    out: a.out,
    epilogue: a.epilogue,
    kvCache: a.kvCache,
    outColumns: a.outColumns,
    dot4: hasDot4(gpu),
    layer: a.layer,
  };
}
