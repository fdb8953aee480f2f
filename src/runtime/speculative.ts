// Speculative decoding with drafts from the context. A step feeds the last token plus up to
// k drafted tokens as one chunk, picks a token for every row on the GPU (greedy: its argmax;
// sampling: the decode sampler, row by row) and reads the k + 1 ids back at once: drafts are
// kept while each equals the token picked after the tokens before it, and the token picked
// at the first mismatch (or after the last draft) comes free. A step costs one forward of
// k + 1 rows.
//
// Sampling needs no acceptance test of its own: a context draft is one token, not a
// distribution (q is one-hot), so the rule "accept d with probability p(d), else draw from p
// without d" gives exactly the tokens of drawing x from p and keeping d when x = d. Row i
// draws with the random number plain decoding would use for that token (the sequence is
// consumed one number per token yielded), so a seeded generation gives plain decoding's
// tokens, up to draws within float rounding of a cumulative boundary (the rows' logits come
// from an M-row forward).
//
// Rollback is free for an attention model: the KV rows of rejected drafts lie past the
// position the state is moved to, no query reads them, and they are rewritten when those
// positions are fed again. (A recurrent state could not be rewound, so recurrent models (LSTM, RNN) do not speculate.)
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
import { sampleDispatches } from "../kernels/sample-parallel.js";
import { createSamplingParamsBuffer, writeSamplingParams } from "../kernels/sample-params.js";
import { SeededRandom } from "../base/random.js";
import type { ForwardPlan, LanguageModel, ModelState } from "../models/types.js";
import type { DecodedToken, DecodeHost } from "./decoder.js";
import { DraftPolicy } from "./draft-policy.js";
import { draftFromContext } from "./drafts.js";
import { SPECULATE_MAX_DRAFT, type ResolvedGenerateOptions, type ResolvedSpeculation } from "./generate-options.js";
import { feedPlan } from "./step-runner.js";
import type { SpeculationStats } from "./types.js";

/** How a row's token is picked: its argmax, or the decode sampler. */
type PickMode = "greedy" | "sample";

/** A verification plan for one chunk length: the forward with every row's logits, then a pick per row. */
interface Verifier {
  plan: ForwardPlan;
  /** The pick dispatches (argmax, or a sampler per row); they own their scratch buffers. */
  pick: KernelDispatch[];
  step: readonly KernelDispatch[];
}

/**
 * The random numbers of a generation, one per token in order (as plain decoding draws them):
 * a step looks at the next few and then consumes one per token it yields.
 */
class Draws {
  private readonly ahead: number[] = [];
  constructor(private readonly rng: SeededRandom) {}

  peek(n: number): readonly number[] {
    while (this.ahead.length < n) this.ahead.push(this.rng.next());
    return this.ahead.slice(0, n);
  }

  consume(n: number): void {
    this.peek(n);
    this.ahead.splice(0, n);
  }
}

/** Whether speculation can run for these options and this model, or why not. */
export function speculationRefusal(model: LanguageModel, o: ResolvedGenerateOptions, growingMemory: boolean): string | null {
  if (!Number.isFinite(model.info.contextLength)) return "a recurrent model's state cannot be rolled back over rejected drafts";
  if (o.repetitionPenalty !== 1) return "the repetition penalty is not applied by the verifier yet";
  if (o.neighbours) return "neighbours are reported by ordinary decoding only";
  if (o.logprobs !== null) return "log-probabilities are reported by ordinary decoding only";
  if (o.constraint) return "a constraint is applied by ordinary decoding only";
  if (o.logitBias.length > 0 || o.frequencyPenalty !== 0 || o.presencePenalty !== 0) return "a logit bias and frequency / presence penalties are applied by ordinary decoding only";
  if (growingMemory) return "a growing memory appends every fed token and cannot take back rejected drafts yet";
  return null;
}

export class SpeculativeDecoder {
  private readonly verifiers = new Map<string, Verifier>();
  private bound: { model: LanguageModel; state: ModelState } | null = null;
  private fromLogits: { nextLogits: GPUBuffer; mode: PickMode; pick: KernelDispatch[] } | null = null;
  private readonly ids: GPUBuffer;
  private readonly staging: GPUBuffer;
  /** Sampling: one parameter buffer per row (each row its own random number), made on first use. */
  private params: GPUBuffer[] = [];
  /** The sampler's repetition history: unused (speculation refuses a penalty), but bound. */
  private noHistory: GPUBuffer | null = null;
  /** What the last decode() call did (read after it by the session's timings). */
  stats: SpeculationStats = { forwards: 0, drafted: 0, accepted: 0 };

  constructor(private readonly gpu: Gpu) {
    this.ids = gpu.createStorage((SPECULATE_MAX_DRAFT + 1) * 4, "speculation.ids");
    this.staging = gpu.pool.acquire((SPECULATE_MAX_DRAFT + 1) * 4, READBACK_USAGE, "speculation.staging");
  }

  /** Frees the plans: the model (a growing memory was mixed in) or the state changed. */
  invalidate(): void {
    for (const v of this.verifiers.values()) {
      releaseDispatches(this.gpu, v.pick);
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
    const mode: PickMode = o.temperature > 0 ? "sample" : "greedy";
    const draws = new Draws(new SeededRandom(o.seed ?? SeededRandom.randomSeed()));
    let fromLogits = true;
    for (let produced = 0; produced < o.maxTokens; ) {
      if (o.signal?.aborted) throw abortError(o.signal);
      host.guard();
      if (fromLogits) {
        // After a prefill: the next token comes from the kept logits, no forward.
        if (mode === "sample") this.writeParams(o, draws.peek(1));
        const [id] = await this.run(host, this.samplingStep(host, mode), 1, 0);
        draws.consume(1);
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
      const verifier = this.verifierFor(host, chunk.length, mode);
      feedPlan(this.gpu, verifier.plan, chunk, position);
      if (mode === "sample") this.writeParams(o, draws.peek(chunk.length));
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
        draws.consume(1);
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

  /** Row i's sampling parameters with random number `randoms[i]` (no penalty: speculation refuses one). */
  private writeParams(o: ResolvedGenerateOptions, randoms: readonly number[]): void {
    randoms.forEach((random, i) => {
      writeSamplingParams(this.gpu, this.paramsFor(i), { temperature: o.temperature, topK: o.topK, topP: o.topP, repetitionPenalty: 1, historyLength: 0, random });
    });
  }

  private paramsFor(row: number): GPUBuffer {
    while (this.params.length <= row) this.params.push(createSamplingParamsBuffer(this.gpu, `speculation.params${this.params.length}`));
    return this.params[row];
  }

  /** Dispatches leaving, in `this.ids`, the token picked for each of `rows` rows of `logits`. */
  private pickDispatches(logits: GPUBuffer, rows: number, V: number, mode: PickMode): KernelDispatch[] {
    if (mode === "greedy") return [argmax(this.gpu, { x: logits, out: this.ids, M: rows, N: V })];
    this.noHistory ??= this.gpu.createStorage(4, "speculation.history");
    const history = this.noHistory;
    const out: KernelDispatch[] = [];
    for (let row = 0; row < rows; row++) {
      out.push(...sampleDispatches(this.gpu, { logits, logitsRow: row, N: V, params: this.paramsFor(row), history, out: this.ids, outIndex: row }));
    }
    return out;
  }

  private samplingStep(host: DecodeHost, mode: PickMode): readonly KernelDispatch[] {
    if (this.fromLogits?.nextLogits !== host.nextLogits || this.fromLogits.mode !== mode) {
      if (this.fromLogits) releaseDispatches(this.gpu, this.fromLogits.pick);
      this.fromLogits = { nextLogits: host.nextLogits, mode, pick: this.pickDispatches(host.nextLogits, 1, host.model.info.vocabSize, mode) };
    }
    return this.fromLogits.pick;
  }

  private verifierFor(host: DecodeHost, M: number, mode: PickMode): Verifier {
    if (this.bound && (this.bound.model !== host.model || this.bound.state !== host.state)) this.invalidate();
    this.bound = { model: host.model, state: host.state };
    const key = `${M}:${mode}`;
    let v = this.verifiers.get(key);
    if (!v) {
      const plan = host.model.planForward(host.state, M, { allLogits: true });
      const pick = this.pickDispatches(plan.logits, M, host.model.info.vocabSize, mode);
      v = { plan, pick, step: [...plan.dispatches, ...pick] };
      this.verifiers.set(key, v);
    }
    return v;
  }

  dispose(): void {
    this.invalidate();
    if (this.fromLogits) releaseDispatches(this.gpu, this.fromLogits.pick);
    this.fromLogits = null;
    for (const b of [this.ids, this.staging, ...this.params, ...(this.noHistory ? [this.noHistory] : [])]) this.gpu.pool.release(b);
    this.params = [];
    this.noHistory = null;
  }
}
