import { MnemoError } from "../errors.js";

/** Live and pooled counts of the buffers a {@link BufferPool} handed out. */
export interface BufferPoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Released buffers kept for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
  /** How many GPUBuffers were ever created (reuse keeps this flat). */
  created: number;
  /** How many buffers were ever handed out, new or reused. */
  acquired: number;
}

const ALIGN = 256;

/**
 * Hands out GPU buffers and takes them back for reuse. Buffers are bucketed by exact
 * (rounded-to-256-bytes) size and usage: a session that is created, used and disposed again
 * finds the same buffers waiting, so steady-state generation allocates nothing.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Map<GPUBuffer, string>();
  private stats = { liveBytes: 0, pooledBuffers: 0, pooledBytes: 0, created: 0, acquired: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  static roundSize(size: number): number {
    return Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
  }

  acquire(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    if (!Number.isFinite(size) || size < 0) {
      throw new MnemoError("BAD_INPUT", `Buffer "${label}": invalid size ${size}.`);
    }
    const rounded = BufferPool.roundSize(size);
    if (rounded > this.maxBufferSize) {
      throw new MnemoError("TOO_LARGE", `Buffer "${label}" needs ${rounded} bytes, more than this adapter's maxBufferSize (${this.maxBufferSize}).`);
    }
    const key = `${usage}:${rounded}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.pooledBuffers--;
      this.stats.pooledBytes -= rounded;
      buffer.label = label;
    } else {
      buffer = this.device.createBuffer({ size: rounded, usage, label });
      this.stats.created++;
    }
    this.live.set(buffer, key);
    this.stats.liveBytes += rounded;
    this.stats.acquired++;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const key = this.live.get(buffer);
    if (key === undefined) return; // not ours, or released twice: both harmless
    this.live.delete(buffer);
    this.stats.liveBytes -= buffer.size;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
    this.stats.pooledBuffers++;
    this.stats.pooledBytes += buffer.size;
  }

  /** Destroys every pooled (released) buffer, keeping the live ones. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.pooledBuffers = 0;
    this.stats.pooledBytes = 0;
  }

  /** Destroys everything, live buffers included (device teardown). */
  destroyAll(): void {
    this.trim();
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.stats.liveBytes = 0;
  }

  getStats(): BufferPoolStats {
    return { liveBuffers: this.live.size, ...this.stats };
  }
}
