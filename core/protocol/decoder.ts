/**
 * The incremental response decoder: bytes in, POP3 response events out.
 *
 * Theory of operation. The server's byte stream is a sequence of status lines, some of
 * them followed by a multi-line body. Which ones have a body depends on the command and
 * on whether the answer was `+OK`, which only the caller knows; so, as in h11, the caller
 * pulls one event at a time with `next()` and, on a `Status` that starts a body, calls
 * `readBody()` before pulling again. Input may arrive in any chunking — one byte or one
 * MiB at a time gives the same events (the tests check this with random splits).
 *
 * Bodies are dot-unstuffed as RFC 1939 §3 says: the first octet of *any* line that starts
 * with "." is removed (not only ".."), and a line that is exactly "." ends the body. The
 * body is returned exactly as sent otherwise (CRLF kept; bare CR and 8-bit bytes kept),
 * as slices of the input chunks — no copying, no strings — so a 1 GB message streams in
 * constant memory. Bare-LF line ends from broken servers are tolerated everywhere,
 * including ".\n" as the terminator.
 *
 * Status lines are bounded by `MAX_STATUS_LINE`: a longer one is a `RemoteProtocolError`
 * (a hostile server cannot make us buffer a 1 GB line). Body lines are never bounded.
 * After an error the decoder stays failed.
 *
 * @module
 */
import { excerptOf, RemoteProtocolError } from "./errors.ts"
import { concatBytes, indexOfByte } from "./bytes.ts"
import { MAX_STATUS_LINE } from "./limits.ts"

/**
 * One decoded unit of the server's byte stream.
 * - `Status`: a complete status line, without its line end.
 * - `Body`: a piece of a multi-line body, already unstuffed. Do not mutate it: it is a
 *   view into the received chunk.
 * - `BodyEnd`: the terminating "." line was read (and dropped).
 * @category models
 */
export type DecoderEvent =
  | { readonly _tag: "Status"; readonly line: Uint8Array }
  | { readonly _tag: "Body"; readonly bytes: Uint8Array }
  | { readonly _tag: "BodyEnd" }

/**
 * Returned by `next()` when the buffered bytes hold no complete event.
 * @category models
 */
export const NeedData: unique symbol = Symbol.for("pop3/NeedData")

/**
 * The incremental decoder.
 * @category models
 */
export interface Decoder {
  /**
   * Adds received bytes. Until `next()` returns `NeedData` the decoder reads them in place
   * (and `Body` events are views into them); after that it keeps nothing of them, so the
   * buffer may be reused.
   */
  readonly feed: (chunk: Uint8Array) => void
  /** The next event, or `NeedData`. Throws `RemoteProtocolError` on malformed input. */
  readonly next: () => DecoderEvent | typeof NeedData
  /** Declares that the bytes after the last `Status` are a multi-line body. */
  readonly readBody: () => void
  /** Drops every buffered byte (RFC 2595 §4: nothing received before TLS may be used after). */
  readonly clear: () => void
  /** How many received bytes are not yet decoded. */
  readonly buffered: () => number
  /** Whether the decoder is between a `readBody()` and its `BodyEnd`. */
  readonly inBody: () => boolean
}

const LF = 10
const CR = 13
const DOT = 46

// Where we are inside a body. LineStart: the next byte begins a line. Dot: the line began
// with "." (dropped). DotCr: ".\r" seen — a terminator if LF follows. InLine: mid-line.
const LineStart = 0
const Dot = 1
const DotCr = 2
const InLine = 3

/**
 * Creates a decoder. `maxStatusLine` exists for tests; keep the default otherwise.
 * @category constructors
 */
export const makeDecoder = (options: { readonly maxStatusLine?: number } = {}): Decoder => {
  const maxStatusLine = options.maxStatusLine ?? MAX_STATUS_LINE
  // Chunks not yet looked at, from `queueHead` on. An index instead of `shift()`, which
  // copies the array: many small chunks fed before a pull would cost quadratic time.
  let queue: Array<Uint8Array | undefined> = []
  let queueHead = 0
  let chunk: Uint8Array = new Uint8Array(0)
  let pos = 0
  let body = false
  let bodyState = LineStart
  let lineParts: Array<Uint8Array> = []
  let lineLength = 0
  let failure: RemoteProtocolError | undefined

  // Moves to the next queued chunk when the current one is used up.
  const advance = (): boolean => {
    while (pos >= chunk.length) {
      if (queueHead >= queue.length) {
        if (queueHead > 0) {
          queue = []
          queueHead = 0
        }
        return false
      }
      chunk = queue[queueHead]!
      queue[queueHead++] = undefined
      pos = 0
      if (queueHead > 1024 && queueHead * 2 > queue.length) {
        queue = queue.slice(queueHead)
        queueHead = 0
      }
    }
    return true
  }

  const fail = (error: RemoteProtocolError): never => {
    failure = error
    throw error
  }

  // A status line without its line end (a CR before the LF is dropped), within the bound.
  const statusOf = (raw: Uint8Array): DecoderEvent => {
    const line = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw
    if (line.length > maxStatusLine) {
      return fail(new RemoteProtocolError(`a status line is longer than ${maxStatusLine} octets`, excerptOf(line)))
    }
    return { _tag: "Status", line }
  }

  const nextStatus = (): DecoderEvent | typeof NeedData => {
    while (advance()) {
      const lf = chunk.indexOf(LF, pos)
      const end = lf < 0 ? chunk.length : lf
      const part = chunk.subarray(pos, end)
      pos = lf < 0 ? chunk.length : lf + 1
      // The whole line in one chunk (nearly always): no parts to join.
      if (lf >= 0 && lineLength === 0) return statusOf(part)
      if (part.length > 0) {
        // A line that goes on in the next chunk is copied: a transport may reuse a chunk's
        // buffer once the decoder asked for more (core/transport/read-pool.ts).
        lineParts.push(lf < 0 ? part.slice() : part)
        lineLength += part.length
      }
      if (lineLength > maxStatusLine + 1) {
        return fail(
          new RemoteProtocolError(`a status line is longer than ${maxStatusLine} octets`, excerptOf(lineParts[0]!))
        )
      }
      if (lf >= 0) {
        const line = concatBytes(lineParts, lineLength)
        lineParts = []
        lineLength = 0
        return statusOf(line)
      }
    }
    return NeedData
  }

  const nextBody = (): DecoderEvent | typeof NeedData => {
    while (advance()) {
      switch (bodyState) {
        case LineStart: {
          if (chunk[pos] === DOT) {
            pos++
            bodyState = Dot
          } else {
            bodyState = InLine
          }
          break
        }
        case Dot: {
          const b = chunk[pos]
          if (b === CR) {
            pos++
            bodyState = DotCr
          } else if (b === LF) {
            pos++
            body = false
            return { _tag: "BodyEnd" }
          } else {
            bodyState = InLine
          }
          break
        }
        case DotCr: {
          if (chunk[pos] === LF) {
            pos++
            body = false
            return { _tag: "BodyEnd" }
          }
          // ".\r" then more: a stuffed line whose content starts with a bare CR.
          bodyState = InLine
          // A new array, not a shared one: a consumer may keep and change what it gets.
          return { _tag: "Body", bytes: Uint8Array.of(CR) }
        }
        default: {
          // Emit as many whole lines as possible in one slice; split only where a line
          // starts with "." (its dot must be dropped) or where the chunk ends. So look for
          // dots that follow a LF, not for every LF: a base64 attachment has no dot at all,
          // and one indexOf then covers the whole chunk instead of one call per 78-byte line.
          // (chunk[start] is never such a dot: InLine is entered past a line's first byte
          // or past a stuffed dot.)
          const start = pos
          let p = pos + 1
          for (;;) {
            const dot = indexOfByte(chunk, DOT, p)
            if (dot < 0) {
              pos = chunk.length
              if (chunk[pos - 1] === LF) bodyState = LineStart
              return { _tag: "Body", bytes: chunk.subarray(start) }
            }
            if (chunk[dot - 1] === LF) {
              pos = dot
              bodyState = LineStart
              return { _tag: "Body", bytes: chunk.subarray(start, dot) }
            }
            p = dot + 1
          }
        }
      }
    }
    return NeedData
  }

  return {
    feed: (bytes) => {
      if (bytes.length === 0) return
      // A subclass (Node's Buffer) is looked at through a plain Uint8Array view of the same
      // memory: Buffer's indexOf goes through C++ for every line, the typed array's stays
      // in V8 (~4 % of the CPU time of downloading 1000 small messages). No copy either way.
      queue.push(
        Object.getPrototypeOf(bytes) === Uint8Array.prototype
          ? bytes
          : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      )
    },
    next: () => {
      if (failure !== undefined) throw failure
      return body ? nextBody() : nextStatus()
    },
    readBody: () => {
      body = true
      bodyState = LineStart
    },
    clear: () => {
      queue = []
      queueHead = 0
      chunk = new Uint8Array(0)
      pos = 0
      lineParts = []
      lineLength = 0
    },
    buffered: () => {
      let n = chunk.length - pos + lineLength
      for (let i = queueHead; i < queue.length; i++) n += queue[i]!.length
      return n
    },
    inBody: () => body
  }
}
