/**
 * Test helpers shared by the protocol tests: byte conversions and random chunkings.
 *
 * @module
 */
import fc from "fast-check"

/** Latin-1 string → bytes (one octet per char code, so 8-bit bytes survive). */
export const latin1 = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff
  return out
}

/** Bytes → Latin-1 string (the exact inverse of `latin1`). */
export const fromLatin1 = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return s
}

/** Concatenates byte arrays (the engine's own helper; a single part comes back as it is). */
export { concatBytes } from "../../../core/protocol/bytes.ts"

/**
 * Cuts `bytes` at the given points (any order, duplicates and out-of-range values ignored).
 * Each chunk is a fresh copy so the decoder's views cannot alias neighbouring chunks.
 */
export const splitAt = (bytes: Uint8Array, points: ReadonlyArray<number>): Array<Uint8Array> => {
  const cuts = [...new Set(points.filter((p) => p > 0 && p < bytes.length))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let start = 0
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.slice(start, c))
    start = c
  }
  return out
}

/** One-byte chunks. */
export const bytewise = (bytes: Uint8Array): Array<Uint8Array> => Array.from(bytes, (b) => Uint8Array.of(b))

/**
 * A way to cut an input of unknown length: the whole thing, one byte at a time, chunks of a
 * fixed size, or random cut points (given as fractions so they fit any length).
 */
export type Chunking =
  | { readonly kind: "whole" }
  | { readonly kind: "bytewise" }
  | { readonly kind: "fixed"; readonly size: number }
  | { readonly kind: "random"; readonly cuts: ReadonlyArray<number>; readonly tail?: ReadonlyArray<number> }

export const applyChunking = (bytes: Uint8Array, chunking: Chunking): Array<Uint8Array> => {
  switch (chunking.kind) {
    case "whole":
      return [bytes.slice()]
    case "bytewise":
      return bytewise(bytes)
    case "fixed": {
      const out: Array<Uint8Array> = []
      for (let i = 0; i < bytes.length; i += chunking.size) out.push(bytes.slice(i, i + chunking.size))
      return out
    }
    case "random":
      return splitAt(bytes, [
        ...chunking.cuts.map((f) => Math.floor(f * bytes.length)),
        ...(chunking.tail ?? []).map((t) => bytes.length - t)
      ])
  }
}

/**
 * Random chunkings. For huge inputs pass `huge: true`: no one-byte or tiny fixed chunks
 * (hundreds of thousands of chunks only measure the allocator), but many random cuts.
 */
export const chunkingArb = (
  options: { readonly huge?: boolean; readonly maxCuts?: number } = {}
): fc.Arbitrary<Chunking> =>
  fc.oneof(
    fc.constant<Chunking>({ kind: "whole" }),
    ...(options.huge === true ? [] : [fc.constant<Chunking>({ kind: "bytewise" })]),
    (options.huge === true ? fc.constantFrom(997, 4096, 65536) : fc.integer({ min: 1, max: 7 })).map(
      (size): Chunking => ({ kind: "fixed", size })
    ),
    fc
      .array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: options.maxCuts ?? 60 })
      .map((cuts): Chunking => ({ kind: "random", cuts })),
    // Cuts near the end, where the terminator (and any trailing status line) sits.
    fc
      .array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 8 })
      .map((tail): Chunking => ({ kind: "random", cuts: [], tail }))
  )
