// Forward plans cached by shape. A plan (its activation buffers, uniforms and bind groups,
// about 100 objects for GPT-2 124M) is bound to one model state; building one per prefill
// call was most of a short prefill's CPU time. Plans for the most recently used chunk
// lengths are kept; the least recently used one is freed past `capacity`.
import type { ForwardPlan, LanguageModel, ModelState } from "../models/types.js";

/** Chunk lengths whose plans a cache keeps by default. */
export const DEFAULT_PLAN_CACHE_SIZE = 4;

export class PlanCache {
  private readonly plans = new Map<string, ForwardPlan>();
  /** Plans built so far (the tests check that a repeated shape builds none). */
  built = 0;

  constructor(
    private readonly model: LanguageModel,
    private readonly state: ModelState,
    private readonly capacity = DEFAULT_PLAN_CACHE_SIZE,
  ) {}

  /** The plan of a forward of `M` tokens into this cache's state. */
  get(M: number, options: { allLogits?: boolean } = {}): ForwardPlan {
    const key = `${M}:${options.allLogits ? "all" : "last"}`;
    const hit = this.plans.get(key);
    if (hit) {
      // Map order is insertion order: re-inserting marks the plan most recently used.
      this.plans.delete(key);
      this.plans.set(key, hit);
      return hit;
    }
    const plan = this.model.planForward(this.state, M, options);
    this.built++;
    this.plans.set(key, plan);
    if (this.plans.size > this.capacity) {
      const [oldestKey, oldest] = this.plans.entries().next().value!;
      this.plans.delete(oldestKey);
      // Safe at once: later writes to its pooled buffers queue behind the steps that used it.
      oldest.dispose();
    }
    return plan;
  }

  /** Frees every plan (the model or the state changed, or the owner is disposed). */
  clear(): void {
    for (const plan of this.plans.values()) plan.dispose();
    this.plans.clear();
  }
}
