import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches } from "../../src/gpu/dispatch.js";
import { recurrentKeepState } from "../../src/kernels/lstm.js";
import { rnnStep, transposeRecurrentWeights, type RnnNonlinearity } from "../../src/kernels/rnn.js";
import { rnnStepRef } from "../../src/kernels/reference/rnn.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

// H = 1, 3, 7, 33 and 130 leave a remainder after the four-k passes and a partial last
// workgroup of 64; 12 and 68 are whole four-k passes with a partial workgroup; 256 fills
// four workgroups.
const CASES: { H: number; M: number; act: RnnNonlinearity }[] = [
  { H: 1, M: 1, act: "tanh" },
  { H: 3, M: 4, act: "relu" },
  { H: 7, M: 3, act: "tanh" },
  { H: 33, M: 5, act: "relu" },
  { H: 130, M: 4, act: "tanh" },
  { H: 12, M: 3, act: "relu" },
  { H: 68, M: 4, act: "tanh" },
  { H: 256, M: 2, act: "tanh" },
];

describe("rnnStep", () => {
  for (const { H, M, act } of CASES) {
    it(`runs ${M} ${act} timesteps like the reference, H=${H}`, async () => {
      const xproj = randomF32(M * H, 11 + H, 1.5);
      const wHh = randomF32(H * H, 12 + H, 1.5 / Math.sqrt(H));
      const h0 = randomF32(H, 13 + H, 1);
      const gx = gpu.upload(xproj, "xproj");
      const gw = gpu.upload(transposeRecurrentWeights(wHh, H), "whh");
      const gh = gpu.upload(h0, "h");
      const hs = gpu.createStorage(M * H * 4, "hs");
      const ds = [];
      for (let t = 0; t < M; t++) ds.push(rnnStep(gpu, { xproj: gx, wHh: gw, hState: gh, hs, H, M, t, nonlinearity: act }));
      ds.push(recurrentKeepState(gpu, { hs, hState: gh, H, M }));
      runDispatches(gpu, ds);

      let h = h0;
      const hsRef = new Float32Array(M * H);
      for (let t = 0; t < M; t++) {
        h = rnnStepRef(xproj.subarray(t * H, (t + 1) * H), wHh, h, H, act);
        hsRef.set(h, t * H);
      }
      const hsGot = await gpu.readF32(hs, M * H);
      expectClose(`rnn hs H=${H}`, hsGot, hsRef, { atol: 2e-6, rtol: 1e-5 });
      if (act === "relu") expect(hsRef.some((v) => v === 0) && hsRef.some((v) => v > 1)).toBe(true);
      // The state keeps exactly the last timestep's h.
      expect(Array.from(await gpu.readF32(gh, H))).toEqual(Array.from(hsGot.subarray((M - 1) * H)));
      releaseDispatches(gpu, ds);
      [gx, gw, gh, hs].forEach((b) => gpu.pool.release(b));
    });
  }

  it("tanh saturates without NaN for huge inputs", async () => {
    const H = 4;
    const bufs = [
      gpu.upload(
        Float32Array.from({ length: H }, (_, i) => (i % 2 ? 1e30 : -1e30)),
        "x",
      ),
      gpu.upload(new Float32Array(H * H), "w"),
      gpu.upload(new Float32Array(H), "h"),
      gpu.createStorage(H * 4, "hs"),
    ];
    const d = rnnStep(gpu, { xproj: bufs[0], wHh: bufs[1], hState: bufs[2], hs: bufs[3], H, M: 1, t: 0, nonlinearity: "tanh" });
    runDispatches(gpu, [d]);
    expect(Array.from(await gpu.readF32(bufs[3], H))).toEqual([-1, 1, -1, 1]);
    releaseDispatches(gpu, [d]);
    bufs.forEach((b) => gpu.pool.release(b));
  });

  it("refuses short buffers, timesteps outside 0..M-1 and unknown nonlinearities", () => {
    const H = 256;
    const b = (n: number) => gpu.createStorage(n * 4, "b");
    const ok = { xproj: b(2 * H), wHh: b(H * H), hState: b(H), hs: b(2 * H), H, M: 2, t: 0, nonlinearity: "tanh" as const };
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isMnemoError(e) ? e.code : "other";
      }
      return "none";
    };
    expect(code(() => rnnStep(gpu, { ...ok, wHh: b(H) }))).toBe("SHAPE_MISMATCH");
    expect(code(() => rnnStep(gpu, { ...ok, hs: b(H) }))).toBe("SHAPE_MISMATCH");
    expect(code(() => rnnStep(gpu, { ...ok, t: 2 }))).toBe("BAD_INPUT");
    expect(code(() => rnnStep(gpu, { ...ok, nonlinearity: "sigmoid" as RnnNonlinearity }))).toBe("BAD_INPUT");
    expect(() => transposeRecurrentWeights(new Float32Array(3), 2)).toThrow(/W_hh/);
  });
});
