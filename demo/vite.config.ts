import { defineConfig, type Plugin } from "vite";
import { createReadStream, cpSync, existsSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const weights = join(root, "..", "weights");

/** The bundled models the page offers, served under /models/<name>/. */
const MODELS: Record<string, string[]> = {
  "gpt2-gutenberg": ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"],
  "lstm-shakespeare": ["config.json", "vocab.json", "model.safetensors"],
};

/** Serves weights/ in dev and copies the bundled models into the static build. */
function bundledModels(): Plugin {
  let outDir = "";
  return {
    name: "mnemo-bundled-models",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const m = /^\/models\/([^/]+)\/([^/?]+)/.exec(req.url ?? "");
        if (!m || !MODELS[m[1]]?.includes(m[2])) return next();
        const file = normalize(join(weights, m[1], m[2]));
        res.setHeader("content-length", String(statSync(file).size));
        createReadStream(file).pipe(res);
      });
    },
    closeBundle() {
      for (const [name, files] of Object.entries(MODELS)) {
        for (const f of files) {
          const src = join(weights, name, f);
          if (existsSync(src)) cpSync(src, join(outDir, "models", name, f));
        }
      }
    },
  };
}

export default defineConfig({
  root,
  base: "./",
  plugins: [bundledModels()],
  worker: { format: "es" },
  build: { outDir: join(root, "..", "demo-dist"), emptyOutDir: true, target: "es2022" },
});
