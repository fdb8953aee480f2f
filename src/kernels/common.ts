import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";

/** A 2-D grid of `ceil(n / wg)` workgroups that respects maxComputeWorkgroupsPerDimension. */
export function grid1d(gpu: Gpu, n: number, wg: number): { workgroups: [number, number]; groupsX: number } {
  const groups = Math.max(1, Math.ceil(n / wg));
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const groupsX = Math.min(groups, max);
  return { workgroups: [groupsX, Math.ceil(groups / groupsX)], groupsX };
}

/** Throws SHAPE_MISMATCH unless `buffer` holds at least `bytes`. */
export function requireBytes(kernel: string, name: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) {
    throw new MnemoError("SHAPE_MISMATCH", `${kernel}: ${name} has ${buffer.size} bytes but the shape needs ${bytes}.`);
  }
}

/** Throws SHAPE_MISMATCH unless every dimension is a positive integer. */
export function requireDims(kernel: string, dims: Readonly<Record<string, number>>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new MnemoError("SHAPE_MISMATCH", `${kernel}: ${name} must be a positive integer, got ${v}.`);
    }
  }
}

/** Throws SHAPE_MISMATCH when two dimensions that must agree do not. */
export function requireEqual(kernel: string, what: string, a: number, b: number): void {
  if (a !== b) throw new MnemoError("SHAPE_MISMATCH", `${kernel}: ${what} differ (${a} vs ${b}).`);
}

const placeholders = new WeakMap<Gpu, GPUBuffer>();

/**
 * A tiny read-only storage buffer bound where an optional input is absent, so that every
 * variant of a kernel shares one binding layout.
 */
export function placeholderBuffer(gpu: Gpu): GPUBuffer {
  let b = placeholders.get(gpu);
  if (!b) placeholders.set(gpu, (b = gpu.device.createBuffer({ size: 16, usage: 0x80 /* STORAGE */, label: "placeholder" })));
  return b;
}
