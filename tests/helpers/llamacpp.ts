// llama.cpp (through node-llama-cpp's prebuilt CPU binaries) as an independent reader of
// GGUF files and an independent source of logits.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

/** Last-position raw logits (length = vocabulary) of each prompt under llama.cpp. */
export async function llamaCppLastLogits(modelPath: string, prompts: readonly number[][], vocabSize: number): Promise<Float32Array[]> {
  const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error, build: "never" });
  const model = await llama.loadModel({ modelPath });
  const out: Float32Array[] = [];
  try {
    for (const ids of prompts) {
      const context = await model.createContext({ contextSize: 1024, sequences: 1 });
      const sequence = context.getSequence();
      const input = ids.map((id, i) => (i === ids.length - 1 ? ([id, { generateNext: { logits: true } }] as const) : id));
      const result = await sequence.controlledEvaluate(input as never);
      const last = result.at(-1) as { next?: { logits?: Map<number, number> } } | undefined;
      const map = last?.next?.logits;
      if (!map) throw new Error("llama.cpp returned no logits");
      const logits = new Float32Array(vocabSize).fill(-Infinity);
      for (const [id, v] of map) logits[id] = v;
      out.push(logits);
      await context.dispose();
    }
  } finally {
    await model.dispose();
    await llama.dispose();
  }
  return out;
}
