/**
 * Byte helpers shared by the engine and the client.
 *
 * @module
 */

/**
 * Joins byte arrays. A single part is returned as it is (no copy).
 * @category bytes
 */
export const concatBytes = (
  parts: ReadonlyArray<Uint8Array>,
  length = parts.reduce((n, p) => n + p.length, 0)
): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * A search for one byte: the index of the first `byte` in `bytes` at or after `from`
 * (≥ 0), or -1, as `bytes.indexOf(byte, from)` answers.
 * @category bytes
 */
export type ByteSearch = (bytes: Uint8Array, byte: number, from: number) => number

const typedArraySearch: ByteSearch = (bytes, byte, from) => bytes.indexOf(byte, from)
let byteSearch: ByteSearch = typedArraySearch

/**
 * Makes `indexOfByte` use `search` from now on, in the whole process: a runtime's faster
 * search, installed by that runtime's transport as it loads — the engine imports nothing
 * of a runtime. `search` must answer exactly as the typed array's `indexOf`.
 * @category bytes
 */
export const installByteSearch = (search: ByteSearch): void => {
  byteSearch = search
}

/** The search `indexOfByte` uses now (for the tests). @internal */
export const installedByteSearch = (): ByteSearch => byteSearch

/**
 * The body decoder's search for dots, which runs over every byte of a message: the typed
 * array's `indexOf` unless a transport installed a faster one (`installByteSearch`; on
 * Node, core/transport/node-byte-search.ts).
 * @category bytes
 */
export const indexOfByte: ByteSearch = (bytes, byte, from) => byteSearch(bytes, byte, from)

/**
 * The octets of `text` when it is all ASCII (then UTF-8 and ASCII agree), else undefined.
 * For short lines a loop in V8 beats `TextEncoder.encode`'s call into C++ (~0.5 µs per
 * command line: it showed in the profile of a 10,000-message fetch).
 * @category bytes
 */
export const asciiBytes = (text: string): Uint8Array | undefined => {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7f) return undefined
    out[i] = c
  }
  return out
}

/** Longest run decoded by `asciiText`'s loop; longer ones go to the caller's TextDecoder. */
const ASCII_TEXT_MAX = 256

/**
 * `bytes` as a string when they are short and all ASCII (then every decoder agrees), else
 * undefined. The same reason as `asciiBytes`: status and listing lines are short ASCII, and
 * `TextDecoder.decode` per line cost more than the loop.
 * @category bytes
 */
export const asciiText = (bytes: Uint8Array): string | undefined => {
  if (bytes.length > ASCII_TEXT_MAX) return undefined
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return undefined
  return String.fromCharCode.apply(null, bytes as unknown as Array<number>)
}
