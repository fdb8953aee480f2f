// The kernel tuner's default store: a file in Node (NodeHost.tunerStore), IndexedDB in
// browsers and workers, memory where neither exists.
import { memoryTunerStore, type TunerStore } from "../base/tuner-store.js";
import { nodeHost } from "../host.js";
import { getBytes, putBytes, type IdbPlace } from "./idb-bytes.js";

const PLACE: IdbPlace = { database: "mnemo-kernels", store: "choices", alternative: "kernel choices are measured again on each load." };
const KEY = "kernel-choices";

let fallback: TunerStore | undefined;

/** Where this process or page keeps kernel choices. */
export function defaultTunerStore(): TunerStore {
  const host = nodeHost();
  if (host) return host.tunerStore();
  if (typeof indexedDB !== "undefined") {
    return {
      load: async () => {
        const bytes = await getBytes(PLACE, KEY);
        return bytes ? new TextDecoder().decode(bytes) : null;
      },
      save: (text) => putBytes(PLACE, KEY, new TextEncoder().encode(text)),
    };
  }
  fallback ??= memoryTunerStore();
  return fallback;
}
