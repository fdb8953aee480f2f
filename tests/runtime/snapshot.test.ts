import { describe, it, expect } from "vitest";
import { decodeSnapshot, encodeSnapshot, type StateSnapshot } from "../../src/runtime/snapshot.js";
import { writeSafetensors } from "../../src/formats/safetensors.js";
import { isMnemoError } from "../../src/errors.js";

const snap: StateSnapshot = {
  modelFingerprint: "abc123",
  kind: "kv-cache",
  tokens: [1, 2, 50256],
  droppedTokens: 7,
  position: 2,
  tensors: {
    "layer0.k": { dtype: "f16", shape: [2, 3], data: new Uint16Array([1, 2, 3, 4, 5, 0x3c00]) },
    "layer0.v": { dtype: "f32", shape: [3], data: new Float32Array([0.5, -1, 3.25]) },
  },
};

async function rejects(bytes: Uint8Array): Promise<unknown> {
  try {
    await decodeSnapshot(bytes);
  } catch (e) {
    return e;
  }
  throw new Error("decodeSnapshot accepted bad bytes");
}

describe("session snapshots", () => {
  it("round-trip through bytes exactly", async () => {
    const back = await decodeSnapshot(encodeSnapshot(snap));
    expect(back.modelFingerprint).toBe("abc123");
    expect(back.kind).toBe("kv-cache");
    expect(back.tokens).toEqual([1, 2, 50256]);
    expect(back.droppedTokens).toBe(7);
    expect(back.position).toBe(2);
    expect([...(back.tensors["layer0.k"].data as Uint16Array)]).toEqual([1, 2, 3, 4, 5, 0x3c00]);
    expect([...(back.tensors["layer0.v"].data as Float32Array)]).toEqual([0.5, -1, 3.25]);
    expect(back.tensors["layer0.k"].shape).toEqual([2, 3]);
  });

  it("refuse safetensors that are not snapshots, and damaged metadata", async () => {
    const plain = writeSafetensors([{ name: "w", dtype: "F32", shape: [1], data: new Float32Array([1]) }]);
    expect(isMnemoError(await rejects(plain), "BAD_INPUT")).toBe(true);
    const meta = { format: "mnemo-state", version: "1", model: "m", kind: "kv-cache", dropped: "0", position: "0" };
    const badTokens = writeSafetensors([], { ...meta, tokens: "[1, -2]" });
    expect(String(await rejects(badTokens))).toMatch(/token ids/);
    const badKind = writeSafetensors([], { ...meta, kind: "other", tokens: "[]" });
    expect(String(await rejects(badKind))).toMatch(/unknown kind/);
    const badDtype = writeSafetensors([{ name: "x", dtype: "I32", shape: [1], data: new Int32Array([1]) }], { ...meta, tokens: "[]" });
    expect(String(await rejects(badDtype))).toMatch(/F32 or F16/);
  });

  it("refuse truncated bytes with a clear error", async () => {
    const bytes = encodeSnapshot(snap);
    const err = await rejects(bytes.subarray(0, bytes.length - 5));
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/truncated|outside|corrupt/i);
  });
});
