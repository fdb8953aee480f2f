// The attention code paths every attention check runs, shared by the Node tests
// (tests/kernels/attention.test.ts) and the Chromium page (tests/browser/page/kernels.ts).
import type { AttentionVariant } from "../../src/kernels/attention.js";

/** One code path of `attentionDispatches`. */
export interface AttentionPath {
  variant: AttentionVariant;
  chunk?: number;
  queryRows?: 1 | 2;
}

/**
 * One pass with one or two query rows per invocation (two: head dimension 64 only), and the
 * split one with small chunks so that short caches have several.
 */
export const ATTENTION_PATHS: AttentionPath[] = [{ variant: "rows" }, { variant: "rows", queryRows: 2 }, { variant: "split", chunk: 8 }];

/** The paths that run heads of `headDim`. */
export function attentionPathsFor(headDim: number): AttentionPath[] {
  return ATTENTION_PATHS.filter((p) => p.queryRows !== 2 || headDim === 64);
}

/** "rows", "rows2" or "split", for check names. */
export function attentionPathName(p: AttentionPath): string {
  return `${p.variant}${p.queryRows === 2 ? "2" : ""}`;
}
