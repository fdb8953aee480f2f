// GPU timestamps around every kernel dispatch. Only used while profiling: encodeDispatches
// then gives each dispatch its own compute pass with timestamp writes; without a profiler
// the hot path records one pass and pays nothing.
import { MnemoError } from "../errors.js";
import type { Gpu } from "./device.js";
import type { DispatchTimer, KernelDispatch } from "./dispatch.js";

const QUERY_RESOLVE = 0x0200;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;
/** WebGPU caps a query set at 4096 queries: two per timed dispatch. */
export const MAX_TIMED_DISPATCHES = 2048;

/** One timed dispatch of a recording. */
export interface DispatchTiming {
  kernel: string;
  layer: number;
  /** Pass begin and end in the GPU's clock, nanoseconds (relative to the recording's first begin). */
  beginNs: number;
  endNs: number;
  flops: number;
  bytes: number;
}

/**
 * Records timestamps for up to `capacity` dispatches per recording. Use: pass it as the timer
 * to encodeDispatches, call `resolve(encoder)` before finishing the encoder, submit, then
 * `await collect()`.
 */
export class GpuProfiler implements DispatchTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;
  private recorded: KernelDispatch[] = [];

  constructor(
    private readonly gpu: Gpu,
    readonly capacity: number,
  ) {
    if (!gpu.hasTimestamps) {
      throw new MnemoError(
        "UNSUPPORTED_FEATURE",
        `This adapter (${gpu.adapter.vendor} ${gpu.adapter.architecture}) has no "timestamp-query" feature, so kernels cannot be timed on the GPU. In Chrome, timestamps may need chrome://flags/#enable-webgpu-developer-features.`,
      );
    }
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_TIMED_DISPATCHES) {
      throw new MnemoError("BAD_INPUT", `A profiler times 1..${MAX_TIMED_DISPATCHES} dispatches per recording, not ${capacity}.`);
    }
    this.querySet = gpu.device.createQuerySet({ type: "timestamp", count: 2 * capacity });
    this.resolveBuffer = gpu.device.createBuffer({ size: 16 * capacity, usage: QUERY_RESOLVE | COPY_SRC, label: "profiler.resolve" });
    this.readBuffer = gpu.device.createBuffer({ size: 16 * capacity, usage: MAP_READ | COPY_DST, label: "profiler.read" });
  }

  passTimestamps(index: number, dispatch: KernelDispatch): GPUComputePassTimestampWrites {
    if (index >= this.capacity) {
      throw new MnemoError("INTERNAL", `The profiler holds ${this.capacity} dispatches per recording; this one has more.`);
    }
    this.recorded[index] = dispatch;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 };
  }

  /** Copies this recording's timestamps to the readback buffer (before encoder.finish()). */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.recorded.length;
    if (n === 0) return;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 16 * n);
  }

  /** Reads the timings of the submitted recording and gets ready for the next one. */
  async collect(): Promise<DispatchTiming[]> {
    const dispatches = this.recorded;
    this.recorded = [];
    if (dispatches.length === 0) return [];
    await this.gpu.track(this.readBuffer.mapAsync(MAP_READ, 0, 16 * dispatches.length));
    const stamps = new BigUint64Array(this.readBuffer.getMappedRange(0, 16 * dispatches.length).slice(0));
    this.readBuffer.unmap();
    if (stamps.every((s) => s === 0n)) {
      throw new MnemoError("INTERNAL", `No GPU timestamps were written${this.gpu.validationError ? ` (WebGPU: ${this.gpu.validationError})` : ""}.`);
    }
    const origin = stamps[0];
    return dispatches.map((d, i) => ({
      kernel: d.kernel,
      layer: d.layer,
      beginNs: Number(stamps[2 * i] - origin),
      endNs: Number(stamps[2 * i + 1] - origin),
      flops: d.flops,
      bytes: d.bytes,
    }));
  }

  dispose(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}

/** Per-kernel totals over some profiled steps. */
export interface KernelSummary {
  /** The kernel's name (e.g. "matmul.q8_0", "attention.decode"). */
  kernel: string;
  /** Dispatches of this kernel per step. */
  callsPerStep: number;
  /** GPU time of those dispatches per step, ms. */
  msPerStep: number;
  /** Fraction of the summed kernel time. */
  share: number;
  /** Bytes the kernel reads and writes per second of its GPU time, GB/s. */
  gbPerS: number;
  /** Floating-point operations per second of its GPU time, GFLOP/s. */
  gflopPerS: number;
}

/** Aggregates the timings of `steps` recordings per kernel name, most expensive first. */
export function summarizeKernels(steps: readonly DispatchTiming[][]): KernelSummary[] {
  const byKernel = new Map<string, { calls: number; ns: number; flops: number; bytes: number }>();
  let totalNs = 0;
  for (const step of steps) {
    for (const t of step) {
      const ns = t.endNs - t.beginNs;
      const k = byKernel.get(t.kernel) ?? { calls: 0, ns: 0, flops: 0, bytes: 0 };
      k.calls++;
      k.ns += ns;
      k.flops += t.flops;
      k.bytes += t.bytes;
      byKernel.set(t.kernel, k);
      totalNs += ns;
    }
  }
  const n = Math.max(1, steps.length);
  return [...byKernel.entries()]
    .map(([kernel, k]) => ({
      kernel,
      callsPerStep: k.calls / n,
      msPerStep: k.ns / n / 1e6,
      share: totalNs > 0 ? k.ns / totalNs : 0,
      gbPerS: k.ns > 0 ? k.bytes / k.ns : 0,
      gflopPerS: k.ns > 0 ? k.flops / k.ns : 0,
    }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
}

/** Per-layer totals (layer −1: outside any layer), in ms per step. */
export function summarizeLayers(steps: readonly DispatchTiming[][]): { layer: number; msPerStep: number }[] {
  const byLayer = new Map<number, number>();
  for (const step of steps) for (const t of step) byLayer.set(t.layer, (byLayer.get(t.layer) ?? 0) + t.endNs - t.beginNs);
  const n = Math.max(1, steps.length);
  return [...byLayer.entries()].sort((a, b) => a[0] - b[0]).map(([layer, ns]) => ({ layer, msPerStep: ns / n / 1e6 }));
}
