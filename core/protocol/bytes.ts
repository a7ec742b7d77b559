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

/** `indexOf` for one byte as a global `Buffer` has it (Node's: memchr), except on Deno and Bun. */
const nativeIndexOf = ((): ((this: Uint8Array, byte: number, from: number) => number) | undefined => {
  // Deno's `Buffer#indexOf` is written in JavaScript (62 ms per 100 MiB against its typed
  // array's 26 ms); Bun's typed array already searches as fast (0.9 ms; its Buffer's 1.5).
  if ("Deno" in globalThis || "Bun" in globalThis) return undefined
  const method = (globalThis as { readonly Buffer?: { readonly prototype?: { readonly indexOf?: unknown } } }).Buffer
    ?.prototype?.indexOf
  if (typeof method !== "function") return undefined
  const search = method as (this: Uint8Array, byte: number, from: number) => number
  // Taken only if it answers as the typed array's own would, on a plain Uint8Array.
  try {
    const probe = Uint8Array.of(46, 10, 46)
    return search.call(probe, 46, 1) === 2 && search.call(probe, 10, 2) === -1 && search.call(probe, 46, 3) === -1
      ? search
      : undefined
  } catch {
    return undefined
  }
})()

/**
 * The index of the first `byte` in `bytes` at or after `from` (≥ 0), or -1: what
 * `bytes.indexOf(byte, from)` answers. The body decoder's search for dots runs over every
 * byte of a message, and V8's typed array `indexOf` compares one element at a time (~27 ms
 * per 100 MiB without a match, 64 KiB chunks); Node's `Buffer#indexOf` searches with
 * memchr (~1–2 ms), at the same cost per call when the byte is frequent (a dot a
 * sentence). Through pop3-bridge, where the CLI's CPU is the limit, that was 22 ms of
 * client CPU and 14 ms of wall time off a 100 MB `pop3 retr` (Node 24, 2026-12-05). So a
 * global `Buffer` whose `indexOf` answers as expected is used — Node's; on Workers with
 * nodejs_compat workerd's, measured as fast as the typed array's there — found on the
 * global: the engine still imports nothing of a runtime. Browsers have none; Deno and Bun
 * keep the typed array's.
 * @category bytes
 */
export const indexOfByte: (bytes: Uint8Array, byte: number, from: number) => number =
  nativeIndexOf === undefined
    ? (bytes, byte, from) => bytes.indexOf(byte, from)
    : (bytes, byte, from) => nativeIndexOf.call(bytes, byte, from)

/** Whether `indexOfByte` uses the global `Buffer#indexOf` (for the tests). @internal */
export const nativeByteSearch: boolean = nativeIndexOf !== undefined

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
