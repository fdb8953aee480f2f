// Node-only: Dawn through the `webgpu` npm package. Reached through the Node host
// (src/node-host.ts), so browser bundles never pull in Dawn or Node built-ins.
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostAdapter } from "../host.js";

/** Debian's chromium package ships SwiftShader's Vulkan ICD here. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

async function loadDawn(): Promise<typeof import("webgpu")> {
  try {
    return await import("webgpu");
  } catch (cause) {
    throw Object.assign(new Error("The `webgpu` package (Dawn for Node) is not installed: run `npm install webgpu`."), { cause });
  }
}

function hasGpuDeviceNodes(): boolean {
  try {
    if (readdirSync("/dev/dri").some((f) => f.startsWith("renderD"))) return true;
  } catch {
    /* no /dev/dri */
  }
  return existsSync("/dev/nvidia0") || existsSync("/dev/dxg");
}

let instance: Promise<GPU> | null = null;

/**
 * One Dawn instance per process, kept for its lifetime. A fresh instance per adapter request
 * crashed the process now and then ("terminate called after throwing std::system_error") once
 * an earlier instance was collected with its destroyed devices; Dawn needs only one.
 */
function dawnInstance(): Promise<GPU> {
  instance ??= loadDawn().then((dawn) => {
    Object.assign(globalThis, dawn.globals);
    return dawn.create([]) as unknown as GPU;
  });
  return instance;
}

/**
 * Asks the process's Dawn GPU object for an adapter. When the user chose no Vulkan
 * driver and Debian's SwiftShader ICD is installed, SwiftShader is made available before
 * Dawn starts (a second Dawn instance after a failed first one crashes): exclusively when
 * the machine has no GPU device nodes, otherwise beside the system drivers, so a real GPU
 * still wins.
 */
export async function requestNodeAdapter(powerPreference?: GPUPowerPreference): Promise<HostAdapter> {
  if (!process.env.XDG_RUNTIME_DIR) {
    // Dawn's Vulkan loader warns (and some drivers fail) without a runtime dir.
    const dir = join(tmpdir(), `mnemo-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  const env = process.env;
  const userChoseDriver = !!(env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || env.VK_ADD_DRIVER_FILES);
  let addedSwiftShader = false;
  if (!userChoseDriver && process.platform === "linux" && existsSync(SWIFTSHADER_ICD)) {
    if (hasGpuDeviceNodes()) env.VK_ADD_DRIVER_FILES = SWIFTSHADER_ICD;
    else env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    addedSwiftShader = true;
  }
  const gpu = await dawnInstance();
  const adapter = await gpu.requestAdapter({ powerPreference: powerPreference ?? "high-performance" });
  const isSwiftShader = !!adapter && /swiftshader/i.test(`${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`);
  // Dawn's binding settles promises by re-arming setImmediate while any is pending.
  return { gpu, adapter, fellBackToSwiftShader: addedSwiftShader && isSwiftShader, pollsWhileWaiting: true };
}
