// Kernel variants chosen by measurement on the adapter at hand. A caller names a shape
// ("decode q8_0 50257x256 ln") and gives candidate dispatch lists; the tuner runs each a
// few times, keeps the fastest, and remembers the choice per adapter, so a second load
// (same process, or a later one with a persistent store: src/loading/tuner-store.ts)
// measures nothing.
import type { Gpu } from "./device.js";
import { memoryTunerStore, type TunerStore } from "../base/tuner-store.js";
import { releaseDispatches, type KernelDispatch } from "./dispatch.js";

/** What the tuner measured for one shape. */
export interface TunedChoice {
  /** The fastest candidate's name. */
  variant: string;
  /** The fastest run of each candidate measured, ms (a candidate 2x slower than the best after one run gets only that run). */
  timingsMs: Record<string, number>;
  /** True when the choice came from the store, not from a measurement now. */
  cached: boolean;
}

/** The store's record: adapter key → shape key → choice. */
type StoredChoices = Record<string, Record<string, { variant: string; timingsMs: Record<string, number> }>>;

/** Timed runs after each candidate's warm-up; one for a candidate already 2x slower than the best. */
const TIMED_RUNS = 2;
const SLOWER_STOP = 2;

/** The key of an adapter: choices measured on one adapter are never used on another. */
export function adapterKey(gpu: Gpu): string {
  const a = gpu.adapter;
  return [a.vendor, a.architecture, a.device, a.description, [...gpu.features].sort().join("+"), [...gpu.wgslFeatures].sort().join("+")].join("|");
}

export class KernelTuner {
  /** Candidate runs submitted so far (tests check that a cached choice measures nothing). */
  runs = 0;
  private record: StoredChoices | null = null;

  constructor(
    readonly gpu: Gpu,
    private readonly store: TunerStore = memoryTunerStore(),
  ) {}

  /**
   * The fastest of `candidates` for `shapeKey` on this adapter: from the store when it has a
   * choice that is still among the candidates, else measured now (and stored).
   */
  async choose(shapeKey: string, candidates: ReadonlyMap<string, () => KernelDispatch[]>): Promise<TunedChoice> {
    const record = await this.loadRecord();
    const adapter = adapterKey(this.gpu);
    const known = record[adapter]?.[shapeKey];
    if (known && candidates.has(known.variant)) return { ...known, cached: true };
    const timingsMs: Record<string, number> = {};
    let best = "";
    for (const [name, build] of candidates) {
      const dispatches = build();
      try {
        const ms = await this.measure(dispatches, best ? timingsMs[best] : Infinity);
        timingsMs[name] = ms;
        if (!best || ms < timingsMs[best]) best = name;
      } finally {
        releaseDispatches(this.gpu, dispatches);
      }
    }
    // Read again before writing: another load may have stored choices meanwhile.
    const latest = await this.readStore();
    latest[adapter] = { ...latest[adapter], [shapeKey]: { variant: best, timingsMs } };
    this.record = latest;
    try {
      await this.store.save(JSON.stringify(latest));
    } catch {
      // The store is a cache: when it cannot be written (read-only disk, no IndexedDB) the
      // choice still holds for this load, and the next load measures again.
    }
    return { variant: best, timingsMs, cached: false };
  }

  private async loadRecord(): Promise<StoredChoices> {
    this.record ??= await this.readStore();
    return this.record;
  }

  private async readStore(): Promise<StoredChoices> {
    let parsed: StoredChoices = {};
    try {
      const text = await this.store.load();
      if (text) parsed = JSON.parse(text) as StoredChoices;
    } catch {
      // An unreadable store is an empty one: the choices are measured again and rewritten.
      parsed = {};
    }
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
  }

  /** The fastest of a few runs of `dispatches` (one submit each), ms; one run when it is 2x `bestMs`. */
  private async measure(dispatches: KernelDispatch[], bestMs: number): Promise<number> {
    await this.run(dispatches); // warm-up: pipelines compiled, caches filled
    const times: number[] = [];
    for (let i = 0; i < TIMED_RUNS; i++) {
      const t0 = performance.now();
      await this.run(dispatches);
      times.push(performance.now() - t0);
      if (times[0] > SLOWER_STOP * bestMs) break;
    }
    return Math.min(...times);
  }

  private async run(dispatches: KernelDispatch[]): Promise<void> {
    this.runs++;
    const encoder = this.gpu.device.createCommandEncoder({ label: "tuner" });
    const pass = encoder.beginComputePass();
    for (const d of dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.workgroups);
    }
    pass.end();
    this.gpu.device.queue.submit([encoder.finish()]);
    await this.gpu.sync();
  }
}
