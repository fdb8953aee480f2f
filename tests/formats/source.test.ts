import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFileSync } from "node:fs";
import { isMnemoError } from "../../src/errors.js";
import { openGguf } from "../../src/formats/gguf.js";
import { fileSource } from "../../src/formats/node-file-source.js";
import { openSafetensors } from "../../src/formats/safetensors.js";
import { blobSource, bufferSource, urlSource, type DownloadProgress } from "../../src/formats/source.js";

const TINY = "tests/fixtures/models/tiny-gpt2/model.safetensors";
const Q4 = "tests/fixtures/models/gpt2-gutenberg-q4_0.gguf";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe("buffer, blob and file sources", () => {
  const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);

  it("bufferSource reads exact ranges as fresh copies, from any view", async () => {
    const view = bytes.subarray(10, 60); // byteOffset 10 into the buffer
    const source = bufferSource(view, "view");
    expect(source.size).toBe(50);
    const got = await source.read(5, 4);
    expect(Array.from(got)).toEqual([15, 16, 17, 18]);
    expect(got.byteOffset).toBe(0);
    got[0] = 255;
    expect(view[5]).toBe(15);
    expect(Array.from(await bufferSource(bytes.buffer).read(98, 2))).toEqual([98, 99]);
    expect((await source.read(50, 0)).byteLength).toBe(0);
  });

  it("every source rejects reads outside it with BAD_MODEL_FILE", async () => {
    const file = await fileSource(TINY);
    try {
      for (const source of [bufferSource(bytes), blobSource(new Blob([bytes])), file]) {
        for (const [offset, length] of [
          [source.size - 1, 2],
          [-1, 1],
          [0, -1],
          [0.5, 1],
        ]) {
          const err = await rejection(source.read(offset, length));
          expect(isMnemoError(err, "BAD_MODEL_FILE"), `${source.name} ${offset} ${length}`).toBe(true);
        }
      }
    } finally {
      await file.close();
    }
  });

  it("blobSource reads slices and takes a File's name", async () => {
    const file = new File([bytes], "model.bin");
    const source = blobSource(file);
    expect(source.name).toBe("model.bin");
    expect(Array.from(await source.read(97, 3))).toEqual([97, 98, 99]);
  });

  it("fileSource reports a missing file clearly", async () => {
    const err = await rejection(fileSource("tests/fixtures/models/nope.gguf"));
    expect(isMnemoError(err, "BAD_MODEL_FILE")).toBe(true);
    expect((err as Error).message).toContain("nope.gguf");
  });
});

interface TestServer {
  url: string;
  ranges: Array<string | undefined>;
  close(): Promise<void>;
}

/** Serves `body` on 127.0.0.1, honouring Range headers only when `ranges` is true. */
async function serve(body: Uint8Array, options: { ranges: boolean; contentLength?: boolean; chunk?: number }): Promise<TestServer> {
  const ranges: Array<string | undefined> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== "/model") {
      res.writeHead(404).end();
      return;
    }
    ranges.push(req.headers.range);
    const match = options.ranges ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "") : null;
    if (match) {
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), body.byteLength - 1);
      if (start >= body.byteLength) {
        res.writeHead(416, { "content-range": `bytes */${body.byteLength}` }).end();
        return;
      }
      res.writeHead(206, {
        "content-range": `bytes ${start}-${end}/${body.byteLength}`,
        "content-length": String(end - start + 1),
      });
      res.end(body.subarray(start, end + 1));
      return;
    }
    const headers: Record<string, string> = options.contentLength === false ? {} : { "content-length": String(body.byteLength) };
    res.writeHead(200, headers);
    // Several writes so the client sees several progress events.
    const chunk = options.chunk ?? 1 << 16;
    for (let at = 0; at < body.byteLength; at += chunk) res.write(body.subarray(at, at + chunk));
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/model`,
    ranges,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("urlSource against a local HTTP server", () => {
  const tiny = new Uint8Array(readFileSync(TINY));
  const q4 = new Uint8Array(readFileSync(Q4));
  let withRanges: TestServer;
  let withoutRanges: TestServer;
  let chunked: TestServer;

  beforeAll(async () => {
    withRanges = await serve(q4, { ranges: true });
    withoutRanges = await serve(tiny, { ranges: false, chunk: 100_000 });
    chunked = await serve(tiny, { ranges: false, contentLength: false });
  });
  afterAll(async () => {
    await withRanges.close();
    await withoutRanges.close();
    await chunked.close();
  });

  it("uses range requests when the server supports them, reading tensor by tensor", async () => {
    const events: DownloadProgress[] = [];
    const source = await urlSource(withRanges.url, { onProgress: (p) => events.push({ ...p }), probeBytes: 4096 });
    expect(source.size).toBe(q4.byteLength);
    const file = await openGguf(source);
    expect(file.getString("general.architecture")).toBe("gpt2");
    const name = "blk.3.attn_qkv.weight";
    const info = file.tensor(name);
    const requestsBefore = withRanges.ranges.length;
    expect(await file.readTensor(name)).toEqual(q4.subarray(info.byteOffset, info.byteOffset + info.byteLength));
    expect(withRanges.ranges.length).toBe(requestsBefore + 1);
    expect(withRanges.ranges[0]).toBe("bytes=0-4095");
    expect(withRanges.ranges.at(-1)).toBe(`bytes=${info.byteOffset}-${info.byteOffset + info.byteLength - 1}`);
    // Only the header and one tensor crossed the wire, far less than the file.
    const last = events.at(-1)!;
    expect(last.total).toBe(q4.byteLength);
    expect(last.loaded).toBeLessThan(q4.byteLength / 2);
    expect(events.every((e, i) => i === 0 || e.loaded > events[i - 1].loaded)).toBe(true);
  });

  it("downloads once with progress events when the server ignores ranges", async () => {
    const events: DownloadProgress[] = [];
    const before = withoutRanges.ranges.length;
    const source = await urlSource(withoutRanges.url, { onProgress: (p) => events.push({ ...p }) });
    expect(source.size).toBe(tiny.byteLength);
    const file = await openSafetensors(source);
    const reference = await openSafetensors(bufferSource(tiny));
    expect(await file.readF32("wte.weight")).toEqual(await reference.readF32("wte.weight"));
    expect(withoutRanges.ranges.length).toBe(before + 1);
    expect(events.length).toBeGreaterThan(1);
    expect(events.at(-1)).toEqual({ loaded: tiny.byteLength, total: tiny.byteLength });
    expect(events.every((e, i) => i === 0 || e.loaded > events[i - 1].loaded)).toBe(true);
  });

  it("reports an unknown total when the server sends no Content-Length", async () => {
    const events: DownloadProgress[] = [];
    const source = await urlSource(chunked.url, { onProgress: (p) => events.push({ ...p }) });
    expect(source.size).toBe(tiny.byteLength);
    expect(events.at(-1)).toEqual({ loaded: tiny.byteLength, total: undefined });
    expect(await source.read(0, 8)).toEqual(tiny.subarray(0, 8));
  });

  it("serves a file smaller than the probe from the probe", async () => {
    const small = await serve(tiny.subarray(0, 1000), { ranges: true });
    try {
      const source = await urlSource(small.url);
      expect(source.size).toBe(1000);
      expect(await source.read(990, 10)).toEqual(tiny.subarray(990, 1000));
      expect(small.ranges.length).toBe(1);
    } finally {
      await small.close();
    }
  });

  it("turns HTTP errors and aborts into MnemoErrors", async () => {
    const missing = await rejection(urlSource(withRanges.url.replace("/model", "/missing")));
    expect(isMnemoError(missing, "BAD_MODEL_FILE")).toBe(true);
    expect((missing as Error).message).toContain("404");
    const controller = new AbortController();
    controller.abort();
    expect(isMnemoError(await rejection(urlSource(withRanges.url, { signal: controller.signal })), "ABORTED")).toBe(true);
    const later = new AbortController();
    const source = await urlSource(withRanges.url, { signal: later.signal, probeBytes: 64 });
    later.abort();
    expect(isMnemoError(await rejection(source.read(1000, 10)), "ABORTED")).toBe(true);
  });
});
