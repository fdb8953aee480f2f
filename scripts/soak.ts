// npm run soak -- [--cycles N] [--model DIR]
// N generate/abort cycles and N fork/restore cycles (default 1000) on a small model; prints
// one JSON line per kind and exits 1 if the GPU buffer pool grew.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/device.js";
import { installNodeHost } from "../src/host.js";
import { NODE_HOST } from "../src/node-host.js";
import { resolveModelFiles } from "../src/loading/model-files.js";
import { loadLanguageModel } from "../src/models/load.js";
import { forkRestoreCycles, generateAbortCycles } from "./soak-cycles.js";

const { values } = parseArgs({ options: { cycles: { type: "string" }, model: { type: "string" } } });
const cycles = Number(values.cycles ?? 1000);
installNodeHost(NODE_HOST);
const model = await loadLanguageModel(await createGpu(), await resolveModelFiles(values.model ?? "tests/fixtures/models/tiny-gpt2"));
const prompt = [5, 17, 99, 3, 250, 7];
let leaked = false;
for (const [kind, run] of [
  ["generate-abort", generateAbortCycles],
  ["fork-restore", forkRestoreCycles],
] as const) {
  const r = await run(model, cycles, prompt);
  leaked ||= r.liveBuffersAfter !== r.liveBuffersBefore || r.liveBytesAfter !== r.liveBytesBefore;
  console.log(JSON.stringify({ kind, ...r, ms: Math.round(r.ms) }));
}
model.dispose();
model.gpu.destroy();
process.exit(leaked ? 1 : 0);
