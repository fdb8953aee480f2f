// GGUF constants shared by the reader and the writer: metadata value type ids and the
// ggml tensor type table (block size in elements, bytes per block).

/** GGUF metadata value type names, by their id in the file. */
export const GGUF_VALUE_TYPES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"] as const;

/** A GGUF metadata value type name. */
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
/** A scalar (non-array) metadata value type. */
export type GgufScalarType = Exclude<GgufValueType, "array">;

/** Bytes of each fixed-size scalar type (strings are length-prefixed). */
export const GGUF_SCALAR_BYTES: Record<Exclude<GgufScalarType, "string">, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** A ggml tensor type: its id, name, elements per block and bytes per block. */
export interface GgmlTypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
}

// From ggml.h / ggml.c (type_traits). Ids 4, 5 and 31..33, 36..38 were removed upstream.
const TYPES: Array<[number, string, number, number]> = [
  [0, "F32", 1, 4],
  [1, "F16", 1, 2],
  [2, "Q4_0", 32, 18],
  [3, "Q4_1", 32, 20],
  [6, "Q5_0", 32, 22],
  [7, "Q5_1", 32, 24],
  [8, "Q8_0", 32, 34],
  [9, "Q8_1", 32, 36],
  [10, "Q2_K", 256, 84],
  [11, "Q3_K", 256, 110],
  [12, "Q4_K", 256, 144],
  [13, "Q5_K", 256, 176],
  [14, "Q6_K", 256, 210],
  [15, "Q8_K", 256, 292],
  [16, "IQ2_XXS", 256, 66],
  [17, "IQ2_XS", 256, 74],
  [18, "IQ3_XXS", 256, 98],
  [19, "IQ1_S", 256, 50],
  [20, "IQ4_NL", 32, 18],
  [21, "IQ3_S", 256, 110],
  [22, "IQ2_S", 256, 82],
  [23, "IQ4_XS", 256, 136],
  [24, "I8", 1, 1],
  [25, "I16", 1, 2],
  [26, "I32", 1, 4],
  [27, "I64", 1, 8],
  [28, "F64", 1, 8],
  [29, "IQ1_M", 256, 56],
  [30, "BF16", 1, 2],
  [34, "TQ1_0", 256, 54],
  [35, "TQ2_0", 256, 66],
  [39, "MXFP4", 32, 17],
];

/** ggml tensor types by id. */
export const GGML_TYPES_BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(TYPES.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize }]));

/** ggml tensor types by name ("F32", "Q8_0", ...). */
export const GGML_TYPES_BY_NAME: ReadonlyMap<string, GgmlTypeInfo> = new Map([...GGML_TYPES_BY_ID.values()].map((t) => [t.name, t]));

/** Tensor types Mnemo can read (and dequantize). Others are recognised but refused by name. */
export const SUPPORTED_GGML_TYPES: ReadonlySet<string> = new Set(["F32", "F16", "Q8_0", "Q4_0"]);

/** The highest number of dimensions ggml allows (GGML_MAX_DIMS). */
export const GGML_MAX_DIMS = 4;

/** Alignment of the data section and of every tensor when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** The 4 magic bytes "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
