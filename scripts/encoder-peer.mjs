// transformers.js (ONNX Runtime) timing the same encoder batch as `mnemo bench --model <BERT
// folder>`: the folder's onnx/model.onnx (the torch.onnx export scripts/fixtures/tiny-bert.py
// writes), the same 64 deterministic sentences (src/runtime/encoder-bench.ts benchSentences),
// padded with an attention mask, mean-pooled. Prints JSON. transformers.js is not a dependency
// of Mnemo: install it anywhere with `npm install --ignore-scripts @huggingface/transformers` and run
//   TRANSFORMERS_JS=<that node_modules>/@huggingface/transformers node scripts/encoder-peer.mjs \
//     --model tests/fixtures/models/tiny-bert --device webgpu|cpu
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const dir = process.env.TRANSFORMERS_JS;
if (!dir) throw new Error("Set TRANSFORMERS_JS to an installed @huggingface/transformers folder.");
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const entry = pkg.exports?.["."]?.node?.import?.default ?? pkg.exports?.["."]?.node?.import ?? pkg.exports?.["."]?.import ?? pkg.module ?? pkg.main;
const { AutoModel, Tensor, env } = await import(pathToFileURL(join(dir, typeof entry === "string" ? entry : entry.default)).href);

const model = resolve(arg("model", "tests/fixtures/models/tiny-bert"));
const device = arg("device", "cpu");
const count = Number(arg("sentences", 64));
env.allowRemoteModels = false;
env.localModelPath = "/";
const config = JSON.parse(readFileSync(join(model, "config.json"), "utf8"));
const vocabSize = config.vocab_size;
const maxPieces = Math.min(64, config.max_position_embeddings);
// The same formula as benchSentences: [CLS] = 2, [SEP] = 3 in the tiny BERT's vocabulary.
const cls = 2;
const sep = 3;
const first = Math.min(vocabSize - 1, 1000);
const span = Math.max(1, vocabSize - first);
const sentences = Array.from({ length: count }, (_, s) => {
  const n = 8 + ((s * 37) % Math.max(1, maxPieces - 9));
  return [cls, ...Array.from({ length: n - 2 }, (_, i) => first + ((s * 7919 + i * 104729) % span)), sep];
});
const S = Math.max(...sentences.map((s) => s.length));
const int64 = (pick) => new Tensor("int64", BigInt64Array.from(sentences.flatMap((s) => Array.from({ length: S }, (_, p) => BigInt(pick(s, p))))), [count, S]);
const inputs = { input_ids: int64((s, p) => s[p] ?? 0), attention_mask: int64((s, p) => (p < s.length ? 1 : 0)), token_type_ids: int64(() => 0) };
const m = await AutoModel.from_pretrained(model, { device, dtype: "fp32", local_files_only: true });
const run = async () => {
  const out = await m(inputs);
  const h = out.last_hidden_state;
  // Mean pooling over the mask, as `mnemo bench` pools (the vectors are read back to the CPU).
  const data = await (h.ort_tensor?.getData?.() ?? h.data);
  const H = h.dims[2];
  const pooled = new Float32Array(count * H);
  sentences.forEach((sent, b) => {
    for (let p = 0; p < sent.length; p++) for (let d = 0; d < H; d++) pooled[b * H + d] += data[(b * S + p) * H + d] / sent.length;
  });
  return pooled;
};
await run();
const times = [];
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  await run();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const tokens = sentences.reduce((a, s) => a + s.length, 0);
console.log(
  JSON.stringify({
    peer: `transformers.js ${pkg.version}`,
    device,
    sentences: count,
    tokens,
    padded_tokens: count * S,
    ms_per_batch: { median: times[1], min: times[0], max: times[2] },
    sentences_per_s: (count / times[1]) * 1000,
  }),
);
process.exit(0);
