// Measures what the browser entry costs a web page: dist/index.js bundled with everything
// it imports statically (our chunks, @huggingface/jinja, wgsl-preprocessor), minified, then
// gzipped. What it imports only on demand (the grammar engine, on the first constrained
// generation) is measured apart, as `lazyGzipBytes`.
// Writes dist/bundle-size.json, which `mnemo bench` includes in its report.
// Run after `vite build` (npm run build:lib does).
import { build } from "vite";
import { gzipSync } from "node:zlib";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "dist", "index.js");
if (!existsSync(entry)) {
  console.error("bundle-size: dist/index.js is missing; run `vite build` first.");
  process.exit(1);
}

const result = await build({
  configFile: false,
  logLevel: "silent",
  root,
  build: {
    write: false,
    minify: true,
    target: "es2022",
    lib: { entry, formats: ["es"], fileName: "browser-entry" },
  },
});
const chunks = (Array.isArray(result) ? result : [result]).flatMap((r) => r.output).filter((o) => o.type === "chunk");
const byName = new Map(chunks.map((c) => [c.fileName, c]));
// The entry and every chunk it imports statically: what a page loads to start.
const initial = new Set();
const visit = (name) => {
  if (initial.has(name) || !byName.has(name)) return;
  initial.add(name);
  for (const i of byName.get(name).imports) visit(i);
};
for (const c of chunks) if (c.isEntry) visit(c.fileName);
const code = [...initial].map((n) => byName.get(n).code).join("\n");
const lazy = chunks
  .filter((c) => !initial.has(c.fileName))
  .map((c) => c.code)
  .join("\n");
// A Node built-in or Dawn in here would break browser bundles (and mean a wrong entry).
const nodeOnly = [/["']node:/, /["']webgpu["']/].filter((re) => re.test(code) || re.test(lazy)).map(String);
const report = {
  entry: "dist/index.js",
  minifiedBytes: Buffer.byteLength(code),
  gzipBytes: gzipSync(code, { level: 9 }).length,
  goalGzipBytes: 150_000,
  lazyGzipBytes: lazy ? gzipSync(lazy, { level: 9 }).length : 0,
  nodeOnlyImports: nodeOnly,
};
writeFileSync(join(root, "dist", "bundle-size.json"), JSON.stringify(report, null, 2) + "\n");
console.log(JSON.stringify(report));
if (nodeOnly.length > 0) {
  console.error(`bundle-size: the browser entry imports Node-only modules (${nodeOnly.join(", ")}).`);
  process.exit(1);
}
