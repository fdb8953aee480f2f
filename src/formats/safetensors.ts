// safetensors: 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and byte range (relative to the end of the header), then the raw data.
// Everything in the header is untrusted: each check below names the offending tensor.
import { MnemoError } from "../errors.js";
import { decodeUtf8, isJsonObject, parseJsonObject } from "./json.js";
import { f16BitsToF32Array, bf16BitsToF32Array } from "./f16.js";
import { float32View, uint16View, type ByteSource } from "./source.js";

/** Bytes per element of every safetensors dtype Mnemo recognises. */
export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

/** A safetensors dtype name. */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** Where one tensor lives in the file. */
export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute offset in the file (header included). */
  byteOffset: number;
  byteLength: number;
}

/** An opened safetensors file; tensors are read one at a time from the source. */
export interface SafetensorsFile {
  readonly source: ByteSource;
  /** Tensors in header order. */
  readonly tensors: Map<string, SafetensorsTensorInfo>;
  /** The free-form `__metadata__` strings (empty when absent). */
  readonly metadata: Record<string, string>;
  /** The tensor's info; BAD_MODEL_FILE when the file has no tensor of that name. */
  tensor(name: string): SafetensorsTensorInfo;
  /** The tensor's bytes as stored (little-endian), owned by the caller. */
  readRaw(name: string): Promise<Uint8Array>;
  /** An F32, F16 or BF16 tensor as f32 values; UNSUPPORTED_MODEL for other dtypes. */
  readF32(name: string): Promise<Float32Array>;
  /** An F16 tensor's raw half-precision bits (to upload f16 weights without widening). */
  readF16Bits(name: string): Promise<Uint16Array>;
}

/** Headers above this size are rejected before allocating (real ones are well under 10 MB). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** Reads and validates the header of a safetensors file. */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const where = source.name;
  if (source.size < 8) bad(`${where}: ${source.size} bytes is too short for a safetensors file (8-byte header length missing).`);
  const lengthBytes = await source.read(0, 8);
  const headerLength = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    bad(`${where}: header length ${headerLength} exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit; not a safetensors file?`);
  }
  if (headerLength > BigInt(source.size - 8)) {
    bad(`${where}: header length ${headerLength} runs past the end of the file (${source.size} bytes); the file is truncated.`);
  }
  const dataOffset = 8 + Number(headerLength);
  const text = decodeUtf8(await source.read(8, Number(headerLength)), `${where}: header`);
  const header = parseJsonObject(text, `${where}: header`);
  const metadata = parseMetadata(header["__metadata__"], where);
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    tensors.set(name, parseTensorEntry(name, entry, dataOffset, source.size - dataOffset, where));
  }
  checkNoOverlap([...tensors.values()], where);
  return makeFile(source, tensors, metadata);
}

function makeFile(source: ByteSource, tensors: Map<string, SafetensorsTensorInfo>, metadata: Record<string, string>): SafetensorsFile {
  const tensor = (name: string): SafetensorsTensorInfo => {
    const info = tensors.get(name);
    if (!info) bad(`${source.name}: no tensor named "${name}".`);
    return info;
  };
  const readRaw = (name: string): Promise<Uint8Array> => {
    const info = tensor(name);
    return source.read(info.byteOffset, info.byteLength);
  };
  return {
    source,
    tensors,
    metadata,
    tensor,
    readRaw,
    async readF32(name) {
      const info = tensor(name);
      if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16") {
        throw new MnemoError("UNSUPPORTED_MODEL", `${source.name}: tensor "${name}" has dtype ${info.dtype}; only F32, F16 and BF16 can be read as floats.`);
      }
      const bytes = await readRaw(name);
      if (info.dtype === "F32") return float32View(bytes);
      const bits = uint16View(bytes);
      return info.dtype === "F16" ? f16BitsToF32Array(bits) : bf16BitsToF32Array(bits);
    },
    async readF16Bits(name) {
      const info = tensor(name);
      if (info.dtype !== "F16") {
        throw new MnemoError("UNSUPPORTED_MODEL", `${source.name}: tensor "${name}" has dtype ${info.dtype}, not F16.`);
      }
      return uint16View(await readRaw(name));
    },
  };
}

function parseMetadata(value: unknown, where: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isJsonObject(value)) bad(`${where}: __metadata__ must be an object of strings.`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") bad(`${where}: __metadata__ value "${key}" must be a string.`);
    out[key] = v;
  }
  return out;
}

function parseTensorEntry(name: string, entry: unknown, dataOffset: number, dataSize: number, where: string): SafetensorsTensorInfo {
  const what = `${where}: tensor "${name}"`;
  if (!isJsonObject(entry)) bad(`${what}: header entry must be an object.`);
  const dtype = entry["dtype"];
  if (typeof dtype !== "string" || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
    bad(`${what}: unknown dtype ${JSON.stringify(dtype)}.`);
  }
  const shape = entry["shape"];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(`${what}: shape ${JSON.stringify(shape)} must be a list of non-negative integers.`);
  }
  const offsets = entry["data_offsets"];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    bad(`${what}: data_offsets ${JSON.stringify(offsets)} must be two non-negative integers.`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataSize) {
    bad(`${what}: data_offsets [${begin}, ${end}] lie outside the data section (${dataSize} bytes); the file is truncated or corrupt.`);
  }
  const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
  const expected = (shape as number[]).reduce((a, d) => a * d, 1) * elementBytes;
  if (expected !== end - begin) {
    bad(`${what}: shape [${shape.join(", ")}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}.`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], byteOffset: dataOffset + begin, byteLength: end - begin };
}

function checkNoOverlap(infos: SafetensorsTensorInfo[], where: string): void {
  const sorted = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev.byteOffset + prev.byteLength > cur.byteOffset) {
      bad(`${where}: tensors "${prev.name}" and "${cur.name}" overlap in the data section.`);
    }
  }
}

function bad(message: string): never {
  throw new MnemoError("BAD_MODEL_FILE", message);
}

/** One tensor to write with {@link writeSafetensors}. */
export interface SafetensorsTensorInput {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Little-endian element bytes (any typed array view of them). */
  data: ArrayBufferView;
}

/**
 * Serialises tensors (in the given order, packed without gaps) and optional string metadata
 * into one safetensors file. The header is space-padded to a multiple of 8 bytes so every
 * tensor starts 8-byte aligned when the data is.
 */
export function writeSafetensors(tensors: readonly SafetensorsTensorInput[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header["__metadata__"] = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__" || Object.hasOwn(header, t.name)) {
      throw new MnemoError("BAD_INPUT", `writeSafetensors: duplicate or reserved tensor name "${t.name}".`);
    }
    const bytes = t.shape.reduce((a, d) => a * d, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (bytes !== t.data.byteLength) {
      throw new MnemoError("BAD_INPUT", `writeSafetensors: tensor "${t.name}" has ${t.data.byteLength} bytes, shape needs ${bytes}.`);
    }
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + padded);
  let at = 8 + padded;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
