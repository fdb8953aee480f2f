// GGUF v3 writer (little-endian). Metadata values keep the exact GGUF type they are given,
// tensors are laid out in order, each starting at a multiple of the alignment, the way
// llama.cpp's gguf-py writes them, so a file read and written back is identical.
import { MnemoError } from "../errors.js";
import { GGML_TYPES_BY_NAME, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPES, GGML_MAX_DIMS, type GgufValueType } from "./gguf-types.js";
import type { GgufTypedArray, GgufTypedValue } from "./gguf-values.js";

/** One tensor to write: raw bytes already in the layout of its ggml type. */
export interface GgufTensorInput {
  name: string;
  /** ggml type name: "F32", "F16", "Q8_0", "Q4_0" (any known ggml type is accepted). */
  type: string;
  /** Dimensions, ne0 (innermost) first. */
  dims: readonly number[];
  data: Uint8Array;
}

/** What {@link writeGguf} writes. */
export interface GgufWriteInput {
  metadata: Iterable<readonly [string, GgufTypedValue]>;
  tensors: readonly GgufTensorInput[];
  /** Data alignment (power of two, default 32); written as general.alignment when not 32. */
  alignment?: number;
}

/** Writes a whole GGUF v3 file into one array. */
export function writeGguf(input: GgufWriteInput): Uint8Array {
  const chunks = [...ggufChunks(input)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * The GGUF file as a sequence of chunks (header, then each tensor's data and padding), for
 * writing large files to a stream without building them in memory. Tensor data arrays are
 * yielded as given, not copied.
 */
export function* ggufChunks(input: GgufWriteInput): Generator<Uint8Array> {
  const metadata = [...input.metadata];
  const alignment = resolveAlignment(metadata, input.alignment);
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(BigInt(input.tensors.length));
  w.u64(BigInt(metadata.length));
  const keys = new Set<string>();
  for (const [key, value] of metadata) {
    if (keys.has(key)) badInput(`metadata key "${key}" given twice.`);
    keys.add(key);
    w.string(key);
    w.u32(typeId(value.type));
    writeValue(w, value, key);
  }
  let offset = 0;
  const names = new Set<string>();
  for (const t of input.tensors) {
    if (names.has(t.name)) badInput(`tensor "${t.name}" given twice.`);
    names.add(t.name);
    const type = checkTensor(t);
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(BigInt(d));
    w.u32(type);
    w.u64(BigInt(offset));
    offset = alignUp(offset + t.data.byteLength, alignment);
  }
  w.zeros(alignUp(w.length, alignment) - w.length);
  yield w.bytes();
  for (const t of input.tensors) {
    yield t.data;
    const pad = alignUp(t.data.byteLength, alignment) - t.data.byteLength;
    if (pad > 0) yield new Uint8Array(pad);
  }
}

function resolveAlignment(metadata: Array<readonly [string, GgufTypedValue]>, requested: number | undefined): number {
  const entry = metadata.find(([key]) => key === "general.alignment");
  const fromMetadata = entry?.[1];
  if (fromMetadata && fromMetadata.type !== "u32") badInput(`general.alignment must be a u32.`);
  const alignment = requested ?? (fromMetadata?.value as number | undefined) ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    badInput(`alignment ${alignment} is not a power of two.`);
  }
  if (fromMetadata && fromMetadata.value !== alignment) {
    badInput(`general.alignment ${String(fromMetadata.value)} disagrees with the alignment option ${alignment}.`);
  }
  if (!fromMetadata && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    metadata.push(["general.alignment", { type: "u32", value: alignment }]);
  }
  return alignment;
}

/** Checks dims against the data length and returns the ggml type id. */
function checkTensor(t: GgufTensorInput): number {
  const type = GGML_TYPES_BY_NAME.get(t.type);
  if (!type) badInput(`tensor "${t.name}" has unknown ggml type "${t.type}".`);
  if (t.dims.length > GGML_MAX_DIMS || !t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    badInput(`tensor "${t.name}" dims [${t.dims.join(", ")}] must be at most ${GGML_MAX_DIMS} non-negative integers.`);
  }
  const ne0 = t.dims[0] ?? 1;
  if (ne0 % type.blockSize !== 0) {
    badInput(`tensor "${t.name}" ne0 ${ne0} is not a multiple of the ${type.name} block size ${type.blockSize}.`);
  }
  const elements = t.dims.reduce((a, d) => a * d, 1);
  const bytes = (elements / type.blockSize) * type.typeSize;
  if (bytes !== t.data.byteLength) {
    badInput(`tensor "${t.name}" has ${t.data.byteLength} bytes but ${type.name} [${t.dims.join(", ")}] needs ${bytes}.`);
  }
  return type.id;
}

function writeValue(w: ByteWriter, v: GgufTypedValue, what: string): void {
  if (v.type === "array") {
    writeArray(w, v, what);
    return;
  }
  writeScalar(w, v.type, v.value, what);
}

function writeArray(w: ByteWriter, v: GgufTypedArray, what: string): void {
  w.u32(typeId(v.itemType));
  w.u64(BigInt(v.value.length));
  if (v.itemType === "array") {
    v.value.forEach((item, i) => writeArray(w, item, `${what}[${i}]`));
    return;
  }
  for (const item of v.value) writeScalar(w, v.itemType, item, what);
}

const INT_RANGES: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function writeScalar(w: ByteWriter, type: Exclude<GgufValueType, "array">, value: unknown, what: string): void {
  const range = INT_RANGES[type];
  if (range && !(Number.isInteger(value) && (value as number) >= range[0] && (value as number) <= range[1])) {
    badInput(`metadata "${what}": ${String(value)} is not a valid ${type}.`);
  }
  switch (type) {
    case "string":
      if (typeof value !== "string") badInput(`metadata "${what}": expected a string.`);
      return w.string(value);
    case "bool":
      if (typeof value !== "boolean") badInput(`metadata "${what}": expected a boolean.`);
      return w.u8(value ? 1 : 0);
    case "f32":
    case "f64":
      if (typeof value !== "number") badInput(`metadata "${what}": expected a number.`);
      return type === "f32" ? w.f32(value) : w.f64(value);
    case "u64":
    case "i64": {
      const big = typeof value === "bigint" ? value : typeof value === "number" && Number.isSafeInteger(value) ? BigInt(value) : null;
      const fits = big !== null && (type === "u64" ? BigInt.asUintN(64, big) === big : BigInt.asIntN(64, big) === big);
      if (!fits) badInput(`metadata "${what}": ${String(value)} is not a valid ${type}.`);
      return type === "u64" ? w.u64(big) : w.i64(big);
    }
    case "u8":
      return w.u8(value as number);
    case "i8":
      return w.i8(value as number);
    case "u16":
      return w.u16(value as number);
    case "i16":
      return w.i16(value as number);
    case "u32":
      return w.u32(value as number);
    case "i32":
      return w.i32(value as number);
  }
}

function typeId(type: GgufValueType): number {
  const id = GGUF_VALUE_TYPES.indexOf(type);
  if (id < 0) badInput(`unknown metadata value type "${String(type)}".`);
  return id;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function badInput(message: string): never {
  throw new MnemoError("BAD_INPUT", `writeGguf: ${message}`);
}

/** A growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private static readonly encoder = new TextEncoder();

  private reserve(n: number): number {
    if (this.length + n > this.buf.byteLength) {
      const grown = new Uint8Array(Math.max(this.buf.byteLength * 2, this.length + n));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  u64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, v, true);
  }
  i64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  string(s: string): void {
    const bytes = ByteWriter.encoder.encode(s);
    this.u64(BigInt(bytes.byteLength));
    const at = this.reserve(bytes.byteLength);
    this.buf.set(bytes, at);
  }
  zeros(n: number): void {
    this.reserve(n); // fresh bytes of a grown or new buffer are already zero
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
