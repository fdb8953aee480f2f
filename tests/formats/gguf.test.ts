import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { isMnemoError, type MnemoErrorCode } from "../../src/errors.js";
import { openGguf, type GgufTypedValue } from "../../src/formats/gguf.js";
import { writeGguf, ggufChunks } from "../../src/formats/gguf-writer.js";
import { fileSource } from "../../src/formats/node-file-source.js";
import { openSafetensors } from "../../src/formats/safetensors.js";
import { bufferSource, type ByteSource } from "../../src/formats/source.js";
import { quantizeQ8_0, quantizeQ4_0 } from "../../src/formats/quant.js";
import { randomF32 } from "../helpers/random.js";

const Q8 = "tests/fixtures/models/gpt2-gutenberg-q8_0.gguf";
const Q4 = "tests/fixtures/models/gpt2-gutenberg-q4_0.gguf";
const F16_SAFETENSORS = "weights/gpt2-gutenberg/model.safetensors";

async function expectError(promise: Promise<unknown>, code: MnemoErrorCode, ...parts: string[]): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMnemoError(err, code), `expected MnemoError ${code}, got ${String(err)}`).toBe(true);
  for (const part of parts) expect((err as Error).message).toContain(part);
  return err as Error;
}

const open = (bytes: Uint8Array) => openGguf(bufferSource(bytes, "test.gguf"));

// Little-endian pieces for hand-made (deliberately broken) files.
const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
const u64 = (v: bigint | number) => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
const str = (s: string | Uint8Array) => {
  const bytes = typeof s === "string" ? new TextEncoder().encode(s) : s;
  return concat(u64(bytes.byteLength), bytes);
};
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
const MAGIC = new TextEncoder().encode("GGUF");
/** Header with explicit counts, then the given body bytes. */
const header = (tensors: bigint | number, kvs: bigint | number, ...body: Uint8Array[]) => concat(MAGIC, u32(3), u64(tensors), u64(kvs), ...body);
/** A tensor info entry. */
const tensorInfo = (name: string | Uint8Array, dims: number[], type: number, offset: bigint | number) => concat(str(name), u32(dims.length), ...dims.map((d) => u64(d)), u32(type), u64(offset));
/** Pads `bytes` with zeros to a multiple of 32 (the data section start). */
const pad32 = (bytes: Uint8Array) => concat(bytes, new Uint8Array((32 - (bytes.byteLength % 32)) % 32));

/** Counts the reads made of `bytes`: how many, the largest and the total (to prove nothing huge is read or allocated). */
function watchedSource(bytes: Uint8Array): { source: ByteSource; largestRead: () => number; reads: () => number; bytesRead: () => number } {
  const inner = bufferSource(bytes, "watched.gguf");
  let largest = 0;
  let reads = 0;
  let total = 0;
  return {
    source: {
      ...inner,
      read(offset, length) {
        largest = Math.max(largest, length);
        reads++;
        total += length;
        return inner.read(offset, length);
      },
    },
    largestRead: () => largest,
    reads: () => reads,
    bytesRead: () => total,
  };
}

describe("gguf: the bundled GPT-2 files", () => {
  it("reads metadata and tensor infos of the Q8_0 file", async () => {
    const source = await fileSource(Q8);
    try {
      const file = await openGguf(source);
      expect(file.version).toBe(3);
      expect(file.alignment).toBe(32);
      expect(file.getString("general.architecture")).toBe("gpt2");
      expect(file.getNumber("gpt2.context_length")).toBe(1024);
      expect(file.getNumber("gpt2.embedding_length")).toBe(256);
      expect(file.getNumber("gpt2.block_count")).toBe(8);
      expect(file.getNumber("gpt2.attention.head_count")).toBe(4);
      expect(file.getNumber("gpt2.attention.layer_norm_epsilon")).toBe(Math.fround(1e-5));
      expect(file.metadata.get("tokenizer.ggml.add_bos_token")).toBe(false);
      expect(file.typedMetadata.get("general.file_type")).toEqual({ type: "u32", value: 7 });
      const tokens = file.getStringArray("tokenizer.ggml.tokens");
      expect(tokens.length).toBe(50257);
      expect(tokens.slice(0, 3)).toEqual(["!", '"', "#"]);
      expect(tokens[50256]).toBe("<|endoftext|>");
      const merges = file.getStringArray("tokenizer.ggml.merges");
      expect(merges.length).toBe(50000);
      expect(merges.slice(0, 3)).toEqual(["Ġ t", "Ġ a", "h e"]);
      expect((file.metadata.get("tokenizer.ggml.token_type") as number[]).length).toBe(50257);
      expect(file.tensors.length).toBe(100);
      const embd = file.tensor("token_embd.weight");
      expect(embd).toMatchObject({ dims: [256, 50257], typeName: "Q8_0", type: 8 });
      expect(embd.byteLength).toBe((256 * 50257 * 34) / 32);
      expect(file.tensor("blk.0.attn_norm.weight")).toMatchObject({ dims: [256], typeName: "F32" });
      expect(file.tensor("blk.7.ffn_up.weight").dims).toEqual([256, 1024]);
      for (const t of file.tensors) expect((t.byteOffset - file.dataOffset) % 32).toBe(0);
      expect(() => file.getNumber("general.architecture")).toThrow(/not a number/);
      expect(() => file.getString("nope")).toThrow(/"nope" is missing/);
      expect(file.getNumber("nope", 7)).toBe(7);
    } finally {
      await source.close();
    }
  });

  for (const [path, type, stepsPerScale] of [
    [Q8, "Q8_0", 0.5 / 127],
    [Q4, "Q4_0", 1 / 8],
  ] as const) {
    it(`dequantizes ${type} token_embd close to the F16 safetensors weights`, async () => {
      // Both files come from the same weights. Per block the error is at most the rounding
      // step (Q8_0: d/2 with d = amax/127; Q4_0: d with d = amax/8, the clamped side), plus
      // the f16 rounding of the stored scale (|q| * |d - d16| <= amax * 2^-11) and of the
      // F16 reference itself (<= amax * 2^-11).
      const gguf = await openGguf(bufferSource(readFileSync(path), path));
      expect(gguf.tensor("token_embd.weight").typeName).toBe(type);
      const st = await openSafetensors(bufferSource(readFileSync(F16_SAFETENSORS)));
      const ref = await st.readF32("transformer.wte.weight");
      const got = await gguf.readF32("token_embd.weight");
      expect(got.length).toBe(ref.length);
      let worstRatio = 0;
      for (let b = 0; b < ref.length / 32; b++) {
        let amax = 0;
        for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(ref[b * 32 + i]));
        const bound = amax * (stepsPerScale + 2 ** -10) * 1.01 + 1e-7;
        for (let i = 0; i < 32; i++) {
          const err = Math.abs(got[b * 32 + i] - ref[b * 32 + i]);
          worstRatio = Math.max(worstRatio, err / bound);
        }
      }
      console.log(`${type} token_embd vs f16: worst error / bound = ${worstRatio.toFixed(3)}`);
      expect(worstRatio).toBeLessThanOrEqual(1);
      const norm = await gguf.readF32("blk.0.attn_norm.weight");
      expect(norm).toEqual(await st.readF32("transformer.h.0.ln_1.weight"));
    });

    it(`rewrites the ${type} file bit for bit from what it read`, async () => {
      const bytes = readFileSync(path);
      const file = await open(bytes);
      const tensors = await Promise.all(file.tensors.map(async (t) => ({ name: t.name, type: t.typeName, dims: t.dims, data: await file.readTensor(t.name) })));
      const again = writeGguf({ metadata: file.typedMetadata, tensors });
      expect(again.byteLength).toBe(bytes.byteLength);
      expect(Buffer.compare(Buffer.from(again), bytes)).toBe(0);
    });
  }
});

describe("gguf: writer round trip", () => {
  const metadata: Array<[string, GgufTypedValue]> = [
    ["general.architecture", { type: "string", value: "gpt2" }],
    ["general.name", { type: "string", value: "tëst ✓ 🙂" }],
    ["a.u8", { type: "u8", value: 255 }],
    ["a.i8", { type: "i8", value: -128 }],
    ["a.u16", { type: "u16", value: 65535 }],
    ["a.i16", { type: "i16", value: -32768 }],
    ["a.u32", { type: "u32", value: 4294967295 }],
    ["a.i32", { type: "i32", value: -2147483648 }],
    ["a.f32", { type: "f32", value: Math.fround(0.1) }],
    ["a.f64", { type: "f64", value: 0.1 }],
    ["a.u64", { type: "u64", value: (1n << 64n) - 1n }],
    ["a.i64", { type: "i64", value: -(1n << 63n) }],
    ["a.bool", { type: "bool", value: true }],
    ["a.strings", { type: "array", itemType: "string", value: ["x", "", "Ġthe"] }],
    ["a.ints", { type: "array", itemType: "i32", value: [1, -2, 3] }],
    ["a.floats", { type: "array", itemType: "f32", value: [0.5, -1.25] }],
    ["a.u64s", { type: "array", itemType: "u64", value: [0n, 1n << 40n] }],
    ["a.bools", { type: "array", itemType: "bool", value: [true, false] }],
    ["a.empty", { type: "array", itemType: "u8", value: [] }],
    [
      "a.nested",
      {
        type: "array",
        itemType: "array",
        value: [
          { type: "array", itemType: "string", value: ["p", "q"] },
          { type: "array", itemType: "u16", value: [9] },
        ],
      },
    ],
  ];
  const f32 = randomF32(64 * 2, 3);
  const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x0000, 0x7bff, 0xbc00, 0x3555, 0x4248]);
  const q8 = quantizeQ8_0(randomF32(64 * 3, 4));
  const q4 = quantizeQ4_0(randomF32(32 * 2, 5));
  const tensors = [
    { name: "w.f32", type: "F32", dims: [64, 2], data: new Uint8Array(f32.buffer) },
    { name: "w.f16", type: "F16", dims: [4, 2], data: new Uint8Array(f16.buffer) },
    { name: "w.q8", type: "Q8_0", dims: [64, 3], data: q8 },
    { name: "w.q4", type: "Q4_0", dims: [32, 2], data: q4 },
    { name: "w.odd", type: "F32", dims: [3], data: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
  ];

  it("reads back every metadata value with its type and every tensor bit for bit", async () => {
    const bytes = writeGguf({ metadata, tensors });
    const file = await open(bytes);
    expect([...file.typedMetadata]).toEqual(metadata);
    expect(file.metadata.get("a.nested")).toEqual([["p", "q"], [9]]);
    expect(file.metadata.get("a.u64")).toBe((1n << 64n) - 1n);
    for (const t of tensors) {
      const info = file.tensor(t.name);
      expect(info.dims).toEqual(t.dims);
      expect(info.typeName).toBe(t.type);
      expect(await file.readTensor(t.name)).toEqual(t.data);
    }
    expect(await file.readF32("w.f32")).toEqual(f32);
    expect(Array.from((await file.readF32("w.f16")).subarray(0, 6))).toEqual([1, -2, 0.5, 0, 65504, -1]);
    expect(writeGguf({ metadata: file.typedMetadata, tensors })).toEqual(bytes);
    // The streaming form yields the same bytes.
    expect(Buffer.concat([...ggufChunks({ metadata, tensors })])).toEqual(Buffer.from(bytes));
  });

  it("dequantizes Q8_0 and Q4_0 tensors through quant.ts", async () => {
    // Inputs are U(-1, 1), so every block's amax <= 1: the error is at most the rounding step
    // (Q8_0: amax/254, Q4_0: amax/8) plus the f16 rounding of the scale (amax * 2^-11).
    const file = await open(writeGguf({ metadata, tensors }));
    for (const [name, seed, n, step] of [
      ["w.q8", 4, 64 * 3, 0.5 / 127],
      ["w.q4", 5, 32 * 2, 1 / 8],
    ] as const) {
      const values = randomF32(n, seed);
      const back = await file.readF32(name);
      expect(back.length).toBe(n);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(back[i] - values[i]));
      console.log(`${name} round trip of U(-1,1): worst abs error ${worst.toExponential(3)}`);
      expect(worst).toBeLessThanOrEqual((step + 2 ** -11) * 1.01);
    }
  });

  it("honours a non-default alignment and records it as general.alignment", async () => {
    const bytes = writeGguf({ metadata: metadata.slice(0, 2), tensors, alignment: 64 });
    const file = await open(bytes);
    expect(file.alignment).toBe(64);
    expect(file.typedMetadata.get("general.alignment")).toEqual({ type: "u32", value: 64 });
    expect(file.dataOffset % 64).toBe(0);
    for (const t of file.tensors) expect(t.byteOffset % 64).toBe(0);
    expect(await file.readTensor("w.q4")).toEqual(q4);
  });

  it("refuses tensors whose bytes do not match type and dims, and bad metadata values", () => {
    expect(() => writeGguf({ metadata: [], tensors: [{ ...tensors[0], dims: [64, 3] }] })).toThrow(/"w.f32"/);
    expect(() => writeGguf({ metadata: [], tensors: [{ ...tensors[2], dims: [48, 4] }] })).toThrow(/block size/);
    expect(() => writeGguf({ metadata: [["x", { type: "u8", value: 256 }]], tensors: [] })).toThrow(/not a valid u8/);
    expect(() => writeGguf({ metadata: [["x", { type: "u64", value: -1n }]], tensors: [] })).toThrow(/not a valid u64/);
  });
});

describe("gguf: bad files", () => {
  const good = writeGguf({
    metadata: [["general.architecture", { type: "string", value: "gpt2" }]],
    tensors: [{ name: "w", type: "F32", dims: [8], data: new Uint8Array(32) }],
  });

  it("rejects wrong magic", async () => {
    const bytes = good.slice();
    bytes.set(new TextEncoder().encode("GGML"), 0);
    await expectError(open(bytes), "BAD_MODEL_FILE", "not a GGUF file");
  });

  it("rejects unsupported versions", async () => {
    for (const [version, hint] of [
      [1, "v1"],
      [4, "version 4"],
      [0x03000000, "big-endian"],
    ] as const) {
      const bytes = good.slice();
      new DataView(bytes.buffer).setUint32(4, version, true);
      await expectError(open(bytes), "BAD_MODEL_FILE", "unsupported GGUF version", hint);
    }
  });

  it("rejects a file truncated inside the header", async () => {
    const real = readFileSync(Q8).subarray(0, 100_000);
    await expectError(open(real), "BAD_MODEL_FILE", "truncated");
    await expectError(open(good.subarray(0, 10)), "BAD_MODEL_FILE", "truncated");
  });

  it("fails fast on a tensor count far larger than the file could hold", async () => {
    const watched = watchedSource(header(1n << 60n, 0));
    await expectError(openGguf(watched.source), "BAD_MODEL_FILE", "1152921504606846976 tensors", "more than");
    // Refused from the 24-byte header alone: the counts are checked before any entry is read.
    expect(watched.reads()).toBe(1);
    expect(watched.bytesRead()).toBeLessThanOrEqual(24);
    await expectError(open(header(0, 1n << 62n)), "BAD_MODEL_FILE", "metadata keys");
    // Plausible-looking counts that still exceed the bytes left.
    await expectError(open(header(1000, 0, new Uint8Array(1000))), "BAD_MODEL_FILE", "1000 tensors");
  });

  it("fails fast on an array count larger than the file", async () => {
    const watched = watchedSource(header(0, 1, str("k"), u32(9), u32(4), u64(1n << 40n), new Uint8Array(64)));
    await expectError(openGguf(watched.source), "BAD_MODEL_FILE", 'metadata "k"', "1099511627776 u32 items");
    expect(watched.reads()).toBe(1);
    expect(watched.bytesRead()).toBeLessThanOrEqual(watched.source.size);
    await expectError(open(header(0, 1, str("k"), u32(9), u32(8), u64(1n << 20n), new Uint8Array(64))), "BAD_MODEL_FILE", "string items");
  });

  it("rejects a huge string length without allocating it", async () => {
    const watched = watchedSource(header(0, 1, u64(1n << 62n), new Uint8Array(64)));
    await expectError(openGguf(watched.source), "BAD_MODEL_FILE", "metadata key #0", "string length 4611686018427387904");
    expect(watched.reads()).toBe(1);
    expect(watched.bytesRead()).toBeLessThanOrEqual(watched.source.size);
    await expectError(open(header(0, 1, str("k"), u32(8), u64(65), new Uint8Array(64))), "BAD_MODEL_FILE", 'metadata "k"', "string length 65");
  });

  it("rejects strings that are not valid UTF-8, naming the field", async () => {
    await expectError(open(header(0, 1, str(new Uint8Array([0x67, 0xff, 0xfe])), u32(0), new Uint8Array([1]))), "BAD_MODEL_FILE", "metadata key #0", "UTF-8");
    await expectError(open(header(0, 1, str("k"), u32(8), str(new Uint8Array([0xc3, 0x28])))), "BAD_MODEL_FILE", 'metadata "k"', "UTF-8");
    await expectError(open(header(1, 0, tensorInfo(new Uint8Array([0xff]), [1], 0, 0))), "BAD_MODEL_FILE", "tensor #0", "UTF-8");
  });

  it("rejects an unknown metadata value type", async () => {
    await expectError(open(header(0, 1, str("k"), u32(13), u32(0))), "BAD_MODEL_FILE", 'metadata "k"', "unknown value type 13");
  });

  it("rejects an unknown tensor type, naming the tensor", async () => {
    const bytes = pad32(header(1, 0, tensorInfo("w", [8], 99, 0)));
    await expectError(open(concat(bytes, new Uint8Array(32))), "BAD_MODEL_FILE", '"w"', "unknown tensor type 99");
  });

  it("opens a known but unsupported tensor type and refuses to read it by name", async () => {
    const file = await open(writeGguf({ metadata: [], tensors: [{ name: "k.w", type: "Q4_K", dims: [256, 2], data: new Uint8Array(288) }] }));
    expect(file.tensor("k.w").typeName).toBe("Q4_K");
    await expectError(file.readTensor("k.w"), "UNSUPPORTED_MODEL", '"k.w"', "Q4_K");
    await expectError(file.readF32("k.w"), "UNSUPPORTED_MODEL", "Q4_K");
  });

  it("rejects a truncated tensor data section", async () => {
    await expectError(open(good.subarray(0, good.byteLength - 4)), "BAD_MODEL_FILE", '"w"', "outside the file");
  });

  it("rejects tensor offsets out of range", async () => {
    const head = pad32(header(1, 0, tensorInfo("w", [8], 0, 1n << 62n)));
    await expectError(open(concat(head, new Uint8Array(32))), "BAD_MODEL_FILE", '"w"', "outside the file");
  });

  it("rejects offsets that are not aligned", async () => {
    const head = pad32(header(1, 0, tensorInfo("w", [4], 0, 16)));
    await expectError(open(concat(head, new Uint8Array(64))), "BAD_MODEL_FILE", '"w"', "not a multiple of the alignment 32");
  });

  it("rejects overlapping tensors, naming both", async () => {
    const head = pad32(header(2, 0, tensorInfo("a", [16], 0, 0), tensorInfo("b", [8], 0, 32)));
    await expectError(open(concat(head, new Uint8Array(64))), "BAD_MODEL_FILE", '"a"', '"b"', "overlap");
  });

  it("rejects a bad general.alignment", async () => {
    const bytes = header(0, 1, str("general.alignment"), u32(4), u32(24));
    await expectError(open(bytes), "BAD_MODEL_FILE", "general.alignment 24");
    await expectError(open(header(0, 1, str("general.alignment"), u32(8), str("32"))), "BAD_MODEL_FILE", "must be a u32");
  });

  it("rejects duplicate keys and tensor names, too many dims, and rows not made of whole blocks", async () => {
    const kv = concat(str("k"), u32(0), new Uint8Array([1]));
    await expectError(open(header(0, 2, kv, kv)), "BAD_MODEL_FILE", '"k" appears twice');
    const twice = pad32(header(2, 0, tensorInfo("w", [8], 0, 0), tensorInfo("w", [8], 0, 32)));
    await expectError(open(concat(twice, new Uint8Array(64))), "BAD_MODEL_FILE", '"w" appears twice');
    const deep = pad32(header(1, 0, tensorInfo("w", [1, 1, 1, 1, 8], 0, 0)));
    await expectError(open(concat(deep, new Uint8Array(32))), "BAD_MODEL_FILE", '"w"', "5 dimensions");
    const ragged = pad32(header(1, 0, tensorInfo("q", [48, 2], 8, 0)));
    await expectError(open(concat(ragged, new Uint8Array(128))), "BAD_MODEL_FILE", '"q"', "block size 32");
  });

  it("rejects arrays nested absurdly deep", async () => {
    const nest = (depth: number): Uint8Array => (depth === 0 ? concat(u32(0), u64(0)) : concat(u32(9), u64(1), nest(depth - 1)));
    await expectError(open(header(0, 1, str("k"), u32(9), nest(40))), "BAD_MODEL_FILE", 'metadata "k"', "nested");
  });
});
