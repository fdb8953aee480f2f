// Speculative decoding with drafts from the context (greedy). A step feeds the last token
// plus up to k drafted tokens as one chunk, takes the argmax of every row on the GPU and reads
// the k + 1 ids back at once: drafts are kept while each equals the model's own choice after
// the tokens before it, and the model's choice at the first mismatch (or after the last
// draft) comes free. The output is greedy decoding's; a step costs one forward of k + 1 rows.
//
// Rollback is free for an attention model: the KV rows of rejected drafts lie past the
// position the state is moved to, no query reads them, and they are rewritten when those
// positions are fed again. (A recurrent state could not be rewound, so LSTMs do not speculate.)
//
// How many tokens to draft is DraftPolicy's choice (draft-policy.ts): the length that yields
// the most tokens per millisecond, given the acceptance so far and what forwards of each row
// count have cost on this adapter; drafting pauses when none pays. (With length "max" every
// step drafts up to maxDraft: the counts then do not depend on the machine's timing.)
import { abortError, MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { READBACK_USAGE } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { mapU32 } from "../gpu/readback.js";
import { argmax } from "../kernels/argmax.js";
import type { ForwardPlan, LanguageModel, ModelState } from "../models/types.js";
import type { DecodedToken, DecodeHost } from "./decoder.js";
import { DraftPolicy } from "./draft-policy.js";
import { draftFromContext } from "./drafts.js";
import { SPECULATE_MAX_DRAFT, type ResolvedGenerateOptions, type ResolvedSpeculation } from "./generate-options.js";
import { feedPlan } from "./step-runner.js";
import type { SpeculationStats } from "./types.js";

/** A verification plan for one chunk length: the forward with every row's logits, then argmax per row. */
interface Verifier {
  plan: ForwardPlan;
  argmax: KernelDispatch;
  step: readonly KernelDispatch[];
}

/** Whether speculation can run for these options and this model, or why not. */
export function speculationRefusal(model: LanguageModel, o: ResolvedGenerateOptions, growingMemory: boolean): string | null {
  if (!Number.isFinite(model.info.contextLength)) return "a recurrent model's state cannot be rolled back over rejected drafts";
  if (o.temperature !== 0) return "only greedy decoding speculates so far (temperature 0 or greedy: true)";
  if (o.repetitionPenalty !== 1) return "the repetition penalty is not applied by the verifier yet";
  if (o.neighbours) return "neighbours are reported by ordinary decoding only";
  if (growingMemory) return "a growing memory appends every fed token and cannot take back rejected drafts yet";
  return null;
}

export class SpeculativeDecoder {
  private readonly verifiers = new Map<number, Verifier>();
  private bound: { model: LanguageModel; state: ModelState } | null = null;
  private fromLogits: { nextLogits: GPUBuffer; argmax: KernelDispatch; step: readonly KernelDispatch[] } | null = null;
  private readonly ids: GPUBuffer;
  private readonly staging: GPUBuffer;
  /** What the last decode() call did (read after it by the session's timings). */
  stats: SpeculationStats = { forwards: 0, drafted: 0, accepted: 0 };

  constructor(private readonly gpu: Gpu) {
    this.ids = gpu.createStorage((SPECULATE_MAX_DRAFT + 1) * 4, "speculation.ids");
    this.staging = gpu.pool.acquire((SPECULATE_MAX_DRAFT + 1) * 4, READBACK_USAGE, "speculation.staging");
  }

  /** Frees the plans: the model (a growing memory was mixed in) or the state changed. */
  invalidate(): void {
    for (const v of this.verifiers.values()) {
      releaseDispatches(this.gpu, [v.argmax]);
      v.plan.dispose();
    }
    this.verifiers.clear();
    this.bound = null;
  }

  /**
   * Decodes up to `o.maxTokens` tokens like {@link Decoder.decode} (each yielded token is
   * pushed onto the context and moves the state), verifying context drafts of up to
   * `spec.maxDraft` tokens per forward.
   */
  async *decode(host: DecodeHost, o: ResolvedGenerateOptions, spec: ResolvedSpeculation): AsyncGenerator<DecodedToken & { drafted: boolean }> {
    const contextLength = host.model.info.contextLength;
    const stats: SpeculationStats = { forwards: 0, drafted: 0, accepted: 0 };
    this.stats = stats;
    const policy = new DraftPolicy(spec.maxDraft);
    let fromLogits = true;
    for (let produced = 0; produced < o.maxTokens; ) {
      if (o.signal?.aborted) throw abortError(o.signal);
      host.guard();
      if (fromLogits) {
        // After a prefill: the next token comes from the kept logits, no forward.
        const [id] = await this.run(host, this.samplingStep(host), 1, 0);
        fromLogits = false;
        host.context.push(id);
        produced++;
        yield { id, drafted: false };
        continue;
      }
      const position = host.state.position;
      if (position >= contextLength) {
        if (o.overflow === "error") throw new MnemoError("CONTEXT_FULL", `The context of ${contextLength} tokens is full.`);
        await host.refill();
        fromLogits = true;
        continue;
      }
      // Drafts must fit the context and are worth nothing past the tokens still wanted.
      const wanted = spec.length === "max" ? spec.maxDraft : policy.next();
      const room = Math.min(wanted, contextLength - 1 - position, o.maxTokens - produced - 1);
      const drafts = room > 0 ? draftFromContext(host.context.tokens, room, spec.context) : [];
      const chunk = [host.context.tokens[host.context.length - 1], ...drafts];
      const verifier = this.verifierFor(host, chunk.length);
      feedPlan(this.gpu, verifier.plan, chunk, position);
      const t0 = performance.now();
      const out = await this.run(host, verifier.step, chunk.length, chunk.length);
      let accepted = 0;
      while (accepted < drafts.length && drafts[accepted] === out[accepted]) accepted++;
      policy.observe(drafts.length, accepted, chunk.length, performance.now() - t0);
      stats.forwards++;
      stats.drafted += drafts.length;
      stats.accepted += accepted;
      // Each kept token was fed at its position (the last one is held for the next step).
      for (let i = 0; i <= accepted && produced < o.maxTokens; i++) {
        host.state.position += 1;
        host.context.push(out[i]);
        produced++;
        yield { id: out[i], drafted: i < accepted };
      }
    }
  }

  /** Submits one step whose dispatches leave `count` ids in `this.ids`, and reads them. */
  private async run(host: DecodeHost, dispatches: readonly KernelDispatch[], count: number, tokens: number): Promise<Uint32Array> {
    const step = host.runner.submit({
      kind: tokens > 1 ? "verify" : "decode",
      tokens,
      dispatches,
      after: (encoder) => encoder.copyBufferToBuffer(this.ids, 0, this.staging, 0, count * 4),
    });
    return host.runner.finish(
      step,
      host.runner.wait(step, () => mapU32(this.gpu, this.staging, count)),
    );
  }

  private samplingStep(host: DecodeHost): readonly KernelDispatch[] {
    if (this.fromLogits?.nextLogits !== host.nextLogits) {
      if (this.fromLogits) releaseDispatches(this.gpu, [this.fromLogits.argmax]);
      const dispatch = argmax(this.gpu, { x: host.nextLogits, out: this.ids, M: 1, N: host.model.info.vocabSize });
      this.fromLogits = { nextLogits: host.nextLogits, argmax: dispatch, step: [dispatch] };
    }
    return this.fromLogits.step;
  }

  private verifierFor(host: DecodeHost, M: number): Verifier {
    if (this.bound && (this.bound.model !== host.model || this.bound.state !== host.state)) this.invalidate();
    this.bound = { model: host.model, state: host.state };
    let v = this.verifiers.get(M);
    if (!v) {
      const plan = host.model.planForward(host.state, M, { allLogits: true });
      const dispatch = argmax(this.gpu, { x: plan.logits, out: this.ids, M, N: host.model.info.vocabSize });
      v = { plan, argmax: dispatch, step: [...plan.dispatches, dispatch] };
      this.verifiers.set(M, v);
    }
    return v;
  }

  dispose(): void {
    this.invalidate();
    if (this.fromLogits) releaseDispatches(this.gpu, [this.fromLogits.argmax]);
    this.fromLogits = null;
    this.gpu.pool.release(this.ids);
    this.gpu.pool.release(this.staging);
  }
}
