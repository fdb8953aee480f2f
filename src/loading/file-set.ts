// A model's files as the loaders see them: fetched lazily by name, wherever they come from
// (src/loading/model-files.ts resolves a source into them; the Node host lists a folder).
// Kept apart from that resolver so the host interface can name this type without a cycle.
import { MnemoError } from "../errors.js";
import type { ByteSource } from "../formats/source.js";

/** A model's files, fetched lazily by name. */
export interface ModelFiles {
  /** A short description of where the files come from (for messages). */
  readonly origin: string;
  /** The main weights file when the source named one directly (a .gguf or .safetensors). */
  readonly primary?: string;
  /** The file, or null when the source has no file of that name. */
  tryGet(name: string): Promise<ByteSource | null>;
  /** Names known without a network probe (all of them for local sources). */
  knownNames(): readonly string[];
  /** Releases open file handles (Node folders); the loader calls it when done. */
  close?(): Promise<void>;
}

/** Reads a whole file as text (UTF-8) or throws BAD_MODEL_FILE naming it. */
export async function readText(files: ModelFiles, name: string): Promise<string | null> {
  const src = await files.tryGet(name);
  if (!src) return null;
  const bytes = await src.read(0, src.size);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: ${name} is not valid UTF-8 text.`, { cause });
  }
}

/** Reads and parses a JSON file, or returns null when absent. */
export async function readJson(files: ModelFiles, name: string): Promise<unknown> {
  const text = await readText(files, name);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new MnemoError("BAD_MODEL_FILE", `${files.origin}: ${name} is not valid JSON (${(cause as Error).message}).`, { cause });
  }
}
