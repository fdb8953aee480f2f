// What Mnemo needs from Node that a browser does not have: Dawn for WebGPU and the file
// system for model paths. The Node entry (src/node.ts) installs the Node implementation
// (src/node-host.ts); the browser entry never imports it, so browser bundles contain no
// Node built-in and no Dawn.
import type { ModelFiles } from "./loading/file-set.js";
import type { TunerStore } from "./base/tuner-store.js";

/** An adapter found through Dawn. */
export interface HostAdapter {
  gpu: GPU;
  adapter: GPUAdapter | null;
  /** Set when Mnemo itself switched Dawn to SwiftShader (no hardware adapter). */
  fellBackToSwiftShader: boolean;
  /** Whether a pending GPU promise polls a CPU core until it settles (Dawn's Node binding does). */
  pollsWhileWaiting: boolean;
}

/** The Node side of Mnemo. */
export interface NodeHost {
  /** Asks Dawn for an adapter. */
  requestAdapter(powerPreference?: GPUPowerPreference): Promise<HostAdapter>;
  /** The files of a model folder, or of the folder around a single weights file. */
  modelFiles(path: string): Promise<ModelFiles>;
  /**
   * Imports the grammar engine (`@mlc-ai/web-xgrammar`) and returns its API. Its UMD bundle
   * needs CommonJS globals to load from Node's ESM, which browsers and bundlers do not.
   */
  importGrammarEngine(): Promise<unknown>;
  /**
   * Where kernel choices persist: a JSON file (MNEMO_KERNEL_CACHE, else
   * $XDG_CACHE_HOME/mnemo/kernel-choices.json or ~/.cache/mnemo/kernel-choices.json;
   * MNEMO_KERNEL_CACHE=off keeps them in memory).
   */
  tunerStore(): TunerStore;
}

let installed: NodeHost | undefined;

/** Installs (or, with undefined, removes) the Node host. */
export function installNodeHost(host: NodeHost | undefined): void {
  installed = host;
}

/** The Node host when running through the Node entry; undefined in browsers and workers. */
export function nodeHost(): NodeHost | undefined {
  return installed;
}
