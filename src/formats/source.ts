// Byte sources: one small interface over files, URLs, Blobs and in-memory buffers so the
// format readers can pull a model tensor by tensor instead of holding a second full copy.
// The Node file source lives in node-file-source.ts so browser bundles never see node:fs.
import { MnemoError, abortError, throwIfAborted } from "../errors.js";

/** Random-access bytes of one model file. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** What the bytes are (file path, URL, blob name), for error messages. */
  readonly name: string;
  /**
   * Reads exactly `length` bytes at `offset`. The result is a fresh array owned by the
   * caller (byteOffset 0, not shared with the source), so it may be wrapped as a typed
   * array or kept without copying. Throws BAD_MODEL_FILE for a range outside the source.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Frees what the source holds open (a file handle); optional. */
  close?(): Promise<void>;
}

/** Progress of a download: bytes received so far and the total when the server said it. */
export interface DownloadProgress {
  loaded: number;
  total: number | undefined;
}

/** Throws BAD_MODEL_FILE unless [offset, offset + length) lies inside a source of `size`. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= size;
  if (!ok) {
    throw new MnemoError("BAD_MODEL_FILE", `${name}: read of ${length} bytes at offset ${offset} is outside the file (${size} bytes); the file is truncated or corrupt.`);
  }
}

/** A source over bytes already in memory. Each read copies only the requested range. */
export function bufferSource(data: ArrayBuffer | ArrayBufferView, name = "buffer"): ByteSource {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return {
    size: bytes.byteLength,
    name,
    async read(offset, length) {
      checkRange(name, bytes.byteLength, offset, length);
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A source over a Blob or File (browser file picker, drag and drop); reads by slicing. */
export function blobSource(blob: Blob, name?: string): ByteSource {
  const label = name ?? ("name" in blob && typeof blob.name === "string" ? blob.name : "blob");
  return {
    size: blob.size,
    name: label,
    async read(offset, length) {
      checkRange(label, blob.size, offset, length);
      const buffer = await blob.slice(offset, offset + length).arrayBuffer();
      if (buffer.byteLength !== length) {
        throw new MnemoError("BAD_MODEL_FILE", `${label}: expected ${length} bytes at ${offset}, got ${buffer.byteLength}.`);
      }
      return new Uint8Array(buffer);
    },
  };
}

/** Options of {@link urlSource}. */
export interface UrlSourceOptions {
  /** Called as bytes arrive (every range read, or the single full download). */
  onProgress?: (progress: DownloadProgress) => void;
  /** Aborts pending and later requests with MnemoError("ABORTED"). */
  signal?: AbortSignal;
  /** The fetch to use (tests, custom headers); defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Bytes fetched by the first request when the server supports ranges (default 1 MiB). */
  probeBytes?: number;
}

/**
 * A source over an HTTP(S) URL. The first request asks for a range; a server that answers
 * 206 is then read with one range request per read (headers come from the probe). A server
 * that ignores ranges answers 200 with the whole file: it is downloaded once, with
 * progress events, and served from memory.
 */
export async function urlSource(url: string | URL, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const name = String(url);
  const doFetch = options.fetch ?? globalThis.fetch;
  const probeBytes = options.probeBytes ?? 1 << 20;
  let loaded = 0;
  const progress = (n: number, total: number | undefined): void => {
    loaded += n;
    options.onProgress?.({ loaded, total });
  };
  const response = await fetchOrThrow(doFetch, name, { headers: { Range: `bytes=0-${probeBytes - 1}` } }, options.signal);
  if (response.status === 416) {
    await response.body?.cancel();
    const total = parseContentRangeTotal(response.headers.get("content-range"));
    if (total === 0) return bufferSource(new Uint8Array(0), name);
    throw httpError(name, response);
  }
  if (response.status === 206) {
    const total = parseContentRangeTotal(response.headers.get("content-range"));
    if (total === undefined) {
      await response.body?.cancel();
      throw new MnemoError("BAD_MODEL_FILE", `${name}: the server answered a range request without a usable Content-Range.`);
    }
    const head = new Uint8Array(await readBody(response, name, options.signal));
    progress(head.byteLength, total);
    return rangeSource(name, total, head, doFetch, options.signal, (n) => progress(n, total));
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw httpError(name, response);
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  const total = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
  const body = await downloadAll(response, name, total, options.signal, (n) => progress(n, total));
  return bufferSource(body, name);
}

/** A source that serves reads inside `head` (the probe) locally and the rest by range. */
function rangeSource(name: string, size: number, head: Uint8Array, doFetch: typeof fetch, signal: AbortSignal | undefined, onBytes: (n: number) => void): ByteSource {
  return {
    size,
    name,
    async read(offset, length) {
      checkRange(name, size, offset, length);
      if (offset + length <= head.byteLength) return head.slice(offset, offset + length);
      const headers = { Range: `bytes=${offset}-${offset + length - 1}` };
      const response = await fetchOrThrow(doFetch, name, { headers }, signal);
      if (response.status !== 206) {
        await response.body?.cancel();
        if (response.ok) {
          throw new MnemoError("BAD_MODEL_FILE", `${name}: the server stopped honouring range requests (HTTP ${response.status}).`);
        }
        throw httpError(name, response);
      }
      const bytes = new Uint8Array(await readBody(response, name, signal));
      if (bytes.byteLength !== length) {
        throw new MnemoError("BAD_MODEL_FILE", `${name}: asked for ${length} bytes at ${offset}, the server sent ${bytes.byteLength}.`);
      }
      onBytes(length);
      return bytes;
    },
  };
}

async function fetchOrThrow(doFetch: typeof fetch, name: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
  throwIfAborted(signal);
  try {
    return await doFetch(name, { ...init, signal });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw new MnemoError("BAD_MODEL_FILE", `${name}: download failed (${(err as Error).message}).`, { cause: err });
  }
}

async function readBody(response: Response, name: string, signal: AbortSignal | undefined): Promise<ArrayBuffer> {
  try {
    return await response.arrayBuffer();
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw new MnemoError("BAD_MODEL_FILE", `${name}: download failed (${(err as Error).message}).`, { cause: err });
  }
}

function httpError(name: string, response: Response): MnemoError {
  return new MnemoError("BAD_MODEL_FILE", `${name}: the server answered HTTP ${response.status} ${response.statusText}.`);
}

/** The total of a `Content-Range: bytes a-b/total` (or `bytes * /total`) header. */
function parseContentRangeTotal(header: string | null): number | undefined {
  const match = header ? /\/(\d+)\s*$/.exec(header) : null;
  const total = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(total) ? total : undefined;
}

/**
 * Streams a whole body into one array (preallocated when the length is known, up to 64 MiB).
 * A failed read is BAD_MODEL_FILE naming the bytes received (ABORTED when `signal` fired);
 * a body shorter or longer than `total` is BAD_MODEL_FILE.
 */
export async function downloadAll(response: Response, name: string, total: number | undefined, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<Uint8Array> {
  if (!response.body) {
    const bytes = new Uint8Array(await readBody(response, name, signal));
    onBytes(bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  // Preallocate from the length header only up to 64 MiB: a header is not proof of bytes.
  let buffer = new Uint8Array(Math.min(total ?? 1 << 16, 1 << 26));
  let used = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (used + value.byteLength > buffer.byteLength) {
        // The length header lied or was absent: grow geometrically.
        const grown = new Uint8Array(Math.max(buffer.byteLength * 2, used + value.byteLength));
        grown.set(buffer.subarray(0, used));
        buffer = grown;
      }
      buffer.set(value, used);
      used += value.byteLength;
      onBytes(value.byteLength);
    }
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    const got = `${used}${total !== undefined ? ` of ${total}` : ""} bytes`;
    throw new MnemoError("BAD_MODEL_FILE", `${name}: the download failed after ${got} (${(err as Error).message}).`, { cause: err });
  }
  if (total !== undefined && used !== total) {
    throw new MnemoError("BAD_MODEL_FILE", `${name}: download ended after ${used} of ${total} bytes.`);
  }
  return used === buffer.byteLength ? buffer : buffer.subarray(0, used);
}

/**
 * Little-endian f32 values over `bytes` without copying when they are 4-byte aligned (as
 * the sources above guarantee), copying otherwise (a custom source may return any view).
 */
export function float32View(bytes: Uint8Array): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 2);
}

/** Little-endian u16 values over `bytes`, copying only when they are not 2-byte aligned. */
export function uint16View(bytes: Uint8Array): Uint16Array {
  const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 1);
}
