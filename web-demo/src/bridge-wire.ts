// What the bridge sees: every frame the page's WebSocket carries, read as the bridge's
// operator could read it. No DOM here (bridge-view.ts draws it), so it is tested in Node.
//
// The frames are tapped at the WebSocket itself (`tappingWebSocket`), below the library:
// exactly the bytes the bridge receives and sends, whatever the library does above them.
// With TLS at the bridge they are plaintext POP3 — the password included — and with
// end-to-end TLS (`tls=passthrough`) they are TLS records the bridge cannot decrypt.
//
// Each direction is read as text lines until a frame opens with a TLS record header at a
// line boundary (a POP3 line never starts with byte 20–23): from then on, records. That
// covers implicit TLS (records from the first byte) and STLS (lines, then records).
//
// The client's lines are shown as the library's trace wrote them: the trace announces each
// command (already redacted by the encoder) before its bytes reach the socket, so the
// n-th client line is the n-th `Sent` line. A line whose bytes differ from its traced form
// held a secret: the view shows the redacted form and says the bridge read the real one.
// A client line with no traced line to match (never expected) is hidden entirely.
import type * as Socket from "effect/socket/Socket"
import type { TraceEvent } from "pop3-everywhere"
import type { WebSocketStreamConstructor, WebSocketStreamMessage } from "pop3-everywhere/websocket"

export type From = "C" | "S"

/** One frame on the WebSocket: `C` the page sent it to the bridge, `S` the bridge to the page. */
export interface Frame {
  readonly from: From
  readonly bytes: Uint8Array
}

/** A TLS record's header, as anyone on the path reads it (RFC 8446 §5.1). */
export interface RecordHeader {
  readonly type: number
  readonly version: number
  readonly length: number
}

export type Piece =
  /** A line the bridge read in the clear. */
  | { readonly kind: "line"; readonly from: From; readonly text: string }
  /** A client line that carried a secret: `shown` is the trace's redacted form of it. */
  | { readonly kind: "secret"; readonly from: "C"; readonly shown: string }
  /** Server lines beyond the first few of a reply, counted instead of shown. */
  | { readonly kind: "more"; readonly from: "S"; lines: number; bytes: number }
  /** A run of TLS records in one direction: their headers (the first few) and total bytes. */
  | {
      readonly kind: "tls"
      readonly from: From
      readonly records: RecordHeader[]
      count: number
      bytes: number
      readonly sample: Uint8Array
    }

/** Server lines shown per reply before the rest are counted (a RETR can be millions). */
export const SHOWN_LINES = 6
/** Record headers listed per run; the rest are counted. */
export const SHOWN_RECORDS = 8
/** Bytes of ciphertext kept for the hex sample of a run. */
export const SAMPLE = 48
/** Longer lines are cut in the view (a message line may be 100 KB). */
const LINE_CHARS = 200

const CONTENT_TYPES: Readonly<Record<number, string>> = {
  20: "change_cipher_spec",
  21: "alert",
  22: "handshake",
  23: "application_data"
}

/** The record type's name (RFC 8446 §5.1), or its number. */
export const contentType = (type: number): string => CONTENT_TYPES[type] ?? `type ${type}`

/** Whether bytes start like a TLS record: a known content type, then a 3.x version. */
export const looksLikeTls = (bytes: Uint8Array): boolean =>
  bytes.length >= 2 && bytes[0]! >= 20 && bytes[0]! <= 23 && bytes[1] === 3

const utf8 = new TextDecoder()
const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

interface Direction {
  mode: "text" | "tls"
  /** Text: an unfinished line. TLS: an unfinished record header (< 5 bytes). */
  pending: Uint8Array
  /** TLS: body bytes of the current record still to come. */
  remaining: number
}

export interface BridgeWire {
  /** Reads one frame as the bridge would. */
  readonly frame: (frame: Frame) => void
  /** Takes the trace's `Sent` lines: the redacted form of each client line. */
  readonly trace: (event: TraceEvent) => void
  readonly pieces: () => ReadonlyArray<Piece>
  /** Bytes each way, and whether either direction has turned to TLS records. */
  readonly totals: () => { readonly up: number; readonly down: number; readonly encrypted: boolean }
  readonly clear: () => void
}

export const makeBridgeWire = (): BridgeWire => {
  let pieces: Array<Piece> = []
  let sent: Array<string> = []
  let up = 0
  let down = 0
  let serverLinesInReply = 0
  const directions: Record<From, Direction> = {
    C: { mode: "text", pending: new Uint8Array(0), remaining: 0 },
    S: { mode: "text", pending: new Uint8Array(0), remaining: 0 }
  }

  const decode = (bytes: Uint8Array) => utf8.decode(bytes).replace(/\r?\n$/, "")
  const line = (from: From, bytes: Uint8Array) => {
    if (from === "C") {
      serverLinesInReply = 0
      const text = decode(bytes)
      const traced = sent.shift()
      if (traced === text) pieces.push({ kind: "line", from, text })
      else pieces.push({ kind: "secret", from, shown: traced ?? "****" })
      return
    }
    serverLinesInReply++
    const last = pieces.at(-1)
    // Counted, not decoded: a large RETR is millions of lines.
    if (serverLinesInReply > SHOWN_LINES) {
      if (last?.kind === "more") {
        last.lines++
        last.bytes += bytes.length
      } else pieces.push({ kind: "more", from, lines: 1, bytes: bytes.length })
      return
    }
    const text = decode(bytes)
    pieces.push({ kind: "line", from, text: text.length > LINE_CHARS ? `${text.slice(0, LINE_CHARS)}…` : text })
  }

  const records = (from: From, bytes: Uint8Array) => {
    const d = directions[from]
    let run = pieces.at(-1)
    if (run?.kind !== "tls" || run.from !== from) {
      run = { kind: "tls", from, records: [], count: 0, bytes: 0, sample: bytes.slice(0, SAMPLE) }
      pieces.push(run)
    }
    run.bytes += bytes.length
    let at = 0
    while (at < bytes.length) {
      if (d.remaining > 0) {
        const take = Math.min(d.remaining, bytes.length - at)
        d.remaining -= take
        at += take
        continue
      }
      const need = 5 - d.pending.length
      const header = concat(d.pending, bytes.subarray(at, at + need))
      at += Math.min(need, bytes.length - at)
      if (header.length < 5) {
        d.pending = header.slice()
        break
      }
      d.pending = new Uint8Array(0)
      const record = {
        type: header[0]!,
        version: (header[1]! << 8) | header[2]!,
        length: (header[3]! << 8) | header[4]!
      }
      d.remaining = record.length
      run.count++
      if (run.records.length < SHOWN_RECORDS) run.records.push(record)
    }
  }

  const text = (from: From, bytes: Uint8Array) => {
    const d = directions[from]
    let buffer = concat(d.pending, bytes)
    let start = 0
    while (start < buffer.length) {
      // At a line boundary, records may begin (STLS, or implicit TLS from the first byte).
      if (looksLikeTls(buffer.subarray(start))) {
        d.mode = "tls"
        d.pending = new Uint8Array(0)
        if (from === "C") sent = []
        records(from, buffer.subarray(start))
        return
      }
      const lf = buffer.indexOf(0x0a, start)
      if (lf === -1) break
      line(from, buffer.subarray(start, lf + 1))
      start = lf + 1
    }
    buffer = buffer.subarray(start)
    d.pending = buffer.slice()
  }

  return {
    frame: ({ from, bytes }) => {
      if (from === "C") up += bytes.length
      else down += bytes.length
      if (directions[from].mode === "tls") records(from, bytes)
      else text(from, bytes)
    },
    trace: (event) => {
      // After the client's side turns to TLS its commands never cross the bridge readably.
      if (event._tag === "Sent" && directions.C.mode === "text") sent.push(event.line)
    },
    pieces: () => pieces,
    totals: () => ({ up, down, encrypted: directions.C.mode === "tls" || directions.S.mode === "tls" }),
    clear: () => {
      pieces = []
      sent = []
      up = 0
      down = 0
      serverLinesInReply = 0
      for (const d of Object.values(directions)) {
        d.mode = "text"
        d.pending = new Uint8Array(0)
        d.remaining = 0
      }
    }
  }
}

const copy = (data: string | Uint8Array): Uint8Array =>
  typeof data === "string" ? new TextEncoder().encode(data) : data.slice()

/**
 * A `WebSocketConstructor` for the library's WebSocket transport that hands every frame,
 * both ways, to `onFrame` before anything else sees it: the platform's `WebSocket` with
 * its `send` wrapped and one more message listener.
 */
export const tappingWebSocket =
  (onFrame: (frame: Frame) => void): Socket.WebSocketConstructor["Service"] =>
  (url, options) => {
    if (options !== undefined && typeof options !== "string" && !Array.isArray(options)) {
      throw new TypeError("only subprotocols may be given to the global WebSocket")
    }
    const ws = new globalThis.WebSocket(url, options)
    ws.addEventListener("message", (event: MessageEvent) => {
      if (event.data instanceof ArrayBuffer) onFrame({ from: "S", bytes: new Uint8Array(event.data) })
    })
    const send = ws.send.bind(ws)
    ws.send = (data: Parameters<WebSocket["send"]>[0]) => {
      if (typeof data === "string" || data instanceof Uint8Array) onFrame({ from: "C", bytes: copy(data) })
      send(data)
    }
    return ws
  }

/**
 * The same tap on `WebSocketStream` (what the library uses where the browser has it, for
 * its flow control): the platform's own, its messages passed through a TransformStream
 * that sees each one (a queue of one message: the browser's pushing back is kept), its
 * writes seen before they go.
 */
export const tappingWebSocketStream = (
  onFrame: (frame: Frame) => void,
  Inner: WebSocketStreamConstructor
): WebSocketStreamConstructor =>
  // A constructor in shape: `new` on an arrow function is refused, so a class.
  class {
    readonly opened
    readonly closed
    readonly close
    constructor(url: string, options?: ConstructorParameters<WebSocketStreamConstructor>[1]) {
      const inner = new Inner(url, options)
      this.closed = inner.closed
      this.close = inner.close.bind(inner)
      this.opened = inner.opened.then(({ readable, writable, protocol }) => {
        const writer = writable.getWriter()
        return {
          protocol,
          readable: readable.pipeThrough(
            new TransformStream<WebSocketStreamMessage, WebSocketStreamMessage>({
              transform(message, controller) {
                if (message instanceof ArrayBuffer) onFrame({ from: "S", bytes: new Uint8Array(message) })
                else if (ArrayBuffer.isView(message))
                  onFrame({ from: "S", bytes: new Uint8Array(message.buffer, message.byteOffset, message.byteLength) })
                controller.enqueue(message)
              }
            })
          ),
          writable: new WritableStream<Uint8Array>({
            write: (bytes) => {
              onFrame({ from: "C", bytes: bytes.slice() })
              return writer.write(bytes)
            },
            close: () => writer.close(),
            abort: (reason) => writer.abort(reason)
          })
        }
      })
    }
  }
