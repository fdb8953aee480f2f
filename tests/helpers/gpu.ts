import { createGpu, type Gpu } from "../../src/gpu/device.js";

let shared: Promise<Gpu> | null = null;

/** One device per test file (vitest runs each file in its own worker). */
export function testGpu(): Promise<Gpu> {
  shared ??= createGpu({ quiet: true });
  return shared;
}

/** A fresh device that a test may destroy. */
export function freshGpu(): Promise<Gpu> {
  return createGpu({ quiet: true });
}
