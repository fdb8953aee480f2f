import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import type { GpuTensor } from "../gpu/tensor.js";
import { grid1d, placeholderBuffer, requireBytes, requireDims } from "./common.js";

const WG = 64;

/** Arguments of {@link embedding}. */
export interface EmbeddingArgs {
  /** u32 token ids [M]. */
  ids: GPUBuffer;
  /** u32 positions [M] (required with a position table). */
  positions?: GPUBuffer;
  /** Token table [V, D] in any weight layout. */
  tokenTable: GpuTensor;
  /** f32 position table [P, D]. */
  positionTable?: GpuTensor;
  /** f32 [M, D]. */
  out: GPUBuffer;
  M: number;
  layer?: number;
}

/**
 * {@link embedding} for any token table: one dispatch per part of a table split by rows
 * (src/kernels/weights.ts), each writing the rows whose ids it holds.
 */
export function embeddingDispatches(gpu: Gpu, args: EmbeddingArgs): KernelDispatch[] {
  const parts = args.tokenTable.parts;
  if (!parts) return [embedding(gpu, args)];
  let row0 = 0;
  return parts.map((tokenTable) => {
    const d = embedding(gpu, { ...args, tokenTable }, { row0, total: args.tokenTable.shape[0] });
    row0 += tokenTable.shape[0];
    return d;
  });
}

/** out[m] = tokenTable[ids[m]] + positionTable[positions[m]]; `part`: the table is rows row0.. of a split one. */
export function embedding(gpu: Gpu, args: EmbeddingArgs, part?: { row0: number; total: number }): KernelDispatch {
  const { ids, tokenTable, out, M } = args;
  if (tokenTable.parts) throw new MnemoError("INTERNAL", `embedding: ${tokenTable.label} is split across buffers; use embeddingDispatches.`);
  if (args.positionTable?.parts) throw new MnemoError("TOO_LARGE", `embedding: the position table ${args.positionTable.label} does not fit one binding.`);
  const [V, D] = tokenTable.shape;
  requireDims("embedding", { M, V, D });
  requireBytes("embedding", "ids", ids, M * 4);
  requireBytes("embedding", "out", out, M * D * 4);
  const pt = args.positionTable;
  if (pt) {
    if (!args.positions) throw new MnemoError("BAD_INPUT", "embedding: a position table needs a positions buffer.");
    if (pt.dtype !== "f32" || pt.shape[1] !== D) {
      throw new MnemoError("SHAPE_MISMATCH", `embedding: position table must be f32 [P, ${D}], got ${pt.dtype} [${pt.shape}].`);
    }
    requireBytes("embedding", "positions", args.positions, M * 4);
  }
  const { workgroups, groupsX } = grid1d(gpu, M * D, WG);
  const dt = tokenTable.dtype;
  return makeDispatch(gpu, {
    kernel: `embedding_${dt}`,
    layer: args.layer,
    pipeline: {
      file: "embedding",
      defines: { T_F32: dt === "f32", T_F16: dt === "f16", T_Q8_0: dt === "q8_0", T_QUANT: dt === "q8_0" || dt === "q4_0" },
      constants: { WG },
    },
    bindings: [ids, args.positions ?? ids, tokenTable.buffer, pt?.buffer ?? placeholderBuffer(gpu), out],
    params: paramWords([M, D, V, pt ? pt.shape[0] : 1, pt ? 1 : 0, groupsX, part?.row0 ?? 0, part?.total ?? V]),
    workgroups,
    flops: M * D,
    bytes: M * D * 12,
  });
}
