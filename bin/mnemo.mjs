#!/usr/bin/env node
// The `mnemo` command. Uses the built CLI (dist/cli.js) when present; in a source checkout
// it runs src/cli/main.ts through tsx, so `npm start` works right after `npm ci`.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "cli.js");
const source = join(root, "src", "cli", "main.ts");

let cli;
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(pathToFileURL(source).href);
} else {
  cli = await import(pathToFileURL(built).href);
}
const code = await cli.main(process.argv.slice(2));
process.exitCode = code;
