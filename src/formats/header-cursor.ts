// A forward cursor over the header of a file held in a ByteSource. It keeps one window of
// bytes (1 MiB by default) and refills it only when a read needs bytes past its end, so a
// header is parsed with few source reads and never more than its size plus one window.
import { MnemoError } from "../errors.js";
import { decodeUtf8 } from "./json.js";
import type { ByteSource } from "./source.js";

/** Sequential little-endian reader over the start of a ByteSource. */
export class HeaderCursor {
  /** Absolute position of the next byte to read. */
  pos = 0;
  private window: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.window.buffer);
  private windowStart = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly chunkBytes = 1 << 20,
  ) {}

  /** The source's name, for error messages. */
  get name(): string {
    return this.source.name;
  }

  /** Bytes between the cursor and the end of the source. */
  get remaining(): number {
    return this.source.size - this.pos;
  }

  /** True when the next `n` bytes are already in the window (no await needed). */
  has(n: number): boolean {
    return this.pos - this.windowStart + n <= this.window.byteLength;
  }

  /** Makes the next `n` bytes available; BAD_MODEL_FILE naming `what` if the file ends first. */
  async need(n: number, what: string): Promise<void> {
    if (this.has(n)) return;
    if (n > this.remaining) {
      throw new MnemoError("BAD_MODEL_FILE", `${this.source.name}: ${what} needs ${n} bytes at offset ${this.pos} but the file ends after ${this.remaining}; the file is truncated or corrupt.`);
    }
    const length = Math.min(this.remaining, Math.max(n, this.chunkBytes));
    this.window = await this.source.read(this.pos, length);
    this.view = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength);
    this.windowStart = this.pos;
  }

  private at(n: number): number {
    const offset = this.pos - this.windowStart;
    this.pos += n;
    return offset;
  }

  // The readers below assume `need` (or `has`) covered their bytes.
  u8(): number {
    return this.view.getUint8(this.at(1));
  }
  i8(): number {
    return this.view.getInt8(this.at(1));
  }
  u16(): number {
    return this.view.getUint16(this.at(2), true);
  }
  i16(): number {
    return this.view.getInt16(this.at(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.at(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.at(4), true);
  }
  u64(): bigint {
    return this.view.getBigUint64(this.at(8), true);
  }
  i64(): bigint {
    return this.view.getBigInt64(this.at(8), true);
  }
  f32(): number {
    return this.view.getFloat32(this.at(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.at(8), true);
  }
  /** `n` bytes decoded as strict UTF-8. */
  utf8(n: number, what: string): string {
    const offset = this.at(n);
    return decodeUtf8(this.window.subarray(offset, offset + n), `${this.source.name}: ${what}`);
  }
}
