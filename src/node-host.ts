// The Node implementation of the host: Dawn through the `webgpu` package and model files
// from disk. Only the Node entry (src/node.ts) imports this module.
import { createRequire } from "node:module";
import type { NodeHost } from "./host.js";
import { requestNodeAdapter } from "./gpu/node-webgpu.js";
import { nodeModelFiles } from "./loading/node-files.js";
import { nodeTunerStore } from "./loading/node-tuner-store.js";

/**
 * xgrammar's web package is a UMD bundle: imported from ESM it looks for `require` and
 * `__filename` (to load its WebAssembly the CommonJS way) and leaves its API on
 * `globalThis.xgrammar`. The globals are lent while it loads and starts its WebAssembly (on
 * the first call into it, so one cheap call is made here), then taken back.
 */
async function importGrammarEngine(): Promise<unknown> {
  const g = globalThis as Record<string, unknown>;
  const lent = { require: createRequire(import.meta.url), __filename: "/xgrammar.js", __dirname: "/" };
  const saved = Object.fromEntries(Object.keys(lent).map((k) => [k, g[k]]));
  for (const [k, v] of Object.entries(lent)) g[k] ??= v;
  try {
    const mod = (await import("@mlc-ai/web-xgrammar")) as { default?: unknown };
    const api = (mod.default as { GrammarCompiler?: unknown } | undefined)?.GrammarCompiler ? mod.default : g.xgrammar;
    const grammar = await (api as { Grammar: { builtinJSONGrammar(): Promise<{ dispose(): void }> } }).Grammar.builtinJSONGrammar();
    grammar.dispose();
    return api;
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete g[k];
  }
}

export const NODE_HOST: NodeHost = {
  requestAdapter: requestNodeAdapter,
  modelFiles: nodeModelFiles,
  importGrammarEngine,
  tunerStore: nodeTunerStore,
};
