// The "Protocol trace" panel: every line the library traced, as it happens. Client lines
// (C:) and server lines (S:) differ in label, colour and alignment; bodies appear as their
// size and time only (the library never puts body text in the trace); state changes drive
// the diagram. Pause, clear, filter and export (the CLI's format, via formatTraceEvent).
import { formatTraceEvent, type State, type TraceEvent } from "pop3-everywhere"
import type { Diagram } from "./diagram.ts"
import { download, h, replace } from "./dom.ts"
import { exactOctets, hostPort, millis, octets } from "./format.ts"
import { commandOf, glossary } from "./glossary.ts"

export interface TracePanel {
  readonly element: HTMLElement
  readonly tracer: (event: TraceEvent) => void
  /** The state the last StateChanged event reported. */
  readonly state: () => State | undefined
  readonly onStateChange: (listener: (state: State | undefined) => void) => void
  /** Empties the panel and the diagram, as before the first session (replay starts here). */
  readonly reset: () => void
  /** The user pressed Disconnect: the close that follows is the one they asked for, not a failure. */
  readonly disconnecting: () => void
}

export interface TracePanelOptions {
  /** Called with each row as it is shown, to add controls (the bytes view's button). */
  readonly decorate?: (event: TraceEvent, row: HTMLElement) => void
  /** Called when the user clears the trace (not on reset), to forget the recording too. */
  readonly onClear?: () => void
}

const stamp = (at: number, start: number) => `+${((at - start) / 1000).toFixed(3)}s`

export const makeTracePanel = (diagram: Diagram, options: TracePanelOptions = {}): TracePanel => {
  const events: Array<TraceEvent> = []
  const waiting: Array<TraceEvent> = []
  const glossed = new Set<string>()
  const listeners: Array<(state: State | undefined) => void> = []
  let start = 0
  let sessions = 0
  let paused = false
  let current: State | undefined
  let transport = ""
  /** The session's end was asked for with Disconnect (the library closes it "after a failure"). */
  let asked = false

  // A list (its rows are list items) inside the log region: role="log" on the <ol> itself
  // would take away its list semantics.
  const log = h("ol", { class: "trace-log", "aria-label": "Protocol lines", tabindex: 0 })
  const empty = h(
    "p",
    { class: "trace-empty" },
    "Connect to see every command the client sends (C:) and every line the server answers (S:)."
  )
  const pausedNote = h("p", { class: "trace-paused", hidden: true, role: "status" })
  const filter = h("input", {
    type: "search",
    id: "trace-filter",
    placeholder: "e.g. RETR or -ERR",
    autocomplete: "off",
    spellcheck: "false"
  })
  const pause = h("button", { type: "button", class: "small", "aria-pressed": "false" }, "Pause")
  const clear = h("button", { type: "button", class: "small" }, "Clear")
  const exportButton = h("button", { type: "button", class: "small" }, "Export .txt")
  const explainBox = h("input", { type: "checkbox", id: "trace-explain", checked: true })

  // The filter looks at the protocol line, not at the explanations under it.
  const lineText = (row: HTMLElement) => {
    const copy = row.cloneNode(true) as HTMLElement
    for (const gloss of copy.querySelectorAll(".gloss")) gloss.remove()
    return copy.textContent ?? ""
  }
  const matches = (row: HTMLElement) => {
    const q = filter.value.trim().toLowerCase()
    return q === "" || lineText(row).toLowerCase().includes(q)
  }
  const applyFilter = () => {
    for (const row of log.children) (row as HTMLElement).hidden = !matches(row as HTMLElement)
  }

  const row = (
    kind: string,
    time: number,
    label: string,
    labelText: string,
    ...content: Array<Node | string | null>
  ) => {
    const li = h(
      "li",
      { class: `trace-row ${kind}` },
      h(
        "time",
        {
          datetime: new Date(time).toISOString(),
          title:
            new Date(time).toLocaleTimeString("en-GB", { hour12: false }) + `.${String(time % 1000).padStart(3, "0")}`
        },
        stamp(time, start)
      ),
      h("span", { class: "who", "aria-label": labelText }, label),
      h("span", { class: "line" }, ...content)
    )
    return li
  }

  const render = (event: TraceEvent): HTMLElement | undefined => {
    switch (event._tag) {
      case "Connecting":
        return row(
          "note",
          event.at,
          "··",
          "note",
          `Connecting to ${hostPort(event.host, event.port)} (TLS: ${event.tls}, transport: ${event.transport})`
        )
      case "Connected":
        return row(
          "note",
          event.at,
          "··",
          "note",
          transport === "memory"
            ? "Connected to the playground server in this page's Web Worker (no network)"
            : "WebSocket to the bridge open; the bridge now connects to the mail server"
        )
      case "TlsEstablished":
        return row("note", event.at, "··", "note", "TLS established")
      case "Sent": {
        const name = commandOf(event.line)
        const gloss = name !== undefined && explainBox.checked && !glossed.has(name)
        if (gloss) glossed.add(name)
        // Annotations for what a newcomer would not guess, once each.
        const note = !explainBox.checked
          ? undefined
          : name === "CAPA" && current === "TRANSACTION"
            ? once(
                "capa-again",
                "Asked again after login: a server may announce more, or other, capabilities once it knows who you are (RFC 2449 §5)."
              )
            : name === "APOP"
              ? once(
                  "apop-digest",
                  "The digest is masked too: it is not the password, but with it and the greeting's timestamp anyone can test password guesses offline."
                )
              : undefined
        return row(
          "client",
          event.at,
          "C:",
          "client",
          h("code", {}, event.line),
          gloss ? h("span", { class: "gloss" }, glossary[name].line) : null,
          note !== undefined ? h("span", { class: `gloss ${note.key}` }, note.text) : null
        )
      }
      case "Received": {
        const kind = event.line.startsWith("-ERR") ? "server err" : "server"
        const timestamp =
          event.command === undefined && explainBox.checked ? /<[^<>\s]+@[^<>\s]+>/.exec(event.line)?.[0] : undefined
        return row(
          kind,
          event.at,
          "S:",
          "server",
          h("code", {}, event.line),
          event.latency !== undefined
            ? h("span", { class: "latency", title: `answer to ${event.command ?? ""}` }, millis(event.latency))
            : null,
          timestamp !== undefined
            ? h(
                "span",
                { class: "gloss apop-timestamp" },
                `${timestamp} is the greeting's timestamp: APOP sends MD5(timestamp + password) instead of the password (RFC 1939 §7).`
              )
            : null
        )
      }
      case "Body": {
        const name = event.command.split(" ")[0] ?? event.command
        return row(
          "server body",
          event.at,
          "S:",
          "server",
          h(
            "details",
            {},
            h("summary", {}, `${name} body · ${octets(event.bytes)}`),
            h(
              "span",
              { class: "body-detail" },
              `${exactOctets(event.bytes)} of ${event.command} in ${millis(event.millis)}, ending with a line “.”. The text is not kept in the trace.`
            )
          )
        )
      }
      case "StateChanged":
        return row(
          "state",
          event.at,
          "→",
          "state change",
          h("span", { class: "chip" }, event.from),
          " → ",
          h("span", { class: "chip now" }, event.to),
          h("span", { class: "cause" }, ` ${event.cause}`)
        )
      case "Closed":
        return row(
          "note",
          event.at,
          "··",
          "note",
          event.reason !== "scope closed after a failure"
            ? `Closed: ${event.reason}`
            : asked
              ? "Closed: you chose Disconnect, so the library ended the session without deleting anything — RSET before QUIT when logged in"
              : "Closed without the page's QUIT (a refused login, an error or a Disconnect), so the library made sure nothing was deleted — RSET before QUIT when logged in"
        )
    }
  }

  const notes = new Set<string>()
  /** A note shown once per session list; its key is also its class (what tests look for). */
  const once = (key: string, text: string): { key: string; text: string } | undefined => {
    if (notes.has(key)) return undefined
    notes.add(key)
    return { key, text }
  }
  /** Commands sent since the last answer: more than two is a pipelined burst. */
  let inFlight = 0

  // Whether the log was scrolled to its end before the rows of this turn were added, and
  // whether the scroll to the end is queued: layout is read once and the log scrolled once
  // per turn of the event loop, not for every row — a replay that shows thousands of rows
  // at once forced a layout per row (a 5,000-event file took ~20 s a step).
  let stick: boolean | undefined
  const scrollOnce = () => {
    if (stick === undefined) {
      stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40
      queueMicrotask(() => {
        if (stick === true) log.scrollTop = log.scrollHeight
        stick = undefined
      })
    }
  }

  const show = (event: TraceEvent) => {
    scrollOnce()
    if (event._tag === "Sent") inFlight++
    if (event._tag === "Received" && event.command !== undefined) {
      if (inFlight > 2 && explainBox.checked) {
        log.append(
          row(
            "note burst",
            event.at,
            "··",
            "note",
            `Pipelining: the ${inFlight} commands above went out together, without waiting (RFC 2449 §6.6). The answers come back in order, so each one's time includes the answers before it — queueing, not a slow server.`
          )
        )
      }
      inFlight = 0
    }
    if (event._tag === "Connecting") inFlight = 0
    if (event._tag === "Connecting") {
      asked = false
      transport = event.transport
      sessions += 1
      start = event.at
      if (log.children.length > 0)
        log.append(
          h("li", { class: "trace-row separator", "aria-hidden": "true" }, h("span", {}, `session ${sessions}`))
        )
    }
    const el = render(event)
    if (el === undefined) return
    options.decorate?.(event, el)
    el.hidden = !matches(el)
    log.append(el)
    empty.hidden = true
  }

  const setState = (state: State | undefined, from?: State) => {
    current = state
    diagram.setCurrent(state, from)
    for (const l of listeners) l(state)
  }

  const tracer = (event: TraceEvent) => {
    events.push(event)
    if (event._tag === "Connecting") setState(undefined)
    if (event._tag === "StateChanged") setState(event.to, event.from)
    if (paused) {
      waiting.push(event)
      pausedNote.textContent = `Paused — ${waiting.length} new line${waiting.length === 1 ? "" : "s"} waiting.`
    } else {
      show(event)
    }
  }

  pause.addEventListener("click", () => {
    paused = !paused
    pause.setAttribute("aria-pressed", String(paused))
    pause.textContent = paused ? "Resume" : "Pause"
    pausedNote.hidden = !paused
    pausedNote.textContent = "Paused — new lines wait here until you resume."
    if (!paused) for (const e of waiting.splice(0)) show(e)
  })
  const forget = () => {
    notes.clear()
    inFlight = 0
    events.length = 0
    waiting.length = 0
    glossed.clear()
    replace(log)
    empty.hidden = false
    if (paused) pausedNote.textContent = "Paused — new lines wait here until you resume."
  }
  clear.addEventListener("click", () => {
    forget()
    options.onClear?.()
  })
  exportButton.addEventListener("click", () => {
    const first = events[0]?.at ?? Date.now()
    const head = `# POP3 protocol trace, exported ${new Date().toISOString()} (times in seconds from the first line; secrets shown as ****)\n`
    const lines = events.map((e) => {
      if (e._tag === "Connecting") return `\n${formatTraceEvent(e, first)}`
      return formatTraceEvent(e, first)
    })
    const name = `pop3-trace-${new Date(first).toISOString().replace(/[:.]/g, "-").slice(0, 19)}.txt`
    download(name, `${head}${lines.join("\n")}\n`, "text/plain;charset=utf-8")
  })
  filter.addEventListener("input", applyFilter)

  const element = h(
    "div",
    { class: "trace-body" },
    h(
      "div",
      { class: "trace-tools" },
      h("div", { class: "field inline" }, h("label", { for: "trace-filter" }, "Filter"), filter),
      h("div", { class: "buttons" }, pause, clear, exportButton)
    ),
    h(
      "div",
      { class: "trace-options" },
      h("label", { class: "check" }, explainBox, " Explain each command the first time it appears"),
      h(
        "span",
        { class: "legend", "aria-hidden": "true" },
        h("span", { class: "who client" }, "C:"),
        " client ",
        h("span", { class: "who server" }, "S:"),
        " server ",
        h("span", { class: "who state" }, "→"),
        " state"
      )
    ),
    pausedNote,
    empty,
    h("div", { class: "trace-log-region", role: "log", "aria-live": "off", "aria-label": "Protocol trace log" }, log)
  )
  return {
    element,
    tracer,
    reset: () => {
      forget()
      sessions = 0
      start = 0
      setState(undefined)
    },
    state: () => current,
    disconnecting: () => {
      asked = true
    },
    onStateChange: (listener) => void listeners.push(listener)
  }
}
