// The session as a recording: every trace event the library emitted, in order, each with
// the bytes it stands for on the wire when they are known. This is what the bytes view
// shows, what "Export session" writes and what replay plays back.
//
// Server bytes come from the playground's tap (every chunk the server sent, before the
// client read it) and are cut along the trace: a `Received` event is the next line of the
// server's stream, a `Body` event the lines up to and including the terminating ".". The
// library traces in the order it decodes, so the cut stays in step. Client bytes are never
// tapped: a command's bytes are its traced line and CR LF, which the library already
// redacted — a line with a secret is marked `masked` and its secret bytes are not kept.
import type { TraceEvent } from "pop3-everywhere"

export interface Wire {
  /** C: the client sent them; S: the server did. */
  readonly from: "C" | "S"
  readonly bytes: Uint8Array
  /** The line carried a secret: `bytes` is the redacted line, not what was sent. */
  readonly masked?: boolean
  /** For bytes that no trace line accounts for (a cut-off body, a broken frame). */
  readonly note?: string
}

export interface Recorded {
  readonly event: TraceEvent
  readonly wire?: Wire
  /**
   * On a `Closed` event: the user asked for this close (Disconnect). The library traces it as
   * any close after a failure; a replay must still say what the live trace said.
   */
  readonly asked?: true
}

export interface Recorder {
  /** Records a trace event, cutting its bytes from what the server sent so far. */
  readonly record: (event: TraceEvent) => Recorded
  /** Every chunk the server sent (playground sessions only). */
  readonly serverBytes: (chunk: Uint8Array) => void
  /** Whether server bytes are being tapped (false for sessions through a bridge). */
  readonly tapping: (on: boolean) => void
  /** The user pressed Disconnect: the session's next `Closed` event is the close they asked for. */
  readonly disconnecting: () => void
  readonly entries: () => ReadonlyArray<Recorded>
  readonly clear: () => void
}

const encoder = new TextEncoder()
const LF = 0x0a
const REDACTED = "****"

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b.slice()
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** The end (exclusive) of the line starting at `from`, or -1 when it is not complete. */
const lineEnd = (buffer: Uint8Array, from: number): number => {
  const lf = buffer.indexOf(LF, from)
  return lf === -1 ? -1 : lf + 1
}

/** Whether buffer[from, to) is a terminator line: "." CR LF or "." LF. */
const isTerminator = (buffer: Uint8Array, from: number, to: number): boolean =>
  (to - from === 2 && buffer[from] === 0x2e) || (to - from === 3 && buffer[from] === 0x2e && buffer[from + 1] === 0x0d)

/** The client bytes of a traced command: the line and CR LF, or the redacted line when it held a secret. */
export const sentWire = (event: Extract<TraceEvent, { _tag: "Sent" }>): Wire => {
  const bytes = encoder.encode(`${event.line}\r\n`)
  const masked = event.line.includes(REDACTED) || bytes.length !== event.bytes
  return masked ? { from: "C", bytes, masked: true } : { from: "C", bytes }
}

export const makeRecorder = (): Recorder => {
  const entries: Array<Recorded> = []
  let pending: Uint8Array = new Uint8Array(0)
  let tap = false
  let asked = false

  const take = (end: number): Uint8Array => {
    const bytes = pending.slice(0, end)
    pending = pending.slice(end)
    return bytes
  }

  const cutLine = (): Uint8Array | undefined => {
    const end = lineEnd(pending, 0)
    return end === -1 ? undefined : take(end)
  }

  const cutBody = (): Uint8Array | undefined => {
    for (let at = 0; ; ) {
      const end = lineEnd(pending, at)
      if (end === -1) return undefined
      if (isTerminator(pending, at, end)) return take(end)
      at = end
    }
  }

  const wireOf = (event: TraceEvent): Wire | undefined => {
    switch (event._tag) {
      case "Sent":
        return sentWire(event)
      case "Received": {
        if (!tap) return undefined
        const bytes = cutLine()
        return bytes === undefined ? undefined : { from: "S", bytes }
      }
      case "Body": {
        if (!tap) return undefined
        const bytes = cutBody()
        return bytes === undefined ? undefined : { from: "S", bytes }
      }
      case "StateChanged":
        // Bytes no line accounts for: half a body before a drop, or what followed a broken frame.
        if (tap && (event.to === "CLOSED" || event.to === "ERROR") && pending.length > 0) {
          return {
            from: "S",
            bytes: take(pending.length),
            note: "Received, but never read as a complete line or body."
          }
        }
        return undefined
      default:
        return undefined
    }
  }

  return {
    record: (event) => {
      if (event._tag === "Connecting") {
        pending = new Uint8Array(0)
        asked = false
      }
      const wire = wireOf(event)
      const closedAsked = asked && event._tag === "Closed"
      if (closedAsked) asked = false
      const entry: Recorded = {
        event,
        ...(wire === undefined ? {} : { wire }),
        ...(closedAsked ? { asked: true as const } : {})
      }
      entries.push(entry)
      return entry
    },
    serverBytes: (chunk) => {
      if (tap) pending = concat(pending, chunk)
    },
    tapping: (on) => {
      tap = on
      pending = new Uint8Array(0)
    },
    disconnecting: () => {
      asked = true
    },
    entries: () => entries,
    clear: () => {
      entries.length = 0
    }
  }
}
