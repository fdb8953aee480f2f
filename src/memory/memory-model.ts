// A language model that consults an external memory: every forward plan it records ends
// with the memory's search and mixture over the rows that have logits, so a decode step
// with memory is still one submit and a 4-byte readback. Sessions drive it like any model.
import { MnemoError } from "../errors.js";
import type { ForwardPlan, LanguageModel, ModelState, PlanForwardOptions, PlanMemoryRows } from "../models/types.js";
import { memoryMixOptions, type GpuKnnStore, type MemoryMixOptions, type WorkList } from "./gpu-store.js";

/** Throws UNSUPPORTED_MODEL unless `model` exposes its hidden states (a memory's keys); `what` needs them. */
export function requireHiddenStates(model: LanguageModel, what: string): void {
  if (model.hiddenSize === 0) {
    throw new MnemoError("UNSUPPORTED_MODEL", `${what} needs a model that exposes its hidden states (GPT-2); ${model.info.description} does not.`);
  }
}

/** Checks that `store` holds keys of `model`'s hidden states. */
export function checkStoreFitsModel(model: LanguageModel, store: GpuKnnStore): void {
  requireHiddenStates(model, "External memory");
  if (store.fingerprint !== model.info.fingerprint) {
    throw new MnemoError("BAD_INPUT", "This memory store was built with a different model (its fingerprint differs); build it again with this model.");
  }
  if (store.dims !== model.hiddenSize) {
    throw new MnemoError("SHAPE_MISMATCH", `The memory store's keys have ${store.dims} values, this model's hidden states ${model.hiddenSize}.`);
  }
}

/** `model` with `store` mixed into every distribution it computes. */
export function withMemory(model: LanguageModel, store: GpuKnnStore, options: MemoryMixOptions = {}): LanguageModel {
  checkStoreFitsModel(model, store);
  const mix = memoryMixOptions(options);
  return {
    gpu: model.gpu,
    info: model.info,
    tokenizer: model.tokenizer,
    maxChunk: model.maxChunk,
    hiddenSize: model.hiddenSize,
    consultsMemory: true,
    get isDisposed() {
      return model.isDisposed;
    },
    createState: (o) => model.createState(o),
    planForward(state: ModelState, M: number, o: PlanForwardOptions = {}): ForwardPlan {
      const plan = model.planForward(state, M, o);
      try {
        const rows = o.allLogits ? M : 1;
        const memory = store.planMix(plan.hidden!, M - rows, plan.logits, 0, rows, model.info.vocabSize, mix, !!(o.allLogits && o.causalMemory));
        return {
          ...plan,
          dispatches: [...plan.dispatches, ...memory.dispatches],
          // An inner memory's neighbours win: they are the ones its Memory can describe.
          neighbours: plan.neighbours ?? memory.lastRowNeighbours,
          ...(o.allLogits && !plan.memoryRows ? { memoryRows: memoryRowsOf(memory, store) } : {}),
          dispose: () => {
            memory.dispose();
            plan.dispose();
          },
        };
      } catch (e) {
        plan.dispose();
        throw e;
      }
    },
    // The base model belongs to whoever loaded it; the memory view frees nothing.
    dispose: () => {},
  };
}

/** Every mixed row's neighbours and the store's entries (read when a plan runs, so a growing store's count is current). */
function memoryRowsOf(work: WorkList, store: GpuKnnStore): PlanMemoryRows {
  return {
    neighboursOf: (row) => work.neighboursOf(row),
    entryInputs: store.slotInputs,
    entryValues: store.slotValues,
    get entries() {
      return store.count;
    },
  };
}
