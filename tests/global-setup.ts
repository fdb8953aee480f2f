// Re-embeds shaders/*.wgsl before any test runs, so `npx vitest` never tests stale WGSL.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export default function setup(): void {
  execFileSync(process.execPath, [join(__dirname, "..", "scripts", "embed-shaders.mjs")], { stdio: "inherit" });
}
