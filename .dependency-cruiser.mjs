// The layering of docs/ARCHITECTURE.md as rules: data flows file → tensors → model →
// session → tokens, and no module imports a layer above its own. `npm run lint:deps`
// checks src/ against them (tests/tooling/dependency-rules.test.ts proves a break fails).
// Type-only imports count: a layer that names another's types depends on it.

/** A rule: modules matching `from` may not import modules matching `to`. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: "error", from, to });

/** Entry modules at the top of src: only the entries themselves import them. */
const ENTRIES = "^src/(api|index|node)\\.ts$";

export default {
  forbidden: [
    forbid("no-circular", "Import cycles hide which layer is below which.", {}, { circular: true }),
    forbid(
      "base-imports-nothing",
      "src/base holds the types and helpers several layers share; it sits below all of them.",
      { path: "^src/base/" },
      { path: "^src/", pathNot: "^src/base/" },
    ),
    forbid("errors-imports-nothing", "MnemoError is used by every layer, so it depends on none.", { path: "^src/errors\\.ts$" }, { path: "^src/", pathNot: "^src/errors\\.ts$" }),
    forbid(
      "formats-and-tokenizers-know-no-gpu",
      "Bytes → host tensors and text ↔ ids run without a GPU, a model or a session.",
      { path: "^src/(formats|tokenizers)/" },
      { path: ["^src/(gpu|kernels|models|runtime|memory|loading|cli|fuzz)/", "^src/(host|node-host)\\.ts$"] },
    ),
    forbid(
      "loading-knows-no-gpu",
      "Loading fetches files and hands bytes to the formats; models build on it, not it on them.",
      { path: "^src/loading/" },
      { path: "^src/(gpu|kernels|models|runtime|memory|tokenizers|cli|fuzz)/" },
    ),
    forbid(
      "gpu-knows-no-kernel",
      "src/gpu is the device plumbing kernels are written with.",
      { path: "^src/gpu/" },
      { path: "^src/(kernels|models|runtime|memory|loading|tokenizers|cli|fuzz)/" },
    ),
    forbid(
      "kernels-know-no-model",
      "A kernel wrapper knows shapes and bindings, not which model calls it.",
      { path: "^src/kernels/" },
      { path: ["^src/(models|runtime|memory|loading|tokenizers|cli|fuzz)/", "^src/(host|node-host)\\.ts$"] },
    ),
    forbid("models-know-no-session", "Models record forward plans; sessions (src/runtime) run them.", { path: "^src/models/" }, { path: "^src/(runtime|memory|cli|fuzz)/" }),
    forbid("memory-knows-no-session", "External memory wraps models; sessions use it, not the reverse.", { path: "^src/memory/" }, { path: "^src/(runtime|cli|fuzz)/" }),
    forbid("ai-sdk-is-an-entry", "The AI SDK provider is an entry of its own (mnemo-webgpu/ai-sdk); the library never imports it.", { pathNot: "^src/ai-sdk/" }, { path: "^src/ai-sdk/" }),
    forbid("runtime-knows-no-cli", "Sessions are library code.", { path: "^src/runtime/" }, { path: "^src/(cli|fuzz)/" }),
    forbid(
      "openai-api-is-on-top",
      "The OpenAI-style APIs (src/openai) are built on sessions; nothing below them knows them.",
      { path: "^src/(base|formats|tokenizers|loading|gpu|kernels|models|runtime|memory)/" },
      { path: "^src/openai/" },
    ),
    forbid("library-knows-no-cli", "The mnemo command is built on the library, never the other way.", { pathNot: "^src/cli/" }, { path: "^src/cli/" }),
    forbid("fuzz-is-a-harness", "The fuzz targets and harness are for scripts/fuzz.ts and tests only.", { pathNot: "^src/fuzz/" }, { path: "^src/fuzz/" }),
    forbid("entries-are-on-top", "The package entries and the public API module are imported by the entries only.", { pathNot: "^src/(index|node)\\.ts$" }, { path: ENTRIES }),
    forbid(
      "node-host-from-node-only",
      "The Node host (Dawn, node:fs) is installed by the Node entry and the CLI, so browser bundles never see it.",
      { pathNot: ["^src/node\\.ts$", "^src/cli/"] },
      { path: "^src/node-host\\.ts$" },
    ),
  ],
  options: {
    includeOnly: "^src/",
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
  },
};
