import { MnemoError } from "../errors.js";
import { nodeHost } from "../host.js";
import { BufferPool, type BufferPoolStats } from "./buffer-pool.js";
import { PipelineCache } from "./pipeline-cache.js";
import { WaitPacer } from "./wait-pacer.js";

/** Options for {@link createGpu}. */
export interface GpuOptions {
  /** Use this device instead of requesting one (it must come from `navigator.gpu` or Dawn). */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Print nothing on stderr (the SwiftShader fallback line). */
  quiet?: boolean;
  /**
   * Sleep through long GPU waits instead of polling (see gpu/wait-pacer.ts). Default: on for
   * Dawn in Node, whose promises poll a CPU core while pending; off in browsers and for a
   * `device` passed in.
   */
  pacedWaits?: boolean;
  /**
   * Ask for less than the adapter allows (never more): e.g. `{ maxStorageBufferBindingSize:
   * 128 * 2 ** 20 }` to run as on a browser or phone with WebGPU's default binding limit.
   */
  limits?: { maxStorageBufferBindingSize?: number };
}

/** What the adapter is, in words a bench report can print. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU emulation (SwiftShader): correct but slow; compare only ratios there. */
  isSoftware: boolean;
  /** The adapter's subgroup sizes, where it reports them (GPUAdapterInfo.subgroupMinSize/MaxSize). */
  subgroupSizes?: { min: number; max: number };
}

const STORAGE = 0x0080; // GPUBufferUsage.STORAGE (the global may not exist before Dawn loads)
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;
const UNIFORM = 0x0040;

/** Usage flags for buffers kernels read and write. */
export const STORAGE_USAGE = STORAGE | COPY_SRC | COPY_DST;
export const UNIFORM_USAGE = UNIFORM | COPY_DST;
export const READBACK_USAGE = MAP_READ | COPY_DST;

const NO_WEBGPU_HELP =
  "WebGPU is not available. In a browser, use a recent Chrome, Edge or Safari with WebGPU enabled. " +
  "In Node on Linux without a GPU, install SwiftShader through Debian's Chromium: " +
  "`apt-get install -y chromium libvulkan1` (Mnemo then uses it by itself), or set VK_ICD_FILENAMES to a Vulkan driver.";

/**
 * One WebGPU device and everything Mnemo keeps per device: the buffer pool, the pipeline
 * cache, upload/readback helpers and device-loss bookkeeping. Kernels and models take a
 * `Gpu`, never a bare GPUDevice.
 */
export class Gpu {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  /** WGSL language features of the GPU instance (`packed_4x8_integer_dot_product`, ...). */
  readonly wgslFeatures: ReadonlySet<string>;
  /** Paces long waits for the GPU (sleeping instead of polling where polling costs a core). */
  readonly pacer: WaitPacer;
  private lostError: MnemoError | null = null;
  private readonly pending = new Set<(err: MnemoError) => void>();
  /** The first uncaptured validation error, if any (a bug in Mnemo when set). */
  validationError: string | null = null;
  /**
   * The GPU instance and adapter the device came from. Held on purpose: with Dawn in Node,
   * letting the `create()` instance be garbage-collected while its device lives crashes the
   * process at the next GC (seen as futex / mutex "Invalid argument" aborts).
   */
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: held only so the GC keeps it (see above).
  private readonly keepAlive: readonly unknown[];

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    keepAlive: readonly unknown[] = [],
    options: { pacedWaits?: boolean; wgslFeatures?: Iterable<string> } = {},
  ) {
    this.keepAlive = keepAlive;
    this.wgslFeatures = new Set(options.wgslFeatures ?? []);
    this.pacer = new WaitPacer(options.pacedWaits ?? false);
    this.limits = device.limits;
    this.features = new Set(device.features as unknown as Iterable<string>);
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    this.pipelines = new PipelineCache(device);
    device.lost.then((info) => this.onLost(info.message || info.reason || "unknown reason"));
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      if (!this.validationError) this.validationError = ev.error.message;
      if (typeof process === "undefined" || !process.env?.VITEST) console.error(`mnemo: WebGPU error: ${ev.error.message}`);
    };
  }

  /** Bind groups created so far (tests check that a decode step creates none). */
  bindGroupsCreated = 0;

  /** Creates a bind group, counting it. */
  createBindGroup(descriptor: GPUBindGroupDescriptor): GPUBindGroup {
    this.bindGroupsCreated++;
    return this.device.createBindGroup(descriptor);
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  get hasTimestamps(): boolean {
    return this.features.has("timestamp-query");
  }

  /** Throws DEVICE_LOST once the device is gone; every GPU entry point calls this first. */
  assertAlive(): void {
    if (this.lostError) throw this.lostError;
  }

  private onLost(reason: string): void {
    this.lostError = new MnemoError("DEVICE_LOST", `The GPU device was lost (${reason}). Load the model again to continue.`);
    for (const reject of this.pending) reject(this.lostError);
    this.pending.clear();
  }

  /**
   * Runs `allocate` (which creates buffers) inside an out-of-memory error scope: when the
   * device reports that an allocation failed, the result is released and OUT_OF_MEMORY is
   * thrown, instead of a model that computes from buffers that do not exist.
   */
  async allocateChecked<T extends { dispose(): void }>(what: string, allocate: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope("out-of-memory");
    let result: T | undefined;
    try {
      result = await allocate();
    } finally {
      const error = await this.device.popErrorScope();
      if (error) {
        result?.dispose();
        // biome-ignore lint/correctness/noUnsafeFinally: a failed allocation outranks what allocate threw (usually its consequence).
        throw new MnemoError("OUT_OF_MEMORY", `The GPU ran out of memory for ${what} (${error.message}). Close other GPU-heavy tabs or apps, or use a smaller or more quantized model (q8_0, q4_0).`);
      }
    }
    return result;
  }

  /** Checks a binding against maxStorageBufferBindingSize with a clear message. */
  checkBindingSize(bytes: number, what: string): void {
    const max = this.limits.maxStorageBufferBindingSize;
    if (bytes > max) {
      throw new MnemoError("TOO_LARGE", `${what} is ${bytes} bytes, larger than this adapter's maxStorageBufferBindingSize (${max}).`);
    }
  }

  /** A storage buffer from the pool (release it with `pool.release`). */
  createStorage(size: number, label: string, extraUsage = 0): GPUBuffer {
    this.assertAlive();
    this.checkBindingSize(size, `Buffer "${label}"`);
    return this.pool.acquire(size, STORAGE_USAGE | extraUsage, label);
  }

  /** Uploads `data` into a new pooled storage buffer. */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    const buffer = this.createStorage(data.byteLength, label);
    this.write(buffer, data);
    return buffer;
  }

  /** Writes `data` at `offset` (both 4-byte aligned; odd tails are padded). */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.assertAlive();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const whole = bytes.byteLength & ~3;
    if (whole > 0) this.device.queue.writeBuffer(buffer, offset, bytes, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buffer, offset + whole, tail);
    }
  }

  /** A small uniform buffer holding `words` (u32/i32/f32 bit patterns). */
  uniform(words: ArrayLike<number> | Uint32Array, label: string): GPUBuffer {
    this.assertAlive();
    const data = words instanceof Uint32Array ? words : Uint32Array.from(words);
    const buffer = this.pool.acquire(Math.max(16, data.byteLength), UNIFORM_USAGE, label);
    this.device.queue.writeBuffer(buffer, 0, data as Uint32Array<ArrayBuffer>);
    return buffer;
  }

  /**
   * Copies `size` bytes of `buffer` back to the CPU. Rejects with DEVICE_LOST if the device
   * goes away while waiting, instead of hanging.
   */
  async readback(buffer: GPUBuffer, size = buffer.size, offset = 0, encoder?: GPUCommandEncoder): Promise<ArrayBuffer> {
    this.assertAlive();
    const staging = this.pool.acquire(size, READBACK_USAGE, "readback");
    const enc = encoder ?? this.device.createCommandEncoder({ label: "readback" });
    const copySize = Math.min((size + 3) & ~3, buffer.size - offset);
    enc.copyBufferToBuffer(buffer, offset, staging, 0, copySize);
    this.device.queue.submit([enc.finish()]);
    try {
      await this.track(staging.mapAsync(MAP_READ));
      const copy = staging.getMappedRange(0, copySize).slice(0, size);
      staging.unmap();
      return copy;
    } finally {
      if (!this.isLost) this.pool.release(staging);
    }
  }

  /** Reads a whole f32 buffer (or its first `count` floats). */
  async readF32(buffer: GPUBuffer, count?: number): Promise<Float32Array> {
    const bytes = count === undefined ? buffer.size : count * 4;
    return new Float32Array(await this.readback(buffer, bytes));
  }

  async readU32(buffer: GPUBuffer, count?: number): Promise<Uint32Array> {
    const bytes = count === undefined ? buffer.size : count * 4;
    return new Uint32Array(await this.readback(buffer, bytes));
  }

  /** Wraps a GPU promise so that device loss rejects it with a clear error. */
  track<T>(promise: Promise<T>): Promise<T> {
    if (this.lostError) return Promise.reject(this.lostError);
    return new Promise<T>((resolve, reject) => {
      const onLost = (err: MnemoError) => reject(err);
      this.pending.add(onLost);
      promise.then(
        (v) => {
          this.pending.delete(onLost);
          if (this.lostError) reject(this.lostError);
          else resolve(v);
        },
        (e) => {
          this.pending.delete(onLost);
          reject(this.lostError ?? e);
        },
      );
    });
  }

  /** Waits until the queue has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.assertAlive();
    await this.track(this.device.queue.onSubmittedWorkDone());
  }

  getPoolStats(): BufferPoolStats {
    return this.pool.getStats();
  }

  /** Destroys the device; pending calls reject with DEVICE_LOST. */
  destroy(): void {
    this.pool.destroyAll();
    this.device.destroy();
    if (!this.lostError) this.onLost("destroyed");
  }
}

function summarize(info: GPUAdapterInfo | undefined): AdapterSummary {
  const vendor = info?.vendor ?? "";
  const architecture = info?.architecture ?? "";
  const device = info?.device ?? "";
  const description = info?.description ?? "";
  const isSoftware = /swiftshader|llvmpipe|lavapipe|software/i.test(`${vendor} ${architecture} ${description}`);
  const sizes = info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  const subgroupSizes = sizes?.subgroupMinSize && sizes.subgroupMaxSize ? { min: sizes.subgroupMinSize, max: sizes.subgroupMaxSize } : undefined;
  return { vendor, architecture, device, description, isSoftware, ...(subgroupSizes ? { subgroupSizes } : {}) };
}

/** The largest of each limit Mnemo cares about that the adapter allows (or less, where `cap` says). */
function wantedLimits(adapter: GPUAdapter, cap: GpuOptions["limits"] = {}): Record<string, number> {
  const names = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
  ] as const;
  const out: Record<string, number> = {};
  for (const n of names) out[n] = adapter.limits[n];
  const binding = cap.maxStorageBufferBindingSize;
  if (binding !== undefined) out.maxStorageBufferBindingSize = Math.min(out.maxStorageBufferBindingSize, binding);
  return out;
}

async function requestAdapter(opts: GpuOptions): Promise<{ adapter: GPUAdapter | null; gpu?: GPU; note?: string; pollsWhileWaiting: boolean }> {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.gpu) return { adapter: await nav.gpu.requestAdapter({ powerPreference: opts.powerPreference }), gpu: nav.gpu, pollsWhileWaiting: false };
  const host = nodeHost();
  if (!host) throw new MnemoError("NO_WEBGPU", NO_WEBGPU_HELP);
  const result = await host.requestAdapter(opts.powerPreference);
  const note = result.fellBackToSwiftShader ? "mnemo: no hardware Vulkan adapter found; using SwiftShader (CPU emulation) from Debian's chromium package." : undefined;
  return { adapter: result.adapter, gpu: result.gpu, note, pollsWhileWaiting: result.pollsWhileWaiting };
}

/**
 * Gets a GPU device in a browser (`navigator.gpu`) or in Node (Dawn, falling back to
 * SwiftShader when Debian's Chromium ICD is installed). Fails with NO_WEBGPU otherwise.
 */
export async function createGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (opts.device) {
    const info = (opts.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const wgslFeatures = (globalThis as { navigator?: Navigator }).navigator?.gpu?.wgslLanguageFeatures as Iterable<string> | undefined;
    return new Gpu(opts.device, summarize(info), [], { pacedWaits: opts.pacedWaits, wgslFeatures });
  }
  const { adapter, gpu, note, pollsWhileWaiting } = await requestAdapter(opts);
  if (!adapter) throw new MnemoError("NO_WEBGPU", NO_WEBGPU_HELP);
  if (note && !opts.quiet) console.error(note);
  const features: GPUFeatureName[] = [];
  for (const f of ["timestamp-query", "subgroups", "shader-f16"] as GPUFeatureName[]) {
    if (adapter.features.has(f)) features.push(f);
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: wantedLimits(adapter, opts.limits) });
  } catch (cause) {
    throw new MnemoError("NO_WEBGPU", `The WebGPU adapter refused to create a device: ${String(cause)}`, { cause });
  }
  const wgslFeatures = gpu?.wgslLanguageFeatures as Iterable<string> | undefined;
  return new Gpu(device, summarize(adapter.info), [gpu, adapter], { pacedWaits: opts.pacedWaits ?? pollsWhileWaiting, wgslFeatures });
}
