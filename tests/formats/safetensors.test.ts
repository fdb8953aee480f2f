import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { isMnemoError, type MnemoErrorCode } from "../../src/errors.js";
import { fileSource } from "../../src/formats/node-file-source.js";
import { openSafetensors, writeSafetensors, MAX_SAFETENSORS_HEADER_BYTES } from "../../src/formats/safetensors.js";
import { blobSource, bufferSource, type ByteSource } from "../../src/formats/source.js";
import { randomF32 } from "../helpers/random.js";

const TINY = "tests/fixtures/models/tiny-gpt2/model.safetensors";
const GUTENBERG = "weights/gpt2-gutenberg/model.safetensors";

/** Asserts `promise` rejects with a MnemoError of `code` whose message contains every `parts`. */
async function expectError(promise: Promise<unknown>, code: MnemoErrorCode, ...parts: string[]): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMnemoError(err, code), `expected MnemoError ${code}, got ${String(err)}`).toBe(true);
  for (const part of parts) expect((err as Error).message).toContain(part);
}

/** A safetensors file from raw header text and data bytes, with no validation. */
function rawFile(header: string | object, data = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

const open = (bytes: Uint8Array) => openSafetensors(bufferSource(bytes, "test.safetensors"));

describe("safetensors: real files", () => {
  it("reads the tiny GPT-2 (F32) with shapes from its config", async () => {
    const config = JSON.parse(readFileSync("tests/fixtures/models/tiny-gpt2/config.json", "utf8"));
    const source = await fileSource(TINY);
    try {
      const file = await openSafetensors(source);
      expect(file.metadata).toEqual({ format: "pt" });
      expect(file.tensors.size).toBe(30);
      expect(file.tensor("wte.weight").shape).toEqual([config.vocab_size, config.n_embd]);
      expect(file.tensor("wpe.weight").shape).toEqual([config.n_positions, config.n_embd]);
      expect(file.tensor("h.0.attn.c_attn.weight")).toMatchObject({ dtype: "F32", shape: [64, 192] });
      const wte = await file.readF32("wte.weight");
      expect(wte.length).toBe(1000 * 64);
      // Values and sum computed with numpy from the same file.
      expect(Array.from(wte.subarray(0, 4))).toEqual([-0.030484700575470924, 0.10453333705663681, -0.02785641886293888, 0.07178201526403427]);
      let sum = 0;
      for (const v of wte) sum += v;
      expect(sum).toBeCloseTo(33.96378935845337, 6);
    } finally {
      await source.close();
    }
  });

  it("reads the bundled GPT-2 (F16) as f16 bits and as f32", async () => {
    const config = JSON.parse(readFileSync("weights/gpt2-gutenberg/config.json", "utf8"));
    const source = await fileSource(GUTENBERG);
    try {
      const file = await openSafetensors(source);
      expect(file.tensors.size).toBe(100);
      const wte = file.tensor("transformer.wte.weight");
      expect(wte).toMatchObject({ dtype: "F16", shape: [config.vocab_size, config.n_embd] });
      const bits = await file.readF16Bits("transformer.wte.weight");
      expect(Array.from(bits.subarray(0, 4))).toEqual([39092, 12208, 9262, 8748]);
      const values = await file.readF32("transformer.wte.weight");
      expect(values.length).toBe(config.vocab_size * config.n_embd);
      expect(Array.from(values.subarray(0, 4))).toEqual([-0.00229644775390625, 0.1201171875, 0.016326904296875, 0.012054443359375]);
      let sum = 0;
      let nonFinite = 0;
      for (const v of values) {
        if (!Number.isFinite(v)) nonFinite++;
        sum += v;
      }
      expect(nonFinite).toBe(0);
      expect(sum).toBeCloseTo(46081.993910074234, 3);
      for (let layer = 0; layer < config.n_layer; layer++) {
        expect(file.tensor(`transformer.h.${layer}.mlp.c_fc.weight`).shape).toEqual([config.n_embd, 4 * config.n_embd]);
      }
      await expectError(file.readF16Bits("missing.weight"), "BAD_MODEL_FILE", "missing.weight");
    } finally {
      await source.close();
    }
  });

  it("reads the same bytes from a file, a Blob and a buffer", async () => {
    const bytes = readFileSync(TINY);
    const source = await fileSource(TINY);
    try {
      const fromFile = await openSafetensors(source);
      const fromBlob = await openSafetensors(blobSource(new Blob([bytes]), "tiny"));
      const fromBuffer = await openSafetensors(bufferSource(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
      for (const name of ["wte.weight", "h.1.mlp.c_proj.bias", "ln_f.weight"]) {
        const a = await fromFile.readRaw(name);
        expect(await fromBlob.readRaw(name)).toEqual(a);
        expect(await fromBuffer.readRaw(name)).toEqual(a);
      }
    } finally {
      await source.close();
    }
  });
});

describe("safetensors: writer round trip", () => {
  it("writes and reads back every tensor bit for bit, and rewrites the same bytes", async () => {
    const f32 = randomF32(3 * 5, 1);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x0000, 0x4049]);
    const i8 = new Int8Array([-128, -1, 0, 127]);
    const i64 = new BigInt64Array([-5n, 1n << 40n]);
    const tensors = [
      { name: "a.f32", dtype: "F32" as const, shape: [3, 5], data: f32 },
      { name: "b.f16", dtype: "F16" as const, shape: [2, 3], data: f16 },
      { name: "c.bf16", dtype: "BF16" as const, shape: [4], data: bf16 },
      { name: "d.i8", dtype: "I8" as const, shape: [2, 2], data: i8 },
      { name: "e.i64", dtype: "I64" as const, shape: [2], data: i64 },
      { name: "f.scalar", dtype: "U8" as const, shape: [], data: new Uint8Array([7]) },
      { name: "g.empty", dtype: "F32" as const, shape: [0, 4], data: new Float32Array(0) },
    ];
    const bytes = writeSafetensors(tensors, { format: "pt", note: "ünïcode" });
    expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).toBe(0n);
    const file = await open(bytes);
    expect(file.metadata).toEqual({ format: "pt", note: "ünïcode" });
    expect([...file.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const info = file.tensor(t.name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(await file.readRaw(t.name)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    expect(await file.readF32("a.f32")).toEqual(f32);
    expect(Array.from(await file.readF32("b.f16"))).toEqual([1, -2, 65504, 2 ** -24, -0, Infinity]);
    expect(Array.from(await file.readF32("c.bf16"))).toEqual([1, -3, 0, 3.140625]);
    expect(await file.readF16Bits("b.f16")).toEqual(f16);
    await expectError(file.readF32("d.i8"), "UNSUPPORTED_MODEL", "d.i8", "I8");
    await expectError(file.readF16Bits("a.f32"), "UNSUPPORTED_MODEL", "a.f32");
    const again = writeSafetensors(await Promise.all([...file.tensors.values()].map(async (t) => ({ ...t, data: await file.readRaw(t.name) }))), file.metadata);
    expect(again).toEqual(bytes);
  });

  it("reads from a custom source that returns unaligned views", async () => {
    const values = randomF32(10, 9);
    const bits = new Uint16Array([0x3c00, 0xbc00, 0x4000]);
    const bytes = writeSafetensors([
      { name: "f", dtype: "F32", shape: [10], data: values },
      { name: "h", dtype: "F16", shape: [3], data: bits },
    ]);
    const inner = bufferSource(bytes);
    const odd: ByteSource = {
      size: inner.size,
      name: "odd",
      async read(offset, length) {
        const shifted = new Uint8Array(length + 1);
        shifted.set(await inner.read(offset, length), 1);
        return shifted.subarray(1);
      },
    };
    const file = await openSafetensors(odd);
    expect(await file.readF32("f")).toEqual(values);
    expect(await file.readF16Bits("h")).toEqual(bits);
    expect(Array.from(await file.readF32("h"))).toEqual([1, -1, 2]);
  });

  it("refuses tensors whose data does not match their shape", () => {
    expect(() => writeSafetensors([{ name: "x", dtype: "F32", shape: [3], data: new Float32Array(2) }])).toThrow(/"x"/);
  });
});

describe("safetensors: bad files", () => {
  const good = { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);

  it("rejects a file shorter than the length prefix", async () => {
    await expectError(open(new Uint8Array(5)), "BAD_MODEL_FILE", "too short");
  });

  it("rejects an absurd header length before allocating", async () => {
    await expectError(open(rawFile(good, data8, BigInt(MAX_SAFETENSORS_HEADER_BYTES) + 1n)), "BAD_MODEL_FILE", "limit");
    await expectError(open(rawFile(good, data8, 1n << 63n)), "BAD_MODEL_FILE", "limit");
  });

  it("rejects a header length past the end of the file (truncated file)", async () => {
    const bytes = rawFile(good, data8);
    await expectError(open(bytes.subarray(0, 20)), "BAD_MODEL_FILE", "past the end");
  });

  it("rejects a header that is not JSON, not UTF-8 or not an object", async () => {
    await expectError(open(rawFile('{"x": {"dtype": ')), "BAD_MODEL_FILE", "not valid JSON");
    const badUtf8 = rawFile("{}");
    badUtf8[8] = 0xff;
    await expectError(open(badUtf8), "BAD_MODEL_FILE", "UTF-8");
    await expectError(open(rawFile("[1, 2]")), "BAD_MODEL_FILE", "object");
  });

  it("rejects an unknown dtype, naming the tensor", async () => {
    await expectError(open(rawFile({ w: { dtype: "F7", shape: [2], data_offsets: [0, 8] } }, data8)), "BAD_MODEL_FILE", '"w"', "F7");
  });

  it("rejects negative and non-integer shape dims", async () => {
    await expectError(open(rawFile({ w: { dtype: "U8", shape: [-2, -4], data_offsets: [0, 8] } }, data8)), "BAD_MODEL_FILE", '"w"', "shape");
    await expectError(open(rawFile({ w: { dtype: "U8", shape: [2.5], data_offsets: [0, 8] } }, data8)), "BAD_MODEL_FILE", '"w"', "shape");
    await expectError(open(rawFile({ w: { dtype: "U8", shape: "8", data_offsets: [0, 8] } }, data8)), "BAD_MODEL_FILE", '"w"');
  });

  it("rejects data offsets outside the data section (truncated data)", async () => {
    await expectError(open(rawFile(good, new Uint8Array(4))), "BAD_MODEL_FILE", '"x"', "outside");
    await expectError(open(rawFile({ x: { dtype: "U8", shape: [0], data_offsets: [8, 4] } }, data8)), "BAD_MODEL_FILE", '"x"');
    await expectError(open(rawFile({ x: { dtype: "U8", shape: [1], data_offsets: [-1, 0] } }, data8)), "BAD_MODEL_FILE", '"x"');
  });

  it("rejects a byte size that differs from product(shape) * dtype size", async () => {
    await expectError(open(rawFile({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, data8)), "BAD_MODEL_FILE", '"x"', "needs 12");
  });

  it("rejects overlapping tensors, naming both", async () => {
    const header = {
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
    };
    await expectError(open(rawFile(header, data8)), "BAD_MODEL_FILE", '"a"', '"b"', "overlap");
  });

  it("rejects malformed __metadata__", async () => {
    await expectError(open(rawFile({ __metadata__: { n: 3 } })), "BAD_MODEL_FILE", "__metadata__");
  });

  it("reports a missing tensor by name", async () => {
    const file = await open(rawFile(good, data8));
    await expectError(file.readF32("nope"), "BAD_MODEL_FILE", '"nope"');
  });
});
