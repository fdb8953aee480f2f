/**
 * Stable error codes a program can branch on. Every error Mnemo raises on purpose is a
 * {@link MnemoError} with one of these codes and a message that says what to do.
 */
export type MnemoErrorCode =
  | "NO_WEBGPU"
  | "BAD_MODEL_FILE"
  | "UNSUPPORTED_MODEL"
  | "BAD_INPUT"
  | "SHAPE_MISMATCH"
  | "TOO_LARGE"
  | "CONTEXT_FULL"
  | "DEVICE_LOST"
  | "ABORTED"
  | "OUT_OF_MEMORY"
  /** The adapter lacks a feature the call needs (e.g. timestamp-query for profiling). */
  | "UNSUPPORTED_FEATURE"
  | "BUSY"
  | "DISPOSED"
  | "INTERNAL";

/** The one error class of Mnemo's public API. */
export class MnemoError extends Error {
  /** Stable machine-readable code. */
  readonly code: MnemoErrorCode;

  constructor(code: MnemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MnemoError";
    this.code = code;
  }
}

/** True when `err` is a MnemoError, optionally with the given code. */
export function isMnemoError(err: unknown, code?: MnemoErrorCode): err is MnemoError {
  return err instanceof MnemoError && (code === undefined || err.code === code);
}

/** The error for an aborted operation, keeping the signal's reason as the cause. */
export function abortError(signal?: AbortSignal): MnemoError {
  return new MnemoError("ABORTED", "The operation was aborted.", { cause: signal?.reason });
}

/** Throws ABORTED when the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}
