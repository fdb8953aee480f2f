// Builds .gpu/: everything the device bench (scripts/bench-gpu/run.sh) needs on a GPU machine
// that has no Node, no npm and no network. Only a copy of the working tree travels there, and
// all of it must fit in 64 MiB, so this keeps just what runs and compresses it:
//   mnemo.mjs             the CLI as one ESM file (shaders are embedded in the source already)
//   node_modules.tar.xz   webgpu (Dawn, linux-x64 only), node-llama-cpp and its Vulkan binaries
//   node.tar.xz           this machine's `node` binary
//   deb/*.deb             the Vulkan loader and GL/EGL libraries (amd64) the GPU machine lacks
//   manifest.json         versions and sizes
// Slow parts (the debs, node, the npm install) are kept between runs; `--force` redoes them.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const GPU = join(ROOT, ".gpu");
// Staging outside .gpu, so none of it travels; node_modules/.cache is ignored already.
const CACHE = join(ROOT, "node_modules", ".cache", "mnemo-bench-gpu");
/** What one `run` call may carry, the tracked tree included (the device tool's limit). */
const TREE_LIMIT = 64 * 2 ** 20;
const DEBS = ["libvulkan1", "libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2"];
const force = process.argv.includes("--force");

const log = (s) => process.stderr.write(`bench:gpu prepare: ${s}\n`);
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], ...opts });
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const versionOf = (pkgDir) => JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;

function checkPlatform() {
  // The GPU machine is Linux x86-64: Dawn's and llama.cpp's binaries and node must be too.
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`prepare must run on linux-x64 (this is ${process.platform}-${process.arch})`);
}

function checkIgnored() {
  try {
    sh("git", ["check-ignore", "-q", ".gpu/"], { cwd: ROOT });
  } catch {
    throw new Error(".gpu/ is not ignored by git: add `/.gpu/` to .gitignore (or .git/info/exclude) first, or it travels twice");
  }
}

/** The CLI and everything it imports as one file; only Dawn's native module stays outside. */
async function bundle() {
  sh(process.execPath, [join(ROOT, "scripts", "embed-shaders.mjs")]);
  let esbuild;
  try {
    esbuild = await import("esbuild"); // installed with tsx, a dev dependency
  } catch {
    throw new Error("esbuild is missing from node_modules (it comes with tsx): run `npm ci`");
  }
  await esbuild.build({
    entryPoints: [join(ROOT, "scripts", "bench-gpu", "cli-entry.ts")],
    outfile: join(GPU, "mnemo.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["webgpu"],
    // CommonJS dependencies inside an ES module still call require() for Node built-ins.
    banner: { js: 'import { createRequire as __mnemoRequire } from "node:module"; const require = __mnemoRequire(import.meta.url);' },
    legalComments: "eof",
    logLevel: "warning",
  });
}

function debs() {
  const dir = join(GPU, "deb");
  const have = existsSync(dir) ? readdirSync(dir) : [];
  if (!force && DEBS.every((p) => have.some((f) => f.startsWith(`${p}_`)))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // amd64 package lists of their own, so this works whatever this machine's architecture.
  const lists = join(CACHE, "apt-lists");
  mkdirSync(join(lists, "partial"), { recursive: true });
  const o = ["-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64", `-oDir::State::Lists=${lists}`];
  sh("apt-get", [...o, "-qq", "update"]);
  sh("apt-get", [...o, "-qq", "download", ...DEBS], { cwd: dir });
}

function nodeTarball() {
  const file = join(GPU, "node.tar.xz");
  const stamp = join(GPU, "node.version");
  if (!force && existsSync(file) && existsSync(stamp) && readFileSync(stamp, "utf8") === process.version) return;
  log(`packing node ${process.version} (xz, about a minute)`);
  sh("tar", ["-C", dirname(process.execPath), "-cJf", file, "node"], { env: { ...process.env, XZ_OPT: "-9 -T0" } });
  writeFileSync(stamp, process.version);
}

/** node-llama-cpp and its Vulkan build from the registry, plus the linux-x64 part of webgpu. */
function modules() {
  const llamaVersion = versionOf(join(ROOT, "node_modules", "node-llama-cpp"));
  const webgpuVersion = versionOf(join(ROOT, "node_modules", "webgpu"));
  const key = `node-llama-cpp@${llamaVersion} vulkan webgpu@${webgpuVersion}`;
  const file = join(GPU, "node_modules.tar.xz");
  const stamp = join(GPU, "node_modules.version");
  if (!force && existsSync(file) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return { llamaVersion, webgpuVersion };

  // A prefix of its own: package.json's dependencies stay as they are, and no other
  // platform's binaries come along (they are optional dependencies of node-llama-cpp).
  const npmDir = join(CACHE, "npm");
  rmSync(npmDir, { recursive: true, force: true });
  mkdirSync(npmDir, { recursive: true });
  writeFileSync(join(npmDir, "package.json"), JSON.stringify({ name: "mnemo-bench-gpu-deps", private: true }));
  log(`npm install node-llama-cpp@${llamaVersion} @node-llama-cpp/linux-x64-vulkan@${llamaVersion}`);
  sh("npm", [
    "install",
    "--prefix",
    npmDir,
    "--omit=optional",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    "--loglevel=error",
    `node-llama-cpp@${llamaVersion}`,
    `@node-llama-cpp/linux-x64-vulkan@${llamaVersion}`,
  ]);

  const pack = join(CACHE, "pack");
  rmSync(pack, { recursive: true, force: true });
  const mods = join(pack, "node_modules");
  cpSync(join(npmDir, "node_modules"), mods, {
    recursive: true,
    // Never read at run time: llama.cpp's source bundle (for building from source, 34 MB),
    // type declarations and source maps.
    filter: (src) => !/[\\/]gitRelease\.bundle$|\.d\.ts$|\.map$|[\\/]\.package-lock\.json$/.test(src),
  });
  const webgpu = join(ROOT, "node_modules", "webgpu");
  for (const f of ["package.json", "index.js", "LICENSE.md"]) cpSync(join(webgpu, f), join(mods, "webgpu", f));
  cpSync(join(webgpu, "dist", "linux-x64"), join(mods, "webgpu", "dist", "linux-x64"), { recursive: true });
  log("packing node_modules (xz, a minute or two)");
  sh("tar", ["-C", pack, "-cJf", file, "node_modules"], { env: { ...process.env, XZ_OPT: "-9 -T0" } });
  writeFileSync(stamp, key);
  return { llamaVersion, webgpuVersion };
}

/** Bytes of the files git tracks or would add: they travel beside .gpu on every call. */
function treeBytes() {
  try {
    const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, maxBuffer: 64 * 2 ** 20 });
    let total = 0;
    for (const f of out.toString().split("\0")) {
      if (f && existsSync(join(ROOT, f))) total += statSync(join(ROOT, f)).size;
    }
    return total;
  } catch {
    return null;
  }
}

function sizeOf(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, f) => sum + sizeOf(join(path, f)), 0);
}

checkPlatform();
checkIgnored();
mkdirSync(GPU, { recursive: true });
log("bundling the CLI");
await bundle();
log("Debian packages");
debs();
nodeTarball();
const versions = modules();
rmSync(join(GPU, "manifest.json"), { force: true });
const files = {};
for (const f of readdirSync(GPU).sort()) files[f] = sizeOf(join(GPU, f));
const carried = Object.values(files).reduce((a, b) => a + b, 0);
const tree = treeBytes();
const manifest = {
  created: new Date().toISOString(),
  node: process.version,
  node_llama_cpp: versions.llamaVersion,
  webgpu: versions.webgpuVersion,
  git_head: (() => {
    try {
      return execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT }).toString().trim();
    } catch {
      return null;
    }
  })(),
  files,
  carried_bytes: carried,
  tree_bytes: tree,
};
writeFileSync(join(GPU, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
for (const [f, b] of Object.entries(files)) log(`  .gpu/${f.padEnd(24)} ${mib(b).padStart(10)}`);
log(`.gpu/ carries ${mib(carried)}; with the working tree (${tree === null ? "unknown" : mib(tree)}) a call sends ${tree === null ? "?" : mib(carried + tree)} of the ${mib(TREE_LIMIT)} allowed`);
if (tree !== null && carried + tree > TREE_LIMIT) {
  log(`WARNING: over the device tool's limit by ${mib(carried + tree - TREE_LIMIT)}: the tracked files alone are ${mib(tree)}; see docs/PERFORMANCE.md, "The device bench"`);
}
log(`ready: ${relative(process.cwd(), GPU) || "."}`);
