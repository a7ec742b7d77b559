/**
 * Splits a multi-line listing body (LIST, UIDL, CAPA) into text lines, one chunk at a
 * time, with every line bounded — a listing line is metadata, so an endless one is an
 * attack, unlike a message body line.
 *
 * @module
 */
import { excerptOf, RemoteProtocolError } from "./errors.ts"
import { concatBytes } from "./bytes.ts"
import { MAX_LISTING_LINE } from "./limits.ts"
import { decodeText } from "./response.ts"

/**
 * A line splitter: `push` returns the lines completed by a chunk; `end` returns a last
 * line without a line end, if any.
 * @category models
 */
export interface LineSplitter {
  readonly push: (bytes: Uint8Array) => Array<string>
  readonly end: () => Array<string>
}

const isAscii = (bytes: Uint8Array, end: number): boolean => {
  for (let i = 0; i < end; i++) if (bytes[i]! > 0x7f) return false
  return true
}

/**
 * Creates a bounded line splitter.
 * @category constructors
 */
export const makeLineSplitter = (maxLine = MAX_LISTING_LINE): LineSplitter => {
  let parts: Array<Uint8Array> = []
  let length = 0
  const tooLong = (bytes: Uint8Array) =>
    new RemoteProtocolError(`a listing line is longer than ${maxLine} octets`, excerptOf(bytes))
  const take = (last: Uint8Array): string => {
    let line = parts.length === 0 ? last : concatBytes([...parts, last], length + last.length)
    parts = []
    length = 0
    if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1)
    if (line.length > maxLine) throw tooLong(line)
    return decodeText(line)
  }
  return {
    push: (bytes) => {
      const out: Array<string> = []
      let pos = 0
      // The whole lines of an all-ASCII chunk are decoded in one call and split as text:
      // a listing of 10,000 lines spent more on a decoder call per line than on anything
      // else. ASCII only, so each line reads exactly as it would on its own (a UTF-8 decoder
      // would drop a byte order mark at the start of each line, but only once here).
      const lastLf = length === 0 ? bytes.lastIndexOf(10) : -1
      if (lastLf >= 0 && isAscii(bytes, lastLf)) {
        for (const raw of decodeText(bytes.subarray(0, lastLf)).split("\n")) {
          const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
          if (line.length > maxLine) throw tooLong(new TextEncoder().encode(line))
          out.push(line)
        }
        pos = lastLf + 1
      }
      for (;;) {
        const lf = bytes.indexOf(10, pos)
        if (lf < 0) break
        // The limit is on the line without its line end; one more octet may be its CR.
        if (length + lf - pos > maxLine + 1) throw tooLong(bytes.subarray(pos))
        out.push(take(bytes.subarray(pos, lf)))
        pos = lf + 1
      }
      if (pos < bytes.length) {
        const rest = bytes.subarray(pos)
        length += rest.length
        if (length > maxLine + 1) throw tooLong(rest)
        // Copied: the chunk's buffer may be reused once this push returns.
        parts.push(rest.slice())
      }
      return out
    },
    end: () => (length > 0 ? [take(new Uint8Array(0))] : [])
  }
}
