// The memory store file: round trips bit for bit (f32 and f16 keys), and every damaged file
// is refused with BAD_MODEL_FILE before anything large is allocated.
import { describe, it, expect } from "vitest";
import { decodeKnnStore, encodeKnnStore, readKnnStoreHeader, type KnnStoreData } from "../../src/memory/store-file.js";
import { f32ToF16Array } from "../../src/formats/f16.js";
import { loadMemoryStoreFile, saveMemoryStoreFile } from "../../src/memory/store-node.js";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMnemoError } from "../../src/errors.js";
import { caught } from "../helpers/errors.js";
import { randomF32 } from "../helpers/random.js";

function store(keyType: "f32" | "f16", count: number, dims: number): KnnStoreData {
  const keys = randomF32(count * dims, count + dims, 3);
  return {
    fingerprint: "a3f1c2-model-fingerprint",
    dims,
    keyType,
    count,
    keys: keyType === "f32" ? keys : f32ToF16Array(keys),
    values: Uint32Array.from({ length: count }, (_, i) => (i * 7919) % 50257),
    inputs: Uint32Array.from({ length: count }, (_, i) => (i * 104729) % 50257),
  };
}

function expectBad(bytes: Uint8Array, message: RegExp): void {
  const err = caught(() => decodeKnnStore(bytes));
  expect(isMnemoError(err, "BAD_MODEL_FILE"), String(err)).toBe(true);
  expect(String(err)).toMatch(message);
}

describe("memory store file", () => {
  for (const [keyType, count, dims] of [
    ["f32", 1000, 7],
    ["f16", 333, 256],
    ["f32", 0, 16],
  ] as const) {
    it(`round-trips ${count} ${keyType} keys of ${dims} bit for bit`, () => {
      const s = store(keyType, count, dims);
      const bytes = encodeKnnStore(s);
      const back = decodeKnnStore(bytes);
      expect(back.fingerprint).toBe(s.fingerprint);
      expect([back.dims, back.keyType, back.count]).toEqual([dims, keyType, count]);
      expect(new Uint8Array(back.keys.buffer)).toEqual(new Uint8Array(s.keys.buffer));
      expect(back.values).toEqual(s.values);
      expect(back.inputs).toEqual(s.inputs);
      expect(encodeKnnStore(back)).toEqual(bytes);
    });
  }

  it("refuses truncated and inflated files, and counts that do not match the size", () => {
    const bytes = encodeKnnStore(store("f16", 100, 8));
    expectBad(bytes.subarray(0, bytes.length - 1), /truncated/);
    expectBad(bytes.subarray(0, 20), /shorter than the 32-byte header/);
    const inflated = new Uint8Array(bytes.length + 8);
    inflated.set(bytes);
    expectBad(inflated, /longer than its header says/);
    // A count far larger than the file: refused from the header alone, nothing allocated.
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(24, 2n ** 60n, true);
    expectBad(huge, /truncated: 1152921504606846976 entries/);
  });

  it("refuses a wrong magic, version, key type, dims and fingerprint length", () => {
    const good = encodeKnnStore(store("f32", 10, 4));
    const patched = (at: number, value: number) => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(at, value, true);
      return b;
    };
    const wrongMagic = good.slice();
    wrongMagic[0] = 0x58;
    expectBad(wrongMagic, /magic/);
    expectBad(patched(8, 2), /version 2/);
    expectBad(patched(12, 9), /key type code 9/);
    expectBad(patched(16, 0), /dims 0/);
    expectBad(patched(20, 5000), /fingerprint of 5000 bytes/);
  });

  it("round-trips through a file (Node), leaving no partial file behind", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mnemo-store-"));
    const s = store("f16", 20, 8);
    await saveMemoryStoreFile(join(dir, "a.mem"), s);
    expect(await readdir(dir)).toEqual(["a.mem"]);
    const back = await loadMemoryStoreFile(join(dir, "a.mem"));
    expect(encodeKnnStore(back)).toEqual(encodeKnnStore(s));
    await rm(dir, { recursive: true });
  });

  it("reads the header without the keys", () => {
    const h = readKnnStoreHeader(encodeKnnStore(store("f16", 50, 6)));
    expect(h).toMatchObject({ dims: 6, keyType: "f16", count: 50, fingerprint: "a3f1c2-model-fingerprint" });
  });

  it("refuses to write inconsistent arrays", () => {
    const s = store("f32", 10, 4);
    expect(
      isMnemoError(
        caught(() => encodeKnnStore({ ...s, count: 11 })),
        "BAD_MODEL_FILE",
      ),
    ).toBe(true);
    expect(
      isMnemoError(
        caught(() => encodeKnnStore({ ...s, keyType: "f16" })),
        "BAD_MODEL_FILE",
      ),
    ).toBe(true);
  });
});
