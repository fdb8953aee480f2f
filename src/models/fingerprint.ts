import { sha256Hex } from "../loading/cache.js";

/**
 * A fingerprint of a model: SHA-256 over its config, file size and first bytes. Snapshots
 * and memory stores carry it, so state is never restored into another model.
 */
export function modelFingerprint(parts: readonly (Uint8Array | string)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p));
  const all = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return sha256Hex(all);
}
