// Runs every GPU kernel family in the browser against the TypeScript references (kernels.ts,
// sampling.ts), then snapshots and memory stores through IndexedDB, downloads through Cache
// Storage (one cut short by the server), concurrent callers and device loss; the Playwright test (tests/browser/kernels.test.ts) reads window.__mnemoResult.
import { createGpu } from "../../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../../src/gpu/dispatch.js";
import { loadModel } from "../../../src/api.js";
import { isMnemoError } from "../../../src/errors.js";
import { MODEL_CACHE_NAME, clearModelCache, type FileProgress } from "../../../src/loading/cache.js";
import type { GeneratedToken } from "../../../src/runtime/types.js";
import { loadSnapshotFromIndexedDb, saveSnapshotToIndexedDb, type StateSnapshot } from "../../../src/runtime/snapshot.js";
import { loadMemoryStoreFromIndexedDb, saveMemoryStoreToIndexedDb } from "../../../src/memory/store-persist.js";
import { knnDistances, knnTopK } from "../../../src/kernels/knn.js";
import { knnDistancesRef, knnTopKRef } from "../../../src/kernels/reference/knn.js";
import { f32ToF16Array } from "../../../src/formats/f16.js";
import { randomF32 } from "../../helpers/random.js";
import { Checks, type CheckResult } from "./checks.js";
import { KERNEL_FAMILIES } from "./kernels.js";
import { samplingChecks } from "./sampling.js";

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) || (Number.isNaN(a[i]) ? Infinity : 0));
  return m;
}

const random = (n: number, seed: number) => randomF32(n, seed);

/** Milliseconds each part of the page took (reported, never asserted). */
const timings: Record<string, number> = {};

async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[what] = Math.round(performance.now() - t0);
  }
}

async function run(): Promise<{ adapter: string; checks: CheckResult[]; timings: Record<string, number> }> {
  const gpu = await createGpu();
  const c = new Checks();
  for (const [family, checks] of KERNEL_FAMILIES) await timed(family, () => checks(gpu, c));
  await timed("sampling", () => samplingChecks(gpu, c));
  c.count("knn: distances (f16, tiled) + top-k, indices differing from the reference", await timed("knn", () => knnSearchCheck(gpu)));
  c.count("IndexedDB: session snapshot round trip (max abs difference)", await timed("snapshot", indexedDbRoundTrip));
  c.count("IndexedDB: memory store round trip (max abs difference)", await timed("memory store", memoryStoreRoundTrip));
  c.count("Cache Storage: a download cut short is refused and never cached; a whole one is, and is read back", await timed("cache", cutShortDownload));
  c.count("runtime: two generate() calls at once equal each alone", await timed("concurrent", concurrentGenerate));
  c.count("runtime: device lost mid-generation gives DEVICE_LOST, then a new model works", await timed("device loss", deviceLoss));
  return { adapter: `${gpu.adapter.vendor} ${gpu.adapter.architecture}`, checks: c.results, timings };
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
/** The same files; the test server cuts the weights short (tests/helpers/browser.ts, CUT_SHORT_PREFIX). */
const TINY_CUT = new URL("cut/tiny-gpt2/", location.href).href;

/**
 * The real Cache Storage: loading from a server that drops the connection halfway through
 * model.safetensors fails with BAD_MODEL_FILE and leaves no entry for it; the whole file
 * then loads, is cached, and the next load reads it from the cache. Returns the number of
 * expectations that failed.
 */
async function cutShortDownload(): Promise<number> {
  await clearModelCache();
  const failures: string[] = [];
  const expect = (ok: boolean, what: string) => ok || failures.push(what);
  let code = "loaded";
  try {
    (await loadModel(TINY_CUT)).dispose();
  } catch (e) {
    code = isMnemoError(e) ? e.code : String(e);
  }
  expect(code === "BAD_MODEL_FILE", `cut-short load: ${code}`);
  const cache = await caches.open(MODEL_CACHE_NAME);
  const cached = async () => (await cache.keys()).map((r) => r.url);
  const afterCut = await cached();
  expect(!afterCut.includes(`${TINY_CUT}model.safetensors`), "the cut-short file was cached");
  // The same load's complete config.json was: the check above is not vacuous.
  expect(afterCut.includes(`${TINY_CUT}config.json`), `config.json of the cut-short load not cached (${afterCut.join(", ")})`);
  (await loadModel(TINY)).dispose();
  const whole = await cache.match(`${TINY}model.safetensors`);
  expect(whole !== undefined, "the whole file was not cached");
  const seen: FileProgress[] = [];
  const again = await loadModel(TINY, { onProgress: (p) => seen.push(p) });
  const text = await ids(again.generate([5, 17, 99], { greedy: true, maxTokens: 3, stopOnEos: false }));
  again.dispose();
  const weights = seen.filter((p) => p.file === "model.safetensors");
  expect(weights.length > 0 && weights.every((p) => p.fromCache), `second load of model.safetensors: ${JSON.stringify(weights)}`);
  expect(text.length === 3, "the model loaded from the cache did not generate");
  await clearModelCache();
  expect(
    (await caches.keys()).every((name) => name !== MODEL_CACHE_NAME),
    "clearModelCache left the cache",
  );
  if (failures.length) console.error(`Cache Storage check: ${failures.join("; ")}`);
  return failures.length;
}

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
