import { describe, it, expect, beforeAll } from "vitest";
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches } from "../../src/gpu/dispatch.js";
import { interleaveRecurrentWeights, recurrentKeepState, lstmStep } from "../../src/kernels/lstm.js";
import { lstmStepRef } from "../../src/kernels/reference/lstm.js";
import { isMnemoError } from "../../src/errors.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/compare.js";
import { randomF32 } from "../helpers/random.js";

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

// H = 1, 7, 33 and 130 leave a partial last workgroup of 64 (scalar step); 12 and 68 take the
// vectorised step (H % 4 == 0) with a partial workgroup; 512 is the Shakespeare model's size.
const CASES = [
  { H: 1, M: 1 },
  { H: 7, M: 3 },
  { H: 33, M: 5 },
  { H: 130, M: 4 },
  { H: 12, M: 3 },
  { H: 68, M: 4 },
  { H: 512, M: 2 },
];

describe("lstmStep", () => {
  for (const { H, M } of CASES) {
    it(`runs ${M} timesteps like the reference, H=${H}`, async () => {
      const xproj = randomF32(M * 4 * H, 1 + H, 2);
      const wHh = randomF32(4 * H * H, 2 + H, 1 / Math.sqrt(H));
      const h0 = randomF32(H, 3 + H, 1);
      const c0 = randomF32(H, 4 + H, 3);
      const gx = gpu.upload(xproj, "xproj");
      const gw = gpu.upload(interleaveRecurrentWeights(wHh, H), "whh");
      const gh = gpu.upload(h0, "h");
      const gc = gpu.upload(c0, "c");
      const hs = gpu.createStorage(M * H * 4, "hs");
      const ds = [];
      for (let t = 0; t < M; t++) ds.push(lstmStep(gpu, { xproj: gx, wHh: gw, hState: gh, hs, c: gc, H, M, t }));
      ds.push(recurrentKeepState(gpu, { hs, hState: gh, H, M }));
      runDispatches(gpu, ds);

      let h = h0;
      let c = c0;
      const hsRef = new Float32Array(M * H);
      for (let t = 0; t < M; t++) {
        ({ h, c } = lstmStepRef(xproj.subarray(t * 4 * H, (t + 1) * 4 * H), wHh, h, c, H));
        hsRef.set(h, t * H);
      }
      const hsGot = await gpu.readF32(hs, M * H);
      expectClose(`lstm hs H=${H}`, hsGot, hsRef, { atol: 2e-6, rtol: 1e-5 });
      expectClose(`lstm c H=${H}`, await gpu.readF32(gc, H), c, { atol: 2e-6, rtol: 1e-5 });
      // The state keeps exactly the last timestep's h.
      expect(Array.from(await gpu.readF32(gh, H))).toEqual(Array.from(hsGot.subarray((M - 1) * H)));
      releaseDispatches(gpu, ds);
      [gx, gw, gh, gc, hs].forEach((b) => gpu.pool.release(b));
    });
  }

  it("saturates without NaN for huge gate inputs", async () => {
    const H = 4;
    const xproj = Float32Array.from({ length: 4 * H }, (_, i) => (i % 2 ? 1e30 : -1e30));
    const bufs = [
      gpu.upload(xproj, "x"),
      gpu.upload(new Float32Array(4 * H * H), "w"),
      gpu.upload(new Float32Array(H), "h"),
      gpu.createStorage(H * 4, "hs"),
      gpu.upload(new Float32Array(H).fill(1), "c"),
    ];
    const d = lstmStep(gpu, { xproj: bufs[0], wHh: bufs[1], hState: bufs[2], hs: bufs[3], c: bufs[4], H, M: 1, t: 0 });
    runDispatches(gpu, [d]);
    const h = await gpu.readF32(bufs[3], H);
    for (const v of h) expect(Number.isFinite(v)).toBe(true);
    releaseDispatches(gpu, [d]);
    bufs.forEach((b) => gpu.pool.release(b));
  });

  it("refuses buffers smaller than the shape and timesteps outside 0..M-1", () => {
    const small = gpu.createStorage(16, "small");
    const big = gpu.createStorage(4096, "big");
    const shape = { xproj: big, wHh: big, hState: big, hs: big, c: big, H: 8, M: 2 };
    expect(() => lstmStep(gpu, { ...shape, wHh: small, t: 0 })).toThrow(/wHh has \d+ bytes but the shape needs 1024/);
    let err: unknown;
    try {
      lstmStep(gpu, { ...shape, t: 2 });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    gpu.pool.release(small);
    gpu.pool.release(big);
  });
});
