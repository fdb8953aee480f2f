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
  /** The chosen candidate's name: the fastest (or the first, within `keepFirst` of it). */
  variant: string;
  /** The fastest timed run of each candidate, ms (a candidate 2x slower than the best gets one run, three where runs are short). */
  timingsMs: Record<string, number>;
  /** True when the choice came from the store, not from a measurement now. */
  cached: boolean;
}

/** The store's record: adapter key → shape key → choice. */
type StoredChoices = Record<string, Record<string, { variant: string; timingsMs: Record<string, number> }>>;

/**
 * Timed rounds after each candidate's warm-up (one for a candidate already 2x slower than the
 * best), more where the fastest run is short: a few milliseconds of a CPU adapter vary by 2x
 * from one run to the next, and more samples cost little there.
 */
const TIMED_ROUNDS = 3;
const SHORT_RUN_ROUNDS = 8;
const SHORT_RUN_MS = 20;
const SLOWER_STOP = 2;

/**
 * Bumped when a tuned kernel changes what it costs (2: the int8 GEMVs quantize their own row),
 * so that choices measured on the old kernels are measured again.
 */
const KERNEL_REVISION = 2;

/** The key of an adapter: choices measured on one adapter (or older kernels) are never used on another. */
export function adapterKey(gpu: Gpu): string {
  const a = gpu.adapter;
  return [`r${KERNEL_REVISION}`, a.vendor, a.architecture, a.device, a.description, [...gpu.features].sort().join("+"), [...gpu.wgslFeatures].sort().join("+")].join("|");
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
   * choice that is still among the candidates, else measured now (and stored). `keepFirst`:
   * the first candidate stays unless another runs in at most (1 - keepFirst) of its time (a
   * default that costs less in other ways is not given up for a difference within noise).
   */
  async choose(shapeKey: string, candidates: ReadonlyMap<string, () => KernelDispatch[]>, options: { keepFirst?: number } = {}): Promise<TunedChoice> {
    const record = await this.loadRecord();
    const adapter = adapterKey(this.gpu);
    const known = record[adapter]?.[shapeKey];
    if (known && candidates.has(known.variant)) return { ...known, cached: true };
    const { timingsMs, best: fastest } = await this.measureAll(candidates);
    const first = [...candidates.keys()][0];
    const best = timingsMs[fastest] <= (1 - (options.keepFirst ?? 0)) * timingsMs[first] ? fastest : first;
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

  /**
   * Each candidate's fastest timed run (one submit each) and the fastest candidate. The
   * candidates take turns, a round at a time after one warm-up each, so that a slow spell of
   * the machine (another process, a CPU adapter's thread pool) falls on all of them rather than
   * on whichever was being measured; one 2x slower than the best is not run again (after its
   * first run, or its third when runs are short). Short runs get more rounds (SHORT_RUN_ROUNDS).
   */
  private async measureAll(candidates: ReadonlyMap<string, () => KernelDispatch[]>): Promise<{ timingsMs: Record<string, number>; best: string }> {
    const built: [string, KernelDispatch[]][] = [];
    const timingsMs: Record<string, number> = {};
    const runs: Record<string, number> = {};
    try {
      for (const [name, build] of candidates) built.push([name, build()]);
      for (const [, dispatches] of built) await this.run(dispatches); // pipelines compiled, caches filled
      let rounds = TIMED_ROUNDS;
      for (let round = 0; round < rounds; round++) {
        const bestMs = Math.min(...Object.values(timingsMs));
        for (const [name, dispatches] of built) {
          // Dropped once 2x slower than the best: after one run when runs are long, after
          // three when they are short (one slow spell is enough to double a short run).
          if (runs[name] >= (bestMs < SHORT_RUN_MS ? 3 : 1) && timingsMs[name] > SLOWER_STOP * bestMs) continue;
          runs[name] = (runs[name] ?? 0) + 1;
          const t0 = performance.now();
          await this.run(dispatches);
          timingsMs[name] = Math.min(timingsMs[name] ?? Infinity, performance.now() - t0);
        }
        if (round === 0 && Math.min(...Object.values(timingsMs)) < SHORT_RUN_MS) rounds = SHORT_RUN_ROUNDS;
      }
    } finally {
      for (const [, dispatches] of built) releaseDispatches(this.gpu, dispatches);
    }
    let best = "";
    for (const [name] of built) if (!best || timingsMs[name] < timingsMs[best]) best = name;
    return { timingsMs, best };
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
