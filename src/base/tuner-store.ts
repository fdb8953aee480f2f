// Where kernel choices measured on an adapter persist between loads (src/gpu/tuner.ts): one
// JSON text, read once per load and rewritten after a measurement.

/** A place for the tuner's JSON record. */
export interface TunerStore {
  /** The stored text, or null when there is none yet. */
  load(): Promise<string | null>;
  /** Replaces the stored text. */
  save(text: string): Promise<void>;
}

/** A store that lives as long as the process (or page). */
export function memoryTunerStore(): TunerStore {
  let text: string | null = null;
  return {
    load: async () => text,
    save: async (t) => {
      text = t;
    },
  };
}
