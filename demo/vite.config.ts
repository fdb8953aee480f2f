import { defineConfig, type Plugin } from "vite";
import { createReadStream, cpSync, existsSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const weights = join(root, "..", "weights");

/** The bundled models' files the page offers (paths under weights/), served under /models/. */
const BUNDLED = new Set(["gpt2-gutenberg-q8_0.gguf", ...["lstm-shakespeare", "rnn-shakespeare"].flatMap((dir) => ["config.json", "vocab.json", "model.safetensors"].map((f) => `${dir}/${f}`))]);

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
        const path = /^\/models\/([^?]+)/.exec(req.url ?? "")?.[1];
        if (!path || !BUNDLED.has(path)) return next();
        const file = normalize(join(weights, path));
        res.setHeader("content-length", String(statSync(file).size));
        createReadStream(file).pipe(res);
      });
    },
    closeBundle() {
      for (const path of BUNDLED) {
        const src = join(weights, path);
        if (existsSync(src)) cpSync(src, join(outDir, "models", path));
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
