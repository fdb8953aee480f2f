// The layering rules of .dependency-cruiser.mjs hold on src/, and they bite: a copy of src/
// with deliberately forbidden imports fails the same check `npm run lint:deps` runs.
import { describe, it, expect, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const CLI = join(ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");
const CONFIG = join(ROOT, ".dependency-cruiser.mjs");

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Runs dependency-cruiser with the repository's config on `dir`/src. */
function depcruise(dir: string, outputType: "json" | "err") {
  return spawnSync(process.execPath, [CLI, "--config", CONFIG, "--output-type", outputType, "src"], { cwd: dir, encoding: "utf8" });
}

/** The violations found in `dir`/src, as "rule: from → to". */
function violations(dir: string): string[] {
  const run = depcruise(dir, "json");
  if (!run.stdout) throw new Error(`dependency-cruiser printed nothing: ${run.stderr}`);
  return (JSON.parse(run.stdout).summary.violations as Violation[]).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

describe("dependency rules", () => {
  it("the tree has no violations", () => {
    expect(violations(ROOT)).toEqual([]);
  });

  it("a format importing the runtime, base importing the GPU and a model importing the CLI all fail", () => {
    const dir = mkdtempSync(join(tmpdir(), "mnemo-deps-"));
    copies.push(dir);
    cpSync(join(ROOT, "src"), join(dir, "src"), { recursive: true });
    cpSync(join(ROOT, "tsconfig.json"), join(dir, "tsconfig.json"));
    appendFileSync(join(dir, "src", "formats", "json.ts"), '\nimport "../runtime/session.js";\n');
    appendFileSync(join(dir, "src", "base", "stats.ts"), '\nimport "../gpu/device.js";\n');
    appendFileSync(join(dir, "src", "models", "types.ts"), '\nimport "../cli/args.js";\n');

    const found = violations(dir);
    expect(found).toContain("formats-and-tokenizers-know-no-gpu: src/formats/json.ts → src/runtime/session.ts");
    expect(found).toContain("base-imports-nothing: src/base/stats.ts → src/gpu/device.ts");
    expect(found).toContain("models-know-no-session: src/models/types.ts → src/cli/args.ts");
    expect(found).toContain("library-knows-no-cli: src/models/types.ts → src/cli/args.ts");
    // The runtime reads snapshots through the formats, so the first import also closes a cycle.
    expect(found.some((v) => v.startsWith("no-circular: "))).toBe(true);
    // The reporter `npm run lint:deps` uses exits non-zero, which fails CI.
    expect(depcruise(dir, "err").status).not.toBe(0);
  });
});
