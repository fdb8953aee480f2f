import type { Gpu } from "./device.js";
import type { PipelineKey } from "./pipeline-cache.js";

/**
 * One recorded kernel launch: a pipeline, its bind group and its grid. Models build lists
 * of these once (per shape) and encode them again every step, so the hot path creates no
 * pipelines and no bind groups. `flops` and `bytes` feed the profiler's GFLOP/s and GB/s.
 */
export interface KernelDispatch {
  /** Kernel name as the profiler shows it, e.g. "matmul_gemv_q8_0". */
  kernel: string;
  /** Which model layer it belongs to (-1 for none), for per-layer aggregation. */
  layer: number;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
  /** Floating-point operations of one launch (multiply-add = 2). */
  flops: number;
  /** Bytes read and written by one launch (weights + activations), as planned. */
  bytes: number;
  /** Small buffers this dispatch owns (its shape uniforms); freed by releaseDispatches. */
  owned: GPUBuffer[];
}

/** A binding: a whole buffer, or a slice of one. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchSpec {
  kernel: string;
  pipeline: PipelineKey;
  /**
   * Resources in @binding order 0..n-1 of @group(0). `undefined` is a binding number this
   * variant of the shader does not declare (kernels that number bindings by role).
   */
  bindings: readonly (Binding | undefined)[];
  workgroups: readonly [number, number?, number?];
  layer?: number;
  flops?: number;
  bytes?: number;
  /** Shape parameters, uploaded as a uniform buffer appended as the last binding. */
  params?: ArrayLike<number>;
}

/** Creates a {@link KernelDispatch}: cached pipeline plus a fresh bind group. */
export function makeDispatch(gpu: Gpu, spec: DispatchSpec): KernelDispatch {
  gpu.assertAlive();
  const pipeline = gpu.pipelines.get(spec.pipeline);
  const owned: GPUBuffer[] = [];
  const bindings = [...spec.bindings];
  if (spec.params) {
    const u = gpu.uniform(spec.params, `${spec.kernel}.params`);
    owned.push(u);
    bindings.push(u);
  }
  const entries: GPUBindGroupEntry[] = [];
  bindings.forEach((b, i) => {
    if (!b) return;
    const resource = "getMappedRange" in b ? { buffer: b } : { buffer: b.buffer, offset: b.offset ?? 0, size: b.size };
    entries.push({ binding: i, resource });
  });
  const bindGroup = gpu.createBindGroup({ label: spec.kernel, layout: pipeline.getBindGroupLayout(0), entries });
  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;
  const [x, y = 1, z = 1] = spec.workgroups;
  for (const n of [x, y, z]) {
    if (n > maxGroups) throw new Error(`${spec.kernel}: ${n} workgroups in one dimension exceeds ${maxGroups}`);
  }
  return {
    kernel: spec.kernel,
    layer: spec.layer ?? -1,
    pipeline,
    bindGroup,
    workgroups: [x, y, z],
    flops: spec.flops ?? 0,
    bytes: spec.bytes ?? 0,
    owned,
  };
}

/** Hook the profiler implements to time each dispatch with its own pass. */
export interface DispatchTimer {
  /** Timestamp writes for the pass holding dispatch number `index` of this recording. */
  passTimestamps(index: number, dispatch: KernelDispatch): GPUComputePassTimestampWrites;
}

/**
 * Records `dispatches` into `encoder`: all in one compute pass normally, setting a pipeline
 * only when it differs from the previous dispatch's (a model's layers repeat the same
 * kernels); one pass per dispatch with timestamps when a timer is given (only while
 * profiling, so profiling off costs nothing).
 */
export function encodeDispatches(encoder: GPUCommandEncoder, dispatches: readonly KernelDispatch[], timer?: DispatchTimer): void {
  if (!timer) {
    const pass = encoder.beginComputePass();
    let current: GPUComputePipeline | undefined;
    for (const d of dispatches) {
      if (d.pipeline !== current) pass.setPipeline((current = d.pipeline));
      pass.setBindGroup(0, d.bindGroup);
      dispatch(pass, d.workgroups);
    }
    pass.end();
    return;
  }
  dispatches.forEach((d, i) => {
    const pass = encoder.beginComputePass({ label: d.kernel, timestampWrites: timer.passTimestamps(i, d) });
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    pass.end();
  });
}

/**
 * dispatchWorkgroups with only the arguments that are not 1 (most kernels use a 1-D grid):
 * each argument is one more conversion in Dawn's Node binding. Measured on SwiftShader's
 * 2-core machine, 62 decode dispatches: 0.17 against 0.24 ms in one sitting, no difference
 * in another (0.31 against 0.29: within that sitting's noise).
 */
function dispatch(pass: GPUComputePassEncoder, [x, y, z]: readonly [number, number, number]): void {
  if (z !== 1) pass.dispatchWorkgroups(x, y, z);
  else if (y !== 1) pass.dispatchWorkgroups(x, y);
  else pass.dispatchWorkgroups(x);
}

/** Encodes and submits `dispatches` in one command buffer. */
export function runDispatches(gpu: Gpu, dispatches: readonly KernelDispatch[]): void {
  gpu.assertAlive();
  const encoder = gpu.device.createCommandEncoder();
  encodeDispatches(encoder, dispatches);
  gpu.device.queue.submit([encoder.finish()]);
}

/** Returns the uniform buffers of `dispatches` to the pool. */
export function releaseDispatches(gpu: Gpu, dispatches: readonly KernelDispatch[]): void {
  for (const d of dispatches) for (const b of d.owned) gpu.pool.release(b);
}

/** Packs mixed u32 / f32 shape parameters into uniform words (f32 given as `{ f32: x }`). */
export function paramWords(values: readonly (number | { f32: number })[]): Uint32Array {
  const words = new Uint32Array(Math.max(4, Math.ceil(values.length / 4) * 4));
  const f = new Float32Array(words.buffer);
  values.forEach((v, i) => {
    if (typeof v === "number") words[i] = v >>> 0;
    else f[i] = v.f32;
  });
  return words;
}
