// Node only: a model folder or a single weights file on disk. Reached through the Node
// host (src/node-host.ts), so browser bundles never see node:fs.
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { MnemoError } from "../errors.js";
import { fileSource } from "../formats/node-file-source.js";
import type { ByteSource } from "../formats/source.js";
import type { ModelFiles } from "./file-set.js";

/** Files of a folder, or of the folder around a single .gguf / .safetensors file. */
export async function nodeModelFiles(path: string): Promise<ModelFiles> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new MnemoError("BAD_INPUT", `No model at ${path}: the path does not exist.`);
  }
  const folder = info.isDirectory() ? path : dirname(path);
  const primary = info.isDirectory() ? undefined : basename(path);
  const names = (await readdir(folder)).filter((n) => !n.startsWith("."));
  const opened = new Map<string, Promise<ByteSource>>();
  return {
    origin: path,
    primary,
    knownNames: () => names,
    async tryGet(name) {
      if (!names.includes(name)) return null;
      let p = opened.get(name);
      if (!p) opened.set(name, (p = fileSource(join(folder, name))));
      return p;
    },
    async close() {
      const sources = [...opened.values()];
      opened.clear();
      for (const s of await Promise.allSettled(sources)) if (s.status === "fulfilled") await s.value.close?.();
    },
  };
}
