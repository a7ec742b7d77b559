// "Bytes on the wire": for the trace line picked, the exact octets — text with every CR and
// LF shown, and hex — and for a body, the dot-stuffed lines as the server sent them beside
// the message the client made of them (RFC 1939 §3: a leading "." is doubled on the wire
// and stripped again; a line of just "." ends the body).
import type { TraceEvent } from "pop3-everywhere"
import { h, replace } from "./dom.ts"
import type { Recorded, Wire } from "./recorder.ts"

export interface BytesView {
  readonly element: HTMLElement
  /** `recording`: the entries `entry` belongs to, to tell a body that ended early and what followed it. */
  readonly show: (entry: Recorded | undefined, recording?: ReadonlyArray<Recorded>) => void
}

/** Bodies and dumps longer than this are cut, saying so (the sample has a 100 KB line). */
const SHOWN = 4096
const decoder = new TextDecoder("utf-8", { fatal: false })

/** Splits bytes into lines, each keeping its CR LF or LF. */
export const splitLines = (bytes: Uint8Array): Array<Uint8Array> => {
  const lines: Array<Uint8Array> = []
  let start = 0
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) {
    lines.push(bytes.subarray(start, i + 1))
    start = i + 1
  }
  if (start < bytes.length) lines.push(bytes.subarray(start))
  return lines
}

/** One line as text, its CR and LF drawn as visible marks. */
const lineText = (line: Uint8Array): HTMLElement => {
  let end = line.length
  const lf = end > 0 && line[end - 1] === 0x0a
  if (lf) end--
  const cr = end > 0 && line[end - 1] === 0x0d
  if (cr) end--
  return h(
    "span",
    { class: "wire-line" },
    decoder.decode(line.subarray(0, end)),
    cr ? h("span", { class: "ctl" }, "CR") : null,
    lf ? h("span", { class: "ctl" }, "LF") : null,
    lf && !cr ? h("span", { class: "ctl warn" }, "bare LF") : null
  )
}

const hex = (byte: number) => byte.toString(16).padStart(2, "0")

/** Bytes per row of the dump: 8 fit the trace column without scrolling. */
export const ROW = 8

/** A classic dump: offset, 8 bytes in hex, the same as ASCII ("." for the rest). */
export const hexDump = (bytes: Uint8Array, limit = SHOWN): string => {
  const rows: Array<string> = []
  const n = Math.min(bytes.length, limit)
  for (let at = 0; at < n; at += ROW) {
    const part = bytes.subarray(at, Math.min(at + ROW, n))
    const hexes = [...part]
      .map(hex)
      .join(" ")
      .padEnd(ROW * 3 - 1)
    const ascii = [...part].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("")
    rows.push(`${at.toString(16).padStart(6, "0")}  ${hexes}  ${ascii}`)
  }
  if (bytes.length > n) rows.push(`… ${bytes.length - n} more bytes`)
  return rows.join("\n")
}

/** The lines of a body as sent, and as the client keeps them: unstuffed, without the final ".". */
const unstuff = (lines: ReadonlyArray<Uint8Array>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (const line of lines) {
    const text = decoder.decode(line)
    if (text === ".\r\n" || text === ".\n") break
    out.push(line[0] === 0x2e ? line.subarray(1) : line)
  }
  return out
}

/** A body's octets as the server counts them: each line end as CR LF, the final "." line left out. */
const messageOctets = (lines: ReadonlyArray<Uint8Array>): number =>
  unstuff(lines).reduce((n, l) => n + l.length + (l.at(-1) === 0x0a && l.at(-2) !== 0x0d ? 1 : 0), 0)

/**
 * For a RETR body that ended before the octets its "+OK n octets" line announced: the size
 * announced, and the server bytes the client read after it (as answers to later commands).
 */
const endedEarly = (
  entry: Recorded,
  lines: ReadonlyArray<Uint8Array>,
  recording: ReadonlyArray<Recorded>
): { readonly announced: number; readonly received: number; readonly after: Array<Uint8Array> } | undefined => {
  const { event } = entry
  if (event._tag !== "Body" || !event.command.startsWith("RETR")) return undefined
  const at = recording.indexOf(entry)
  if (at === -1) return undefined
  const status = recording
    .slice(0, at)
    .findLast((e) => e.event._tag === "Received" && e.event.command === event.command)
  const line = status?.event._tag === "Received" ? status.event.line : ""
  const announced = Number(/^\+OK (\d+) octets/i.exec(line)?.[1] ?? Number.NaN)
  const received = messageOctets(lines)
  if (!(announced > received)) return undefined
  const after: Array<Uint8Array> = []
  for (const e of recording.slice(at + 1)) {
    if (e.event._tag === "Body") break
    if (e.wire?.from === "S") after.push(...splitLines(e.wire.bytes))
  }
  return { announced, received, after }
}

const describe = (event: TraceEvent, wire: Wire): string => {
  const n = `${wire.bytes.length} byte${wire.bytes.length === 1 ? "" : "s"}`
  switch (event._tag) {
    case "Sent":
      return wire.masked
        ? `C: ${event.line} — ${event.bytes} bytes were sent. They held a secret, so only the redacted line is shown: the library never hands the real bytes to the page's trace.`
        : `C: ${n} the client sent: the command, then CR LF (RFC 1939 §3).`
    case "Received":
      return `S: ${n} — one status line, ended by CR LF${event.command !== undefined ? `, answering ${event.command}` : " (the greeting)"}.`
    case "Body":
      return `S: ${n} of the ${event.command} body as framed on the wire, ending with the line “.”. The client kept ${event.bytes} bytes.`
    default:
      return `S: ${n}. ${wire.note ?? ""}`
  }
}

export const makeBytesView = (): BytesView => {
  const title = h("h3", { id: "bytes-title", tabindex: -1 }, "Bytes on the wire")
  const body = h("div", { class: "bytes-body" })
  const element = h("section", { class: "bytes-view", "aria-labelledby": "bytes-title" }, title, body)

  const show = (entry: Recorded | undefined, recording?: ReadonlyArray<Recorded>) => {
    if (entry === undefined || entry.wire === undefined) {
      replace(
        body,
        h(
          "p",
          { class: "muted" },
          entry === undefined
            ? "Pick “Bytes” on a C: or S: line of the trace to see its exact octets. Server bytes are captured in playground sessions (and their recordings)."
            : "No bytes recorded for this line: it is a note or a state change, or the session went through a bridge, where the page does not see the server's raw bytes."
        )
      )
      return
    }
    const { event, wire } = entry
    const lines = splitLines(wire.bytes.subarray(0, SHOWN))
    const cut =
      wire.bytes.length > SHOWN
        ? h("p", { class: "muted" }, `Showing the first ${SHOWN} of ${wire.bytes.length} bytes.`)
        : null
    const text = (ls: ReadonlyArray<Uint8Array>, label: string, mark: boolean) =>
      h(
        "figure",
        { class: "wire-col" },
        h("figcaption", {}, label),
        // One line wraps, so its CR LF stays in sight; a body's lines keep their shape.
        h(
          "pre",
          { class: event._tag === "Body" ? "wire-text" : "wire-text wrap", tabindex: 0, "aria-label": label },
          ...ls.map((l) =>
            h("span", { class: mark && l[0] === 0x2e ? "wire-row dotted" : "wire-row" }, lineText(l), "\n")
          )
        )
      )
    const parts: Array<HTMLElement | null> = [h("p", { class: "bytes-what" }, describe(event, wire))]
    const early = recording === undefined ? undefined : endedEarly(entry, lines, recording)
    if (early !== undefined) {
      // The server did not stuff: the column shows what it sent, the "." line that ended the
      // body early, and what the client read after it.
      parts.push(
        h(
          "p",
          { class: "ended-early" },
          `This body ended early: the server announced ${early.announced} octets (+OK ${early.announced} octets), but a line that is just “.” came after ${early.received}. It is a line of the message, which the server should have sent as “..” (dot-stuffing, RFC 1939 §3); it did not, so the client took it for the end of the body. The rest of the message stayed in the connection: before its next command the client finds bytes that no command asked for, and stops with a protocol error rather than take them for that command's answer.`
        ),
        h(
          "div",
          { class: "wire-cols" },
          text(lines, "As sent (not dot-stuffed)", true),
          early.after.length > 0
            ? text(early.after, "What followed, which no command asked for", false)
            : h(
                "p",
                { class: "muted" },
                "What followed is not read yet: when the client is about to send its next command it finds these bytes, which no command asked for, and ends the session with a protocol error instead of taking them for that command's answer."
              )
        )
      )
    } else if (event._tag === "Body") {
      const terminated = wire.bytes.length <= SHOWN
      const stuffed = lines.filter((l) => l[0] === 0x2e).length - (terminated ? 1 : 0)
      parts.push(
        h(
          "p",
          {},
          stuffed > 0
            ? `${stuffed} line${stuffed === 1 ? "" : "s"} begin with “.” on the wire (highlighted): the server doubled the dot of every message line that starts with one, and the client strips it again. The final “.” line is not part of the message.`
            : "No line of this body begins with “.”, so it is sent as it is; only the final “.” line is added."
        ),
        h(
          "div",
          { class: "wire-cols" },
          text(lines, "As sent (dot-stuffed)", true),
          text(unstuff(lines), "The message (unstuffed)", false)
        )
      )
    } else {
      parts.push(text(lines, "As text", false))
    }
    parts.push(
      cut,
      h(
        "details",
        { class: "wire-hex", open: event._tag !== "Body" },
        h("summary", {}, "Hex"),
        h("pre", { tabindex: 0, "aria-label": "Hex dump" }, hexDump(wire.bytes))
      )
    )
    replace(body, ...parts)
    // Both columns scroll together, starting at the first stuffed line.
    const cols = [...body.querySelectorAll<HTMLElement>(".wire-cols .wire-text")]
    const firstDot = body.querySelector<HTMLElement>(".wire-cols .wire-row.dotted")
    for (const col of cols) {
      col.addEventListener("scroll", () => {
        for (const other of cols)
          if (other !== col && other.scrollTop !== col.scrollTop) other.scrollTop = col.scrollTop
      })
    }
    if (firstDot !== null && cols[0] !== undefined) cols[0].scrollTop = Math.max(0, firstDot.offsetTop - 60)
  }
  show(undefined)
  return { element, show }
}
