import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { grid1d, placeholderBuffer, requireBytes, requireDims } from "./common.js";

const WG = 64;
/** The prefill tile: rows x columns of `out` per invocation (K % 4 == 0). */
const TILE_M = 8;
const TILE_N = 4;
/** Workgroup size of the decode GEMV: more, smaller workgroups spread N / 4 invocations better. */
const GEMV_WG = 32;
/** Rows per invocation on the scalar many-rows path (K % 4 != 0). */
const SCALAR_ROWS = 4;

/** Arguments of {@link matmul}. */
export interface MatmulArgs {
  /** f32 activations [M, K] (starting at row `xRowOffset`). */
  x: GPUBuffer;
  /** Rows of `x` to skip (the LM head of a prefill reads only the last row). */
  xRowOffset?: number;
  /** Weights [N, K] in any GPU layout of src/kernels/weights.ts. */
  w: GpuTensor;
  /** f32 [N], added to every row. */
  bias?: GPUBuffer;
  /** f32 [M, N] added after the epilogue (a residual connection); must not be `out`. */
  residual?: GPUBuffer;
  /** f32 [M, N]. */
  out: GPUBuffer;
  M: number;
  /** "gelu": GPT-2's tanh GELU applied to (x·wᵀ + bias). */
  epilogue?: "none" | "gelu";
  layer?: number;
}

/**
 * out[M, N] = epilogue(x[M, K] · w[N, K]ᵀ + bias) + residual. GEMV (M = 1): four output
 * columns per invocation; prefill (M > 1): an 8 x 4 tile of out per invocation; dequantizing q8_0 / q4_0 / f16
 * weights in registers.
 */
export function matmul(gpu: Gpu, args: MatmulArgs): KernelDispatch {
  const { x, w, out, M } = args;
  if (w.shape.length !== 2) throw new MnemoError("SHAPE_MISMATCH", `matmul: ${w.label} is not a matrix.`);
  const [N, K] = w.shape;
  requireDims("matmul", { M, N, K });
  const xRowOffset = args.xRowOffset ?? 0;
  requireBytes("matmul", "x", x, (xRowOffset + M) * K * 4);
  requireBytes("matmul", "out", out, M * N * 4);
  if (args.bias) requireBytes("matmul", "bias", args.bias, N * 4);
  if (args.residual) {
    requireBytes("matmul", "residual", args.residual, M * N * 4);
    if (args.residual === out) throw new MnemoError("BAD_INPUT", "matmul: residual and out must be different buffers.");
  }
  if (x === out) throw new MnemoError("BAD_INPUT", "matmul: x and out must be different buffers.");
  // Many rows with K % 4 == 0: 8 x 4 register tiles, an invocation per four columns. On
  // SwiftShader this is 2.5x the 1 x 4 tile (fewer loads per multiply-add).
  const tile = M > 1 && K % 4 === 0;
  // One row (decode) with K % 4 == 0: four columns per invocation in smaller workgroups
  // (1.6x the one-column GEMV on SwiftShader: each activation load serves four rows of W).
  const gemv4 = M === 1 && K % 4 === 0;
  const tm = M === 1 ? 1 : tile ? TILE_M : SCALAR_ROWS;
  const wg = gemv4 ? GEMV_WG : WG;
  const { workgroups, groupsX } = grid1d(gpu, tile || gemv4 ? Math.ceil(N / TILE_N) : N, wg);
  const rowGroups = Math.ceil(M / tm);
  return makeDispatch(gpu, {
    kernel: `matmul_${M === 1 ? "gemv" : "tiled"}_${w.dtype}`,
    layer: args.layer,
    pipeline: {
      file: "matmul",
      defines: {
        W_F32: w.dtype === "f32",
        W_F16: w.dtype === "f16",
        W_Q8_0: w.dtype === "q8_0",
        W_Q4_0: w.dtype === "q4_0",
        // Vectorised path whenever K is a multiple of 4 (rows then start 16-byte aligned);
        // always for q8_0/q4_0, whose rows are whole blocks of 32.
        VEC4: K % 4 === 0,
        HAS_BIAS: !!args.bias,
        GELU: args.epilogue === "gelu",
        HAS_RESIDUAL: !!args.residual,
        TILE: tile,
        GEMV4: gemv4,
      },
      constants: { WG: wg, TM: tm },
    },
    bindings: [x, w.buffer, args.bias ?? placeholderBuffer(gpu), args.residual ?? placeholderBuffer(gpu), out],
    params: paramWords([M, N, K, groupsX, xRowOffset * K]),
    workgroups: [workgroups[0], workgroups[1], rowGroups],
    flops: 2 * M * N * K,
    bytes: w.byteSize + 4 * (M * K + M * N * (args.residual ? 2 : 1)),
  });
}
