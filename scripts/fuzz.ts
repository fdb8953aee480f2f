// npm run fuzz -- [--count N] [--seed S] [--target NAME] [--save DIR]
// Mutation-fuzzes every parser that takes outside bytes (src/fuzz/targets.ts) and
// prints one JSON line per target: inputs, failures, time, peak memory. An input fails when
// it ends in anything but a result or a MnemoError, takes over 2 s, or pushes the process's
// peak memory past 1 GiB (an allocation sized by an unchecked field). Failing inputs are written to
// --save (default tests/fixtures/fuzz-regressions/<target>/) so the regression test replays them.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FUZZ_TARGETS } from "../src/fuzz/targets.js";
import { fuzzInput, runFuzzInput } from "../src/fuzz/harness.js";

const { values } = parseArgs({ options: { count: { type: "string" }, seed: { type: "string" }, target: { type: "string" }, save: { type: "string" } } });
const count = Number(values.count ?? 10_000);
const runSeed = Number(values.seed ?? 1);
const saveDir = values.save ?? join("tests", "fixtures", "fuzz-regressions");
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(runSeed)) {
  console.error("usage: npm run fuzz -- [--count N] [--seed S] [--target NAME] [--save DIR]");
  process.exit(2);
}
const targets = FUZZ_TARGETS.filter((t) => !values.target || t.name === values.target);
if (targets.length === 0) {
  console.error(`unknown target ${values.target}; targets: ${FUZZ_TARGETS.map((t) => t.name).join(", ")}`);
  process.exit(2);
}

/** Peak resident memory allowed: an input that pushes the process past it failed the bound. */
const PEAK_RSS_LIMIT_MB = 1024;
const peakRssMb = () => process.resourceUsage().maxRSS / 1024;

let failures = 0;
for (const target of targets) {
  const seedBytes = target.seed();
  const t0 = performance.now();
  const errors = new Map<string, number>();
  let failed = 0;
  let slowest = 0;
  for (let i = 0; i < count; i++) {
    const bytes = fuzzInput(target, seedBytes, runSeed, i);
    const peakBefore = peakRssMb();
    let outcome = await runFuzzInput(target, bytes);
    const peakAfter = peakRssMb();
    if (outcome.ok && peakAfter > PEAK_RSS_LIMIT_MB && peakAfter > peakBefore) {
      outcome = { ok: false, reason: `peak memory rose to ${peakAfter.toFixed(0)} MB`, ms: outcome.ms };
    }
    slowest = Math.max(slowest, outcome.ms);
    if (outcome.ok) {
      const key = outcome.error ?? "parsed";
      errors.set(key, (errors.get(key) ?? 0) + 1);
      continue;
    }
    failed++;
    const dir = join(saveDir, target.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `seed${runSeed}-${i}.bin`);
    writeFileSync(file, bytes);
    console.error(`${target.name} input ${i} (seed ${runSeed}): ${outcome.reason} → ${file}`);
  }
  failures += failed;
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      target: target.name,
      inputs: count,
      failures: failed,
      seconds: +seconds.toFixed(2),
      slowest_ms: +slowest.toFixed(1),
      peak_rss_mb: Math.round(peakRssMb()),
      outcomes: Object.fromEntries(errors),
    }),
  );
}
process.exit(failures ? 1 : 0);
