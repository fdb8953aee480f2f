// Node only: memory stores as files. Exported by the Node entry (src/node.ts).
import { readFile, rename, writeFile } from "node:fs/promises";
import { decodeKnnStore, encodeKnnStore, type KnnStoreData } from "./store-file.js";

/** Writes a memory store file (through a temporary name, so no half file is left). */
export async function saveMemoryStoreFile(path: string, store: KnnStoreData): Promise<void> {
  await writeFile(`${path}.partial`, encodeKnnStore(store));
  await rename(`${path}.partial`, path);
}

/** Reads a memory store file; BAD_MODEL_FILE when it is not a whole, valid one. */
export async function loadMemoryStoreFile(path: string): Promise<KnnStoreData> {
  return decodeKnnStore(new Uint8Array(await readFile(path)));
}
