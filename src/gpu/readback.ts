// Reading many GPU regions in one go: every region is copied into one staging buffer, one
// submit, one map. Snapshots of a KV cache touch two regions per head and layer; reading
// them one by one was a round trip each.
import { MnemoError } from "../errors.js";
import { READBACK_USAGE, type Gpu } from "./device.js";

const MAP_READ = 0x0001;

/**
 * A byte range of a GPU buffer. The offset must be a multiple of 4 (as copies require); a
 * size that is not is copied rounded up, which must stay inside the buffer.
 */
export interface BufferRegion {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** Regions to read and how to turn their bytes (one array per region, in order) into a value. */
export interface Readout<T> {
  regions: readonly BufferRegion[];
  decode(parts: readonly Uint8Array[]): T;
}

/**
 * Maps the first `count` u32 of a staging buffer (MAP_READ | COPY_DST, copied into by an
 * already-submitted step), copies them out and unmaps it for the next step.
 */
export async function mapU32(gpu: Gpu, staging: GPUBuffer, count: number): Promise<Uint32Array> {
  await gpu.track(staging.mapAsync(MAP_READ, 0, count * 4));
  const values = new Uint32Array(staging.getMappedRange(0, count * 4).slice(0));
  staging.unmap();
  return values;
}

/** Counts of the batched reads so far (the tests check that a snapshot is one of them). */
export const readbackStats = { reads: 0 };

/**
 * Reads every readout's regions with one copy each into a shared staging buffer, one
 * submit and one map; returns the decoded values in order.
 */
export async function readAll<T extends readonly unknown[]>(gpu: Gpu, readouts: { [K in keyof T]: Readout<T[K]> }): Promise<T> {
  gpu.assertAlive();
  const regions = readouts.flatMap((r) => r.regions);
  const copySizes = regions.map((r) => (r.size + 3) & ~3);
  let total = 0;
  const offsets = regions.map((r, i) => {
    if (r.offset % 4 || r.offset + copySizes[i] > r.buffer.size) throw new MnemoError("INTERNAL", `Readback region ${r.buffer.label} at ${r.offset}+${r.size} is not aligned or leaves its buffer.`);
    const at = total;
    total += copySizes[i];
    return at;
  });
  const staging = gpu.pool.acquire(Math.max(4, total), READBACK_USAGE, "readback.batch");
  try {
    const encoder = gpu.device.createCommandEncoder({ label: "readback.batch" });
    regions.forEach((r, i) => copySizes[i] && encoder.copyBufferToBuffer(r.buffer, r.offset, staging, offsets[i], copySizes[i]));
    gpu.device.queue.submit([encoder.finish()]);
    readbackStats.reads++;
    await gpu.track(staging.mapAsync(MAP_READ));
    const bytes = new Uint8Array(staging.getMappedRange(0, Math.max(4, total)).slice(0));
    staging.unmap();
    let next = 0;
    return readouts.map((r) => {
      const parts = r.regions.map((region) => bytes.subarray(offsets[next], offsets[next++] + region.size));
      return r.decode(parts);
    }) as unknown as T;
  } finally {
    if (!gpu.isLost) gpu.pool.release(staging);
  }
}
