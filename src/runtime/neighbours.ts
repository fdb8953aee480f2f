// The memory entries that voted for a step, read back only when generate() asks for them
// (`neighbours: true`). A prefill's nearest entries are kept beside the session's
// next-token logits, so the first generated token can report them too.
import type { Gpu } from "../gpu/device.js";
import { READBACK_USAGE } from "../gpu/device.js";
import type { PlanNeighbours } from "../models/types.js";
import type { MemoryNeighbour } from "./types.js";

const MAP_READ = 0x0001;
/** Marks an empty slot of a top-k list (fewer entries than k in the store). */
const NO_ENTRY = 0xffffffff;

export class NeighbourReadback {
  private kept: { dist: GPUBuffer; index: GPUBuffer; k: number } | null = null;
  private valid = false;
  private readonly staging: (GPUBuffer | null)[];

  constructor(
    private readonly gpu: Gpu,
    /** Steps that may be in flight at once, each with its own staging buffer. */
    slots: number,
  ) {
    this.staging = Array.from({ length: slots }, () => null);
  }

  /** After a prefill: copies its nearest entries beside the next-token logits (or forgets them). */
  keep(encoder: GPUCommandEncoder, source: PlanNeighbours | undefined): void {
    this.valid = !!source;
    if (!source) return;
    if (this.kept?.k !== source.k) {
      this.releaseKept();
      this.kept = { dist: this.gpu.createStorage(source.k * 4, "session.next-neighbours.dist"), index: this.gpu.createStorage(source.k * 4, "session.next-neighbours.index"), k: source.k };
      this.valid = true;
    }
    encoder.copyBufferToBuffer(source.dist, source.byteOffset, this.kept.dist, 0, source.k * 4);
    encoder.copyBufferToBuffer(source.index, source.byteOffset, this.kept.index, 0, source.k * 4);
  }

  /** Where the kept (prefill) entries are, if they belong to the current next-token logits. */
  get prefillSource(): PlanNeighbours | undefined {
    const n = this.kept;
    return n && this.valid ? { dist: n.dist, index: n.index, byteOffset: 0, k: n.k } : undefined;
  }

  forget(): void {
    this.valid = false;
  }

  /** Records a copy of `source` into the staging buffer of `slot`; read it with {@link read}. */
  copyOut(encoder: GPUCommandEncoder, source: PlanNeighbours, slot: number): GPUBuffer {
    const bytes = source.k * 8;
    let staging = this.staging[slot];
    if (!staging || staging.size < bytes) {
      if (staging) this.gpu.pool.release(staging);
      staging = this.staging[slot] = this.gpu.pool.acquire(bytes, READBACK_USAGE, "neighbours");
    }
    encoder.copyBufferToBuffer(source.dist, source.byteOffset, staging, 0, source.k * 4);
    encoder.copyBufferToBuffer(source.index, source.byteOffset, staging, source.k * 4, source.k * 4);
    return staging;
  }

  /** Maps a staging buffer filled by {@link copyOut}: the entries, nearest first. */
  async read(staging: GPUBuffer, k: number): Promise<MemoryNeighbour[]> {
    await this.gpu.track(staging.mapAsync(MAP_READ));
    const dist = new Float32Array(staging.getMappedRange(0, k * 4).slice(0));
    const index = new Uint32Array(staging.getMappedRange(k * 4, k * 4).slice(0));
    staging.unmap();
    const found: MemoryNeighbour[] = [];
    for (let s = 0; s < k; s++) if (index[s] !== NO_ENTRY) found.push({ entry: index[s], distance: dist[s] });
    return found;
  }

  private releaseKept(): void {
    if (this.kept) for (const b of [this.kept.dist, this.kept.index]) this.gpu.pool.release(b);
    this.kept = null;
    this.valid = false;
  }

  dispose(): void {
    this.releaseKept();
    for (const s of this.staging) if (s) this.gpu.pool.release(s);
    this.staging.fill(null);
  }
}
