import { defineConfig } from "vitest/config";
import { builtinModules } from "node:module";

// Library build: dist/index.js (the browser and default entry), dist/node.js (the Node
// entry: adds Dawn and files), dist/ai-sdk.js (the AI SDK provider) and dist/cli.js (the
// `mnemo` command), sharing chunks. Node
// built-ins and runtime dependencies stay external; declarations come from tsc
// (tsconfig.build.json).
const external = [
  /^node:/,
  ...builtinModules,
  "webgpu",
  "@huggingface/jinja",
  "@mlc-ai/web-xgrammar",
  /^wgsl-preprocessor/,
  /^tsx/,
];

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    lib: {
      entry: { index: "src/index.ts", node: "src/node.ts", cli: "src/cli/main.ts", "ai-sdk": "src/ai-sdk/index.ts" },
      formats: ["es"],
    },
    rollupOptions: { external },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/global-setup.ts"],
    setupFiles: ["tests/setup-node-host.ts"],
    // Each file gets its own process (and Dawn device); SwiftShader already uses every core.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
