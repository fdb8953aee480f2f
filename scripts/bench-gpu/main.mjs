// `npm run bench:gpu -- <prepare [--force] | --dry-run>`: the device bench in one command.
// See docs/PERFORMANCE.md, "The device bench".
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [what, ...rest] = process.argv.slice(2);

const USAGE = `usage: npm run bench:gpu -- prepare [--force]   build .gpu/ (what travels to the GPU machine)
       npm run bench:gpu -- --dry-run           run the device script here, on SwiftShader (results in .gpu-dry/)
on the GPU machine (the device tool's run, carry [".gpu"], timeout_s 560):
       bash scripts/bench-gpu/run.sh
`;

let status;
if (what === "prepare") {
  status = spawnSync(process.execPath, [join(here, "prepare.mjs"), ...rest], { stdio: "inherit" }).status;
} else if (what === "--dry-run") {
  status = spawnSync("bash", [join(here, "run.sh"), "--dry-run"], { stdio: "inherit" }).status;
} else {
  process.stderr.write(USAGE);
  status = what === undefined || what === "--help" ? 0 : 2;
}
process.exitCode = status ?? 1;
