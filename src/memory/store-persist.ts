// Memory stores kept in IndexedDB (browsers and workers); Node keeps them as files
// (src/memory/store-node.ts).
import { getBytes, putBytes, type IdbPlace } from "../loading/idb-bytes.js";
import { decodeKnnStore, encodeKnnStore, type KnnStoreData } from "./store-file.js";

const STORES: IdbPlace = { database: "mnemo-memory", store: "stores", alternative: "use encodeMemoryStore() bytes or a file." };

/** Saves a memory store in IndexedDB under `key`. */
export async function saveMemoryStoreToIndexedDb(key: string, store: KnnStoreData): Promise<void> {
  await putBytes(STORES, key, encodeKnnStore(store));
}

/** Loads a store saved with {@link saveMemoryStoreToIndexedDb}; null when there is none. */
export async function loadMemoryStoreFromIndexedDb(key: string): Promise<KnnStoreData | null> {
  const bytes = await getBytes(STORES, key);
  return bytes ? decodeKnnStore(bytes) : null;
}
