// Where a model's files come from: a folder or file path (Node), a URL (a folder URL or a
// direct .gguf/.safetensors URL), Files from a picker or drag and drop, or buffers in
// memory. Everything downstream asks for files by name and gets a ByteSource.
import { MnemoError } from "../errors.js";
import { nodeHost } from "../host.js";
import type { ModelFiles } from "./file-set.js";
import { blobSource, bufferSource, type ByteSource } from "../formats/source.js";
import { downloadFile, type FileProgress, type Integrity } from "./cache.js";

/** Anything `loadModel` accepts as a model. */
export type ModelSource = string | URL | FileList | readonly File[] | Readonly<Record<string, ArrayBuffer | ArrayBufferView | Blob>>;

export interface ModelFilesOptions {
  cache?: boolean;
  onProgress?: (p: FileProgress) => void;
  signal?: AbortSignal;
  /** Expected size / SHA-256 per file name, checked before the file is used. */
  integrity?: Readonly<Record<string, Integrity>>;
}

const WEIGHT_FILE = /\.(gguf|safetensors)$/i;

function fromUrl(url: string, opts: ModelFilesOptions): ModelFiles {
  const direct = WEIGHT_FILE.test(new URL(url, "http://localhost/").pathname);
  const base = direct ? url.slice(0, url.lastIndexOf("/") + 1) : url.endsWith("/") ? url : `${url}/`;
  const primary = direct ? url.slice(url.lastIndexOf("/") + 1) : undefined;
  const fetched = new Map<string, Promise<ByteSource | null>>();
  return {
    origin: url,
    primary,
    knownNames: () => (primary ? [primary] : []),
    tryGet(name) {
      let p = fetched.get(name);
      if (!p) {
        p = downloadFile(new URL(name, base).href, {
          cache: opts.cache,
          onProgress: opts.onProgress,
          signal: opts.signal,
          integrity: opts.integrity?.[name],
        }).then((bytes) => (bytes ? bufferSource(bytes, name) : null));
        fetched.set(name, p);
      }
      return p;
    },
  };
}

function fromMap(entries: Map<string, ByteSource>, origin: string): ModelFiles {
  const names = [...entries.keys()];
  const weights = names.filter((n) => WEIGHT_FILE.test(n));
  return {
    origin,
    primary: weights.length === 1 ? weights[0] : undefined,
    knownNames: () => names,
    tryGet: async (name) => entries.get(name) ?? null,
  };
}

/** Resolves any {@link ModelSource} into named files. */
export async function resolveModelFiles(source: ModelSource, opts: ModelFilesOptions = {}): Promise<ModelFiles> {
  if (source instanceof URL) return fromUrl(source.href, opts);
  if (typeof source === "string") {
    if (source.length === 0) throw new MnemoError("BAD_INPUT", "The model source is an empty string.");
    // Outside Node every string is a URL (relative ones resolve against the page).
    const host = nodeHost();
    if (!host || /^(https?:|blob:)/i.test(source)) return fromUrl(new URL(source, globalThis.location?.href).href, opts);
    return host.modelFiles(source);
  }
  const entries = new Map<string, ByteSource>();
  const list: ArrayLike<unknown> | null = Array.isArray(source) || (typeof FileList !== "undefined" && source instanceof FileList) ? (source as ArrayLike<unknown>) : null;
  if (list) {
    for (let i = 0; i < list.length; i++) {
      const f = list[i] as File;
      entries.set(f.name, blobSource(f, f.name));
    }
    return fromMap(entries, `${list.length} file(s)`);
  }
  for (const [name, value] of Object.entries(source)) {
    entries.set(name, value instanceof Blob ? blobSource(value, name) : bufferSource(value as ArrayBuffer | ArrayBufferView, name));
  }
  if (entries.size === 0) throw new MnemoError("BAD_INPUT", "No model files were given.");
  return fromMap(entries, "in-memory files");
}
