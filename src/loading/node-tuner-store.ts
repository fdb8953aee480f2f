// Node only: the kernel tuner's choices in a JSON file (see NodeHost.tunerStore), so a later
// process on the same machine measures nothing. Written to a temporary name and renamed, so
// processes loading models at once never read half a file.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { memoryTunerStore, type TunerStore } from "../base/tuner-store.js";

/** The file (or "off") the choices go to. */
export function nodeTunerCachePath(env: Record<string, string | undefined> = process.env): string {
  if (env.MNEMO_KERNEL_CACHE) return env.MNEMO_KERNEL_CACHE;
  const base = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "mnemo", "kernel-choices.json");
}

let shared: TunerStore | undefined;

/** The process's store: the file of {@link nodeTunerCachePath}, or memory when it is "off". */
export function nodeTunerStore(): TunerStore {
  if (shared) return shared;
  const path = nodeTunerCachePath();
  if (path === "off") return (shared = memoryTunerStore());
  shared = {
    load: async () => {
      try {
        return await readFile(path, "utf8");
      } catch {
        return null;
      }
    },
    save: async (text) => {
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temporary, text);
      await rename(temporary, path);
    },
  };
  return shared;
}
