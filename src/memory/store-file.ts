// The kNN-LM memory store as bytes: Mnemo's own format, little-endian.
//
//   offset  size  field
//   0       8     magic "MNEMOKNN"
//   8       4     version (1)
//   12      4     key type: 1 = f32, 2 = f16
//   16      4     dims (hidden size of the model)
//   20      4     fingerprint length F (bytes of UTF-8, at most 256)
//   24      8     count (u64; entries)
//   32      F     fingerprint of the model that built the keys
//   …             zero padding to a multiple of 8
//   keys    count × dims × (4 | 2)   row-major, f16 as IEEE half bits
//   values  count × 4               next-token id of each key (u32)
//   inputs  count × 4               the token at each key's position (u32), so the text
//                                   around a neighbour can be shown
//
// The size of every section follows from the header, and the file must be exactly that
// long: a truncated or inflated file, or counts that do not match its size, are refused
// before anything is allocated. No GPU here.
import { MnemoError } from "../errors.js";

/** How keys are stored (on disk and on the GPU). */
export type KeyType = "f32" | "f16";

/** A memory store on the CPU: keys (hidden states) and the token that followed each. */
export interface KnnStoreData {
  /** Fingerprint of the model whose hidden states the keys are. */
  fingerprint: string;
  /** Values per key (the model's hidden size). */
  dims: number;
  /** How the keys are stored. */
  keyType: KeyType;
  /** Entries. */
  count: number;
  /** The keys, row-major (count rows of dims): f32 values, or f16 bits. */
  keys: Float32Array | Uint16Array;
  /** The next-token id of each key (count entries). */
  values: Uint32Array;
  /** The token at each key's position, the text the key came from (count entries). */
  inputs: Uint32Array;
}

const MAGIC = "MNEMOKNN";
const VERSION = 1;
const FIXED_HEADER = 32;
const MAX_FINGERPRINT = 256;
const MAX_DIMS = 1 << 16;
const KEY_TYPE_CODE: Record<KeyType, number> = { f32: 1, f16: 2 };

const align8 = (n: number) => Math.ceil(n / 8) * 8;

function bad(message: string): never {
  throw new MnemoError("BAD_MODEL_FILE", `Not a usable Mnemo memory store: ${message}`);
}

/** Checks that the arrays of `store` have the sizes its header fields say. */
export function checkKnnStore(store: KnnStoreData): void {
  const { dims, count } = store;
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_DIMS) bad(`dims ${dims} is not in 1..${MAX_DIMS}.`);
  if (!Number.isSafeInteger(count) || count < 0) bad(`count ${count} is not a non-negative integer.`);
  const keysOk = store.keyType === "f32" ? store.keys instanceof Float32Array : store.keys instanceof Uint16Array;
  if (!keysOk) bad(`keys of type ${store.keyType} must be a ${store.keyType === "f32" ? "Float32Array" : "Uint16Array"}.`);
  if (store.keys.length !== count * dims) bad(`${store.keys.length} key values for ${count} × ${dims}.`);
  if (store.values.length !== count || store.inputs.length !== count) bad(`${store.values.length} values and ${store.inputs.length} inputs for ${count} entries.`);
  if (new TextEncoder().encode(store.fingerprint).length > MAX_FINGERPRINT) bad(`the fingerprint is longer than ${MAX_FINGERPRINT} bytes.`);
}

/** Serialises a store (see the layout above). */
export function encodeKnnStore(store: KnnStoreData): Uint8Array {
  checkKnnStore(store);
  const fp = new TextEncoder().encode(store.fingerprint);
  const keysAt = align8(FIXED_HEADER + fp.length);
  const keyBytes = store.keys.byteLength;
  const valuesAt = keysAt + keyBytes;
  const total = valuesAt + 8 * store.count;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, KEY_TYPE_CODE[store.keyType], true);
  view.setUint32(16, store.dims, true);
  view.setUint32(20, fp.length, true);
  view.setBigUint64(24, BigInt(store.count), true);
  out.set(fp, FIXED_HEADER);
  out.set(new Uint8Array(store.keys.buffer, store.keys.byteOffset, keyBytes), keysAt);
  out.set(new Uint8Array(store.values.buffer, store.values.byteOffset, 4 * store.count), valuesAt);
  out.set(new Uint8Array(store.inputs.buffer, store.inputs.byteOffset, 4 * store.count), valuesAt + 4 * store.count);
  return out;
}

/** What the header of a store file says (no keys read). */
export interface KnnStoreHeader {
  fingerprint: string;
  dims: number;
  keyType: KeyType;
  count: number;
  /** Total bytes the file must have. */
  fileBytes: number;
  keysOffset: number;
}

/** Reads and checks the header against the file's size: never trusts a count it cannot hold. */
export function readKnnStoreHeader(bytes: Uint8Array): KnnStoreHeader {
  if (bytes.byteLength < FIXED_HEADER) bad(`${bytes.byteLength} bytes is shorter than the ${FIXED_HEADER}-byte header.`);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) bad(`the magic is not "${MAGIC}".`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== VERSION) bad(`version ${version}; this Mnemo reads version ${VERSION}.`);
  const typeCode = view.getUint32(12, true);
  const keyType = (Object.keys(KEY_TYPE_CODE) as KeyType[]).find((t) => KEY_TYPE_CODE[t] === typeCode);
  if (!keyType) bad(`unknown key type code ${typeCode} (1 = f32, 2 = f16).`);
  const dims = view.getUint32(16, true);
  if (dims < 1 || dims > MAX_DIMS) bad(`dims ${dims} is not in 1..${MAX_DIMS}.`);
  const fpLength = view.getUint32(20, true);
  if (fpLength > MAX_FINGERPRINT) bad(`a fingerprint of ${fpLength} bytes (at most ${MAX_FINGERPRINT}).`);
  const count64 = view.getBigUint64(24, true);
  const keysOffset = align8(FIXED_HEADER + fpLength);
  const perEntry = BigInt(dims * (keyType === "f32" ? 4 : 2) + 8);
  const expected = BigInt(keysOffset) + count64 * perEntry;
  if (expected !== BigInt(bytes.byteLength)) {
    const why = expected > BigInt(bytes.byteLength) ? "truncated" : "longer than its header says";
    bad(`the file is ${why}: ${count64} entries of ${dims} ${keyType} need ${expected} bytes, the file has ${bytes.byteLength}.`);
  }
  let fingerprint: string;
  try {
    fingerprint = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(FIXED_HEADER, FIXED_HEADER + fpLength));
  } catch {
    bad("the fingerprint is not UTF-8.");
  }
  return { fingerprint, dims, keyType, count: Number(count64), fileBytes: bytes.byteLength, keysOffset };
}

/** Parses a store file; BAD_MODEL_FILE for anything that is not one. Copies nothing twice. */
export function decodeKnnStore(bytes: Uint8Array): KnnStoreData {
  const h = readKnnStoreHeader(bytes);
  const keyBytes = h.count * h.dims * (h.keyType === "f32" ? 4 : 2);
  // Copy each section into its own aligned buffer (the input may sit at any offset).
  const section = (at: number, length: number) => bytes.slice(at, at + length).buffer;
  const keys = h.keyType === "f32" ? new Float32Array(section(h.keysOffset, keyBytes)) : new Uint16Array(section(h.keysOffset, keyBytes));
  const valuesAt = h.keysOffset + keyBytes;
  const values = new Uint32Array(section(valuesAt, 4 * h.count));
  const inputs = new Uint32Array(section(valuesAt + 4 * h.count, 4 * h.count));
  return { fingerprint: h.fingerprint, dims: h.dims, keyType: h.keyType, count: h.count, keys, values, inputs };
}
