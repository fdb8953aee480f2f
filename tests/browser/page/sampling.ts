// The GPU sampler (sampleDispatches, src/kernels/sample-parallel.ts) in the browser against
// sampleRefTrace (src/kernels/reference/sample.ts), with the rule of
// tests/kernels/sample-parallel.test.ts: greedy is exact; a seeded draw must give the
// reference's id unless `random * S` or the top-p target lies within NEAR of a cumulative
// boundary (then a neighbour in the kept order is allowed), and at least 75% of the draws
// must be such exact comparisons.
import type { Gpu } from "../../../src/gpu/device.js";
import { releaseDispatches, runDispatches, type KernelDispatch } from "../../../src/gpu/dispatch.js";
import { createSamplingParamsBuffer, writeSamplingParams, type SamplingParams } from "../../../src/kernels/sample-params.js";
import { sampleDispatches, PARALLEL_TOP_K_CAP } from "../../../src/kernels/sample-parallel.js";
import { sampleRef, sampleRefTrace } from "../../../src/kernels/reference/sample.js";
import { argmaxRef } from "../../../src/kernels/reference/argmax.js";
import { SeededRandom } from "../../../src/base/random.js";
import { randomF32 } from "../../helpers/random.js";
import type { Checks } from "./checks.js";

const PLAIN: SamplingParams = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, historyLength: 0, random: 0.5 };
const NEAR = 1e-5;

/** Draws once per parameter set (each into its own out slot) and reads the ids back. */
async function draw(gpu: Gpu, logits: Float32Array, history: Uint32Array, list: readonly SamplingParams[]): Promise<number[]> {
  const gl = gpu.upload(logits, "logits");
  const params = createSamplingParamsBuffer(gpu);
  const gh = gpu.upload(history.length ? history : new Uint32Array(1), "history");
  const out = gpu.createStorage(4 * list.length, "out");
  const lists: KernelDispatch[][] = [];
  list.forEach((p, j) => {
    const ds = sampleDispatches(gpu, { logits: gl, N: logits.length, params, history: gh, out, outIndex: j });
    lists.push(ds);
    writeSamplingParams(gpu, params, p);
    runDispatches(gpu, ds);
  });
  const ids = Array.from(await gpu.readU32(out, list.length));
  for (const ds of lists) releaseDispatches(gpu, ds);
  [gl, params, gh, out].forEach((b) => gpu.pool.release(b));
  return ids;
}

/** Logits whose nucleus is small: `peaks` tokens far above uniform noise. */
function peakedLogits(n: number, seed: number, peaks: number): Float32Array {
  const logits = randomF32(n, seed, 2);
  const rand = new SeededRandom(seed + 1);
  for (let j = 0; j < peaks; j++) logits[Math.floor(rand.next() * n)] += 8 + 2 * rand.next();
  return logits;
}

export async function samplingChecks(gpu: Gpu, c: Checks): Promise<void> {
  // Greedy (temperature 0, and below 0 with top-k/top-p that must be ignored) equals argmax.
  const nanLaced = randomF32(257, 957, 1).map((x, i) => (i % 3 === 0 ? Number.NaN : x));
  for (const [what, logits] of [
    ["N=7", randomF32(7, 507, 10)],
    ["N=257 with NaN", nanLaced],
    ["N=50257", randomF32(50257, 500 + 50257, 10)],
  ] as const) {
    const got = await draw(gpu, logits, new Uint32Array(0), [
      { ...PLAIN, temperature: 0 },
      { ...PLAIN, temperature: -1, topK: 5, topP: 0.5, random: 0.99 },
    ]);
    const want = argmaxRef(logits, 1, logits.length)[0];
    c.equal(`sampling: greedy = argmax, ${what}`, got, [want, want]);
  }
  // The repetition penalty, once per distinct id, ids >= N ignored (greedy, exact).
  {
    const logits = Float32Array.from([1.7, 1.2, -0.5, 0.3, 1.0]);
    const history = Uint32Array.from([0, 0, 0, 99, 4]);
    const greedy = { ...PLAIN, temperature: 0 };
    const list = [
      { ...greedy, repetitionPenalty: 1.3, historyLength: 3 },
      { ...greedy, repetitionPenalty: 1.5, historyLength: 1 },
      { ...greedy, repetitionPenalty: 1.5, historyLength: 0 },
    ];
    c.equal(
      "sampling: greedy with a repetition penalty",
      await draw(gpu, logits, history, list),
      list.map((p) => sampleRef(logits, p, history)),
    );
  }
  // Seeded draws over a grid of temperature / top-k (below, at and above the candidate cap) /
  // top-p / penalty, on a small and a GPT-2-sized vocabulary.
  const settings: Omit<SamplingParams, "random" | "historyLength">[] = [];
  for (const temperature of [0.7, 1])
    for (const topK of [0, 40, PARALLEL_TOP_K_CAP + 1]) for (const topP of [0.5, 0.95, 1]) for (const repetitionPenalty of [1, 1.3]) settings.push({ temperature, topK, topP, repetitionPenalty });
  const rand = new SeededRandom(2024);
  for (const [what, logits, every] of [
    ["N=257", randomF32(257, 201, 12), 1],
    ["N=50257 peaked", peakedLogits(50257, 302, 30), 3],
  ] as const) {
    const N = logits.length;
    const history = Uint32Array.from({ length: 64 }, () => Math.floor(rand.next() * N * 1.05));
    history[0] = argmaxRef(logits, 1, N)[0];
    const list = settings.filter((_, i) => i % every === 0).map((p) => ({ ...p, historyLength: history.length, random: rand.next() }));
    const got = await draw(gpu, logits, history, list);
    let exact = 0;
    let wrong = 0;
    let detail: string | undefined;
    list.forEach((p, j) => {
      const t = sampleRefTrace(logits, p, history);
      const where = `${JSON.stringify(p)}: GPU ${got[j]}, reference ${t.index}`;
      if (t.cdfMargin >= NEAR && t.topPMargin >= NEAR) {
        exact++;
        if (got[j] !== t.index) {
          wrong++;
          detail ??= where;
        }
      } else if (t.topPMargin >= NEAR && got[j] !== t.index) {
        const rank = t.kept.indexOf(t.index);
        if (![t.kept[rank - 1], t.kept[rank + 1], t.kept[t.kept.length - 1]].includes(got[j])) {
          wrong++;
          detail ??= `${where}, not a neighbour`;
        }
      }
    });
    if (exact < 0.75 * list.length) {
      wrong++;
      detail ??= `only ${exact} of ${list.length} draws far enough from a boundary to compare exactly`;
    }
    c.count(`sampling: ${list.length} seeded draws = sampleRefTrace, ${what} (${exact} compared exactly)`, wrong, detail);
  }
}
