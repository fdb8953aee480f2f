// Loading from a URL with an expected size and SHA-256: a mismatch or a download cut short is
// refused with BAD_MODEL_FILE before any tensor is used; the right file loads.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { loadModel } from "../../src/api.js";
import { MODEL_CACHE_NAME, downloadFile, sha256Hex, type FileProgress } from "../../src/loading/cache.js";
import { isMnemoError } from "../../src/errors.js";
import { ROOT } from "../helpers/models.js";
import { caughtAsync } from "../helpers/errors.js";

const dir = join(ROOT, "tests", "fixtures", "models", "tiny-gpt2");
const weights = readFileSync(join(dir, "model.safetensors"));
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = (req.url ?? "").split("/").pop()!;
    if (req.url?.startsWith("/cut/") && name === "model.safetensors") {
      // Announces the whole file, sends half, then drops the connection.
      res.writeHead(200, { "content-length": String(weights.byteLength) });
      res.write(weights.subarray(0, weights.byteLength >> 1), () => res.destroy());
      return;
    }
    if (name !== "config.json" && name !== "model.safetensors") {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(join(dir, name));
    res.writeHead(200, { "content-length": String(body.byteLength) }).end(body);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

describe("model integrity", () => {
  it("loads when size and SHA-256 match", async () => {
    const sha256 = await sha256Hex(weights);
    const model = await loadModel(`${base}/ok/`, { integrity: { "model.safetensors": { size: weights.byteLength, sha256 } } });
    expect(model.info.type).toBe("gpt2");
    model.dispose();
  });

  it("refuses a wrong SHA-256 or size, naming the file", async () => {
    const badHash = await caughtAsync(() => loadModel(`${base}/ok/`, { integrity: { "model.safetensors": { sha256: "00".repeat(32) } } }));
    expect(isMnemoError(badHash, "BAD_MODEL_FILE")).toBe(true);
    expect(String(badHash)).toMatch(/model\.safetensors: SHA-256 is [0-9a-f]{64}, expected 0000/);
    const badSize = await caughtAsync(() => loadModel(`${base}/ok/`, { integrity: { "model.safetensors": { size: weights.byteLength + 1 } } }));
    expect(isMnemoError(badSize, "BAD_MODEL_FILE")).toBe(true);
    expect(String(badSize)).toMatch(/expected \d+ bytes/);
  });

  it("refuses a download that stops early", async () => {
    const err = await caughtAsync(() => loadModel(`${base}/cut/`));
    expect(isMnemoError(err, "BAD_MODEL_FILE")).toBe(true);
    expect(String(err)).toMatch(/model\.safetensors: the download failed after \d+ of \d+ bytes/);
  });

  it("a download cut short or failing its check never enters the cache; a complete one does", async () => {
    // A Cache Storage stand-in (Node has none): what browsers and workers use.
    const entries = new Map<string, Uint8Array>();
    const cache = {
      match: async (url: string) => (entries.has(url) ? new Response(entries.get(url)! as Uint8Array<ArrayBuffer>) : undefined),
      put: async (url: string, res: Response) => void entries.set(url, new Uint8Array(await res.arrayBuffer())),
      delete: async (url: string) => entries.delete(url),
    };
    const opened: string[] = [];
    (globalThis as { caches?: unknown }).caches = { open: async (name: string) => (opened.push(name), cache) };
    try {
      const cut = await caughtAsync(() => downloadFile(`${base}/cut/model.safetensors`));
      expect(isMnemoError(cut, "BAD_MODEL_FILE")).toBe(true);
      const wrong = await caughtAsync(() => downloadFile(`${base}/ok/model.safetensors`, { integrity: { sha256: "11".repeat(32) } }));
      expect(isMnemoError(wrong, "BAD_MODEL_FILE")).toBe(true);
      expect(entries.size).toBe(0);
      const bytes = await downloadFile(`${base}/ok/model.safetensors`, { integrity: { size: weights.byteLength } });
      expect(bytes?.byteLength).toBe(weights.byteLength);
      expect([...entries.keys()]).toEqual([`${base}/ok/model.safetensors`]);
      const seen: FileProgress[] = [];
      await downloadFile(`${base}/ok/model.safetensors`, { onProgress: (p) => seen.push(p) });
      expect(seen.at(-1)?.fromCache).toBe(true);
      expect(opened.every((n) => n === MODEL_CACHE_NAME)).toBe(true);
    } finally {
      delete (globalThis as { caches?: unknown }).caches;
    }
  });
});
