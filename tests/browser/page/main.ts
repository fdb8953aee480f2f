// Runs GPU kernels in the browser and compares them with the TypeScript references; the
// Playwright test reads window.__mnemoResult.
import { createGpu } from "../../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../../src/gpu/dispatch.js";
import { residualAdd } from "../../../src/kernels/elementwise.js";
import { residualAddRef } from "../../../src/kernels/reference/elementwise.js";
import { matmul } from "../../../src/kernels/matmul.js";
import { uploadMatrix } from "../../../src/kernels/weights.js";
import { matmulRef } from "../../../src/kernels/reference/matmul.js";
import { quantizeQ8_0, dequantizeQ8_0 } from "../../../src/formats/quant.js";
import { loadModel } from "../../../src/api.js";
import { isMnemoError } from "../../../src/errors.js";
import type { GeneratedToken } from "../../../src/runtime/types.js";
import { loadSnapshotFromIndexedDb, saveSnapshotToIndexedDb, type StateSnapshot } from "../../../src/runtime/snapshot.js";
import { loadMemoryStoreFromIndexedDb, saveMemoryStoreToIndexedDb } from "../../../src/memory/store-persist.js";
import { knnDistances, knnTopK } from "../../../src/kernels/knn.js";
import { knnDistancesRef, knnTopKRef } from "../../../src/kernels/reference/knn.js";
import { f32ToF16Array } from "../../../src/formats/f16.js";

interface CheckResult {
  name: string;
  maxAbs: number;
  tolerance?: number;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) || (Number.isNaN(a[i]) ? Infinity : 0));
  return m;
}

function random(n: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

async function run(): Promise<{ adapter: string; checks: CheckResult[] }> {
  const gpu = await createGpu();
  const checks: CheckResult[] = [];
  const n = 1000;
  const a = random(n, 1);
  const b = random(n, 2);
  const [ga, gb, go] = [gpu.upload(a, "a"), gpu.upload(b, "b"), gpu.createStorage(n * 4, "out")];
  const d = residualAdd(gpu, { a: ga, b: gb, out: go, n });
  runDispatches(gpu, [d]);
  checks.push({ name: "residualAdd", maxAbs: maxAbsDiff(await gpu.readF32(go, n), residualAddRef(a, b)) });
  releaseDispatches(gpu, [d]);
  // matmul on an awkward shape, f32 and q8_0 weights, GEMV and tiled paths.
  for (const [M, N, K, q8] of [
    [1, 257, 96, false],
    [5, 257, 96, false],
    [3, 1000, 64, true],
  ] as const) {
    const x = random(M * K, 3);
    const wv = random(N * K, 4);
    const bias = random(N, 5);
    const qb = q8 ? quantizeQ8_0(wv) : null;
    const exact = qb ? dequantizeQ8_0(qb, N * K) : wv;
    const w = uploadMatrix(gpu, "w", qb ? { dtype: "q8_0", data: qb } : { dtype: "f32", data: wv }, [N, K]);
    const [gx, gb, out] = [gpu.upload(x, "x"), gpu.upload(bias, "b"), gpu.createStorage(M * N * 4, "out")];
    const md = matmul(gpu, { x: gx, w, bias: gb, out, M });
    runDispatches(gpu, [md]);
    const got = await gpu.readF32(out, M * N);
    checks.push({ name: `matmul ${q8 ? "q8_0" : "f32"} M=${M} N=${N} K=${K}`, maxAbs: maxAbsDiff(got, matmulRef(x, exact, M, N, K, { bias })), tolerance: 1e-4 });
    releaseDispatches(gpu, [md]);
  }
  checks.push({ name: "knn distances (f16, tiled) + top-k: indices differing from the reference", maxAbs: await knnSearchCheck(gpu) });
  checks.push({ name: "session snapshot through IndexedDB", maxAbs: await indexedDbRoundTrip() });
  checks.push({ name: "memory store through IndexedDB", maxAbs: await memoryStoreRoundTrip() });
  checks.push({ name: "two generate() calls at once equal each alone", maxAbs: await concurrentGenerate() });
  checks.push({ name: "device lost mid-generation: DEVICE_LOST, then a new model works", maxAbs: await deviceLoss() });
  return { adapter: `${gpu.adapter.vendor} ${gpu.adapter.architecture}`, checks };
}

/** Saves a snapshot in IndexedDB and loads it back: 0 when everything came back equal. */
async function indexedDbRoundTrip(): Promise<number> {
  const kv = random(2 * 3 * 4, 9);
  const snap: StateSnapshot = {
    modelFingerprint: "browser-test",
    kind: "kv-cache",
    tokens: [5, 6, 7],
    droppedTokens: 2,
    position: 3,
    tensors: { "layer0.k": { dtype: "f32", shape: [2, 3, 4], data: kv } },
    nextLogits: random(11, 10),
    chat: { messages: [{ role: "user", content: "hé" }], fed: "User: hé" },
  };
  await saveSnapshotToIndexedDb("round-trip", snap);
  const back = await loadSnapshotFromIndexedDb("round-trip");
  const missing = await loadSnapshotFromIndexedDb("never-saved");
  if (!back || missing !== null) return Infinity;
  const t = back.tensors["layer0.k"];
  const same =
    JSON.stringify([back.modelFingerprint, back.kind, back.tokens, back.droppedTokens, back.position, back.chat]) ===
      JSON.stringify([snap.modelFingerprint, snap.kind, snap.tokens, snap.droppedTokens, snap.position, snap.chat]) &&
    t.dtype === "f32" &&
    JSON.stringify(t.shape) === "[2,3,4]";
  return same ? Math.max(maxAbsDiff(t.data as Float32Array, kv), maxAbsDiff(back.nextLogits!, snap.nextLogits!)) : Infinity;
}

/** Distances and top-k on integer keys (exact in f32 and f16): how many indices differ. */
async function knnSearchCheck(gpu: Awaited<ReturnType<typeof createGpu>>): Promise<number> {
  const [n, dims, rows, k] = [2500, 16, 3, 40];
  const ints = (len: number, seed: number) => random(len, seed).map((v) => Math.round(v * 4));
  const keys = ints(n * dims, 21);
  const queries = ints(rows * dims, 22);
  const [gk, gq, out, live] = [gpu.upload(f32ToF16Array(keys), "keys"), gpu.upload(queries, "q"), gpu.createStorage(rows * n * 4, "d"), gpu.upload(Uint32Array.of(n), "live")];
  const d = knnDistances(gpu, { keys: gk, keyType: "f16", n, dims, queries: gq, rows, out, outStride: n, outOffset: 0, live, metric: "l2" });
  const top = knnTopK(gpu, { dist: out, n, rows, k });
  runDispatches(gpu, [d, ...top.dispatches]);
  const got = await gpu.readU32(top.index, rows * k);
  const want = knnTopKRef(knnDistancesRef(keys, n, dims, queries, rows, "l2"), n, rows, k).index;
  releaseDispatches(gpu, [d]);
  top.dispose();
  for (const b of [gk, gq, out, live]) gpu.pool.release(b);
  return got.reduce((bad, v, i) => bad + (v === want[i] ? 0 : 1), 0);
}

/** Saves a memory store in IndexedDB and loads it back: 0 when it came back bit for bit. */
async function memoryStoreRoundTrip(): Promise<number> {
  const keys = random(5 * 6, 11);
  const store = { fingerprint: "browser-test", dims: 6, keyType: "f32" as const, count: 5, keys, values: Uint32Array.of(1, 2, 3, 4, 5), inputs: Uint32Array.of(9, 8, 7, 6, 5) };
  await saveMemoryStoreToIndexedDb("round-trip", store);
  const back = await loadMemoryStoreFromIndexedDb("round-trip");
  if (!back || (await loadMemoryStoreFromIndexedDb("never-saved")) !== null) return Infinity;
  const same = back.fingerprint === store.fingerprint && back.count === 5 && back.values.join() === "1,2,3,4,5" && back.inputs.join() === "9,8,7,6,5";
  return same ? maxAbsDiff(back.keys as Float32Array, keys) : Infinity;
}

const TINY = new URL("tiny-gpt2/", location.href).href;

async function ids(stream: AsyncGenerator<GeneratedToken>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of stream) out.push(t.id);
  return out;
}

/** 0 when two concurrent generations on one model give what each gives alone. */
async function concurrentGenerate(): Promise<number> {
  const model = await loadModel(TINY, { cache: false });
  const opts = { greedy: true, maxTokens: 10, stopOnEos: false };
  const alone = [await ids(model.generate([5, 17, 99], opts)), await ids(model.generate([9, 8, 7], opts))];
  const together = await Promise.all([ids(model.generate([5, 17, 99], opts)), ids(model.generate([9, 8, 7], opts))]);
  model.dispose();
  return JSON.stringify(together) === JSON.stringify(alone) && alone[0].length === 10 ? 0 : Infinity;
}

/** 0 when destroying the device mid-generation rejects with DEVICE_LOST and a new model then works. */
async function deviceLoss(): Promise<number> {
  const doomed = await loadModel(TINY, { cache: false });
  let n = 0;
  let code = "none";
  try {
    for await (const _t of doomed.generate([5, 17, 99], { maxTokens: 40 })) {
      if (++n === 3) doomed.languageModel.gpu.destroy();
    }
  } catch (e) {
    code = isMnemoError(e, "DEVICE_LOST") ? "DEVICE_LOST" : String(e);
  }
  doomed.dispose();
  const fresh = await loadModel(TINY, { cache: false });
  const after = await ids(fresh.generate([1, 2], { maxTokens: 4, stopOnEos: false }));
  fresh.dispose();
  return code === "DEVICE_LOST" && n === 3 && after.length === 4 ? 0 : Infinity;
}

const w = window as unknown as { __mnemoResult?: unknown };
run().then(
  (r) => {
    w.__mnemoResult = r;
    document.getElementById("out")!.textContent = JSON.stringify(r, null, 2);
  },
  (e: unknown) => {
    w.__mnemoResult = { error: String(e) };
  },
);
