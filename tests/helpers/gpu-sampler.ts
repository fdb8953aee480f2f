import type { Gpu } from "../../src/gpu/device.js";
import { encodeDispatches, releaseDispatches, type KernelDispatch } from "../../src/gpu/dispatch.js";
import { createSamplingParamsBuffer, writeSamplingParams, type SamplingParams } from "../../src/kernels/sample-params.js";
import { sampleDispatches, type SampleDispatchOptions } from "../../src/kernels/sample-parallel.js";

/**
 * One logits vector (and repetition history) on the GPU with the sampler's dispatches built
 * once, as the decoder builds them: `run` draws once per parameter set (params rewritten
 * before each submit, the id copied to its own slot) and reads all ids back at once.
 */
export class GpuSampler {
  readonly n: number;
  private readonly buffers: GPUBuffer[];
  private readonly out: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly dispatches: KernelDispatch[];

  constructor(
    private readonly gpu: Gpu,
    logits: Float32Array,
    history: Uint32Array = new Uint32Array(1),
    options: SampleDispatchOptions = {},
  ) {
    this.n = logits.length;
    const logitsBuffer = gpu.upload(logits, "logits");
    const historyBuffer = gpu.upload(history.length ? history : new Uint32Array(1), "history");
    this.params = createSamplingParamsBuffer(gpu);
    this.out = gpu.createStorage(4, "out");
    this.buffers = [logitsBuffer, historyBuffer, this.params, this.out];
    this.dispatches = sampleDispatches(gpu, { logits: logitsBuffer, N: this.n, params: this.params, history: historyBuffer, out: this.out }, options);
  }

  async run(list: readonly SamplingParams[]): Promise<number[]> {
    const gpu = this.gpu;
    const ids = gpu.createStorage(4 * Math.max(1, list.length), "ids");
    list.forEach((p, j) => {
      writeSamplingParams(gpu, this.params, p);
      const encoder = gpu.device.createCommandEncoder();
      encodeDispatches(encoder, this.dispatches);
      encoder.copyBufferToBuffer(this.out, 0, ids, 4 * j, 4);
      gpu.device.queue.submit([encoder.finish()]);
    });
    const got = Array.from(await gpu.readU32(ids, list.length));
    gpu.pool.release(ids);
    return got;
  }

  release(): void {
    releaseDispatches(this.gpu, this.dispatches);
    for (const b of this.buffers) this.gpu.pool.release(b);
  }
}
