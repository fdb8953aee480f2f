import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { makeDispatch, paramWords, type KernelDispatch } from "../gpu/dispatch.js";
import { checkSampleArgs, type SampleArgs } from "./sample-params.js";

/** Invocations per `select` workgroup (WIDE_WG in shaders/sample_parallel.wgsl). */
const WIDE_WG = 64;
/** Tokens per `select` workgroup (BLOCK in the shader): 64 invocations of 32 tokens. */
const BLOCK = 2048;
/** Bytes of the merge's storage arrays before the per-block ones (struct Work in the shader). */
const WORK_FIXED_BYTES = 4 * (2 * 256 + 2 * 256 * 16 + 256 + 2 * 256 + 2 * 1024 + 2 * 128);
/**
 * Invocations of the merge workgroup. SwiftShader pays for every invocation of a workgroup
 * with barriers when it starts, and the merge's loops are short: few there; many on a GPU.
 */
const MERGE_WG_SOFTWARE = 32;
const MERGE_WG_HARDWARE = 256;
const MERGE_WG_SIZES = [16, 32, 64, 128, 256];

/** The largest top-k that {@link sampleDispatches} takes from its candidates (CAP in the shader). */
export const PARALLEL_TOP_K_CAP = 128;

/** Tuning of {@link sampleDispatches}; tests use it to cover several sizes on one adapter. */
export interface SampleDispatchOptions {
  /** Invocations of the merge workgroup: 16, 32, 64, 128 or 256 (default: 32 on a software adapter, 256 otherwise). */
  mergeWorkgroupSize?: number;
}

/**
 * Samples one token id on the GPU with the rules of `SamplingParams` (sample-params.ts),
 * spread over the whole GPU, so that a decode step reads back only 4 bytes. Returns three
 * dispatches to encode in this order every step (they may share one pass with the forward's):
 * - `sample.mark_history`: one workgroup turns the repetition history into a bit set (it
 *   returns at once without a penalty);
 * - `sample.select`: one invocation per 32 tokens, one workgroup per 2048, applies penalty and
 *   temperature and keeps its tokens' largest scaled logit (greedy: their argmax; without
 *   top-k, also their sum of weights). It has no barriers, so it stays cheap on SwiftShader too.
 * - `sample.merge`: one workgroup finds the few tokens that can be among the top-k (top-k <=
 *   {@link PARALLEL_TOP_K_CAP}) or in the nucleus (without top-k), applies top-k and top-p
 *   to them and draws. Top-k above the cap, heavy ties at the top-k boundary and a nucleus
 *   reaching below those tokens (top-p without top-k over spread logits) are searched over
 *   the whole vocabulary in that workgroup instead: the same rules, at ~15x argmax's time on
 *   SwiftShader instead of ~1.2x.
 * The dispatches are built once per shape; what changes per step lives in `params` (written
 * by `writeSamplingParams`) and `history`. The first dispatch owns the scratch buffers
 * (3N / 8 bytes plus 46 KB): `releaseDispatches` on the list frees them. Throws
 * SHAPE_MISMATCH for bad shapes, BAD_INPUT when `out` aliases an input or for an unsupported
 * `mergeWorkgroupSize`, TOO_LARGE when the vocabulary needs more workgroups than a dispatch
 * allows.
 */
export function sampleDispatches(gpu: Gpu, args: SampleArgs, options: SampleDispatchOptions = {}): KernelDispatch[] {
  const { logits, N, params, history, out } = args;
  const outIndex = checkSampleArgs("sampleDispatches", args);
  const mergeWorkgroup = options.mergeWorkgroupSize ?? (gpu.adapter.isSoftware ? MERGE_WG_SOFTWARE : MERGE_WG_HARDWARE);
  if (!MERGE_WG_SIZES.includes(mergeWorkgroup)) {
    throw new MnemoError("BAD_INPUT", `sampleDispatches: mergeWorkgroupSize must be one of ${MERGE_WG_SIZES.join(", ")}, got ${mergeWorkgroup}.`);
  }
  const blocks = Math.ceil(N / BLOCK);
  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (blocks > maxGroups) throw new MnemoError("TOO_LARGE", `sampleDispatches: a vocabulary of ${N} needs ${blocks} workgroups, more than ${maxGroups}.`);
  const groups = WIDE_WG * blocks;
  // One word of history bits per group of 32 tokens.
  const marks = gpu.createStorage(4 * groups, "sample.marks");
  const groupInfo = gpu.createStorage(8 * groups, "sample.groups");
  const work = gpu.createStorage(WORK_FIXED_BYTES + 4 * blocks, "sample.work");
  const shape = paramWords([N, outIndex, blocks, (args.logitsRow ?? 0) * N]);
  // By binding number; the marks are bound twice (atomic to write them, plain to read them).
  const bindings = [logits, params, history, marks, marks, groupInfo, work, out];
  const historyBytes = history.size;
  const dispatch = (entryPoint: string, used: number[], workgroups: number, flops: number, bytes: number) =>
    makeDispatch(gpu, {
      kernel: `sample.${entryPoint === "select_groups" ? "select" : entryPoint}`,
      pipeline: { file: "sample_parallel", entryPoint, constants: entryPoint === "merge" ? { MERGE_WG: mergeWorkgroup } : {} },
      // Each entry point binds only what it uses ("auto" layouts).
      bindings: bindings.map((b, i) => (used.includes(i) ? b : undefined)),
      params: shape,
      workgroups: [workgroups],
      flops,
      bytes,
    });
  const list = [
    dispatch("mark_history", [1, 2, 3], 1, 0, 4 * groups + historyBytes),
    dispatch("select_groups", [0, 1, 4, 5], blocks, 8 * N, 4 * N + 12 * groups),
    dispatch("merge", [0, 1, 4, 5, 6, 7], 1, 20 * groups, 8 * groups),
  ];
  list[0].owned.push(marks, groupInfo, work);
  return list;
}
