// Speculative decoding with drafts from the context and from an attached memory store. A step
// feeds the last token plus up to k drafted tokens as one chunk, picks a token for every row
// on the GPU (greedy: its argmax; sampling or a repetition penalty: the decode sampler, row
// by row) and reads the k + 1 ids back at once: drafts are kept while each equals the token
// picked after the tokens before it, and the token picked at the first mismatch (or after
// the last draft) comes free. A step costs one forward of k + 1 rows, planned `asDecode`:
// its rows are computed with the decode step's arithmetic (int8 rows quantized as the GEMV
// quantizes one), so the tokens it picks are the ones decoding would pick.
//
// Sampling needs no acceptance test of its own: a draft is one token, not a distribution (q
// is one-hot), so the rule "accept d with probability p(d), else draw from p without d"
// gives exactly the tokens of drawing x from p and keeping d when x = d. Row i draws with
// the random number plain decoding would use for that token (the sequence is consumed one
// number per token yielded) and with plain decoding's repetition history (the context plus
// the drafts before row i), so a seeded generation gives plain decoding's tokens, up to
// draws within float rounding of a cumulative boundary (an M-row forward sums some terms,
// attention's for one, in another order).
//
// Memory drafts: with an attached store, the forward's memory search already finds every
// row's nearest entries; the step reads back the nearest few of each row beside the ids,
// and the next step drafts the stored text after the first of those (of the row that
// picked the last kept token) whose next token is that token (drafts.ts). The longer of the
// memory and context drafts is verified.
//
// A growing memory appends every position fed. A verification's rows are planned with
// causalMemory: row i searches the memory as decoding would find it at row i (the entries
// of the rows before it included, the oldest slots they would overwrite excluded), and no
// row is appended by the forward; the rows that stand join the memory once the tokens
// they yield are known (recorded first in the next step's command buffer, or on their own
// when the call ends), one per yielded token, as decoding would have appended them.
//
// Rollback is free for an attention model: the KV rows of rejected drafts lie past the
// position the state is moved to, no query reads them, and they are rewritten when those
// positions are fed again. (A recurrent state could not be rewound, so recurrent models
// (LSTM, RNN) do not speculate.)
//
// How many tokens to draft is DraftPolicy's choice (draft-policy.ts): the length that yields
// the most tokens per millisecond, given the acceptance so far and what forwards of each row
// count have cost on this adapter; drafting pauses when none pays, and the session's plain
// decoder runs the pause (a step ahead, as it always does: no readback between its steps),
// continuing the same random numbers, so text with nothing to copy decodes as fast as
// without speculation. (With length "max" every step drafts up to maxDraft: the counts then
// do not depend on the machine's timing.)
import { abortError, MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { READBACK_USAGE } from "../gpu/device.js";
import { releaseDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import { mapU32 } from "../gpu/readback.js";
import { argmax } from "../kernels/argmax.js";
import { sampleDispatches } from "../kernels/sample-parallel.js";
import { createSamplingParamsBuffer, writeSamplingParams } from "../kernels/sample-params.js";
import { SeededRandom } from "../base/random.js";
import type { ForwardPlan, LanguageModel, ModelState, PlanMemoryRows } from "../models/types.js";
import type { DecodedToken, DecodeHost, Decoder } from "./decoder.js";
import { DraftPolicy } from "./draft-policy.js";
import { draftFromContext, draftFromMemory } from "./drafts.js";
import { SPECULATE_MAX_DRAFT, type ResolvedGenerateOptions, type ResolvedSpeculation } from "./generate-options.js";
import { feedPlan } from "./step-runner.js";
import type { SpeculationStats } from "./types.js";

/** How a row's token is picked: its argmax, or the decode sampler (temperature, top-k/p, repetition penalty). */
type PickMode = "greedy" | "sample";

/** Nearest entries per row read back for memory drafts (the first that agrees with the model is followed). */
const MEMORY_DRAFT_NEIGHBOURS = 4;

/** A verification's rows that stand, until a growing memory has taken them in: `kept` of `chunk`'s rows of `hidden`. */
interface StandingRows {
  hidden: GPUBuffer;
  chunk: number[];
  kept: number;
}

/** What the last verification left for memory drafting: the nearest entries of the row that picked the last kept token. */
interface MemoryHint {
  neighbours: Uint32Array;
  rows: PlanMemoryRows;
}

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

  /** The next number, consumed. */
  next(): number {
    const [r] = this.peek(1);
    this.consume(1);
    return r;
  }
}

/** Whether speculation can run for these options and this model (`growingMemory`: the session will mix in one), or why not. */
export function speculationRefusal(model: LanguageModel, o: ResolvedGenerateOptions, growingMemory: boolean): string | null {
  if (!Number.isFinite(model.info.contextLength)) return "a recurrent model's state cannot be rolled back over rejected drafts";
  if (o.speculate?.draft === "memory" && !model.consultsMemory && !growingMemory) {
    return 'drafts from "memory" need a memory attached to the session (model.session({ memory })) or a growing memory';
  }
  if (o.neighbours) return "neighbours are reported by ordinary decoding only";
  if (o.logprobs !== null) return "log-probabilities are reported by ordinary decoding only";
  if (o.constraint) return "a constraint is applied by ordinary decoding only";
  if (o.logitBias.length > 0 || o.frequencyPenalty !== 0 || o.presencePenalty !== 0) return "a logit bias and frequency / presence penalties are applied by ordinary decoding only";
  return null;
}

/** Row `row`'s nearest entries in a step's readback (`rows` ids, then MEMORY_DRAFT_NEIGHBOURS words per row, of which a store with a smaller k fills only k). */
function nearestOf(read: Uint32Array, rows: number, row: number, memoryRows: PlanMemoryRows): Uint32Array {
  const at = rows + row * MEMORY_DRAFT_NEIGHBOURS;
  return read.subarray(at, at + Math.min(MEMORY_DRAFT_NEIGHBOURS, memoryRows.neighboursOf(row).k));
}

export class SpeculativeDecoder {
  private readonly verifiers = new Map<string, Verifier>();
  private bound: { model: LanguageModel; state: ModelState } | null = null;
  private fromLogits: { nextLogits: GPUBuffer; mode: PickMode; pick: KernelDispatch[] } | null = null;
  private readonly ids: GPUBuffer;
  private readonly staging: GPUBuffer;
  /** Sampling: one parameter buffer per row (each row its own random number), made on first use. */
  private params: GPUBuffer[] = [];
  /** The sampler's repetition history: the context, then the chunk's drafts (row i counts the first held + i). */
  private readonly history: GPUBuffer;
  private readonly historyLength: number;
  /** What the last decode() call did (read after it by the session's timings). */
  stats: SpeculationStats = { forwards: 0, drafted: 0, accepted: 0 };

  constructor(
    private readonly gpu: Gpu,
    contextLength: number,
    /** The session's plain decoder: it decodes the stretches where drafting pauses. */
    private readonly plain: Decoder,
  ) {
    const rows = SPECULATE_MAX_DRAFT + 1;
    this.ids = gpu.createStorage(rows * 4, "speculation.ids");
    // The ids, then each row's nearest memory entries.
    this.staging = gpu.pool.acquire(rows * (1 + MEMORY_DRAFT_NEIGHBOURS) * 4, READBACK_USAGE, "speculation.staging");
    this.historyLength = Number.isFinite(contextLength) ? contextLength : 1;
    this.history = gpu.createStorage(this.historyLength * 4, "speculation.history");
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
   * pushed onto the context and moves the state), verifying drafts of up to `spec.maxDraft`
   * tokens per forward, from the context and, with `spec.draft` "memory", the memory store.
   */
  async *decode(host: DecodeHost, o: ResolvedGenerateOptions, spec: ResolvedSpeculation): AsyncGenerator<DecodedToken & { drafted: boolean }> {
    const contextLength = host.model.info.contextLength;
    const stats: SpeculationStats = { forwards: 0, drafted: 0, accepted: 0 };
    if (spec.draft === "memory") stats.memory = { drafted: 0, accepted: 0 };
    this.stats = stats;
    const policy = new DraftPolicy(spec.maxDraft);
    const mode: PickMode = o.temperature > 0 || o.repetitionPenalty !== 1 ? "sample" : "greedy";
    const draws = new Draws(new SeededRandom(o.seed ?? SeededRandom.randomSeed()));
    let fromLogits = true;
    let hint: MemoryHint | null = null;
    let standing: StandingRows | null = null;
    try {
      for (let produced = 0; produced < o.maxTokens; ) {
        if (o.signal?.aborted) throw abortError(o.signal);
        host.guard();
        if (fromLogits) {
          // After a prefill: the next token comes from the kept logits, no forward.
          if (mode === "sample") this.writeSampling(o, draws.peek(1), host.context.tokens);
          const [id] = await this.run(host, this.samplingStep(host, mode), 1, 0, null);
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
          this.keepStanding(host, standing);
          standing = null;
          await host.refill();
          fromLogits = true;
          hint = null;
          continue;
        }
        // Drafts must fit the context and are worth nothing past the tokens still wanted.
        const wanted = spec.length === "max" ? spec.maxDraft : policy.next();
        if (wanted === 0) {
          // No draft pays: the plain decoder runs the pause, a step ahead as it does.
          this.keepStanding(host, standing);
          standing = null;
          hint = null;
          const steps = Math.min(policy.takePause(), o.maxTokens - produced);
          for await (const t of this.plainStretch(host, o, steps, draws, policy)) {
            produced++;
            yield t;
          }
          continue;
        }
        const room = Math.min(wanted, contextLength - 1 - position, o.maxTokens - produced - 1);
        const { drafts, fromMemory } = this.draft(host.context.tokens, room, spec, hint);
        const chunk = [host.context.tokens[host.context.length - 1], ...drafts];
        const verifier = this.verifierFor(host, chunk.length, mode);
        feedPlan(this.gpu, verifier.plan, chunk, position);
        if (mode === "sample") this.writeSampling(o, draws.peek(chunk.length), [...host.context.tokens, ...drafts]);
        const memoryRows = spec.draft === "memory" ? (verifier.plan.memoryRows ?? null) : null;
        const t0 = performance.now();
        const out = await this.run(host, verifier.step, chunk.length, chunk.length, memoryRows, this.memoryBefore(host, standing, chunk));
        standing = host.memory ? { hidden: verifier.plan.hidden!, chunk, kept: 0 } : null;
        let accepted = 0;
        while (accepted < drafts.length && drafts[accepted] === out[accepted]) accepted++;
        policy.observe(drafts.length, accepted, chunk.length, performance.now() - t0);
        stats.forwards++;
        stats.drafted += drafts.length;
        stats.accepted += accepted;
        if (fromMemory && stats.memory) {
          stats.memory.drafted += drafts.length;
          stats.memory.accepted += accepted;
        }
        // The row that picked the last kept token found the entries the next memory draft follows.
        hint = memoryRows ? { neighbours: nearestOf(out, chunk.length, accepted, memoryRows), rows: memoryRows } : null;
        // Each kept token was fed at its position (the last one is held for the next step).
        for (let i = 0; i <= accepted && produced < o.maxTokens; i++) {
          host.state.position += 1;
          host.context.push(out[i]);
          produced++;
          draws.consume(1);
          if (standing) standing.kept++;
          yield { id: out[i], drafted: i < accepted };
        }
      }
    } finally {
      this.keepStanding(host, standing);
    }
  }

  /** `steps` tokens from the plain decoder (each a forward of one row), its time per token reported to the policy. */
  private async *plainStretch(host: DecodeHost, o: ResolvedGenerateOptions, steps: number, draws: Draws, policy: DraftPolicy): AsyncGenerator<DecodedToken & { drafted: boolean }> {
    const tokens = this.plain.decode(host, { ...o, maxTokens: steps }, null, { random: () => draws.next() });
    let ms = 0;
    let n = 0;
    try {
      for (;;) {
        const t0 = performance.now();
        const next = await tokens.next();
        ms += performance.now() - t0;
        if (next.done) return;
        n++;
        this.stats.forwards++;
        yield { ...next.value, drafted: false };
      }
    } finally {
      await tokens.return(undefined);
      if (n > 0) policy.observe(0, 0, 1, ms / n);
    }
  }

  /** With a growing memory: what a verification of `chunk` records first (the last one's standing rows join it, then the pending position's). */
  private memoryBefore(host: DecodeHost, standing: StandingRows | null, chunk: readonly number[]): ((encoder: GPUCommandEncoder) => void) | undefined {
    const memory = host.memory;
    if (!memory) return undefined;
    return (encoder) => {
      if (standing) memory.keepVerified(encoder, standing.hidden, standing.chunk, standing.kept);
      memory.beforeVerification(encoder, chunk);
    };
  }

  /** A growing memory takes in the rows of the last verification that stand (one submit of copies; nothing waits). */
  private keepStanding(host: DecodeHost, standing: StandingRows | null): void {
    if (!standing || !host.memory || this.gpu.isLost) return;
    const encoder = this.gpu.device.createCommandEncoder({ label: "speculation.memory" });
    host.memory.keepVerified(encoder, standing.hidden, standing.chunk, standing.kept);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** Up to `room` drafts: from the context, or from the memory where that draft is longer. */
  private draft(tokens: readonly number[], room: number, spec: ResolvedSpeculation, hint: MemoryHint | null): { drafts: number[]; fromMemory: boolean } {
    if (room <= 0) return { drafts: [], fromMemory: false };
    const fromContext = draftFromContext(tokens, room, spec.context);
    if (!hint || fromContext.length === room) return { drafts: fromContext, fromMemory: false };
    const fromMemory = draftFromMemory(hint.neighbours, tokens[tokens.length - 1], hint.rows, room);
    return fromMemory.length > fromContext.length ? { drafts: fromMemory, fromMemory: true } : { drafts: fromContext, fromMemory: false };
  }

  /**
   * Submits one step whose dispatches leave `count` ids in `this.ids`, and reads them; with
   * `memoryRows`, each row's nearest entries follow the ids (MEMORY_DRAFT_NEIGHBOURS per row).
   */
  private async run(
    host: DecodeHost,
    dispatches: readonly KernelDispatch[],
    count: number,
    tokens: number,
    memoryRows: PlanMemoryRows | null,
    before?: (encoder: GPUCommandEncoder) => void,
  ): Promise<Uint32Array> {
    const perRow = memoryRows ? MEMORY_DRAFT_NEIGHBOURS : 0;
    const step = host.runner.submit({
      kind: tokens > 1 ? "verify" : "decode",
      tokens,
      dispatches,
      before,
      after: (encoder) => {
        encoder.copyBufferToBuffer(this.ids, 0, this.staging, 0, count * 4);
        for (let row = 0; row < count && memoryRows; row++) {
          const nearest = memoryRows.neighboursOf(row);
          encoder.copyBufferToBuffer(nearest.index, nearest.byteOffset, this.staging, (count + row * perRow) * 4, Math.min(perRow, nearest.k) * 4);
        }
      },
    });
    return host.runner.finish(
      step,
      host.runner.wait(step, () => mapU32(this.gpu, this.staging, count * (1 + perRow))),
    );
  }

  /**
   * Sampling parameters of each row: row i draws with `randoms[i]` and counts the first
   * held + i ids of `history` (the context, then the drafts before row i) for the penalty.
   */
  private writeSampling(o: ResolvedGenerateOptions, randoms: readonly number[], history: readonly number[]): void {
    const held = history.length - (randoms.length - 1);
    if (o.repetitionPenalty !== 1) this.gpu.write(this.history, Uint32Array.from(history.slice(-this.historyLength)));
    randoms.forEach((random, i) => {
      const historyLength = Math.min(held + i, this.historyLength);
      writeSamplingParams(this.gpu, this.paramsFor(i), { temperature: o.temperature, topK: o.topK, topP: o.topP, repetitionPenalty: o.repetitionPenalty, historyLength, random });
    });
  }

  private paramsFor(row: number): GPUBuffer {
    while (this.params.length <= row) this.params.push(createSamplingParamsBuffer(this.gpu, `speculation.params${this.params.length}`));
    return this.params[row];
  }

  /** Dispatches leaving, in `this.ids`, the token picked for each of `rows` rows of `logits`. */
  private pickDispatches(logits: GPUBuffer, rows: number, V: number, mode: PickMode): KernelDispatch[] {
    if (mode === "greedy") return [argmax(this.gpu, { x: logits, out: this.ids, M: rows, N: V })];
    const out: KernelDispatch[] = [];
    for (let row = 0; row < rows; row++) {
      out.push(...sampleDispatches(this.gpu, { logits, logitsRow: row, N: V, params: this.paramsFor(row), history: this.history, out: this.ids, outIndex: row }));
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
      // A growing memory: each row consults it as decoding would (the rows before it included).
      const plan = host.model.planForward(host.state, M, { allLogits: true, asDecode: true, causalMemory: !!host.memory });
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
    for (const b of [this.ids, this.staging, this.history, ...this.params]) this.gpu.pool.release(b);
    this.params = [];
  }
}
