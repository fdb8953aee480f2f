// Int8 activations and the int8 GEMV on the browser's WebGPU, every shape the adapter offers,
// with and without dot4I8Packed, against the references of tests/kernels/matmul-i8.test.ts
// (bounds named there: scales to 1e-6 relative, quants within one step, the GEMV to 2e-7 of
// the sum of |terms|; the GEMV quantizes x itself, as quantizeActivations does).
import type { Gpu } from "../../../src/gpu/device.js";
import { gemvI8, gemvI8Shapes, hasDot4, int8ActivationBytes, matmulI8, quantizeActivations } from "../../../src/kernels/matmul-i8.js";
import { gemvI8Ref, quantizeRowsRef } from "../../../src/kernels/reference/matmul-i8.js";
import { layerNormRef } from "../../../src/kernels/reference/layernorm.js";
import { uploadMatrix } from "../../../src/kernels/weights.js";
import { quantizeQ4_0, quantizeQ8_0 } from "../../../src/formats/quant.js";
import { randomF32 } from "../../helpers/random.js";
import { quantIntegers } from "../../kernels/host-matrix.js";
import { scoped, type Checks } from "./checks.js";

export async function gemvI8Checks(gpu: Gpu, c: Checks): Promise<void> {
  for (const type of ["q8_0", "q4_0"] as const) {
    for (const [N, K] of [
      [7, 96],
      [257, 64],
    ]) {
      await scoped(gpu, async (s) => {
        const x = randomF32(K, 5 + K, 1);
        const bytes = int8ActivationBytes(1, K);
        const [gx, xq, xs] = [s.upload(x), s.storage(bytes.xq), s.storage(bytes.xs)];
        s.run(quantizeActivations(gpu, { x: gx, M: 1, K, xq, xs }));
        const q = new Int8Array(await gpu.readback(xq, bytes.xq));
        const scales = await gpu.readF32(xs, K / 32);
        const want = quantizeRowsRef(x, 1, K);
        c.close(`gemvI8: quantize scales K=${K}`, scales, want.scales, { atol: 0, rtol: 1e-6 });
        c.close(`gemvI8: quantize quants K=${K} (within one step)`, q, want.q, { atol: 1 });
        const blocks = type === "q8_0" ? quantizeQ8_0(randomF32(N * K, 17 + N, 0.5)) : quantizeQ4_0(randomF32(N * K, 17 + N, 0.5));
        const w = s.tensor(uploadMatrix(gpu, "w", { dtype: type, data: blocks }, [N, K]));
        const ints = quantIntegers(type, blocks, N * K);
        const ref = gemvI8Ref(q, scales, ints.q, ints.scales, N, K);
        const magnitude = gemvI8Ref(q.map(Math.abs), scales, ints.q.map(Math.abs), ints.scales.map(Math.abs), N, K);
        const atol = Math.max(...magnitude) * 2e-7;
        for (const shape of gemvI8Shapes(gpu)) {
          for (const dot4 of hasDot4(gpu) ? [true, false] : [false]) {
            const out = s.storage(N * 4);
            s.run(gemvI8(gpu, { x: gx, w, out, shape, dot4 }));
            c.close(`gemvI8: ${type} ${shape} dot4=${dot4} N=${N} K=${K}`, await gpu.readF32(out, N), ref, { atol });
          }
        }
      });
    }
  }
  await gemvI8NormChecks(gpu, c);
}

/** The layer norm fused in front of the int8 GEMV (every shape), its normalised row kept. */
async function gemvI8NormChecks(gpu: Gpu, c: Checks): Promise<void> {
  const [N, K] = [7, 96];
  await scoped(gpu, async (s) => {
    const x = randomF32(K, 51, 1).map((v) => v + 20);
    const [gamma, beta] = [randomF32(K, 52, 1), randomF32(K, 53, 0.5)];
    const blocks = quantizeQ8_0(randomF32(N * K, 54, 0.5));
    const w = s.tensor(uploadMatrix(gpu, "w", { dtype: "q8_0", data: blocks }, [N, K]));
    const ints = quantIntegers("q8_0", blocks, N * K);
    const [gx, gg, gb] = [s.upload(x), s.upload(gamma), s.upload(beta)];
    for (const shape of gemvI8Shapes(gpu)) {
      const [out, normed] = [s.storage(N * 4), s.storage(K * 4)];
      s.run(gemvI8(gpu, { x: gx, norm: { gamma: gg, beta: gb, eps: 1e-5, out: normed }, w, out, shape }));
      const row = await gpu.readF32(normed, K);
      c.close(`gemvI8: ${shape} fused layer norm, the kept row`, row, layerNormRef(x, gamma, beta, 1, K, 1e-5), { atol: 5e-6, rtol: 1e-5 });
      // The quants of the kept row on the CPU: within one step of the GPU's where x · 127 / amax ties.
      const q = quantizeRowsRef(row, 1, K);
      const ref = gemvI8Ref(q.q, q.scales, ints.q, ints.scales, N, K);
      const step = Math.max(...q.scales) * Math.max(...ints.q.map(Math.abs)) * Math.max(...ints.scales.map(Math.abs));
      c.close(`gemvI8: ${shape} fused layer norm, the sums`, await gpu.readF32(out, N), ref, { atol: 2 * step });
    }
  });
}

/** The many-row tiles (prefill) against the one-row reference, row by row (M = 3 and 9: 4- and 8-row tiles). */
export async function matmulI8TileChecks(gpu: Gpu, c: Checks): Promise<void> {
  for (const [type, M, N, K] of [
    ["q8_0", 3, 257, 64],
    ["q4_0", 9, 7, 96],
  ] as const) {
    await scoped(gpu, async (s) => {
      const x = randomF32(M * K, 31 + M, 1);
      const bytes = int8ActivationBytes(M, K);
      const [gx, xq, xs, out] = [s.upload(x), s.storage(bytes.xq), s.storage(bytes.xs), s.storage(M * N * 4)];
      const blocks = type === "q8_0" ? quantizeQ8_0(randomF32(N * K, 37 + N, 0.5)) : quantizeQ4_0(randomF32(N * K, 37 + N, 0.5));
      const w = s.tensor(uploadMatrix(gpu, "w", { dtype: type, data: blocks }, [N, K]));
      s.run(quantizeActivations(gpu, { x: gx, M, K, xq, xs }), matmulI8(gpu, { xq, xs, M, w, out }));
      const q = new Int8Array(await gpu.readback(xq, bytes.xq));
      const scales = await gpu.readF32(xs, (M * K) / 32);
      const ints = quantIntegers(type, blocks, N * K);
      const want = new Float64Array(M * N);
      let worst = 0;
      for (let m = 0; m < M; m++) {
        const qm = q.subarray(m * K, (m + 1) * K);
        const sm = scales.subarray((m * K) / 32, ((m + 1) * K) / 32);
        want.set(gemvI8Ref(qm, sm, ints.q, ints.scales, N, K), m * N);
        worst = Math.max(worst, ...gemvI8Ref(qm.map(Math.abs), sm, ints.q.map(Math.abs), ints.scales.map(Math.abs), N, K));
      }
      c.close(`matmulI8: ${type} tiles M=${M} N=${N} K=${K}`, await gpu.readF32(out, M * N), want, { atol: worst * 2e-7 });
    });
  }
}
