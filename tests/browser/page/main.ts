// Runs GPU kernels in the browser and compares them with the TypeScript references; the
// Playwright test reads window.__mnemoResult.
import { createGpu } from "../../../src/gpu/device.js";
import { runDispatches, releaseDispatches } from "../../../src/gpu/dispatch.js";
import { residualAdd } from "../../../src/kernels/elementwise.js";
import { residualAddRef } from "../../../src/kernels/reference/elementwise.js";

interface CheckResult {
  name: string;
  maxAbs: number;
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
  return { adapter: `${gpu.adapter.vendor} ${gpu.adapter.architecture}`, checks };
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
