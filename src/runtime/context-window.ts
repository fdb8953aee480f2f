// The tokens a session holds and what happens when they no longer fit: plain CPU
// bookkeeping, no GPU. The model's state (KV cache or recurrent state) has consumed the
// first `state.position` of them; a token sampled last is held but not yet consumed.
import { MnemoError } from "../errors.js";
import type { OverflowPolicy } from "./types.js";

/** What {@link planShrink} keeps when the context overflows. */
export interface ShrinkPlan {
  /** The tokens to feed again from an empty state: the kept first part, then the most recent. */
  kept: number[];
  /** How many leading tokens of `kept` had been fed before (a growing memory holds them already). */
  replayed: number;
  /** Tokens that leave the context. */
  dropped: number;
}

/**
 * The documented overflow policy: keep the first `keepFirst` tokens (at most a quarter of
 * the context) and the most recent ones, half the context in all. GPT-2 positions are
 * absolute, so the kept tokens are fed again from position 0.
 *
 * @param all the held tokens followed by the incoming ones
 * @param fedBefore how many leading tokens of `all` the state had consumed
 */
export function planShrink(all: readonly number[], fedBefore: number, contextLength: number, policy: OverflowPolicy): ShrinkPlan {
  if (!Number.isFinite(contextLength)) throw new MnemoError("INTERNAL", "A recurrent state has no context to shrink.");
  const keepFirst = Math.min(policy.keepFirst, Math.floor(contextLength / 4));
  const keepTotal = Math.max(1, Math.floor(contextLength / 2));
  const recentFrom = Math.max(keepFirst, all.length - (keepTotal - keepFirst));
  const kept = [...all.slice(0, keepFirst), ...all.slice(recentFrom)];
  const replayed = Math.min(keepFirst, fedBefore) + Math.max(0, fedBefore - recentFrom);
  return { kept, replayed, dropped: all.length - kept.length };
}

/** The tokens of a session, oldest first, and how many the overflow policy dropped. */
export class ContextWindow {
  private held: number[] = [];
  /** Tokens dropped so far by the overflow policy. */
  dropped = 0;

  constructor(
    /** Positions the model attends to (Infinity: a recurrent model). */
    readonly capacity: number,
  ) {}

  get tokens(): readonly number[] {
    return this.held;
  }

  get length(): number {
    return this.held.length;
  }

  /** The tokens from `position` on: held but not yet consumed by the state. */
  unfed(position: number): number[] {
    return this.held.slice(position);
  }

  /** True when `incoming` more tokens fit beside the held ones. */
  fits(incoming: number): boolean {
    return this.held.length + incoming <= this.capacity;
  }

  push(...ids: readonly number[]): void {
    for (const id of ids) this.held.push(id);
  }

  /** Keeps only the first `length` tokens. */
  truncate(length: number): void {
    this.held.length = Math.min(this.held.length, length);
  }

  /**
   * Applies the overflow policy to the held tokens plus `incoming`: afterwards the window
   * is empty (the state must be cleared) and the returned `kept` tokens are to be fed.
   */
  shrink(incoming: readonly number[], fedBefore: number, policy: OverflowPolicy): ShrinkPlan {
    const plan = planShrink([...this.held, ...incoming], fedBefore, this.capacity, policy);
    this.dropped += plan.dropped;
    this.held = [];
    return plan;
  }

  /** Sets the window to `tokens` (restore, fork). */
  assign(tokens: readonly number[], dropped: number): void {
    this.held = [...tokens];
    this.dropped = dropped;
  }

  clear(): void {
    this.held = [];
    this.dropped = 0;
  }
}
