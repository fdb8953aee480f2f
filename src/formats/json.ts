// Small helpers to parse untrusted JSON (model headers, config.json) into clear errors.
import { MnemoError, type MnemoErrorCode } from "../errors.js";

/** A plain JSON object. */
export type JsonObject = { [key: string]: unknown };

/** True for a non-null, non-array object. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses `text` as JSON, throwing MnemoError(`code`) naming `what` when it is not valid JSON. */
export function parseJson(text: string, what: string, code: MnemoErrorCode = "BAD_MODEL_FILE"): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MnemoError(code, `${what} is not valid JSON (${(err as Error).message}).`, { cause: err });
  }
}

/**
 * Parses `text` as JSON, throwing MnemoError(`code`) naming `what` when it is not valid JSON
 * or not an object at the top level.
 */
export function parseJsonObject(text: string, what: string, code: MnemoErrorCode = "BAD_MODEL_FILE"): JsonObject {
  const value = parseJson(text, what, code);
  if (!isJsonObject(value)) throw new MnemoError(code, `${what} must be a JSON object.`);
  return value;
}

/** Decodes UTF-8 strictly, throwing MnemoError(`code`) naming `what` on invalid bytes. */
export function decodeUtf8(bytes: Uint8Array, what: string, code: MnemoErrorCode = "BAD_MODEL_FILE"): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (err) {
    throw new MnemoError(code, `${what} is not valid UTF-8.`, { cause: err });
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
