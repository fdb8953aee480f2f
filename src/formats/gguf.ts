// GGUF reader (v2 and v3, little-endian). Layout: magic "GGUF", version u32, tensor count
// u64, metadata count u64, metadata key/values, tensor infos, padding to the alignment,
// then tensor data. Every count and length is untrusted and is checked against the bytes
// left in the file before anything is allocated from it.
import { MnemoError } from "../errors.js";
import { f16BitsToF32Array } from "./f16.js";
import {
  GGML_MAX_DIMS,
  GGML_TYPES_BY_ID,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_BYTES,
  GGUF_VALUE_TYPES,
  SUPPORTED_GGML_TYPES,
  type GgufScalarType,
  type GgufValueType,
} from "./gguf-types.js";
import { plainValue, type GgufTypedArray, type GgufTypedValue, type GgufValue } from "./gguf-values.js";
import { HeaderCursor } from "./header-cursor.js";
import { dequantizeQ4_0, dequantizeQ8_0 } from "./quant.js";
import { float32View, uint16View, type ByteSource } from "./source.js";

export type { GgufValue, GgufTypedValue, GgufTypedArray, GgufScalar } from "./gguf-values.js";

/** One tensor of a GGUF file. */
export interface GgufTensorInfo {
  name: string;
  /** Dimensions, ne0 first (ne0 is the innermost, contiguous one). */
  dims: number[];
  /** ggml type id. */
  type: number;
  /** ggml type name ("F32", "Q8_0", "Q4_K", ...). */
  typeName: string;
  /** Absolute offset of the tensor's data in the file. */
  byteOffset: number;
  byteLength: number;
  /** Number of elements (product of dims). */
  elementCount: number;
}

/** An opened GGUF file; tensor data is read on demand from the source. */
export interface GgufFile {
  readonly source: ByteSource;
  readonly version: number;
  readonly alignment: number;
  /** Absolute offset of the (aligned) tensor data section. */
  readonly dataOffset: number;
  /** Metadata as plain values (64-bit integers as bigint). */
  readonly metadata: Map<string, GgufValue>;
  /** Metadata with GGUF types, in file order (what writeGguf takes to write it back). */
  readonly typedMetadata: Map<string, GgufTypedValue>;
  /** Tensors in file order. */
  readonly tensors: GgufTensorInfo[];
  /** A tensor's info; BAD_MODEL_FILE when absent. */
  tensor(name: string): GgufTensorInfo;
  /** A number-valued key (any integer or float type); BAD_MODEL_FILE when absent and no fallback. */
  getNumber(key: string, fallback?: number): number;
  /** A string-valued key; BAD_MODEL_FILE when absent and no fallback. */
  getString(key: string, fallback?: string): string;
  /** An array-of-strings key; BAD_MODEL_FILE when absent or of another type. */
  getStringArray(key: string): string[];
  /** A supported tensor's raw bytes (blocks as stored); UNSUPPORTED_MODEL for other types. */
  readTensor(name: string): Promise<Uint8Array>;
  /** A tensor as f32 values: F32 as is, F16 widened, Q8_0/Q4_0 dequantized. */
  readF32(name: string): Promise<Float32Array>;
}

// Smallest possible encodings, to bound counts by the bytes left before allocating.
const MIN_KV_BYTES = 8 + 4 + 1; // key length, value type, a one-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // name length, n_dims, type, offset
const MAX_ARRAY_NESTING = 8;

/** Reads and validates the header of a GGUF file. */
export async function openGguf(source: ByteSource): Promise<GgufFile> {
  const where = source.name;
  const cur = new HeaderCursor(source);
  await cur.need(4 + 4 + 8 + 8, "the GGUF header (magic, version, counts)");
  const magic = cur.u32();
  if (magic !== GGUF_MAGIC) {
    bad(`${where}: not a GGUF file (magic bytes ${hexBytes(magic)}, expected 47 47 55 46 "GGUF").`);
  }
  const version = cur.u32();
  if (version !== 2 && version !== 3) {
    const hint = version >= 1 << 16 ? " (a big-endian GGUF file?)" : version === 1 ? " (GGUF v1 is obsolete)" : "";
    bad(`${where}: unsupported GGUF version ${version}${hint}; Mnemo reads versions 2 and 3.`);
  }
  const tensorCount = cur.u64();
  const kvCount = cur.u64();
  const minBytes = tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) + kvCount * BigInt(MIN_KV_BYTES);
  if (minBytes > BigInt(cur.remaining)) {
    bad(`${where}: header claims ${tensorCount} tensors and ${kvCount} metadata keys, more than the ${source.size}-byte file can hold; the file is truncated or corrupt.`);
  }
  const typedMetadata = new Map<string, GgufTypedValue>();
  for (let i = 0; i < Number(kvCount); i++) {
    const key = await readString(cur, `metadata key #${i}`);
    if (key.length === 0) bad(`${where}: metadata key #${i} is empty.`);
    if (typedMetadata.has(key)) bad(`${where}: metadata key "${key}" appears twice.`);
    await cur.need(4, `type of metadata "${key}"`);
    typedMetadata.set(key, await readValue(cur, valueType(cur.u32(), `metadata "${key}"`, where), `metadata "${key}"`, 0));
  }
  const alignment = readAlignment(typedMetadata.get("general.alignment"), where);
  const infos: Array<Omit<GgufTensorInfo, "byteOffset"> & { relative: bigint }> = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(tensorCount); i++) {
    const info = await readTensorInfo(cur, i, where);
    if (names.has(info.name)) bad(`${where}: tensor "${info.name}" appears twice.`);
    names.add(info.name);
    if (info.relative % BigInt(alignment) !== 0n) {
      bad(`${where}: tensor "${info.name}" offset ${info.relative} is not a multiple of the alignment ${alignment}.`);
    }
    infos.push(info);
  }
  const dataOffset = Math.ceil(cur.pos / alignment) * alignment;
  const tensors = infos.map((info) => placeTensor(info, dataOffset, source.size, where));
  checkNoOverlap(tensors, where);
  const metadata = new Map([...typedMetadata].map(([k, v]) => [k, plainValue(v)]));
  return makeFile({ source, version, alignment, dataOffset, metadata, typedMetadata, tensors });
}

function readAlignment(value: GgufTypedValue | undefined, where: string): number {
  if (value === undefined) return GGUF_DEFAULT_ALIGNMENT;
  if (value.type !== "u32") bad(`${where}: general.alignment must be a u32, found ${value.type}.`);
  const a = value.value;
  if (a === 0 || (a & (a - 1)) !== 0) bad(`${where}: general.alignment ${a} is not a power of two.`);
  return a;
}

function valueType(id: number, what: string, where: string): GgufValueType {
  const type = GGUF_VALUE_TYPES[id];
  if (type === undefined) bad(`${where}: ${what} has unknown value type ${id}.`);
  return type;
}

/** A length-prefixed UTF-8 string, its length bounded by the bytes left. */
async function readString(cur: HeaderCursor, what: string): Promise<string> {
  if (!cur.has(8)) await cur.need(8, `length of ${what}`);
  const length = cur.u64();
  if (length > BigInt(cur.remaining)) {
    throw new MnemoError("BAD_MODEL_FILE", `${cur.name}: ${what}: string length ${length} at offset ${cur.pos - 8} runs past the end of the file; the file is truncated or corrupt.`);
  }
  const n = Number(length);
  if (!cur.has(n)) await cur.need(n, what);
  return cur.utf8(n, what);
}

async function readValue(cur: HeaderCursor, type: GgufValueType, what: string, depth: number): Promise<GgufTypedValue> {
  if (type === "string") return { type, value: await readString(cur, what) };
  if (type === "array") return readArray(cur, what, depth);
  await cur.need(GGUF_SCALAR_BYTES[type], what);
  return readScalar(cur, type, what);
}

function readScalar(cur: HeaderCursor, type: Exclude<GgufScalarType, "string">, what: string): GgufTypedValue {
  switch (type) {
    case "u8":
      return { type, value: cur.u8() };
    case "i8":
      return { type, value: cur.i8() };
    case "u16":
      return { type, value: cur.u16() };
    case "i16":
      return { type, value: cur.i16() };
    case "u32":
      return { type, value: cur.u32() };
    case "i32":
      return { type, value: cur.i32() };
    case "f32":
      return { type, value: cur.f32() };
    case "f64":
      return { type, value: cur.f64() };
    case "u64":
      return { type, value: cur.u64() };
    case "i64":
      return { type, value: cur.i64() };
    case "bool": {
      const b = cur.u8();
      if (b > 1) bad(`${cur.name}: ${what}: bool value ${b} is neither 0 nor 1.`);
      return { type, value: b === 1 };
    }
  }
}

async function readArray(cur: HeaderCursor, what: string, depth: number): Promise<GgufTypedArray> {
  if (depth >= MAX_ARRAY_NESTING) bad(`${cur.name}: ${what}: arrays nested deeper than ${MAX_ARRAY_NESTING}.`);
  await cur.need(12, `${what} (array header)`);
  const itemType = valueType(cur.u32(), `${what} (array item)`, cur.name);
  const count = cur.u64();
  const minItemBytes = itemType === "string" ? 8 : itemType === "array" ? 12 : GGUF_SCALAR_BYTES[itemType];
  if (count * BigInt(minItemBytes) > BigInt(cur.remaining)) {
    bad(`${cur.name}: ${what}: array of ${count} ${itemType} items is larger than the rest of the file; the file is truncated or corrupt.`);
  }
  const n = Number(count);
  if (itemType === "string") {
    const value: string[] = new Array(n);
    for (let i = 0; i < n; i++) value[i] = await readString(cur, `${what}[${i}]`);
    return { type: "array", itemType, value };
  }
  if (itemType === "array") {
    const value: GgufTypedArray[] = new Array(n);
    for (let i = 0; i < n; i++) value[i] = await readArray(cur, `${what}[${i}]`, depth + 1);
    return { type: "array", itemType, value };
  }
  await cur.need(n * GGUF_SCALAR_BYTES[itemType], what);
  const value = new Array(n);
  for (let i = 0; i < n; i++) value[i] = readScalar(cur, itemType, what).value;
  return { type: "array", itemType, value } as GgufTypedArray;
}

async function readTensorInfo(cur: HeaderCursor, index: number, where: string): Promise<Omit<GgufTensorInfo, "byteOffset"> & { relative: bigint }> {
  const name = await readString(cur, `name of tensor #${index}`);
  await cur.need(4, `tensor "${name}" n_dims`);
  const nDims = cur.u32();
  if (nDims > GGML_MAX_DIMS) bad(`${where}: tensor "${name}" has ${nDims} dimensions (at most ${GGML_MAX_DIMS}).`);
  await cur.need(nDims * 8 + 4 + 8, `tensor "${name}" dims, type and offset`);
  const dims: number[] = [];
  let elements = 1n;
  for (let d = 0; d < nDims; d++) {
    const ne = cur.u64();
    elements *= ne;
    if (elements > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${where}: tensor "${name}" has too many elements.`);
    dims.push(Number(ne));
  }
  const typeId = cur.u32();
  const relative = cur.u64();
  const type = GGML_TYPES_BY_ID.get(typeId);
  if (!type) bad(`${where}: tensor "${name}" has unknown tensor type ${typeId}.`);
  const ne0 = dims[0] ?? 1;
  if (ne0 % type.blockSize !== 0) {
    bad(`${where}: tensor "${name}" row length ${ne0} is not a multiple of the ${type.name} block size ${type.blockSize}.`);
  }
  const elementCount = Number(elements);
  const byteLength = (elementCount / type.blockSize) * type.typeSize;
  return { name, dims, type: typeId, typeName: type.name, byteLength, elementCount, relative };
}

function placeTensor(info: Omit<GgufTensorInfo, "byteOffset"> & { relative: bigint }, dataOffset: number, fileSize: number, where: string): GgufTensorInfo {
  const start = BigInt(dataOffset) + info.relative;
  if (start + BigInt(info.byteLength) > BigInt(fileSize)) {
    bad(`${where}: tensor "${info.name}" data [${start}, ${start + BigInt(info.byteLength)}) lies outside the file (${fileSize} bytes); the file is truncated or corrupt.`);
  }
  const { relative: _relative, ...rest } = info;
  return { ...rest, byteOffset: Number(start) };
}

function checkNoOverlap(tensors: GgufTensorInfo[], where: string): void {
  const sorted = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (prev.byteOffset + prev.byteLength > sorted[i].byteOffset) {
      bad(`${where}: tensors "${prev.name}" and "${sorted[i].name}" overlap in the data section.`);
    }
  }
}

interface FileParts {
  source: ByteSource;
  version: number;
  alignment: number;
  dataOffset: number;
  metadata: Map<string, GgufValue>;
  typedMetadata: Map<string, GgufTypedValue>;
  tensors: GgufTensorInfo[];
}

function makeFile(parts: FileParts): GgufFile {
  const { source, metadata } = parts;
  const where = source.name;
  const byName = new Map(parts.tensors.map((t) => [t.name, t]));
  const tensor = (name: string): GgufTensorInfo => {
    const info = byName.get(name);
    if (!info) bad(`${where}: no tensor named "${name}".`);
    return info;
  };
  const readTensor = async (name: string): Promise<Uint8Array> => {
    const info = tensor(name);
    if (!SUPPORTED_GGML_TYPES.has(info.typeName)) {
      throw new MnemoError(
        "UNSUPPORTED_MODEL",
        `${where}: tensor "${name}" has type ${info.typeName}, which Mnemo does not support (supported: ${[...SUPPORTED_GGML_TYPES].join(", ")}); re-quantize the model to Q8_0 or Q4_0.`,
      );
    }
    return source.read(info.byteOffset, info.byteLength);
  };
  return {
    ...parts,
    tensor,
    readTensor,
    getNumber(key, fallback) {
      const v = metadata.get(key);
      if (v === undefined && fallback !== undefined) return fallback;
      if (typeof v === "number") return v;
      if (typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
      return bad(`${where}: metadata "${key}" ${v === undefined ? "is missing" : "is not a number"}.`);
    },
    getString(key, fallback) {
      const v = metadata.get(key);
      if (v === undefined && fallback !== undefined) return fallback;
      if (typeof v === "string") return v;
      return bad(`${where}: metadata "${key}" ${v === undefined ? "is missing" : "is not a string"}.`);
    },
    getStringArray(key) {
      const v = parts.typedMetadata.get(key);
      if (v?.type === "array" && v.itemType === "string") return v.value;
      return bad(`${where}: metadata "${key}" ${v === undefined ? "is missing" : "is not an array of strings"}.`);
    },
    async readF32(name) {
      const info = tensor(name);
      const bytes = await readTensor(name);
      switch (info.typeName) {
        case "F32":
          return float32View(bytes);
        case "F16":
          return f16BitsToF32Array(uint16View(bytes));
        case "Q8_0":
          return dequantizeQ8_0(bytes, info.elementCount);
        default:
          return dequantizeQ4_0(bytes, info.elementCount);
      }
    },
  };
}

function hexBytes(u32: number): string {
  return [0, 8, 16, 24].map((s) => ((u32 >>> s) & 0xff).toString(16).padStart(2, "0")).join(" ");
}

function bad(message: string): never {
  throw new MnemoError("BAD_MODEL_FILE", message);
}
