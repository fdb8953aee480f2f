// The GPT-2 KV cache: per layer a K and a V buffer [n_head, n_ctx, head_dim] on the GPU.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import { readAll, type BufferRegion, type Readout } from "../gpu/readback.js";
import { kvCacheBytes, type KvCacheType } from "../kernels/attention.js";
import type { SnapshotTensor } from "../base/snapshot-tensor.js";
import type { Gpt2Config } from "./gpt2-config.js";
import type { ModelState } from "./types.js";

/** A GPT-2 KV cache: per layer a K and a V buffer [n_head, n_ctx, head_dim]. */
export class Gpt2KvCache implements ModelState {
  position = 0;
  readonly k: GPUBuffer[] = [];
  readonly v: GPUBuffer[] = [];
  readonly bytes: number;
  private readonly layerBytes: number;

  constructor(
    private readonly gpu: Gpu,
    readonly config: Gpt2Config,
    readonly cacheType: KvCacheType,
  ) {
    const { nHead, nPositions, nEmbd, nLayer } = config;
    this.layerBytes = kvCacheBytes(nHead, nPositions, nEmbd / nHead, cacheType);
    for (let l = 0; l < nLayer; l++) {
      this.k.push(gpu.createStorage(this.layerBytes, `kv.k${l}`));
      this.v.push(gpu.createStorage(this.layerBytes, `kv.v${l}`));
    }
    this.bytes = 2 * nLayer * this.layerBytes;
  }

  /** Bytes of K and V for one token across all layers. */
  get bytesPerToken(): number {
    return this.bytes / this.config.nPositions;
  }

  /** Only the used positions travel: [n_head, position, head_dim] per buffer, one region per head. */
  readout(): Readout<Record<string, SnapshotTensor>> {
    const { nHead, nEmbd, nPositions } = this.config;
    const hd = nEmbd / nHead;
    const n = this.position;
    const elem = this.cacheType === "f16" ? 2 : 4;
    const named = [...this.k.map((b, l) => [`k${l}`, b] as const), ...this.v.map((b, l) => [`v${l}`, b] as const)];
    const regions: BufferRegion[] = [];
    for (const [, buffer] of named) for (let h = 0; h < nHead; h++) regions.push({ buffer, offset: h * nPositions * hd * elem, size: n * hd * elem });
    return {
      regions,
      decode: (parts) => {
        const out: Record<string, SnapshotTensor> = {};
        named.forEach(([name], i) => {
          const used = new Uint8Array(nHead * n * hd * elem);
          for (let h = 0; h < nHead; h++) used.set(parts[i * nHead + h], h * n * hd * elem);
          const shape = [nHead, n, hd];
          out[name] = this.cacheType === "f16" ? { dtype: "f16", shape, data: new Uint16Array(used.buffer) } : { dtype: "f32", shape, data: new Float32Array(used.buffer) };
        });
        return out;
      },
    };
  }

  async read(): Promise<Record<string, SnapshotTensor>> {
    const [tensors] = await readAll(this.gpu, [this.readout()]);
    return tensors;
  }

  write(tensors: Record<string, SnapshotTensor>, position: number): void {
    const { nHead, nEmbd, nPositions } = this.config;
    const hd = nEmbd / nHead;
    if (!Number.isInteger(position) || position < 0 || position > nPositions) {
      throw new MnemoError("BAD_INPUT", `Snapshot position ${position} does not fit a ${nPositions}-position cache.`);
    }
    const elem = this.cacheType === "f16" ? 2 : 4;
    for (const [name, bufs] of [
      ["k", this.k],
      ["v", this.v],
    ] as const) {
      for (let l = 0; l < bufs.length; l++) {
        const t = tensors[`${name}${l}`];
        if (!t) throw new MnemoError("BAD_INPUT", `Snapshot has no tensor ${name}${l} for this model.`);
        if (t.dtype !== this.cacheType || t.shape.join() !== [nHead, position, hd].join()) {
          throw new MnemoError("SHAPE_MISMATCH", `Snapshot tensor ${name}${l} is ${t.dtype} [${t.shape}], this cache needs ${this.cacheType} [${nHead}, ${position}, ${hd}].`);
        }
        const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        for (let h = 0; h < nHead; h++) {
          const row = bytes.subarray(h * position * hd * elem, (h + 1) * position * hd * elem);
          if (row.byteLength) this.gpu.write(bufs[l], row, h * nPositions * hd * elem);
        }
      }
    }
    this.position = position;
  }

  /** Positions are overwritten as they are refilled, so forgetting is free. */
  clear(): void {
    this.position = 0;
  }

  copyTo(encoder: GPUCommandEncoder, other: ModelState): void {
    const o = other as Gpt2KvCache;
    for (let l = 0; l < this.k.length; l++) {
      encoder.copyBufferToBuffer(this.k[l], 0, o.k[l], 0, this.layerBytes);
      encoder.copyBufferToBuffer(this.v[l], 0, o.v[l], 0, this.layerBytes);
    }
    o.position = this.position;
  }

  dispose(): void {
    for (const b of [...this.k, ...this.v]) this.gpu.pool.release(b);
    this.k.length = 0;
    this.v.length = 0;
  }
}
