import { describe, it, expect } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { f16ToF32, f32ToF16, f16BitsToF32Array, bf16BitsToF32Array } from "../../src/formats/f16.js";
import { quantizeQ8_0, quantizeQ4_0, dequantizeQ8_0, dequantizeQ4_0 } from "../../src/formats/quant.js";
import { openGguf } from "../../src/formats/gguf.js";
import { openSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource } from "../../src/formats/source.js";
import { isMnemoError } from "../../src/errors.js";

const root = join(__dirname, "..", "..");

describe("f16", () => {
  it("converts special and boundary values exactly", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [Infinity, 0x7c00],
      [70000, 0x7c00],
    ];
    for (const [x, h] of cases) {
      expect(f32ToF16(x)).toBe(h);
      if (x !== 70000) expect(Object.is(f16ToF32(h), x)).toBe(true);
    }
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
  });

  it("rounds to nearest even and round-trips every f16 value", () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >> 10) & 0x1f;
      if (exp === 31 && h & 0x3ff) continue; // NaN payloads
      expect(f32ToF16(f16ToF32(h))).toBe(h);
    }
    expect([...f16BitsToF32Array(new Uint16Array([0x3c00, 0xbc00]))]).toEqual([1, -1]);
    expect([...bf16BitsToF32Array(new Uint16Array([0x3f80, 0xc000]))]).toEqual([1, -2]);
  });
});

describe("GGUF block quantization", () => {
  it("reproduces the independent converter's Q8_0 and Q4_0 blocks of the token table bit for bit", async () => {
    const st = await openSafetensors(bufferSource(await readFile(join(root, "weights/gpt2-gutenberg/model.safetensors"))));
    const wte = await st.readF32("transformer.wte.weight");
    for (const [file, quantize] of [
      ["gpt2-gutenberg-q8_0.gguf", quantizeQ8_0],
      ["gpt2-gutenberg-q4_0.gguf", quantizeQ4_0],
    ] as const) {
      const gguf = await openGguf(bufferSource(await readFile(join(root, "tests/fixtures/models", file))));
      const theirs = await gguf.readTensor("token_embd.weight");
      const ours = quantize(wte);
      expect(ours.byteLength).toBe(theirs.byteLength);
      let differing = 0;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differing++;
      console.log(`${file}: ${differing} of ${ours.length} bytes differ from the independent converter`);
      expect(differing).toBe(0);
    }
  });

  // Q8_0 errs by at most half a step (amax / 127 / 2). Q4_0's grid is -8d..7d with the
  // largest-magnitude value at -8d, so the other side can clamp: up to one full step.
  it("dequantizes within its step bound and re-quantizes its own output unchanged", () => {
    const x = new Float32Array(32 * 40).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    for (const [q, dq, steps] of [
      [quantizeQ8_0, dequantizeQ8_0, 127 * 2],
      [quantizeQ4_0, dequantizeQ4_0, 8],
    ] as const) {
      const blocks = q(x);
      const back = dq(blocks, x.length);
      for (let b = 0; b < x.length / 32; b++) {
        let amax = 0;
        for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
        for (let i = 0; i < 32; i++) expect(Math.abs(back[b * 32 + i] - x[b * 32 + i])).toBeLessThanOrEqual((amax / steps) * 1.01 + amax * 2e-3);
      }
      expect([...q(back)]).toEqual([...blocks]);
    }
  });

  it("refuses lengths that are not whole blocks and short byte arrays", () => {
    let err: unknown;
    try {
      quantizeQ8_0(new Float32Array(33));
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(() => dequantizeQ4_0(new Uint8Array(17), 32)).toThrow(/cannot hold/);
  });
});
