// Every kernel family on the browser's WebGPU, against the TypeScript references the Node
// kernel tests use (src/kernels/reference/*, tests/kernels/host-matrix.ts), on small awkward
// shapes. Bounds are those of the Node tests (named next to each); what was measured in
// Chromium is printed by tests/browser/kernels.test.ts.
import type { Gpu } from "../../../src/gpu/device.js";
import { residualAdd, gelu } from "../../../src/kernels/elementwise.js";
import { residualAddRef, geluRef } from "../../../src/kernels/reference/elementwise.js";
import { softmax } from "../../../src/kernels/softmax.js";
import { softmaxRef } from "../../../src/kernels/reference/softmax.js";
import { layerNorm, type LayerNormVariant } from "../../../src/kernels/layernorm.js";
import { layerNormRef } from "../../../src/kernels/reference/layernorm.js";
import { embedding } from "../../../src/kernels/embedding.js";
import { embeddingRef } from "../../../src/kernels/reference/embedding.js";
import { argmax } from "../../../src/kernels/argmax.js";
import { argmaxRef } from "../../../src/kernels/reference/argmax.js";
import { interleaveRecurrentWeights, recurrentKeepState, lstmStep } from "../../../src/kernels/lstm.js";
import { lstmStepRef } from "../../../src/kernels/reference/lstm.js";
import { rnnStep, transposeRecurrentWeights, type RnnNonlinearity } from "../../../src/kernels/rnn.js";
import { rnnStepRef } from "../../../src/kernels/reference/rnn.js";
import { tokenNll } from "../../../src/kernels/token-nll.js";
import { tokenNllRef } from "../../../src/kernels/reference/token-nll.js";
import { canFuseKvWrite, matmul } from "../../../src/kernels/matmul.js";
import { matmulRef, type EpilogueRef } from "../../../src/kernels/reference/matmul.js";
import { encoderAttention } from "../../../src/kernels/encoder-attention.js";
import { encoderAttentionRef } from "../../../src/kernels/reference/encoder-attention.js";
import { poolSequences } from "../../../src/kernels/pool.js";
import { poolRef } from "../../../src/kernels/reference/pool.js";
import { attentionDispatches, kvCacheBytes, kvWrite, type KvCacheType } from "../../../src/kernels/attention.js";
import { attentionFromCacheRef, causalAttentionRef, kvWriteRef } from "../../../src/kernels/reference/attention.js";
import { uploadMatrix } from "../../../src/kernels/weights.js";
import { f16BitsToF32Array } from "../../../src/formats/f16.js";
import { randomF32, rng } from "../../helpers/random.js";
import { hostMatrix, type WType } from "../../kernels/host-matrix.js";
import { attentionPathName, attentionPathsFor, type AttentionPath } from "../../kernels/attention-paths.js";
import { scoped, type Checks, type Scope } from "./checks.js";
import { gemm } from "../../../src/kernels/gemm.js";
import { gemvI8Checks, matmulI8TileChecks } from "./matmul-i8.js";

/** The kernel families, in the order the page runs them (main.ts times each). */
export const KERNEL_FAMILIES: [string, (gpu: Gpu, c: Checks) => Promise<void>][] = [
  ["elementwise", elementwise],
  ["softmax", softmaxChecks],
  ["layerNorm", layerNormChecks],
  ["embedding", embeddingChecks],
  ["argmax", argmaxChecks],
  ["lstm", lstmChecks],
  ["rnn", rnnChecks],
  ["tokenNll", tokenNllChecks],
  ["matmul", matmulChecks],
  ["gemm", gemmChecks],
  ["ln+matmul", fusedNormChecks],
  ["matmul+kv", fusedKvChecks],
  ["attention", attentionChecks],
  ["encoderAttention", encoderAttentionChecks],
  ["pool", poolChecks],
  ["gemvI8", gemvI8Checks],
  ["matmulI8", matmulI8TileChecks],
];

/** Row ranges of sequences of these lengths packed one after another (every row of a sequence attends to all of it). */
function packedRanges(lengths: number[]): { start: number[]; end: number[]; seqStart: number[] } {
  const start: number[] = [];
  const end: number[] = [];
  const seqStart = [0];
  for (const n of lengths) {
    const s = seqStart.at(-1)!;
    for (let i = 0; i < n; i++) {
      start.push(s);
      end.push(s + n);
    }
    seqStart.push(s + n);
  }
  return { start, end, seqStart };
}

// tests/kernels/encoder-attention.test.ts: atol 2e-6 + rtol 1e-5.
async function encoderAttentionChecks(gpu: Gpu, c: Checks): Promise<void> {
  for (const [lengths, nHead, hd] of [
    [[1, 4, 2], 2, 7],
    [[17, 9, 1, 30], 4, 64],
  ] as [number[], number, number][]) {
    await scoped(gpu, async (s) => {
      const r = packedRanges(lengths);
      const M = r.start.length;
      const qkv = randomF32(M * 3 * nHead * hd, 7 + M + hd, 1.5);
      const out = s.storage(M * nHead * hd * 4);
      s.run(encoderAttention(gpu, { qkv: s.upload(qkv), keyStart: s.upload(Uint32Array.from(r.start)), keyEnd: s.upload(Uint32Array.from(r.end)), out, M, nHead, headDim: hd }));
      c.close(`encoderAttention: sequences ${lengths}, ${nHead} heads of ${hd}`, await gpu.readF32(out, M * nHead * hd), encoderAttentionRef(qkv, r.start, r.end, M, nHead, hd), {
        atol: 2e-6,
        rtol: 1e-5,
      });
    });
  }
}

// tests/kernels/pool.test.ts: atol 1e-6 + rtol 1e-5.
async function poolChecks(gpu: Gpu, c: Checks): Promise<void> {
  for (const [D, lengths, pooling, normalize] of [
    [100, [2, 9, 1, 4], "mean", true],
    [384, [5, 12], "cls", true],
    [7, [3, 1, 5], "mean", false],
  ] as [number, number[], "mean" | "cls", boolean][]) {
    await scoped(gpu, async (s) => {
      const { seqStart } = packedRanges(lengths);
      const M = seqStart.at(-1)!;
      const hidden = randomF32(M * D, 3 + D, 2);
      const n = lengths.length;
      const out = s.storage(n * D * 4);
      s.run(poolSequences(gpu, { hidden: s.upload(hidden), seqStart: s.upload(Uint32Array.from(seqStart)), out, M, D, nSeq: n, pooling, normalize }));
      c.close(`pool: ${pooling}${normalize ? " + L2" : ""} D=${D}`, await gpu.readF32(out, n * D), poolRef(hidden, seqStart, D, pooling, normalize), { atol: 1e-6, rtol: 1e-5 });
    });
  }
}

// tests/kernels/elementwise.test.ts: residualAdd atol 1e-6; gelu atol 2e-6 + rtol 1e-5.
async function elementwise(gpu: Gpu, c: Checks): Promise<void> {
  for (const n of [1, 7, 1000]) {
    await scoped(gpu, async (s) => {
      const a = randomF32(n, 1, 4);
      const b = randomF32(n, 2, 4);
      const out = s.storage(n * 4);
      s.run(residualAdd(gpu, { a: s.upload(a), b: s.upload(b), out, n }));
      c.close(`residualAdd: n=${n}`, await gpu.readF32(out, n), residualAddRef(a, b), { atol: 1e-6 });
    });
  }
  for (const n of [7, 257, 2309]) {
    await scoped(gpu, async (s) => {
      const x = randomF32(n, 3, 12);
      const out = s.storage(n * 4);
      s.run(gelu(gpu, { x: s.upload(x), out, n }));
      c.close(`gelu: n=${n}`, await gpu.readF32(out, n), geluRef(x), { atol: 2e-6, rtol: 1e-5 });
    });
  }
}

// tests/kernels/softmax.test.ts: atol 1e-7 + rtol 1e-5.
async function softmaxChecks(gpu: Gpu, c: Checks): Promise<void> {
  const TOL = { atol: 1e-7, rtol: 1e-5 };
  const cases: [string, Float32Array, number, number][] = [
    ["M=1 N=1", randomF32(1, 101, 8), 1, 1],
    ["M=3 N=7", randomF32(21, 121, 8), 3, 7],
    ["M=17 N=257", randomF32(17 * 257, 100 + 17 * 257, 8), 17, 257],
    ["M=1 N=50257", randomF32(50257, 7, 10), 1, 50257],
    ["large logits", Float32Array.from([1000, 999, 998, -1000, 3e38, 3e38 - 1e32, 0]), 1, 7],
  ];
  for (const [what, x, M, N] of cases) {
    await scoped(gpu, async (s) => {
      const out = s.storage(M * N * 4);
      s.run(softmax(gpu, { x: s.upload(x), out, M, N }));
      c.close(`softmax: ${what}`, await gpu.readF32(out, M * N), softmaxRef(x, M, N), TOL);
    });
  }
}

// tests/kernels/layernorm.test.ts: atol 5e-6 + rtol 1e-5, both variants.
async function layerNormChecks(gpu: Gpu, c: Checks): Promise<void> {
  const TOL = { atol: 5e-6, rtol: 1e-5 };
  for (const variant of ["workgroup", "per-row"] as LayerNormVariant[]) {
    for (const [M, D, offset] of [
      [1, 1, 0],
      [3, 257, 0],
      [17, 768, 0],
      [37, 96, 1000],
    ]) {
      await scoped(gpu, async (s) => {
        const x = randomF32(M * D, 10 + M + D, offset ? 0.01 : 3).map((v) => v + offset);
        const gamma = randomF32(D, 20 + D, 2);
        const beta = randomF32(D, 30 + D, 0.5);
        const out = s.storage(M * D * 4);
        s.run(layerNorm(gpu, { x: s.upload(x), gamma: s.upload(gamma), beta: s.upload(beta), out, M, D, eps: 1e-5, variant }));
        const name = `layerNorm: ${variant} M=${M} D=${D}${offset ? ` offset ${offset}` : ""}`;
        c.close(name, await gpu.readF32(out, M * D), layerNormRef(x, gamma, beta, M, D, 1e-5), TOL);
      });
    }
  }
}

// tests/kernels/embedding.test.ts: atol 1e-6 + rtol 1e-6, every table type.
async function embeddingChecks(gpu: Gpu, c: Checks): Promise<void> {
  const cases: [WType, number, number, number, boolean][] = [
    ["f32", 1, 7, 1, true],
    ["f32", 257, 7, 5, false],
    ["f16", 1000, 257, 3, true],
    ["q8_0", 1000, 64, 7, true],
    ["q4_0", 257, 96, 9, true],
  ];
  for (const [type, V, D, M, withPos] of cases) {
    await scoped(gpu, async (s) => {
      const r = rng(V + D);
      const ids = Uint32Array.from({ length: M }, () => Math.floor(r() * V));
      const positions = Uint32Array.from({ length: M }, (_, i) => (i * 3) % 64);
      const { host, exact } = hostMatrix(type, randomF32(V * D, 4, 0.5));
      const posTable = randomF32(64 * D, 5, 0.1);
      const tokenTable = s.tensor(uploadMatrix(gpu, "wte", host, [V, D]));
      const positionTable = withPos ? s.tensor(uploadMatrix(gpu, "wpe", { dtype: "f32", data: posTable }, [64, D])) : undefined;
      const out = s.storage(M * D * 4);
      s.run(embedding(gpu, { ids: s.upload(ids), positions: s.upload(positions), tokenTable, positionTable, out, M }));
      const want = embeddingRef(ids, positions, exact, withPos ? posTable : null, D);
      c.close(`embedding: ${type} V=${V} D=${D} M=${M}${withPos ? " +pos" : ""}`, await gpu.readF32(out, M * D), want, { atol: 1e-6, rtol: 1e-6 });
    });
  }
}

// tests/kernels/argmax.test.ts: exact, ties to the lowest index, NaN lowest, -0 == +0.
async function argmaxChecks(gpu: Gpu, c: Checks): Promise<void> {
  const nan = Number.NaN;
  const special = [
    [nan, -1, nan, 3, nan, 3, 2],
    [nan, nan, nan, nan, nan, nan, nan],
    [nan, -Infinity, nan, -Infinity, nan, nan, nan],
    [-0, 0, -0, -1, -2, nan, -Infinity],
    [-5, -4, Infinity, nan, Infinity, 1, 2],
  ];
  // A 50257-wide row whose only maxima sit in different invocations (513 and 40000).
  const tied = new Float32Array(50257);
  tied[40000] = 7;
  tied[513] = 7;
  const cases: [string, Float32Array, number, number][] = [
    ["M=3 N=257", randomF32(3 * 257, 300 + 3 * 257, 5), 3, 257],
    ["M=1 N=50257", randomF32(50257, 300 + 50257, 5), 1, 50257],
    ["N=50257 tie across invocations", tied, 1, 50257],
    ["NaN, ±Infinity and -0 rows", Float32Array.from(special.flat()), special.length, 7],
  ];
  for (const [what, x, M, N] of cases) {
    await scoped(gpu, async (s) => {
      const out = s.upload(new Uint32Array(M + 2).fill(0xdeadbeef));
      s.run(argmax(gpu, { x: s.upload(x), out, M, N, outOffset: 2 }));
      const got = await gpu.readU32(out, M + 2);
      // Written at outOffset 2; the two words before it are left alone.
      c.equal(`argmax: ${what}`, got, [0xdeadbeef, 0xdeadbeef, ...argmaxRef(x, M, N)]);
    });
  }
}

// tests/kernels/lstm.test.ts: atol 2e-6 + rtol 1e-5; the kept state is the last h exactly.
async function lstmChecks(gpu: Gpu, c: Checks): Promise<void> {
  // H % 4 == 0 takes the vectorised step (h read four units at a time), the others the scalar one.
  for (const [H, M] of [
    [7, 3],
    [130, 4],
    [12, 3],
  ]) {
    await scoped(gpu, async (s) => {
      const xproj = randomF32(M * 4 * H, 1 + H, 2);
      const wHh = randomF32(4 * H * H, 2 + H, 1 / Math.sqrt(H));
      const h0 = randomF32(H, 3 + H, 1);
      const c0 = randomF32(H, 4 + H, 3);
      const [gx, gw, gh, gc, hs] = [s.upload(xproj), s.upload(interleaveRecurrentWeights(wHh, H)), s.upload(h0), s.upload(c0), s.storage(M * H * 4)];
      const ds = [];
      for (let t = 0; t < M; t++) ds.push(lstmStep(gpu, { xproj: gx, wHh: gw, hState: gh, hs, c: gc, H, M, t }));
      ds.push(recurrentKeepState(gpu, { hs, hState: gh, H, M }));
      s.run(...ds);
      let h = h0;
      let cell = c0;
      const hsRef = new Float32Array(M * H);
      for (let t = 0; t < M; t++) {
        ({ h, c: cell } = lstmStepRef(xproj.subarray(t * 4 * H, (t + 1) * 4 * H), wHh, h, cell, H));
        hsRef.set(h, t * H);
      }
      const hsGot = await gpu.readF32(hs, M * H);
      c.close(`lstm: h of ${M} steps, H=${H}`, hsGot, hsRef, { atol: 2e-6, rtol: 1e-5 });
      c.close(`lstm: c after ${M} steps, H=${H}`, await gpu.readF32(gc, H), cell, { atol: 2e-6, rtol: 1e-5 });
      c.equal(`lstm: kept state = last h, H=${H}`, await gpu.readF32(gh, H), hsGot.subarray((M - 1) * H));
    });
  }
}

// tests/kernels/rnn.test.ts: atol 2e-6 + rtol 1e-5; the kept state is the last h exactly.
async function rnnChecks(gpu: Gpu, c: Checks): Promise<void> {
  // H = 7 and 130 leave a remainder after the four-k passes; 12 does not.
  for (const [H, M, act] of [
    [7, 3, "tanh"],
    [130, 4, "relu"],
    [12, 3, "tanh"],
  ] as [number, number, RnnNonlinearity][]) {
    await scoped(gpu, async (s) => {
      const xproj = randomF32(M * H, 11 + H, 1.5);
      const wHh = randomF32(H * H, 12 + H, 1.5 / Math.sqrt(H));
      const h0 = randomF32(H, 13 + H, 1);
      const [gx, gw, gh, hs] = [s.upload(xproj), s.upload(transposeRecurrentWeights(wHh, H)), s.upload(h0), s.storage(M * H * 4)];
      const ds = [];
      for (let t = 0; t < M; t++) ds.push(rnnStep(gpu, { xproj: gx, wHh: gw, hState: gh, hs, H, M, t, nonlinearity: act }));
      ds.push(recurrentKeepState(gpu, { hs, hState: gh, H, M }));
      s.run(...ds);
      let h = h0;
      const hsRef = new Float32Array(M * H);
      for (let t = 0; t < M; t++) {
        h = rnnStepRef(xproj.subarray(t * H, (t + 1) * H), wHh, h, H, act);
        hsRef.set(h, t * H);
      }
      const hsGot = await gpu.readF32(hs, M * H);
      c.close(`rnn: ${act} h of ${M} steps, H=${H}`, hsGot, hsRef, { atol: 2e-6, rtol: 1e-5 });
      c.equal(`rnn: kept state = last h, H=${H}`, await gpu.readF32(gh, H), hsGot.subarray((M - 1) * H));
    });
  }
}

// tests/kernels/token-nll.test.ts: atol 1e-5 for V <= 1000, 2e-4 for V = 50257 (an f32 sum of
// V exponentials). Measured in Chromium: 4.8e-7 at V = 257, 4.0e-5 at V = 50257.
async function tokenNllChecks(gpu: Gpu, c: Checks): Promise<void> {
  for (const [M, V, scale] of [
    [1, 1, 3],
    [3, 257, 8],
    [2, 50257, 10],
  ]) {
    await scoped(gpu, async (s) => {
      const logits = randomF32(M * V, 900 + V, scale);
      const r = rng(V);
      const targets = Uint32Array.from({ length: M }, () => Math.floor(r() * V));
      const out = s.storage(M * 4);
      s.run(tokenNll(gpu, { logits: s.upload(logits), targets: s.upload(targets), out, M, V }));
      c.close(`tokenNll: M=${M} V=${V}`, await gpu.readF32(out, M), tokenNllRef(logits, targets, V), { atol: V > 1000 ? 2e-4 : 1e-5 });
    });
  }
}

/** tests/kernels/matmul.test.ts's bound: f32 accumulation error grows like sqrt(K). */
const matmulBound = (K: number) => ({ atol: 2e-6 * Math.sqrt(K) + 1e-6, rtol: 1e-5 });

// tests/kernels/matmul.test.ts: every weight type on each code path (scalar GEMV K % 4 != 0,
// four-column GEMV, scalar rows, 8 x 4 tiles with partial tiles), every epilogue.
async function matmulChecks(gpu: Gpu, c: Checks): Promise<void> {
  const cases: [WType, number, number, number, { gelu?: boolean; residual?: boolean; epilogue?: EpilogueRef }][] = [
    ["f32", 1, 7, 257, {}],
    ["f32", 13, 255, 64, { epilogue: "gelu_erf" }],
    ["q8_0", 1, 130, 64, { epilogue: "gelu_erf" }],
    ["f32", 3, 21, 7, { epilogue: "tanh" }],
    ["f32", 1, 257, 96, {}],
    ["f32", 5, 257, 96, {}],
    ["f16", 3, 257, 7, {}],
    ["f16", 1, 257, 96, { gelu: true }],
    ["f16", 9, 31, 96, { gelu: true, residual: true }],
    ["q8_0", 1, 7, 96, { residual: true }],
    ["q8_0", 3, 1000, 64, {}],
    ["q4_0", 1, 257, 64, { gelu: true }],
    ["q4_0", 5, 6, 96, { residual: true }],
  ];
  for (const [type, M, N, K, o] of cases) {
    await scoped(gpu, async (s) => {
      const x = randomF32(M * K, 11 + M, 1);
      const { host, exact } = hostMatrix(type, randomF32(N * K, 7 + N, 0.5));
      const bias = randomF32(N, 5, 0.5);
      const residual = o.residual ? randomF32(M * N, 6, 1) : undefined;
      const w = s.tensor(uploadMatrix(gpu, "w", host, [N, K]));
      const out = s.storage(M * N * 4);
      const epilogue = o.epilogue ?? (o.gelu ? "gelu" : "none");
      s.run(matmul(gpu, { x: s.upload(x), w, bias: s.upload(bias), residual: residual && s.upload(residual), out, M, epilogue }));
      const want = matmulRef(x, exact, M, N, K, { bias, residual, epilogue });
      const name = `matmul: ${type} M=${M} N=${N} K=${K} bias ${epilogue}${o.residual ? " +res" : ""}`;
      c.close(name, await gpu.readF32(out, M * N), want, matmulBound(K));
    });
  }
}

// tests/kernels/gemm.test.ts: the workgroup-memory tiles (both sides) against matmulRef, the bound of matmul.
async function gemmChecks(gpu: Gpu, c: Checks): Promise<void> {
  const cases: [WType, number, number, number, boolean][] = [
    ["f32", 7, 7, 20, false],
    ["f16", 65, 257, 36, true],
    ["q8_0", 3, 70, 96, true],
    ["q4_0", 33, 9, 64, false],
  ];
  for (const tile of [32, 64] as const) {
    // Tile 64: the awkward f16 shape and Q4_0 (each case compiles a pipeline).
    for (const [type, M, N, K, epilogue] of tile === 32 ? cases : [cases[1], cases[3]]) {
      await scoped(gpu, async (s) => {
        const x = randomF32(M * K, 11 + M, 1);
        const { host, exact } = hostMatrix(type, randomF32(N * K, 7 + N, 0.5));
        const bias = randomF32(N, 5, 0.5);
        const residual = epilogue ? randomF32(M * N, 6, 1) : undefined;
        const w = s.tensor(uploadMatrix(gpu, "w", host, [N, K]));
        const out = s.storage(M * N * 4);
        const ep = epilogue ? "gelu" : "none";
        s.run(gemm(gpu, { x: s.upload(x), w, bias: s.upload(bias), residual: residual && s.upload(residual), out, M, epilogue: ep }, tile));
        const want = matmulRef(x, exact, M, N, K, { bias, residual, epilogue: ep });
        c.close(`gemm: tile ${tile} ${type} M=${M} N=${N} K=${K} bias ${ep}${epilogue ? " +res" : ""}`, await gpu.readF32(out, M * N), want, matmulBound(K));
      });
    }
  }
}

// tests/kernels/matmul-fused.test.ts: the fused layer norm + GEMV against layerNormRef then
// matmulRef (atol 5e-6 sqrt(K) + 1e-6, rtol 1e-5), against the unfused kernels (1e-6 sqrt(K),
// rtol 1e-6) and the kept normalised row (atol 5e-6, rtol 1e-5); both grids.
async function fusedNormChecks(gpu: Gpu, c: Checks): Promise<void> {
  const EPS = 1e-5;
  const cases: { type: WType; N: number; K: number; gelu?: boolean; residual?: boolean; keepNormed?: boolean; rowOffset?: number }[] = [
    { type: "f32", N: 7, K: 257 },
    { type: "f16", N: 9, K: 257, residual: true },
    { type: "q8_0", N: 257, K: 96, gelu: true },
    { type: "q4_0", N: 7, K: 32 },
    { type: "f32", N: 5, K: 7, keepNormed: true, rowOffset: 2 },
    { type: "q8_0", N: 300, K: 768, keepNormed: true, rowOffset: 2 },
  ];
  for (const grid of ["wide", "few"] as const) {
    for (const k of cases) {
      await scoped(gpu, async (s) => {
        const { N, K } = k;
        const rows = (k.rowOffset ?? 0) + 1;
        const x = randomF32(rows * K, 31 + K, 2);
        const gamma = randomF32(K, 32 + K, 1.5);
        const beta = randomF32(K, 33 + K, 0.5);
        const { host, exact } = hostMatrix(k.type, randomF32(N * K, 34 + N, 0.5));
        const bias = randomF32(N, 35, 0.5);
        const residual = k.residual ? randomF32(N, 36, 1) : undefined;
        const w = s.tensor(uploadMatrix(gpu, "w", host, [N, K]));
        const [gg, gbeta, gb] = [s.upload(gamma), s.upload(beta), s.upload(bias)];
        const gr = residual && s.upload(residual);
        const [fused, plain, normed, h] = [s.storage(N * 4), s.storage(N * 4), s.storage(K * 4), s.storage(K * 4)];
        const common = { w, bias: gb, residual: gr, M: 1, epilogue: k.gelu ? ("gelu" as const) : ("none" as const) };
        s.run(matmul(gpu, { ...common, x: s.upload(x), xRowOffset: k.rowOffset, out: fused, norm: { gamma: gg, beta: gbeta, eps: EPS, out: k.keepNormed ? normed : undefined, grid } }));
        const row = x.subarray((rows - 1) * K);
        s.run(layerNorm(gpu, { x: s.upload(row), gamma: gg, beta: gbeta, out: h, M: 1, D: K, eps: EPS }), matmul(gpu, { ...common, x: h, out: plain }));
        const lnWant = layerNormRef(row, gamma, beta, 1, K, EPS);
        const want = matmulRef(lnWant, exact, 1, N, K, { bias, residual, gelu: k.gelu });
        const extras = [k.gelu && "gelu", k.residual && "+res", k.keepNormed && "normed", k.rowOffset && `row ${k.rowOffset}`].filter(Boolean).join(" ");
        const name = `ln+matmul: ${k.type} N=${N} K=${K} ${grid} grid bias ${extras}`.trim();
        const got = await gpu.readF32(fused, N);
        c.close(name, got, want, { atol: 5e-6 * Math.sqrt(K) + 1e-6, rtol: 1e-5 });
        c.close(`${name} vs unfused kernels`, got, await gpu.readF32(plain, N), { atol: 1e-6 * Math.sqrt(K), rtol: 1e-6 });
        if (k.keepNormed) c.close(`${name}, normalised row`, await gpu.readF32(normed, K), lnWant, { atol: 5e-6, rtol: 1e-5 });
      });
    }
  }
}

/** The NaN word of a cache type (f32 NaN, or two f16 NaN halves). */
const nanWord = (t: KvCacheType) => (t === "f16" ? 0x7e007e00 : 0x7fc00000);

function nanCache(s: Scope, nHead: number, nCtx: number, headDim: number, t: KvCacheType): GPUBuffer {
  const b = s.storage(kvCacheBytes(nHead, nCtx, headDim, t), "cache");
  s.gpu.write(b, new Uint32Array(b.size / 4).fill(nanWord(t)));
  return b;
}

/** The cache values as f32 (f16 halves widened), the pool's rounding cut off. */
async function readCache(gpu: Gpu, b: GPUBuffer, n: number, t: KvCacheType): Promise<Float32Array> {
  if (t === "f32") return gpu.readF32(b, n);
  const words = await gpu.readU32(b, n / 2);
  return f16BitsToF32Array(new Uint16Array(words.buffer, words.byteOffset, n));
}

// tests/kernels/matmul-fused.test.ts: the KV-cache write in the QKV matmul's epilogue. out
// against matmulRef; the caches bit for bit against the kv_write kernel run on the same out
// (NaN-filled, so that a stray or missing write shows), and as values against kvWriteRef of
// out (f32 cache exactly; f16 within half-precision rounding, rtol 2^-11).
async function fusedKvChecks(gpu: Gpu, c: Checks): Promise<void> {
  const EPS = 1e-5;
  const cases: { type: WType; K: number; nHead: number; headDim: number; nCtx: number; positions: number[]; cacheType: KvCacheType; norm?: "wide" | "few" }[] = [
    { type: "q8_0", K: 96, nHead: 3, headDim: 6, nCtx: 12, positions: [5], cacheType: "f32", norm: "few" },
    { type: "q8_0", K: 96, nHead: 3, headDim: 6, nCtx: 12, positions: [11], cacheType: "f16", norm: "wide" },
    { type: "q4_0", K: 64, nHead: 2, headDim: 8, nCtx: 16, positions: [16], cacheType: "f32", norm: "wide" },
    { type: "f16", K: 96, nHead: 3, headDim: 6, nCtx: 12, positions: [3, 11, 0, 7, 12, 9, 1, 2, 4], cacheType: "f16" },
    { type: "f32", K: 7, nHead: 3, headDim: 5, nCtx: 8, positions: [6], cacheType: "f32", norm: "few" },
    { type: "f32", K: 7, nHead: 3, headDim: 5, nCtx: 8, positions: [2, 7, 9, 0, 5], cacheType: "f32" },
  ];
  for (const k of cases) {
    const M = k.positions.length;
    const D = k.nHead * k.headDim;
    const N = 3 * D;
    const name = `matmul+kv: ${k.type} M=${M} K=${k.K} heads=${k.nHead}x${k.headDim} ${k.cacheType} cache${k.norm ? ` ln ${k.norm}` : ""}`;
    if (!canFuseKvWrite(gpu, { K: k.K, cacheType: k.cacheType, bias: true, norm: !!k.norm })) {
      c.count(`${name}: canFuseKvWrite`, 1, `maxStorageBuffersPerShaderStage ${gpu.limits.maxStorageBuffersPerShaderStage}`);
      continue;
    }
    await scoped(gpu, async (s) => {
      const x = randomF32(M * k.K, 41 + k.K, 1);
      const gamma = randomF32(k.K, 42, 1.5);
      const beta = randomF32(k.K, 43, 0.5);
      const { host, exact } = hostMatrix(k.type, randomF32(N * k.K, 44 + N, 0.5));
      const bias = randomF32(N, 45, 0.5);
      const w = s.tensor(uploadMatrix(gpu, "w", host, [N, k.K]));
      const positions = Uint32Array.from(k.positions);
      const gp = s.upload(positions);
      const [fusedK, fusedV, refK, refV] = [0, 1, 2, 3].map(() => nanCache(s, k.nHead, k.nCtx, k.headDim, k.cacheType));
      const out = s.storage(M * N * 4);
      const norm = k.norm ? { gamma: s.upload(gamma), beta: s.upload(beta), eps: EPS, grid: k.norm } : undefined;
      const kvCache = { positions: gp, kCache: fusedK, vCache: fusedV, headDim: k.headDim, nCtx: k.nCtx, cacheType: k.cacheType };
      s.run(matmul(gpu, { x: s.upload(x), w, bias: s.upload(bias), out, M, norm, kvCache }));
      const shape = { M, nHead: k.nHead, headDim: k.headDim, nCtx: k.nCtx };
      s.run(kvWrite(gpu, { qkv: out, positions: gp, kCache: refK, vCache: refV, ...shape, cacheType: k.cacheType }));
      const input = k.norm ? layerNormRef(x, gamma, beta, M, k.K, EPS) : x;
      const qkv = await gpu.readF32(out, M * N);
      c.close(`${name}, out`, qkv, matmulRef(input, exact, M, N, k.K, { bias }), { atol: 5e-6 * Math.sqrt(k.K) + 1e-6, rtol: 1e-5 });
      const cacheLen = k.nHead * k.nCtx * k.headDim;
      const [kWant, vWant] = [new Float32Array(cacheLen).fill(Number.NaN), new Float32Array(cacheLen).fill(Number.NaN)];
      kvWriteRef(qkv, positions, kWant, vWant, shape);
      for (const [which, fused, ref, want] of [
        ["k", fusedK, refK, kWant],
        ["v", fusedV, refV, vWant],
      ] as const) {
        c.equal(`${name}, ${which} cache words = kv_write's`, await gpu.readU32(fused), await gpu.readU32(ref));
        const bound = k.cacheType === "f16" ? { atol: 6e-8, rtol: 2 ** -11 } : { atol: 0 };
        c.close(`${name}, ${which} cache = kvWriteRef`, await readCache(gpu, fused, cacheLen, k.cacheType), want, bound);
      }
    });
  }
}

// tests/kernels/attention.test.ts: f32 cache atol 1e-6 + rtol 1e-5 against the f64
// references; f16 cache atol 2e-3. Every path: one pass with one or two query rows per
// invocation (two: heads of 64 only), the split one with chunks of 8 keys.
const ATT_TOL = { atol: 1e-6, rtol: 1e-5 };
const ATT_F16_TOL = { atol: 2e-3, rtol: 1e-5 };

/** Feeds qkv rows through the cache in chunks (kvWrite then attention, one submit each). */
async function runChunks(gpu: Gpu, qkv: Float32Array, a: { nHead: number; headDim: number; nCtx: number; chunks: number[]; cacheType: KvCacheType } & AttentionPath): Promise<Float32Array> {
  const { nHead, headDim, nCtx, cacheType } = a;
  const D = nHead * headDim;
  const T = a.chunks.reduce((x, y) => x + y, 0);
  const got = new Float32Array(T * D);
  await scoped(gpu, async (s) => {
    const kCache = nanCache(s, nHead, nCtx, headDim, cacheType);
    const vCache = nanCache(s, nHead, nCtx, headDim, cacheType);
    let p0 = 0;
    for (const M of a.chunks) {
      const rows = s.upload(qkv.subarray(p0 * 3 * D, (p0 + M) * 3 * D));
      const positions = s.upload(Uint32Array.from({ length: M }, (_, i) => p0 + i));
      const out = s.storage(M * D * 4);
      const shape = { qkv: rows, positions, kCache, vCache, M, nHead, headDim, nCtx, cacheType };
      s.run(kvWrite(gpu, shape), ...attentionDispatches(gpu, { ...shape, out, variant: a.variant, chunk: a.chunk, queryRows: a.queryRows }));
      got.set(await gpu.readF32(out, M * D), p0 * D);
      p0 += M;
    }
  });
  return got;
}

async function attentionChecks(gpu: Gpu, c: Checks): Promise<void> {
  const cases: [number, number, number, number[], KvCacheType][] = [
    [4, 64, 64, [21, 1, 1], "f32"],
    [2, 20, 32, [7, 1, 1], "f32"],
    [3, 33, 16, [5, 1], "f32"],
    [3, 1, 16, [4, 1, 1], "f32"],
    [1, 128, 16, [6, 1], "f32"],
    [4, 64, 32, [10, 1, 1], "f16"],
    [2, 6, 16, [5, 1], "f16"],
  ];
  for (const [nHead, headDim, nCtx, chunks, cacheType] of cases) {
    const D = nHead * headDim;
    const T = chunks.reduce((x, y) => x + y, 0);
    const qkv = randomF32(T * 3 * D, nHead * 31 + headDim + T, 1);
    const want = causalAttentionRef(qkv, T, nHead, headDim);
    for (const path of attentionPathsFor(headDim)) {
      const got = await runChunks(gpu, qkv, { nHead, headDim, nCtx, chunks, cacheType, ...path });
      const name = `attention: ${attentionPathName(path)} ${cacheType} cache heads=${nHead}x${headDim} nCtx=${nCtx} chunks=${chunks.join("+")}`;
      c.close(name, got, want, cacheType === "f16" ? ATT_F16_TOL : ATT_TOL);
    }
  }
  // Decode against a given cache: random up to the position, NaN beyond (never read).
  const [nHead, headDim, nCtx, pos] = [2, 64, 64, 40];
  const D = nHead * headDim;
  const cacheLen = nHead * nCtx * headDim;
  const kHost = new Float32Array(cacheLen).fill(Number.NaN);
  const vHost = new Float32Array(cacheLen).fill(Number.NaN);
  const [kRand, vRand] = [randomF32(cacheLen, 5 + pos, 1.5), randomF32(cacheLen, 6 + pos, 1)];
  for (let h = 0; h < nHead; h++) {
    const start = h * nCtx * headDim;
    kHost.set(kRand.subarray(start, start + pos * headDim), start);
    vHost.set(vRand.subarray(start, start + pos * headDim), start);
  }
  const qkv = randomF32(3 * D, 9 + pos, 1.5);
  const positions = Uint32Array.of(pos);
  const shape = { M: 1, nHead, headDim, nCtx };
  const kFull = Float32Array.from(kHost);
  const vFull = Float32Array.from(vHost);
  kvWriteRef(qkv, positions, kFull, vFull, shape);
  const want = attentionFromCacheRef(qkv, positions, kFull, vFull, shape);
  for (const path of attentionPathsFor(headDim)) {
    await scoped(gpu, async (s) => {
      const [kCache, vCache, out] = [s.upload(kHost), s.upload(vHost), s.storage(D * 4)];
      const args = { qkv: s.upload(qkv), positions: s.upload(positions), kCache, vCache, out, ...shape };
      s.run(kvWrite(gpu, args), ...attentionDispatches(gpu, { ...args, variant: path.variant, chunk: path.chunk, queryRows: path.queryRows }));
      c.close(`attention: ${attentionPathName(path)} decode at ${pos} on a NaN-tailed cache, heads=${nHead}x${headDim}`, await gpu.readF32(out, D), want, ATT_TOL);
    });
  }
  // kvWrite on its own: rows at their positions, positions >= nCtx skipped.
  await scoped(gpu, async (s) => {
    const [nHead, headDim, nCtx, M] = [3, 8, 8, 4];
    const D = nHead * headDim;
    const qkv = randomF32(M * 3 * D, 123, 1);
    const positions = Uint32Array.of(2, 7, 8, 4000000000);
    const cacheLen = nHead * nCtx * headDim;
    const kWant = randomF32(cacheLen, 1, 1);
    const vWant = randomF32(cacheLen, 2, 1);
    const [kCache, vCache] = [s.upload(kWant), s.upload(vWant)];
    s.run(kvWrite(gpu, { qkv: s.upload(qkv), positions: s.upload(positions), kCache, vCache, M, nHead, headDim, nCtx }));
    kvWriteRef(qkv, positions, kWant, vWant, { M, nHead, headDim, nCtx });
    c.equal("attention: kvWrite k, positions past the cache skipped", await gpu.readF32(kCache, cacheLen), kWant);
    c.equal("attention: kvWrite v, positions past the cache skipped", await gpu.readF32(vCache, cacheLen), vWant);
  });
}
