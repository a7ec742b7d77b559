// A session as a file, and back: "Export session" writes every trace event with its time
// and the server's bytes as JSON; loading one replays it — the trace, the diagram and the
// bytes view — one event at a time, forward and back, with no server.
//
// Nothing secret can be in the file: events are the library's trace (commands already
// redacted at the source), client bytes are not written at all (they are the traced line
// and CR LF, rebuilt on load), and server bytes never carry the client's secrets.
import type { TraceEvent } from "pop3-everywhere"
import { h } from "./dom.ts"
import { hostPort } from "./format.ts"
import { type Recorded, sentWire, type Wire } from "./recorder.ts"

export const FORMAT = "pop3-everywhere-session"
export const VERSION = 1

interface FileWire {
  readonly from: "S"
  readonly base64: string
  readonly note?: string
}
interface FileEntry {
  readonly event: TraceEvent
  readonly wire?: FileWire
  /** A `Closed` the user asked for with Disconnect (Recorded's `asked`). */
  readonly asked?: true
}
export interface SessionFile {
  readonly format: typeof FORMAT
  readonly version: typeof VERSION
  readonly exported: string
  readonly entries: ReadonlyArray<FileEntry>
}

const base64 = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}
const unbase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))

/** The file for a recording: events as traced, server bytes in base64, no client bytes. */
export const toFile = (entries: ReadonlyArray<Recorded>, now = new Date()): SessionFile => ({
  format: FORMAT,
  version: VERSION,
  exported: now.toISOString(),
  entries: entries.map(({ event, wire, asked }) => ({
    event,
    ...(wire === undefined || wire.from === "C"
      ? {}
      : {
          wire:
            wire.note === undefined
              ? { from: "S" as const, base64: base64(wire.bytes) }
              : { from: "S" as const, base64: base64(wire.bytes), note: wire.note }
        }),
    ...(asked === true ? { asked } : {})
  }))
})

/** Per event tag, the fields the trace panel reads and their types (a file is untrusted input). */
const FIELDS: Readonly<Record<string, Readonly<Record<string, "string" | "number">>>> = {
  Connecting: { host: "string", port: "number", tls: "string", transport: "string" },
  Connected: {},
  TlsEstablished: {},
  Sent: { line: "string", bytes: "number" },
  Received: { line: "string" },
  Body: { command: "string", bytes: "number", millis: "number" },
  StateChanged: { from: "string", to: "string", cause: "string" },
  Closed: { reason: "string" }
}
const isEvent = (value: unknown): value is TraceEvent => {
  if (value === null || typeof value !== "object") return false
  const e = value as Record<string, unknown>
  const fields = typeof e["_tag"] === "string" && Object.hasOwn(FIELDS, e["_tag"]) ? FIELDS[e["_tag"]] : undefined
  if (fields === undefined || typeof e["at"] !== "number") return false
  if (
    e["_tag"] === "Received" &&
    ((e["command"] !== undefined && typeof e["command"] !== "string") ||
      (e["latency"] !== undefined && typeof e["latency"] !== "number"))
  )
    return false
  return Object.entries(fields).every(([name, type]) => typeof e[name] === type)
}

/** Reads a session file back; throws an Error saying what is wrong with it. */
export const fromFile = (text: string): Array<Recorded> => {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new Error("The file is not JSON.")
  }
  const file = data as Partial<SessionFile> | null
  if (file === null || typeof file !== "object" || file.format !== FORMAT)
    throw new Error(`This is not a session exported by this demo (its "format" is not ${FORMAT}).`)
  if (file.version !== VERSION)
    throw new Error(`This session file has version ${String(file.version)}; this demo reads version ${VERSION}.`)
  if (!Array.isArray(file.entries)) throw new Error("The session file has no entries.")
  return file.entries.map((raw, i): Recorded => {
    const event: unknown = (raw as FileEntry | null)?.event
    if (!isEvent(event)) throw new Error(`Entry ${i + 1} is not a trace event.`)
    if (event._tag === "Sent") return { event, wire: sentWire(event) }
    if (event._tag === "Closed" && (raw as FileEntry).asked === true) return { event, asked: true }
    const w = raw.wire
    if (w === undefined) return { event }
    if (typeof w.base64 !== "string") throw new Error(`Entry ${i + 1} has malformed bytes.`)
    let bytes: Uint8Array
    try {
      bytes = unbase64(w.base64)
    } catch {
      throw new Error(`Entry ${i + 1} has malformed bytes.`)
    }
    const wire: Wire = typeof w.note === "string" ? { from: "S", bytes, note: w.note } : { from: "S", bytes }
    return { event, wire }
  })
}

export interface ReplayView {
  readonly element: HTMLElement
  readonly focus: () => void
}

/** A short description of one event, for the replay's "now showing" line. */
const describe = (event: TraceEvent): string => {
  switch (event._tag) {
    case "Connecting":
      return `Connecting to ${hostPort(event.host, event.port)}`
    case "Connected":
      return "Connected"
    case "TlsEstablished":
      return "TLS established"
    case "Sent":
      return `C: ${event.line}`
    case "Received":
      return `S: ${event.line}`
    case "Body":
      return `S: the ${event.command} body, ${event.bytes} bytes`
    case "StateChanged":
      return `${event.from} → ${event.to} (${event.cause})`
    case "Closed":
      return `Closed: ${event.reason}`
  }
}

/**
 * The replay controls. `show(n)` must make the trace show the first n entries (the page
 * resets the trace and feeds them again, so the diagram follows as it did live).
 */
export const makeReplayView = (
  entries: ReadonlyArray<Recorded>,
  show: (n: number) => void,
  leave: () => void
): ReplayView => {
  let at = 0
  const first = entries[0]?.event.at ?? 0
  const position = h("p", { class: "replay-position", role: "status", "aria-live": "polite" })
  const back = h("button", { type: "button", "aria-keyshortcuts": "ArrowLeft" }, "◀ Back")
  const forward = h("button", { type: "button", class: "primary", "aria-keyshortcuts": "ArrowRight" }, "Forward ▶")
  const start = h("button", { type: "button", class: "small" }, "To the start")
  const end = h("button", { type: "button", class: "small" }, "To the end")
  const exit = h("button", { type: "button", class: "small" }, "Leave the replay")
  const play = h("button", { type: "button", "aria-pressed": "false" }, "Play at recorded speed")
  /** Pauses longer than this are shortened when playing (a session may idle for minutes). */
  const MAX_GAP = 1500
  let timer: ReturnType<typeof setTimeout> | undefined
  const stop = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    play.setAttribute("aria-pressed", "false")
    play.textContent = "Play at recorded speed"
  }
  const tick = () => {
    if (at >= entries.length) return stop()
    const gap = at === 0 ? 0 : Math.max(0, entries[at]!.event.at - entries[at - 1]!.event.at)
    timer = setTimeout(
      () => {
        go(at + 1)
        tick()
      },
      Math.min(gap, MAX_GAP)
    )
  }
  play.addEventListener("click", () => {
    if (timer !== undefined) return stop()
    if (at >= entries.length) go(0)
    play.setAttribute("aria-pressed", "true")
    play.textContent = "Pause"
    tick()
  })
  const go = (n: number) => {
    at = Math.max(0, Math.min(entries.length, n))
    show(at)
    const current = entries[at - 1]
    position.textContent =
      current === undefined
        ? `Step 0 of ${entries.length}: nothing yet. Press Forward.`
        : `Step ${at} of ${entries.length}, at +${((current.event.at - first) / 1000).toFixed(3)} s: ${describe(current.event)}`
    back.disabled = at === 0
    forward.disabled = at === entries.length
    start.disabled = at === 0
    end.disabled = at === entries.length
  }
  // Any manual move stops playing.
  back.addEventListener("click", () => {
    stop()
    go(at - 1)
  })
  forward.addEventListener("click", () => {
    stop()
    go(at + 1)
  })
  start.addEventListener("click", () => {
    stop()
    go(0)
  })
  end.addEventListener("click", () => {
    stop()
    go(entries.length)
  })
  exit.addEventListener("click", () => {
    stop()
    leave()
  })
  const element = h(
    "section",
    { class: "replay card", "aria-labelledby": "replay-title" },
    h("h2", { id: "replay-title", tabindex: -1 }, "Replay of a recorded session"),
    h(
      "p",
      { class: "lead" },
      "No server is involved: each step feeds one recorded trace event to the trace, the diagram and the bytes view. Use Back and Forward (or the arrow keys while a button here has focus), or play it with the recorded pauses (long ones shortened)."
    ),
    position,
    h("div", { class: "buttons" }, back, forward, play),
    h("div", { class: "buttons" }, start, end, exit)
  )
  element.addEventListener("keydown", (event) => {
    if (!(event.target instanceof HTMLButtonElement)) return
    if (event.key === "ArrowRight" && !forward.disabled) {
      stop()
      go(at + 1)
    } else if (event.key === "ArrowLeft" && !back.disabled) {
      stop()
      go(at - 1)
    } else return
    event.preventDefault()
  })
  go(0)
  return { element, focus: () => element.querySelector<HTMLElement>("#replay-title")?.focus({ preventScroll: true }) }
}

/** The card on the start screen: load a file. */
export const makeLoadCard = (onLoad: (entries: Array<Recorded>) => void): HTMLElement => {
  const input = h("input", {
    type: "file",
    id: "replay-file",
    accept: ".json,application/json",
    "aria-describedby": "replay-file-hint"
  })
  const error = h("p", { class: "teach-error", role: "alert", hidden: true })
  input.addEventListener("change", async () => {
    const file = input.files?.[0]
    if (file === undefined) return
    try {
      const entries = fromFile(await file.text())
      error.hidden = true
      onLoad(entries)
    } catch (e) {
      error.hidden = false
      error.textContent = e instanceof Error ? e.message : String(e)
    }
  })
  return h(
    "section",
    { class: "replay-load card", "aria-labelledby": "replay-load-title" },
    h("h2", { id: "replay-load-title" }, "Replay a session"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "replay-file" }, "Session file (.json)"),
      input,
      h(
        "p",
        { class: "hint", id: "replay-file-hint" },
        "Made with “Export session (.json)” under the trace. Replaying needs no server."
      )
    ),
    error
  )
}
