// Headless Debian Chromium with WebGPU on SwiftShader, driven by playwright-core, for tests
// that must prove something runs in a real browser. Pages are built with Vite and served
// from 127.0.0.1 (a secure context, so navigator.gpu exists).
import { createServer, type Server } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

export const CHROMIUM_PATH = process.env.MNEMO_CHROMIUM ?? "/usr/bin/chromium";

const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".png": "image/png",
  ".wasm": "application/wasm",
};

export interface StaticServer {
  url: string;
  /** Paths requested so far (to check what came from the network). */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A path prefix under which weight files (.safetensors, .gguf) are served cut short: the
 * response announces the whole file (content-length), sends its first half and drops the
 * connection, as a network failing mid-download would. /cut/a/b serves dir/a/b; other files
 * come whole.
 */
export const CUT_SHORT_PREFIX = "/cut/";

/** Serves `dir` on 127.0.0.1 at a free port (files under {@link CUT_SHORT_PREFIX} cut short). */
export async function serveStatic(dir: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    requests.push(path);
    const underCut = path.startsWith(CUT_SHORT_PREFIX);
    const cut = underCut && /\.(safetensors|gguf)$/.test(path);
    let file = normalize(join(dir, underCut ? path.slice(CUT_SHORT_PREFIX.length - 1) : path));
    if (!file.startsWith(normalize(dir))) {
      res.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      if (cut) {
        res.writeHead(200, { "content-type": type, "content-length": String(body.byteLength) });
        res.write(body.subarray(0, body.byteLength >> 1), () => res.destroy());
        return;
      }
      res.writeHead(200, { "content-type": type });
      res.end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Chromium flags for WebGPU on SwiftShader in a closed network (shared GUIDE.md). */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=swiftshader",
  "--enable-features=Vulkan",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Launches headless Chromium with WebGPU on SwiftShader (flags from shared GUIDE.md).
 * Playwright gives every launch a fresh temporary profile.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A browser context with a profile folder of its own that survives page reloads and
 * context restarts (Cache Storage, IndexedDB), for tests of what a second visit sees.
 */
export async function launchPersistentChromium(profileDir = mkdtempSync(join(tmpdir(), "mnemo-profile-"))): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** Builds a Vite page (its folder holds index.html) into a temp folder and returns it. */
export async function buildPage(root: string): Promise<string> {
  const { build } = await import("vite");
  const outDir = mkdtempSync(join(tmpdir(), "mnemo-page-"));
  await build({ root, logLevel: "warn", build: { outDir, emptyOutDir: true, target: "es2022" }, configFile: false });
  return outDir;
}
