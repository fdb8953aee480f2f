// npx tsx scripts/bench-sampler.ts [--n 50257] [--reps 20] [--rounds 5]
// Times GPU sampling over one logits vector: the greedy argmax kernel and the sampler
// (`sampleDispatches`, three dispatches), in the same run and interleaved, so that a busy
// machine slows both alike. Each round records `reps` launches of every kernel, each in its
// own timed pass (GPU timestamps), and also submits `reps` launches in one pass and waits
// (wall clock, ms per launch). Prints one JSON object:
// per setting and kernel, the median and the minimum over rounds of the ms per launch, and
// the median over rounds of the sampler's time over argmax's in the same round.
import { parseArgs } from "node:util";
import { createGpu, type Gpu } from "../src/gpu/device.js";
import { encodeDispatches, releaseDispatches, type KernelDispatch } from "../src/gpu/dispatch.js";
import { GpuProfiler } from "../src/gpu/profiler.js";
import { installNodeHost } from "../src/host.js";
import { argmax } from "../src/kernels/argmax.js";
import { SeededRandom } from "../src/base/random.js";
import { createSamplingParamsBuffer, writeSamplingParams, type SamplingParams } from "../src/kernels/sample-params.js";
import { sampleDispatches } from "../src/kernels/sample-parallel.js";
import { NODE_HOST } from "../src/node-host.js";

const { values } = parseArgs({ options: { n: { type: "string" }, reps: { type: "string" }, rounds: { type: "string" } } });
const N = Number(values.n ?? 50257);
const REPS = Number(values.reps ?? 20);
const ROUNDS = Number(values.rounds ?? 5);

const SETTINGS: Record<string, Omit<SamplingParams, "random" | "historyLength">> = {
  demo: { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1 },
  demoPenalty: { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.3 },
  topPOnly: { temperature: 0.8, topK: 0, topP: 0.95, repetitionPenalty: 1 },
  plain: { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 },
  topK100: { temperature: 0.8, topK: 100, topP: 0.95, repetitionPenalty: 1 },
  greedy: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 },
};
const HISTORY = 256;

/** GPT-2-like logits: normal with standard deviation 2.5 (Box-Muller on a seeded generator). */
function gaussianLogits(n: number, seed: number): Float32Array {
  const r = new SeededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2.5 * Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round3 = (x: number): number => Number(x.toFixed(3));

/** Ms per launch of each dispatch of each group, from the timestamps of `reps` launches of each group. */
async function timestamps(gpu: Gpu, profiler: GpuProfiler, groups: KernelDispatch[][]): Promise<number[][]> {
  const list: KernelDispatch[] = [];
  for (let r = 0; r < REPS; r++) for (const g of groups) list.push(...g);
  const encoder = gpu.device.createCommandEncoder();
  encodeDispatches(encoder, list, profiler);
  profiler.resolve(encoder);
  gpu.device.queue.submit([encoder.finish()]);
  const timings = await profiler.collect();
  const ns = groups.map((g) => g.map(() => 0));
  let t = 0;
  for (let r = 0; r < REPS; r++) {
    groups.forEach((g, j) => {
      for (let d = 0; d < g.length; d++, t++) ns[j][d] += timings[t].endNs - timings[t].beginNs;
    });
  }
  return ns.map((g) => g.map((v) => v / REPS / 1e6));
}

/** Ms per launch of one group: `reps` launches in one pass, one submit, wall clock. */
async function wallClock(gpu: Gpu, group: KernelDispatch[]): Promise<number> {
  const encoder = gpu.device.createCommandEncoder();
  encodeDispatches(encoder, Array.from({ length: REPS }, () => group).flat());
  const start = performance.now();
  gpu.device.queue.submit([encoder.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - start) / REPS;
}

installNodeHost(NODE_HOST);
const gpu = await createGpu({ quiet: true });
const logits = gpu.upload(gaussianLogits(N, 1), "bench.logits");
const history = gpu.upload(
  Uint32Array.from({ length: HISTORY }, (_, i) => (i * 7919) % N),
  "bench.history",
);
const params = createSamplingParamsBuffer(gpu);
const out = gpu.createStorage(4, "bench.out");
const kernels: Record<string, KernelDispatch[]> = {
  argmax: [argmax(gpu, { x: logits, out, M: 1, N })],
  sampleDispatches: sampleDispatches(gpu, { logits, N, params, history, out }),
};
const names = Object.keys(kernels);
const perRep = Object.values(kernels).reduce((n, d) => n + d.length, 0);
const profiler = gpu.hasTimestamps ? new GpuProfiler(gpu, REPS * perRep) : null;
const results: Record<string, unknown> = {};
for (const [setting, p] of Object.entries(SETTINGS)) {
  writeSamplingParams(gpu, params, { ...p, historyLength: HISTORY, random: 0.37 });
  // Per kernel and round: ms of each of its dispatches (timestamps), ms per launch (wall clock).
  const stamped: number[][][] = names.map(() => []);
  const wall: number[][] = names.map(() => []);
  await wallClock(gpu, Object.values(kernels).flat()); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    if (profiler) (await timestamps(gpu, profiler, Object.values(kernels))).forEach((ms, j) => stamped[j].push(ms));
    for (let j = 0; j < names.length; j++) wall[j].push(await wallClock(gpu, kernels[names[j]]));
  }
  const totals = (j: number) => stamped[j].map((ds) => ds.reduce((a, b) => a + b, 0));
  const row: Record<string, unknown> = { params: p };
  names.forEach((name, j) => {
    const entry: Record<string, unknown> = { wallMs: round3(median(wall[j])) };
    if (profiler) {
      entry.timestampMs = round3(median(totals(j)));
      entry.minMs = round3(Math.min(...totals(j)));
      if (kernels[name].length > 1) kernels[name].forEach((d, k) => (entry[d.kernel] = round3(median(stamped[j].map((ds) => ds[k])))));
    }
    row[name] = entry;
  });
  if (profiler) {
    // Ratios within each round (the kernels ran interleaved), then the median over rounds.
    const ratio = (j: number) => Number(median(totals(j).map((t, r) => t / totals(0)[r])).toFixed(2));
    row.overArgmax = { sampleDispatches: ratio(names.indexOf("sampleDispatches")) };
  }
  results[setting] = row;
}
console.log(JSON.stringify({ adapter: gpu.adapter, N, reps: REPS, rounds: ROUNDS, settings: results }, null, 2));
profiler?.dispose();
for (const d of Object.values(kernels)) releaseDispatches(gpu, d);
for (const b of [logits, history, params, out]) gpu.pool.release(b);
gpu.destroy();
