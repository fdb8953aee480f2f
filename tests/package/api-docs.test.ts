// The API reference: TypeDoc builds it from the TSDoc comments of the package's entry points
// with warnings as errors and "every exported symbol documented" on, and the committed
// docs/api matches what the comments say now.
import { describe, it, expect } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";

const root = join(__dirname, "..", "..");

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("API reference", () => {
  it("builds without warnings, and docs/api is up to date (npm run docs)", async () => {
    const out = mkdtempSync(join(tmpdir(), "mnemo-apidoc-"));
    try {
      const r = await promisify(execFile)("npx", ["typedoc", "--out", out], { cwd: root, timeout: 120_000 });
      expect(r.stdout + r.stderr).not.toMatch(/warning|error/i);
      const built = filesUnder(out);
      expect(built.length).toBeGreaterThan(20);
      expect(filesUnder(join(root, "docs", "api"))).toEqual(built);
      for (const f of built) {
        expect(readFileSync(join(root, "docs", "api", f), "utf8"), `docs/api/${f} is stale: run npm run docs`).toBe(readFileSync(join(out, f), "utf8"));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
