// Entry of the single-file CLI that travels to the GPU machine (.gpu/mnemo.mjs, built by
// scripts/bench-gpu/prepare.mjs): the same `mnemo` command as bin/mnemo.mjs, without tsx.
import { main } from "../../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
