// Node only: session snapshots as files. Exported by the Node entry (src/node.ts).
import { readFile, writeFile } from "node:fs/promises";
import { decodeSnapshot, encodeSnapshot, type StateSnapshot } from "./snapshot.js";

/** Saves a session snapshot to a file (Node). */
export async function saveSnapshotFile(path: string, snapshot: StateSnapshot): Promise<void> {
  await writeFile(path, encodeSnapshot(snapshot));
}

/** Loads a snapshot saved with {@link saveSnapshotFile} (Node); BAD_INPUT when it is not one. */
export async function loadSnapshotFile(path: string): Promise<StateSnapshot> {
  return decodeSnapshot(new Uint8Array(await readFile(path)));
}
