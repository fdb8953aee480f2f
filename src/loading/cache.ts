// Whole-file downloads with progress, integrity checks and Cache Storage, for browsers and
// workers. A file enters the cache only after it arrived complete and passed its checks, so
// a partial download is never mistaken for a model on the next visit.
import { MnemoError, abortError } from "../errors.js";
import { downloadAll } from "../formats/source.js";

/** Name of the Cache Storage bucket Mnemo keeps weights in. */
export const MODEL_CACHE_NAME = "mnemo-models-v1";

/** Progress of one file being loaded. */
export interface FileProgress {
  /** File name (last part of the URL). */
  file: string;
  /** Bytes received so far. */
  loaded: number;
  /** Total bytes when known, else 0. */
  total: number;
  /** True when the bytes came from the cache. */
  fromCache: boolean;
}

/** What a file must be, checked before any tensor of it is used. */
export interface Integrity {
  /** Exact size in bytes. */
  size?: number;
  /** Hex SHA-256 of the whole file. */
  sha256?: string;
}

export interface DownloadOptions {
  /** Use Cache Storage when the environment has it (browsers, workers). Default true. */
  cache?: boolean;
  integrity?: Integrity;
  onProgress?: (p: FileProgress) => void;
  signal?: AbortSignal;
}

function cacheStorage(): CacheStorage | null {
  return typeof caches !== "undefined" ? caches : null;
}

/** Hex SHA-256 of `bytes` (Web Crypto: browsers, workers and Node). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Throws BAD_MODEL_FILE when `bytes` do not match the expected size or SHA-256. */
export async function checkIntegrity(name: string, bytes: Uint8Array, integrity: Integrity | undefined): Promise<void> {
  if (!integrity) return;
  if (integrity.size !== undefined && bytes.byteLength !== integrity.size) {
    throw new MnemoError("BAD_MODEL_FILE", `${name}: expected ${integrity.size} bytes, got ${bytes.byteLength}. The download is incomplete or the wrong file.`);
  }
  if (integrity.sha256) {
    const actual = await sha256Hex(bytes);
    if (actual !== integrity.sha256.toLowerCase()) {
      throw new MnemoError("BAD_MODEL_FILE", `${name}: SHA-256 is ${actual}, expected ${integrity.sha256}. Refusing to use it.`);
    }
  }
}

/** The whole body, reporting progress per chunk; a short or failed download is BAD_MODEL_FILE. */
async function readWithProgress(response: Response, file: string, signal: AbortSignal | undefined, onProgress?: (p: FileProgress) => void): Promise<Uint8Array> {
  const header = Number(response.headers.get("content-length") ?? NaN);
  const total = Number.isSafeInteger(header) && header >= 0 ? header : undefined;
  let loaded = 0;
  return downloadAll(response, file, total, signal, (n) => {
    loaded += n;
    onProgress?.({ file, loaded, total: total ?? 0, fromCache: false });
  });
}

function fileName(url: string): string {
  const path = new URL(url, "http://localhost/").pathname;
  return path.slice(path.lastIndexOf("/") + 1) || url;
}

/**
 * Downloads `url` whole, from Cache Storage when it is there. Returns null for a 404 (the
 * caller probes optional files); any other failure is a MnemoError.
 */
export async function downloadFile(url: string, opts: DownloadOptions = {}): Promise<Uint8Array | null> {
  const file = fileName(url);
  const store = opts.cache !== false ? cacheStorage() : null;
  const cache = store ? await store.open(MODEL_CACHE_NAME) : null;
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    try {
      await checkIntegrity(file, bytes, opts.integrity);
      opts.onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength, fromCache: true });
      return bytes;
    } catch {
      await cache!.delete(url); // a stale or damaged entry: fetch again
    }
  }
  let response: Response;
  try {
    response = await fetch(url, { signal: opts.signal });
  } catch (cause) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw new MnemoError("BAD_MODEL_FILE", `Could not download ${url}: ${String(cause)}`, { cause });
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new MnemoError("BAD_MODEL_FILE", `Could not download ${url}: HTTP ${response.status}.`);
  const bytes = await readWithProgress(response, file, opts.signal, opts.onProgress);
  await checkIntegrity(file, bytes, opts.integrity);
  if (cache) {
    const headers = { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) };
    await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
  }
  return bytes;
}

/** Deletes every cached model file. Resolves to false where there is no Cache Storage. */
export async function clearModelCache(): Promise<boolean> {
  const store = cacheStorage();
  if (!store) return false;
  return store.delete(MODEL_CACHE_NAME);
}
