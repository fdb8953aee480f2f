// The many-row matmul shaped for hardware GPUs (shaders/gemm.wgsl): tiles of x and W staged
// through workgroup memory, the product and epilogue of `matmul` (src/kernels/matmul.ts),
// whose barrier-free register tiles stay the shape for software adapters. A tuner chooses
// between them by measurement (src/kernels/matmul-variants.ts, "f32-wg").
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { grid1d } from "./common.js";
import { checkMatmul, epilogueDefines, matmulBindings, weightDefines, type MatmulArgs } from "./matmul.js";

/** Output tile sides gemm.wgsl is compiled for; a workgroup has (side / 4)² invocations. */
export type GemmTile = 32 | 64;

/**
 * The tile side for an M x N output: 64 (more reuse per load) once that still gives at least
 * 128 workgroups, enough to occupy a GPU of 100+ compute units; else 32.
 */
export function gemmTile(M: number, N: number): GemmTile {
  return Math.ceil(M / 64) * Math.ceil(N / 64) >= 128 ? 64 : 32;
}

/**
 * out[M, N] = epilogue(x[M, K] · w[N, K]ᵀ + bias) + residual for M >= 2 rows, K % 4 == 0,
 * any weight layout, with `matmul`'s options but the layer norm (normalise the rows first):
 * a workgroup per `tile` x `tile` block of out, K in steps of 16 through workgroup memory.
 */
export function gemm(gpu: Gpu, args: MatmulArgs, tile: GemmTile = gemmTile(args.M, args.w.shape[0])): KernelDispatch {
  const { w, M, kvCache } = args;
  if (!(Number.isInteger(M) && M >= 2)) throw new MnemoError("BAD_INPUT", `gemm: M must be an integer >= 2 (one row is matmul's GEMV), got ${M}.`);
  if (args.norm) throw new MnemoError("BAD_INPUT", "gemm: no fused layer norm over many rows; normalise the rows first (layerNorm).");
  const { N, K, cols } = checkMatmul(gpu, "gemm", args);
  if (K % 4 !== 0) throw new MnemoError("SHAPE_MISMATCH", `gemm: K must be a multiple of 4, got ${K} (matmul takes any K).`);
  const wg = (tile / 4) ** 2;
  const { workgroups, groupsX } = grid1d(gpu, Math.ceil(N / tile) * wg, wg);
  const dtype = w.dtype;
  return makeDispatch(gpu, {
    kernel: `gemm${tile}_${dtype}${kvCache ? "_kv" : ""}`,
    layer: args.layer,
    pipeline: {
      file: "gemm",
      defines: { ...weightDefines(dtype), ...epilogueDefines(args) },
      constants: { TS: tile, WG: wg },
    },
    bindings: matmulBindings(args),
    params: paramWords([M, N, K, groupsX, (args.xRowOffset ?? 0) * K, { f32: 0 }, kvCache?.headDim ?? 0, kvCache?.nCtx ?? 0, cols.total, cols.offset]),
    workgroups: [workgroups[0], workgroups[1], Math.ceil(M / tile)],
    flops: 2 * M * N * K,
    bytes: w.byteSize + 4 * (M * K + M * N * (args.residual ? 2 : 1)) + (kvCache ? (8 * M * N) / 3 : 0),
  });
}
