// Runs a BERT encoder on a batch of tokenized sequences: packs them (no padding), feeds the
// plan's inputs, one submit, one readback of what was asked for. `embed` and `fillMask`
// (src/encoder-api.ts) are built on it.
import { MnemoError } from "../errors.js";
import type { BertModel, EncodeOutputs } from "../models/bert.js";
import { StepRunner } from "./step-runner.js";
import type { StepObserver } from "./types.js";

/** Sequences of word-piece ids (special tokens included) and their token types. */
export interface EncodeBatch {
  ids: readonly (readonly number[])[];
  /** Per sequence, per piece; all 0 when absent. */
  tokenTypes?: readonly (readonly number[])[];
}

/** What {@link runEncoder} read back; rows are packed, sequence s at rows seqStart[s]..seqStart[s + 1] − 1. */
export interface EncodeResult {
  seqStart: number[];
  /** f32 [rows, H]: the last hidden states. */
  hidden: Float32Array;
  /** f32 [sequences, H], with `pooling`. */
  pooled?: Float32Array;
  /** f32 [rows, V], with `maskedLm`. */
  maskedLmLogits?: Float32Array;
}

/** Checks a batch against the model and returns its packed inputs. */
function packBatch(model: BertModel, batch: EncodeBatch) {
  const c = model.config;
  if (batch.ids.length === 0) throw new MnemoError("BAD_INPUT", "An encoder batch needs at least one sequence.");
  const ids: number[] = [];
  const positionTypes: number[] = [];
  const keyStart: number[] = [];
  const keyEnd: number[] = [];
  const seqStart = [0];
  batch.ids.forEach((seq, s) => {
    const types = batch.tokenTypes?.[s];
    if (seq.length === 0) throw new MnemoError("BAD_INPUT", `Sequence ${s} of the batch is empty (an encoder input holds at least [CLS] and [SEP]).`);
    if (seq.length > c.maxPositions) {
      throw new MnemoError("CONTEXT_FULL", `Sequence ${s} has ${seq.length} pieces; this model takes at most ${c.maxPositions} (max_position_embeddings). Truncate it first.`);
    }
    if (types && types.length !== seq.length) throw new MnemoError("SHAPE_MISMATCH", `Sequence ${s} has ${seq.length} ids but ${types.length} token types.`);
    const start = ids.length;
    seq.forEach((id, p) => {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new MnemoError("BAD_INPUT", `Sequence ${s}: id ${id} at ${p} is outside the vocabulary of ${c.vocabSize}.`);
      const t = types?.[p] ?? 0;
      if (!Number.isInteger(t) || t < 0 || t >= c.typeVocabSize) throw new MnemoError("BAD_INPUT", `Sequence ${s}: token type ${t} at ${p} is outside 0..${c.typeVocabSize - 1}.`);
      ids.push(id);
      positionTypes.push(t * c.maxPositions + p);
      keyStart.push(start);
      keyEnd.push(start + seq.length);
    });
    seqStart.push(ids.length);
  });
  return { ids, positionTypes, keyStart, keyEnd, seqStart };
}

/** One forward of the whole batch: one submit, one readback. An observer (a profiler) sees the step. */
export async function runEncoder(model: BertModel, batch: EncodeBatch, outputs: EncodeOutputs = {}, observer?: StepObserver): Promise<EncodeResult> {
  if (outputs.pooling === "pooler" && !model.info.hasPooler) throw new MnemoError("BAD_INPUT", 'This model has no pooler (BertModel\'s pooler.dense): use pooling "mean" or "cls".');
  if (outputs.maskedLm && !model.info.hasMaskedLmHead) throw new MnemoError("BAD_INPUT", "This model has no masked-LM head (cls.predictions): load a BertForMaskedLM checkpoint.");
  const gpu = model.gpu;
  const packed = packBatch(model, batch);
  const M = packed.ids.length;
  const nSeq = batch.ids.length;
  const plan = model.planEncode(M, nSeq, outputs);
  try {
    gpu.write(plan.ids, Uint32Array.from(packed.ids));
    gpu.write(plan.positionTypes, Uint32Array.from(packed.positionTypes));
    gpu.write(plan.keyStart, Uint32Array.from(packed.keyStart));
    gpu.write(plan.keyEnd, Uint32Array.from(packed.keyEnd));
    gpu.write(plan.seqStart, Uint32Array.from(packed.seqStart));
    const runner = new StepRunner(gpu, observer);
    const step = runner.submit({ kind: "prefill", tokens: M, dispatches: plan.dispatches });
    const H = model.config.hiddenSize;
    const read = runner.wait(step, () =>
      Promise.all([
        gpu.readF32(plan.hidden, M * H),
        plan.pooled ? gpu.readF32(plan.pooled, nSeq * H) : undefined,
        plan.maskedLmLogits ? gpu.readF32(plan.maskedLmLogits, M * model.config.vocabSize) : undefined,
      ]),
    );
    const [hidden, pooled, maskedLmLogits] = await runner.finish(step, read);
    return { seqStart: packed.seqStart, hidden, pooled, maskedLmLogits };
  } finally {
    plan.dispose();
  }
}
