// Buffers, tensors and dispatches a GPU test case makes, released together at its end (the
// kernel tests in Node and the browser page's checks).
import type { Gpu } from "../../src/gpu/device.js";
import { releaseDispatches, runDispatches, type KernelDispatch } from "../../src/gpu/dispatch.js";
import type { GpuTensor } from "../../src/gpu/tensor.js";
import { releaseTensor } from "../../src/kernels/weights.js";

/** Buffers, tensors and dispatches of one case, released together. */
export class Scope {
  private readonly buffers: GPUBuffer[] = [];
  private readonly tensors: GpuTensor[] = [];
  private readonly dispatches: KernelDispatch[] = [];
  constructor(readonly gpu: Gpu) {}
  upload(data: ArrayBufferView, label = "b"): GPUBuffer {
    return this.keep(this.gpu.upload(data, label));
  }
  /** A storage buffer filled with NaN (pooled buffers keep old contents: a missing write must show). */
  storage(bytes: number, label = "b"): GPUBuffer {
    const b = this.keep(this.gpu.createStorage(bytes, label));
    this.gpu.write(b, new Float32Array(b.size / 4).fill(Number.NaN));
    return b;
  }
  tensor<T extends GpuTensor>(t: T): T {
    this.tensors.push(t);
    return t;
  }
  keep(b: GPUBuffer): GPUBuffer {
    this.buffers.push(b);
    return b;
  }
  /** Encodes `ds` in one pass and submits them. */
  run(...ds: KernelDispatch[]): void {
    this.dispatches.push(...ds);
    runDispatches(this.gpu, ds);
  }
  release(): void {
    releaseDispatches(this.gpu, this.dispatches);
    for (const t of this.tensors) releaseTensor(this.gpu, t);
    for (const b of this.buffers) this.gpu.pool.release(b);
  }
}

/** Runs `f` with a fresh scope and releases it afterwards. */
export async function scoped<T>(gpu: Gpu, f: (s: Scope) => Promise<T>): Promise<T> {
  const s = new Scope(gpu);
  try {
    return await f(s);
  } finally {
    s.release();
  }
}
