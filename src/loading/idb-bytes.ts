// Bytes kept in IndexedDB under string keys (browsers and workers): one database per kind
// of thing (session snapshots, memory stores), one object store in each.
import { MnemoError } from "../errors.js";

/** Where a kind of bytes lives: a database and its single object store. */
export interface IdbPlace {
  database: string;
  store: string;
  /** What to tell a user where IndexedDB is missing (the alternative). */
  alternative: string;
}

function open(place: IdbPlace): Promise<IDBDatabase> {
  if (typeof indexedDB === "undefined") throw new MnemoError("BAD_INPUT", `IndexedDB is not available here; ${place.alternative}`);
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(place.database, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(place.store);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function request<T>(place: IdbPlace, mode: IDBTransactionMode, make: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open(place);
  try {
    return await new Promise<T>((resolve, reject) => {
      const req = make(db.transaction(place.store, mode).objectStore(place.store));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

/** Stores `bytes` under `key`. */
export async function putBytes(place: IdbPlace, key: string, bytes: Uint8Array): Promise<void> {
  await request(place, "readwrite", (s) => s.put(bytes, key));
}

/** The bytes under `key`, or null. */
export async function getBytes(place: IdbPlace, key: string): Promise<Uint8Array | null> {
  const v = await request(place, "readonly", (s) => s.get(key));
  if (v === undefined || v === null) return null;
  return v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer);
}
