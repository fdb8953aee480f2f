// GGUF metadata values: the typed form (what the file says, what the writer takes) and the
// plain form (what model loaders read).
import type { GgufScalarType } from "./gguf-types.js";

/** A plain scalar metadata value: 64-bit integers are bigints, everything else a JS value. */
export type GgufScalar = number | bigint | boolean | string;

/** A plain metadata value: a scalar or an array (possibly nested). */
export type GgufValue = GgufScalar | GgufValue[];

/** An array value with the type of its items. Items of scalar arrays are plain scalars. */
export type GgufTypedArray =
  | { type: "array"; itemType: Exclude<GgufScalarType, "u64" | "i64" | "bool" | "string">; value: number[] }
  | { type: "array"; itemType: "u64" | "i64"; value: bigint[] }
  | { type: "array"; itemType: "bool"; value: boolean[] }
  | { type: "array"; itemType: "string"; value: string[] }
  | { type: "array"; itemType: "array"; value: GgufTypedArray[] };

/** A metadata value with its GGUF type, so it can be written back exactly. */
export type GgufTypedValue =
  | { type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64"; value: number }
  | { type: "u64" | "i64"; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | GgufTypedArray;

/** The plain value of a typed value (scalar arrays are shared, not copied). */
export function plainValue(typed: GgufTypedValue): GgufValue {
  if (typed.type !== "array") return typed.value;
  if (typed.itemType === "array") return typed.value.map(plainValue);
  return typed.value;
}
