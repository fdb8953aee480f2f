// Collects the parts of a device bench (scripts/bench-gpu/run.sh) into $OUT/bench-gpu.json
// (every part as it ran, with its parsed output) and $OUT/bench-gpu.md (one table). run.sh calls
// it after each part, so whatever finished is on disk even if a later part hangs.
//   node report.mjs <parts dir> <out dir>
// Reads the bench JSON defensively: fields may be added or missing; a missing number prints "—".
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [partsDir, outDir] = process.argv.slice(2);
if (!partsDir || !outDir) throw new Error("usage: node report.mjs <parts dir> <out dir>");

const readJson = (file) => {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
};

/** The last JSON object line a part printed on stdout (the CLI prints one). */
function output(name) {
  const file = join(partsDir, `${name}.json`);
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]);
    } catch {
      /* a line cut short by a kill */
    }
  }
  return null;
}

/** The last lines of what a part wrote on stderr (progress lines left out), error lines last. */
function errTail(name, n = 6) {
  const file = join(partsDir, `${name}.err`);
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() && !/…$/.test(l));
  const errors = lines.filter((l) => /error|mnemo: [A-Z_]+:|failed|refus/i.test(l));
  const tail = lines.slice(-n).filter((l) => !errors.includes(l));
  return [...tail, ...errors.slice(-2)];
}

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const meta = readJson(join(partsDir, "_meta.json")) ?? {};
const manifest = readJson(join(partsDir, "..", "manifest.json"));
const statuses = readdirSync(partsDir)
  .filter((f) => f.endsWith(".status.json"))
  .map((f) => readJson(join(partsDir, f)))
  .filter(Boolean);
// Each status carries when its part ended (epoch ms): keep the order in which they ran.
statuses.sort((a, b) => (a.ended ?? 0) - (b.ended ?? 0));

const parts = statuses.map((s) => ({ ...s, result: output(s.name), error: s.status === "ok" ? undefined : errTail(s.name) }));

/** One table row per ROW label ("runtime|model|weights"): its main part and its long prefill. */
const rows = [];
for (const p of parts) {
  if (p.kind === "step" || p.kind === "check") continue;
  let row = rows.find((r) => r.key === p.row);
  if (!row) {
    const [runtime, model, weights] = p.row.split("|");
    row = { key: p.row, runtime, model, weights, parts: [] };
    rows.push(row);
  }
  row.parts.push(p.name);
  const r = p.result;
  if (p.status !== "ok" || !r) {
    row.status = [row.status, `${p.kind}: ${p.status}`].filter(Boolean).join(", ");
    continue;
  }
  if (r.runtime === "llama.cpp") {
    Object.assign(row, {
      adapter: `llama.cpp ${r.backend}${r.devices?.length ? ` (${r.devices.join(", ")})` : ""}`,
      prompt_tokens: r.prompt_tokens,
      ttft_ms: num(r.ttft_ms),
      long_prompt_tokens: r.long_prompt_tokens,
      long_ttft_ms: num(r.long_ttft_ms),
      decode_tokens_per_s: num(r.decode_tokens_per_s),
      decode_ms_per_step: r.decode_ms_per_step ?? null,
      gpu_layers: `${r.gpu_layers}/${r.total_layers}`,
    });
  } else if (p.kind === "long") {
    Object.assign(row, { long_prompt_tokens: r.prompt_tokens, long_ttft_ms: num(r.ttft_ms), long_prefill_ms: num(r.prefill_ms) });
  } else {
    const kernels = Array.isArray(r.gpu?.kernels) ? r.gpu.kernels : [];
    const dispatches = num(r.gpu?.dispatches_per_step) ?? (kernels.length ? kernels.reduce((a, k) => a + (num(k.calls_per_step) ?? 0), 0) : null);
    const a = r.adapter ?? {};
    Object.assign(row, {
      adapter: `${a.vendor ?? "?"} ${a.architecture ?? ""}${a.isSoftware ? " (software)" : ""}`.trim(),
      prompt_tokens: r.prompt_tokens,
      ttft_ms: num(r.ttft_ms),
      prefill_ms: num(r.prefill_ms),
      decode_tokens_per_s: num(r.decode_tokens_per_s),
      decode_ms_per_step: r.decode_ms_per_step ?? null,
      gpu_step_ms: num(r.gpu?.step_ms),
      dispatches_per_step: dispatches,
      top_kernel: kernels[0] ? `${kernels[0].kernel} ${(100 * (num(kernels[0].share) ?? 0)).toFixed(0)}%` : null,
    });
  }
}
for (const r of rows) delete r.key;

const mnemo = parts.find((p) => p.result?.adapter && p.status === "ok")?.result;
const software = !!mnemo?.adapter?.isSoftware;
const report = {
  meta,
  manifest,
  adapter: mnemo?.adapter ?? null,
  limits: mnemo?.limits ?? null,
  rows,
  parts,
};
writeFileSync(join(outDir, "bench-gpu.json"), JSON.stringify(report, null, 1) + "\n");

// --- the markdown table ---------------------------------------------------------------------
const f = (v, digits = 1) => (v === null || v === undefined ? "—" : v.toFixed(digits));
const spreadText = (s) => (s && num(s.median) !== null ? `${f(s.median, 2)} (${f(s.p10, 2)}-${f(s.p90, 2)})` : "—");
const P = meta.prompt_tokens ?? rows.find((r) => r.prompt_tokens)?.prompt_tokens ?? "P";
const L = meta.long_prompt_tokens ?? "L";
const lines = [];
lines.push(`# Device bench (${meta.mode ?? "?"} run, ${meta.started ?? ""})`, "");
if (software || meta.mode === "dry") {
  lines.push("**SwiftShader (CPU emulation of a GPU) and llama.cpp on the same CPU: absolute numbers mean nothing, only ratios within this run do.**", "");
}
lines.push(
  `Mnemo adapter: ${mnemo ? `${mnemo.adapter.vendor} ${mnemo.adapter.architecture} (${mnemo.adapter.description || mnemo.adapter.device || "no description"})` : "—"}` +
    (meta.nvidia_smi ? ` · nvidia-smi: ${meta.nvidia_smi}` : "") +
    ` · node ${meta.node ?? "?"} · prompt ${P}, decode ${meta.gen_tokens ?? "?"} tokens, long prefill ${L}`,
  "",
  `| runtime | model | weights | prefill ${P} → first token, ms | prefill ${L} → first token, ms | decode tokens/s | ms/step median (p10-p90) | GPU ms/step | dispatches/step | on | status |`,
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
);
for (const r of rows) {
  lines.push(
    `| ${r.runtime} | ${r.model} | ${r.weights} | ${f(r.ttft_ms)} | ${f(r.long_ttft_ms)} | ${f(r.decode_tokens_per_s, 2)} | ${spreadText(r.decode_ms_per_step)} | ${f(r.gpu_step_ms, 2)} | ${r.dispatches_per_step ?? "—"} | ${r.adapter ?? "—"} | ${r.status ?? "ok"} |`,
  );
}
const mn = rows.find((r) => r.runtime === "Mnemo" && r.model.includes("same GGUF") && r.decode_tokens_per_s);
const ll = rows.filter((r) => r.runtime.startsWith("llama.cpp") && r.decode_tokens_per_s);
if (mn && ll.length) {
  lines.push("", "Same GGUF file, Mnemo ÷ llama.cpp (above 1: Mnemo faster):");
  for (const r of ll) {
    const ratio = (a, b) => (a && b ? `${(a / b).toPrecision(2)}x` : "—");
    lines.push(`- ${r.runtime}: decode ${ratio(mn.decode_tokens_per_s, r.decode_tokens_per_s)}, prefill ${P} ${ratio(r.ttft_ms, mn.ttft_ms)}`);
  }
}
const checks = parts.filter((p) => p.kind === "check");
if (checks.length) {
  lines.push("", "Checks (not rows):");
  for (const p of checks) lines.push(`- ${p.name}: ${p.status}${p.error?.length ? `: ${p.error[p.error.length - 1].slice(0, 300)}` : ""}`);
}
const bad = parts.filter((p) => p.status !== "ok" && p.kind !== "check");
if (bad.length) {
  lines.push("", "Parts that did not finish:");
  for (const p of bad) lines.push(`- ${p.name}: ${p.status}${p.rc !== null && p.rc !== undefined ? ` (rc ${p.rc})` : ""}${p.error?.length ? `: ${p.error[p.error.length - 1].slice(0, 300)}` : ""}`);
}
lines.push("", `Parts: ${parts.map((p) => `${p.name} ${p.status} ${f(num(p.seconds), 0)} s`).join(" · ")}`);
const md = lines.join("\n") + "\n";
writeFileSync(join(outDir, "bench-gpu.md"), md);
process.stdout.write(md);
