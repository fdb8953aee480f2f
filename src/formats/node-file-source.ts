// Node-only byte source over a local file. Kept apart from source.ts so that browser
// bundles never import node:fs.
import { open } from "node:fs/promises";
import { MnemoError } from "../errors.js";
import { checkRange, type ByteSource } from "./source.js";

/**
 * Opens `path` for random-access reads through one file handle. Call `close()` when done
 * (the model loaders do after upload).
 */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw new MnemoError("BAD_MODEL_FILE", `${path}: cannot open the model file (${(err as Error).message}).`, {
      cause: err,
    });
  }
  const { size } = await handle.stat();
  const fh = handle;
  return {
    size,
    name: path,
    async read(offset, length) {
      checkRange(path, size, offset, length);
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(bytes, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new MnemoError("BAD_MODEL_FILE", `${path}: the file shrank while being read (at byte ${offset + done}).`);
        }
        done += bytesRead;
      }
      return bytes;
    },
    close: () => fh.close(),
  };
}
