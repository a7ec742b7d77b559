// The demo page: wires the connect form, the mailbox and the protocol trace together.
// All POP3 goes through the library (session.ts); this file only decides what to show.
import { fixTextDecoder } from "./text-decoder-fix.ts"
import type { Capabilities, TraceEvent } from "pop3-everywhere"
import { defaults } from "./config.ts"
import { makeConnectForm } from "./connect-form.ts"
import { makeDiagram } from "./diagram.ts"
import { download, h, replace } from "./dom.ts"
import { explain, mailboxSummary } from "./explain.ts"
import { displayBridgeUrl } from "./format.ts"
import { type Entry, makeMailboxList, unloadedEntry } from "./mailbox-list.ts"
import { loadMailbox, makeHeaderLoader, showHeader } from "./mailbox-load.ts"
import { endingText } from "./ending.ts"
import { closeMessage, listOctets, renderMessage, renderPlaceholder, type Shown } from "./message-view.ts"
import { parseMessage } from "./mime/parse.ts"
import { open, type Session, type Settings } from "./session.ts"
import { makeState } from "./state.ts"
import { makeStepPanel } from "./step.ts"
import { makeTracePanel } from "./trace-panel.ts"
import { makeBytesView } from "./bytes-view.ts"
import { makeBridgeView } from "./bridge-view.ts"
import { capaNote, stlsUnusable } from "./capa-note.ts"
import { type Login, makePlaygroundPanel, STALL_TIMEOUT } from "./playground/panel.ts"
import type { Switches } from "./playground/protocol.ts"
import { playground } from "./playground/transport.ts"
import { makeRecorder, type Recorded } from "./recorder.ts"
import { makeLoadCard, makeReplayView, toFile } from "./replay.ts"
import { makeTour } from "./tour.ts"
import {
  forgetCopy,
  keepCopy,
  type KeptAccount,
  keptAccount,
  keptHeaderCache,
  openKept,
  readKept,
  storageUsed
} from "./kept-copy.ts"
import "./styles.css"
import "./teach.css"

// Before anything decodes mail (text-decoder-fix.ts says why it is called, not imported).
fixTextDecoder()

const byId = (id: string): HTMLElement => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`index.html lacks #${id}`)
  return el
}
const status = byId("status")
const workspace = byId("workspace")
const traceHost = byId("trace-content")
const stateBadge = byId("state-badge")

// ── Trace, diagram, step mode ─────────────────────────────────────────────────────────
const diagram = makeDiagram()
// The recording behind the bytes view, the export and replay (recorder.ts).
const recorder = makeRecorder()
const bytesView = makeBytesView()
// The bytes the WebSocket carries, as the bridge reads them (bridge-view.ts).
const bridgeView = makeBridgeView()
const entryOf = new WeakMap<TraceEvent, Recorded>()
const rowOf = new WeakMap<TraceEvent, HTMLElement>()
const trace = makeTracePanel(diagram, {
  onClear: () => recorder.clear(),
  decorate: (event, row) => {
    rowOf.set(event, row)
    const entry = entryOf.get(event)
    if (entry?.wire === undefined) return
    const what =
      event._tag === "Sent"
        ? event.line
        : event._tag === "Received"
          ? event.line
          : event._tag === "Body"
            ? `the ${event.command} body`
            : "unframed bytes"
    // The word is drawn by CSS: the row's text (the filter, copies of the trace) stays the line.
    row.append(
      h("button", {
        type: "button",
        class: "bytes-button",
        "aria-label": `Bytes of ${what}`,
        title: "Show the bytes on the wire"
      })
    )
    row.lastElementChild?.addEventListener("click", () => {
      bytesView.show(entry, recorder.entries())
      document.getElementById("bytes-title")?.focus()
    })
  }
})
// The session state, in one holder (state.ts).
const state = makeState()

const context = () => state.settings ?? { bridgeUrl: defaults.bridgeUrl, host: defaults.host, port: defaults.port }
const step = makeStepPanel(diagram, {
  state: trace.state,
  session: () => state.session,
  context,
  events: () => recorder.entries().map((e) => e.event)
})
replace(
  traceHost,
  trace.element,
  h(
    "details",
    { class: "diagram-wrap", open: true },
    h("summary", {}, h("h3", {}, "Session state")),
    h("div", { class: "diagram-inner" }, diagram.element, step.element)
  ),
  bytesView.element,
  bridgeView.element,
  h(
    "div",
    { class: "buttons session-file" },
    h(
      "button",
      {
        type: "button",
        class: "small",
        onclick: () => {
          const first = recorder.entries()[0]?.event.at ?? Date.now()
          const name = `pop3-session-${new Date(first).toISOString().replace(/[:.]/g, "-").slice(0, 19)}.json`
          download(name, JSON.stringify(toFile(recorder.entries()), null, 1), "application/json")
        }
      },
      "Export session (.json)"
    )
  )
)

const tracer = (event: TraceEvent) => {
  entryOf.set(event, recorder.record(event))
  bridgeView.trace(event)
  trace.tracer(event)
  state.ending?.push(event)
  // The server (or the network) ended the session on its own; ERROR (a broken protocol) ends it too.
  if (
    event._tag === "StateChanged" &&
    (event.to === "CLOSED" || event.to === "ERROR") &&
    state.session !== undefined &&
    state.ending === undefined &&
    !state.ended
  ) {
    state.ended = true
    queueMicrotask(() => void lost(event.cause, event.to === "ERROR"))
  }
}
trace.onStateChange((state) => {
  stateBadge.textContent = state ?? "not connected"
  stateBadge.dataset["state"] = state ?? ""
  step.refresh()
})

const say = (text: string) => {
  status.textContent = text
}

// ── Connect ───────────────────────────────────────────────────────────────────────────
const form = makeConnectForm(defaults, (s) => void connect(s))

const explainer = h(
  "section",
  { class: "explainer card", "aria-labelledby": "explainer-title" },
  h("h2", { id: "explainer-title" }, "What happens when you connect"),
  h(
    "ol",
    {},
    h(
      "li",
      {},
      "The page opens a WebSocket to the bridge, naming the server: ",
      h("code", {}, "?host=…&port=…&tls=implicit"),
      "."
    ),
    h("li", {}, "The bridge checks its allowlist, connects, and for implicit TLS verifies the server's certificate."),
    h(
      "li",
      {},
      "The server greets with ",
      h("code", {}, "+OK"),
      "; the client asks ",
      h("code", {}, "CAPA"),
      " what it supports."
    ),
    h(
      "li",
      {},
      "Login. “auto” picks the strongest mechanism offered — one that hides the password, when the server has one."
    ),
    h(
      "li",
      {},
      h("code", {}, "STAT"),
      " (the count: one row per message), ",
      h("code", {}, "TOP n 0"),
      " for the headers of the rows on screen — pipelined when the server announces PIPELINING — then ",
      h("code", {}, "LIST"),
      " and ",
      h("code", {}, "UIDL"),
      " fill in sizes and UIDs as they arrive. Scrolling reads the headers of the rows it shows."
    )
  ),
  h(
    "p",
    { class: "muted" },
    "Every line appears in the protocol trace as it happens, and the diagram follows the session's state."
  )
)

// ── Playground, replay, tour ─────────────────────────────────────────────────────────
/** The playground's login: the sample mailbox's user, USER/PASS (nothing leaves the page). */
const playgroundSettings = (switches: Switches, login: Login): Settings => ({
  bridgeUrl: "",
  host: "playground",
  port: 110,
  tls: "implicit",
  user: "demo",
  password: login.password,
  mechanism: login.mechanism,
  allowPlaintext: false,
  timeout: switches.stallAtCommand !== undefined ? STALL_TIMEOUT : 30
})
const playgroundPanel = makePlaygroundPanel(
  (switches, login) => void connect(playgroundSettings(switches, login), switches),
  () => {
    playground.reset()
    say("The playground's sample mailbox is back to its 14 messages.")
  }
)
const replayMode = (entries: Array<Recorded>) => {
  state.session = undefined
  for (const e of entries) entryOf.set(e.event, e)
  let shown = 0
  const view = makeReplayView(
    entries,
    (n) => {
      // One step forward feeds one event; any other move starts the trace again.
      if (n !== shown + 1) trace.reset()
      for (const e of entries.slice(n === shown + 1 ? shown : 0, n)) {
        // As live: the close the user asked for reads as such (recorder.ts's `asked`).
        if (e.asked === true) trace.disconnecting()
        trace.tracer(e.event)
      }
      shown = n
      bytesView.show(entries[n - 1], entries)
    },
    () => {
      trace.reset()
      bytesView.show(undefined)
      showForm()
    }
  )
  replace(workspace, view.element)
  window.scrollTo({ top: 0 })
  view.focus()
  say(`Replaying a recorded session of ${entries.length} trace events.`)
}
const tour = makeTour({
  trace,
  tracer: (event) => tracer(event),
  rowOf: (event) => rowOf.get(event),
  transport: () => {
    recorder.tapping(true)
    return playground.layer({}, recorder.serverBytes)
  },
  showBytes: (event) => bytesView.show(entryOf.get(event), recorder.entries()),
  leave: () => {
    showForm()
    say("Not connected: the tour's session has ended.")
  },
  restart: () => {
    playground.reset()
    recorder.clear()
  }
})
// The tour's session is not one main.ts opened: the status line says what is running.
tour.card
  .querySelector("button")
  ?.addEventListener("click", () => say("The guided tour runs one session with the playground server in this page."))

const showForm = (notice?: HTMLElement) => {
  state.session = undefined
  closeMessage()
  replace(
    workspace,
    notice ?? null,
    h(
      "div",
      { class: "connect-view" },
      form.element,
      h(
        "div",
        { class: "connect-side" },
        keptCard(),
        playgroundPanel.element,
        tour.card,
        makeLoadCard(replayMode),
        explainer
      )
    )
  )
  form.busy(false)
  playgroundPanel.busy(false)
  if (notice !== undefined) {
    // Keyboard and screen-reader users land on the outcome; everyone sees it at the top.
    notice.tabIndex = -1
    notice.focus({ preventScroll: true })
    window.scrollTo({ top: 0 })
  }
}

// ── The copy kept in this browser (IndexedDB, through the library's sync engine) ───────
const keptCard = () => {
  const kept = keptAccount()
  if (kept === undefined) return null
  const button = h(
    "button",
    { type: "button", class: "primary" },
    `Open the copy kept in this browser (${kept.user} at ${kept.host}:${kept.port})`
  )
  button.addEventListener("click", () => {
    showKept(kept).catch((error: unknown) => {
      const e = explain(error, { bridgeUrl: "", host: kept.host, port: kept.port })
      showForm(
        h(
          "div",
          { class: "notice warn card", role: "alert" },
          h("p", {}, `The copy kept in this browser could not be opened: ${e.title}. ${e.detail}`)
        )
      )
    })
  })
  return h(
    "section",
    { class: "card kept-card", "aria-labelledby": "kept-card-title" },
    h("h2", { id: "kept-card-title" }, "Kept in this browser"),
    h(
      "p",
      { class: "muted" },
      "Read the messages kept earlier, with no connection: they are in this browser's IndexedDB."
    ),
    button
  )
}

/** A message's header part: up to its first empty line (at most 256 KiB), copied out of the body. */
const headerOf = (body: Uint8Array): Uint8Array => {
  const limit = Math.min(body.length, 256 * 1024)
  for (let i = 0; i + 1 < limit; i++) {
    if (body[i] !== 0x0a) continue
    if (body[i + 1] === 0x0a) return body.slice(0, i + 2)
    if (body[i + 1] === 0x0d && body[i + 2] === 0x0a) return body.slice(0, i + 3)
  }
  return body.slice(0, limit)
}

const showKept = async (kept: KeptAccount) => {
  state.session = undefined
  const store = await openKept(kept)
  const listed = await readKept(store.messages)
  // The rows come from the index (UID, size); a row's header is read when the list shows
  // it — from the header cache, else from its kept body, then cached — and a body only
  // when it is opened. Reading and parsing every message up front took 8.5 s and ~430 MB
  // for 300 messages of 1 MB.
  const entries: Array<Entry> = listed.map((m, i) => unloadedEntry(i + 1, m.size, m.uid))
  const byMsg = new Map(entries.map((e) => [e.msg, e]))
  const asked = new Set<number>()
  let wanted: ReadonlyArray<number> = []
  let reading = false
  // One batch at a time; rows scrolled past meanwhile are not read.
  const readHeaders = async () => {
    if (reading) return
    reading = true
    try {
      for (;;) {
        const batch = wanted.filter((msg) => !asked.has(msg) && byMsg.get(msg)?.loaded === false)
        if (batch.length === 0) return
        for (const msg of batch) asked.add(msg)
        const uids = batch.map((msg) => byMsg.get(msg)!.uid!)
        const cached = await readKept(store.headers(uids)).catch(() => new Map<string, Uint8Array>())
        const fresh: Array<{ readonly uid: string; readonly bytes: Uint8Array }> = []
        for (const msg of batch) {
          const entry = byMsg.get(msg)!
          let head = cached.get(entry.uid!)
          if (head === undefined) {
            const body = await readKept(store.body(entry.uid!)).catch(() => undefined)
            if (body !== undefined) {
              head = headerOf(body)
              fresh.push({ uid: entry.uid!, bytes: head })
            }
          }
          await showHeader(entry, list, head)
        }
        if (fresh.length > 0) await readKept(store.putHeaders(fresh)).catch(() => {})
      }
    } finally {
      reading = false
    }
  }
  const reader = h("section", { class: "reader card", "aria-label": "Message", "aria-busy": "false" })
  const list = makeMailboxList(
    (msg) => void openKeptMessage(msg),
    () => {},
    (msgs) => {
      wanted = msgs
      void readHeaders()
    }
  )
  const openKeptMessage = async (msg: number) => {
    const entry = byMsg.get(msg)
    if (entry === undefined) return
    const bytes = await readKept(store.body(entry.uid!)).catch(() => undefined)
    if (bytes === undefined) return
    list.select(msg)
    // Its own buffer: the Worker takes the bytes it is given.
    const parsing = parseMessage(bytes.slice().buffer, bytes.length)
    const head = await parsing.head
    renderMessage(reader, { msg, uid: entry.uid, size: bytes.length, head, body: parsing.body, deleted: false }, {})
    say(`Opened the kept copy of ${head.subject ?? "(no subject)"}, read from this browser.`)
  }
  const used = h(
    "p",
    { class: "muted storage-used" },
    `${mailboxSummary(
      entries.length,
      entries.reduce((n, e) => n + (e.size ?? 0), 0)
    )} kept · storage used: …`
  )
  void storageUsed().then((text) => {
    used.textContent = `${mailboxSummary(
      entries.length,
      entries.reduce((n, e) => n + (e.size ?? 0), 0)
    )} kept · storage used by this site: ${text ?? "unknown"}`
  })
  const forget = h("button", { type: "button", class: "danger small" }, "Forget this copy")
  forget.addEventListener(
    "click",
    () =>
      void (async () => {
        await forgetCopy(store)
        store.close()
        say("The copy kept in this browser is deleted.")
        showForm(
          h("div", { class: "notice card", role: "status" }, h("p", {}, "The copy kept in this browser is deleted."))
        )
      })()
  )
  const back = h("button", { type: "button", class: "small" }, "Back")
  back.addEventListener("click", () => {
    store.close()
    showForm()
  })
  replace(
    workspace,
    h(
      "section",
      { class: "mailbox card", "aria-labelledby": "mailbox-title" },
      h(
        "div",
        { class: "mailbox-bar" },
        h(
          "div",
          {},
          h("h2", { id: "mailbox-title", tabindex: -1 }, "Kept copy"),
          h(
            "p",
            { class: "summary" },
            `${kept.user} at ${kept.host}:${kept.port}, read from this browser with no connection`
          ),
          used
        ),
        h("div", { class: "buttons" }, back, forget)
      ),
      list.element
    ),
    reader
  )
  list.set(entries)
  renderPlaceholder(
    reader,
    h("p", {}, entries.length === 0 ? "Nothing is kept." : "Select a message to read its kept copy.")
  )
  document.getElementById("mailbox-title")?.focus({ preventScroll: true })
  say(`${entries.length} kept message${entries.length === 1 ? "" : "s"}, read from this browser.`)
}

const connect = async (s: Settings, switches?: Switches) => {
  state.settings = s
  // The outcome of the previous session (a success, say) must not stay above this one's.
  workspace.querySelector(":scope > .notice")?.remove()
  form.busy(true)
  playgroundPanel.busy(true)
  form.showError(undefined)
  playgroundPanel.showError(undefined)
  say(
    switches !== undefined
      ? "Starting a session with the playground server in this page…"
      : `Connecting to ${s.host}:${s.port} through the bridge at ${displayBridgeUrl(s.bridgeUrl)}…`
  )
  state.ended = false
  state.ending = undefined
  recorder.tapping(switches !== undefined)
  if (switches !== undefined) bridgeView.noBridge()
  try {
    state.session = await open(
      s,
      tracer,
      switches !== undefined ? playground.layer(switches, recorder.serverBytes) : bridgeView.transport(s),
      // As soon as CAPA is answered, before login: a refused login (Security None, no
      // plaintext allowed) is where the STLS note matters most.
      (caps) => noteCapa(0, caps, stlsUnusable({ viaBridge: switches === undefined, endToEnd: s.endToEnd === true }))
    )
  } catch (error) {
    const e = explain(error, s)
    form.busy(false)
    playgroundPanel.busy(false)
    if (switches !== undefined) playgroundPanel.showError(e)
    else form.showError(e)
    say(`Not connected: ${e.title}.`)
    return
  }
  showMailbox(state.session, s, switches === undefined)
}

/**
 * Puts what a CAPA of the session answered beside its row (capa-note.ts): the `nth` CAPA of
 * the session's last connection (0: before login, 1: after it).
 */
const noteCapa = (nth: 0 | 1, answer: Capabilities, stlsOutOfReach: boolean) => {
  const events = recorder.entries().map((e) => e.event)
  // The session's last connection: a refused login may have reconnected.
  const capa = events
    .slice(events.findLastIndex((e) => e._tag === "Connecting"))
    .filter((e) => e._tag === "Body" && e.command === "CAPA")[nth]
  // Taller rows above must not stop the trace from following its newest line.
  const log = traceHost.querySelector(".trace-log")
  const following = log !== null && log.scrollHeight - log.scrollTop - log.clientHeight < 40
  const line = capa === undefined ? null : rowOf.get(capa)?.querySelector(".line")
  if (line === null || line === undefined || line.querySelector(".capa-lines") !== null) return
  line.append(capaNote(answer, stlsOutOfReach && nth === 0))
  if (following) log.scrollTop = log.scrollHeight
}

// ── Mailbox ───────────────────────────────────────────────────────────────────────────
const showMailbox = (current: Session, s: Settings, viaBridge: boolean) => {
  const entries: Array<Entry> = []
  const byMsg = new Map<number, Entry>()
  const cache = new Map<number, Shown>()
  let openMsg: number | undefined
  let busy = false

  const summary = h("p", { class: "summary" })
  const reader = h("section", { class: "reader card", "aria-label": "Message", "aria-busy": "false" })
  const progress = h("progress", { max: 1, value: 0, "aria-labelledby": "progress-text" })
  const progressText = h("span", { id: "progress-text" })
  const progressBox = h("div", { class: "progress", hidden: true }, progress, progressText)
  const rset = h("button", { type: "button", class: "small", disabled: true }, "Undo all deletions (RSET)")
  const quit = h("button", { type: "button", class: "primary small" }, "Quit")
  const disconnect = h("button", { type: "button", class: "small" }, "Disconnect without deleting")
  const keep = h("button", { type: "button", class: "small" }, "Keep a copy in this browser (then Quit)")
  const rule = h(
    "div",
    { class: "rule", role: "note" },
    h("strong", {}, "Nothing is deleted until you Quit. "),
    "DELE only marks a message (struck through); QUIT makes the server remove the marked ones. ",
    "Disconnect has the library send RSET, then QUIT: nothing is removed. RSET unmarks every message — POP3 has no per-message undo."
  )

  const list = makeMailboxList(
    (msg) => void openMessage(msg),
    (msg) => void dele(msg),
    (msgs) => headers.want(msgs)
  )
  const headers = makeHeaderLoader(current, { list, byMsg }, (error) => fail(error), keptHeaderCache(s))
  const listing = (text: string | undefined) => {
    progressBox.hidden = text === undefined
    progress.removeAttribute("value")
    progressText.textContent = text ?? ""
  }
  // STAT's total: LIST's sizes arrive after the first screen.
  let octets = 0
  const marked = () => entries.filter((e) => e.deleted).length
  const refreshBar = () => {
    const total = octets
    const m = marked()
    summary.textContent = `${mailboxSummary(entries.length, total)}${m > 0 ? ` · ${m} marked for deletion` : ""} · ${s.user} at ${s.host}:${s.port}`
    rset.disabled = m === 0 || busy
    quit.textContent = m > 0 ? `Quit and delete ${m} marked` : "Quit"
  }

  const fail = (error: unknown) => {
    const e = explain(error, s)
    say(`${e.title}. ${e.detail}`)
    reader.prepend(
      h("div", { class: "error-box", role: "alert" }, h("p", { class: "error-title" }, e.title), h("p", {}, e.detail))
    )
  }
  const guard = async (what: () => Promise<void>) => {
    if (busy || current.closed()) return
    busy = true
    refreshBar()
    // A new action: an earlier action's error no longer describes the page.
    reader.querySelector(":scope > .error-box")?.remove()
    try {
      await what()
    } catch (error) {
      fail(error)
    } finally {
      busy = false
      refreshBar()
    }
  }

  const openMessage = (msg: number) =>
    guard(async () => {
      const entry = byMsg.get(msg)
      if (entry === undefined) return
      openMsg = msg
      list.select(msg)
      const cached = cache.get(msg)
      if (entry.deleted && cached === undefined) {
        renderPlaceholder(
          reader,
          h("p", {}, `Message ${msg} is marked for deletion.`),
          h("p", { class: "muted" }, "The server refuses RETR for it until RSET unmarks it.")
        )
        return
      }
      if (cached !== undefined) {
        renderMessage(reader, { ...cached, deleted: entry.deleted }, { dele: (n) => void dele(n) })
        say(`Showing message ${msg} (already retrieved in this session).`)
        return
      }
      renderPlaceholder(reader, h("p", {}, `Retrieving message ${msg} — RETR ${msg}…`))
      reader.setAttribute("aria-busy", "true")
      try {
        // Before LIST has reached this row its size is unknown: the buffer grows as the body comes.
        const { buffer, length } = await current.retr(msg, entry.size ?? 0)
        // Parsed in a Worker; the buffer is handed over, not copied. The header is shown at
        // once, the body when the Worker has it (message-view.ts).
        const listed =
          entry.size === undefined
            ? undefined
            : { listed: entry.size, received: listOctets(new Uint8Array(buffer, 0, length)) }
        const parsing = parseMessage(buffer, length)
        const head = await parsing.head
        const shown: Shown = {
          msg,
          uid: entry.uid,
          size: length,
          listed,
          head,
          body: parsing.body,
          deleted: entry.deleted
        }
        cache.set(msg, shown)
        if (openMsg === msg) {
          renderMessage(reader, shown, { dele: (n) => void dele(n) })
          // On a short screen the message opens below the list, out of sight: bring it up.
          if (reader.getBoundingClientRect().top > window.innerHeight * 0.7)
            reader.scrollIntoView({ block: "start", behavior: "smooth" })
        }
        say(`Opened message ${msg}: ${head.subject ?? "(no subject)"}.`)
      } finally {
        reader.setAttribute("aria-busy", "false")
      }
    })

  const dele = (msg: number) =>
    guard(async () => {
      const entry = byMsg.get(msg)
      if (entry === undefined || entry.deleted) return
      await current.run(current.mailbox.dele(msg))
      entry.deleted = true
      list.update(entry)
      const cached = cache.get(msg)
      if (openMsg === msg && cached !== undefined)
        renderMessage(reader, { ...cached, deleted: true }, { dele: (n) => void dele(n) })
      say(`Message ${msg} marked for deletion. The server removes it when you Quit.`)
    })

  rset.addEventListener(
    "click",
    () =>
      void guard(async () => {
        await current.run(current.mailbox.rset)
        for (const e of entries.filter((e) => e.deleted)) {
          e.deleted = false
          list.update(e)
        }
        const cached = openMsg === undefined ? undefined : cache.get(openMsg)
        if (cached !== undefined) renderMessage(reader, { ...cached, deleted: false }, { dele: (n) => void dele(n) })
        say("RSET: every message is unmarked.")
      })
  )

  const finish = (how: "quit" | "disconnect") => {
    if (current.closed()) return
    const count = marked()
    const removed = entries.filter((e) => e.deleted).map((e) => e.msg)
    const total = entries.length
    state.ending = []
    busy = true
    for (const b of [rset, quit, disconnect]) b.disabled = true
    const done = async () => {
      let failure: unknown
      try {
        if (how === "quit") await current.quit()
        else {
          trace.disconnecting()
          recorder.disconnecting()
          await current.disconnect()
        }
      } catch (error) {
        failure = error
      }
      const sent = (state.ending ?? []).filter((e) => e._tag === "Sent").map((e) => (e._tag === "Sent" ? e.line : ""))
      state.ending = undefined
      state.ended = true
      const { text, failed } = endingText({
        how,
        marked: count,
        sent,
        failure: failure === undefined ? undefined : explain(failure, s)
      })
      say("Not connected.")
      showForm(
        h(
          "div",
          { class: failed ? "notice failed card" : "notice card", role: failed ? "alert" : "status" },
          h("p", {}, text),
          failure === undefined && how === "quit" && count > 0 ? renumbering(removed, total) : null
        )
      )
    }
    void done()
  }
  quit.addEventListener("click", () => finish("quit"))
  disconnect.addEventListener("click", () => finish("disconnect"))
  // The sync engine downloads what is not kept yet (no DELE) and ends the session with QUIT;
  // marks made here are undone first, so that QUIT removes nothing.
  keep.addEventListener(
    "click",
    () =>
      void guard(async () => {
        for (const b of [rset, quit, disconnect, keep]) b.disabled = true
        // The engine's QUIT ends the session: not a connection lost.
        state.ending = []
        if (marked() > 0) await current.run(current.mailbox.rset)
        progressBox.hidden = false
        let total = 0
        let stored = 0
        const tell = () => {
          progress.max = Math.max(total, 1)
          progress.value = stored
          progressText.textContent = `Keeping a copy in this browser: ${stored} of ${total} new messages stored`
        }
        let result: Awaited<ReturnType<typeof keepCopy>>
        try {
          result = await keepCopy(current.mailbox, s, {
            start: (messages) => {
              total = messages
              tell()
            },
            stored: (messages) => {
              stored += messages
              tell()
            }
          })
        } catch (error) {
          const e = explain(error, s)
          say("Not connected.")
          showForm(
            h(
              "div",
              { class: "notice warn card", role: "alert" },
              h(
                "p",
                {},
                `Keeping a copy failed: ${e.title}. ${e.detail} ${/Nothing was deleted/.test(e.detail) ? "What was stored is kept." : "Nothing was deleted; what was stored is kept."}`
              )
            )
          )
          return
        } finally {
          await current.disconnect().catch(() => {})
          state.ending = undefined
          state.ended = true
        }
        const refused = result.refused.map((r) => r.msg)
        const text = `Kept a copy in this browser: ${result.fetched} message${result.fetched === 1 ? "" : "s"} downloaded, ${result.skipped} already kept.${refused.length > 0 ? ` The server refused to send message${refused.length === 1 ? "" : "s"} ${refused.join(", ")} (RETR answered -ERR): not kept; the next copy asks again.` : ""} The session ended with QUIT; nothing was deleted.`
        say("Not connected.")
        showForm(h("div", { class: "notice card", role: "status" }, h("p", {}, text)))
      })
  )

  replace(
    workspace,
    h(
      "section",
      { class: "mailbox card", "aria-labelledby": "mailbox-title" },
      h(
        "div",
        { class: "mailbox-bar" },
        h("div", {}, h("h2", { id: "mailbox-title", tabindex: -1 }, "Inbox"), summary),
        h("div", { class: "buttons" }, keep, rset, disconnect, quit)
      ),
      rule,
      progressBox,
      list.element
    ),
    reader
  )
  renderPlaceholder(
    reader,
    h("p", {}, "Select a message to read it."),
    h("p", { class: "muted" }, "Opening one sends RETR; the trace shows it.")
  )
  refreshBar()
  document.getElementById("mailbox-title")?.focus({ preventScroll: true })
  window.scrollTo({ top: 0 })
  say(
    s.host === "playground"
      ? `Logged in as ${s.user} on the playground server, which runs in this page: nothing goes over the network.`
      : `Logged in as ${s.user} on ${s.host}:${s.port}. ${current.secure ? "Encrypted end to end (TLS from the bridge to the server, and a bridge on this machine or wss:)." : "Not encrypted end to end."}`
  )

  // STAT, headers (TOP n 0) for the rows shown, then LIST and UIDL streamed: mailbox-load.ts.
  // The page is busy until the first screen is shown; sizes and UIDs fill in after.
  // With capaWithNextCommand the CAPA after login is answered with STAT: the notes go on then.
  let noted = false
  const note = () => {
    if (noted) return
    noted = true
    const out = stlsUnusable({ viaBridge, endToEnd: s.endToEnd === true })
    // The first is on already (connect); after a reconnect during login, on the new connection's.
    noteCapa(0, current.capabilities, out)
    noteCapa(1, current.mailbox.capabilities(), out)
  }
  const counted = (_count: number, total: number) => {
    octets = total
    note()
  }
  void guard(async () => {
    const { rest } = await loadMailbox(
      current,
      { list, entries, byMsg, counted, refresh: refreshBar, progress: listing },
      headers
    ).finally(note)
    if (entries.length === 0) renderPlaceholder(reader, h("p", {}, "The mailbox is empty."))
    else
      say(
        `${mailboxSummary(entries.length, octets)}. Headers are read for the rows shown; sizes and UIDs follow (LIST, UIDL). Select one to read it.`
      )
    rest.catch(fail)
  })
}

/** After QUIT removed messages: why the next session's numbers differ, and what does not change. */
const renumbering = (removed: ReadonlyArray<number>, total: number): HTMLElement => {
  const left = total - removed.length
  const first = Math.min(...removed)
  if (left === 0) return h("p", { class: "renumber-note" }, "The mailbox is now empty.")
  const moved = removed.every((m) => m > left)
    ? "Here the removed messages were the last ones, so no remaining message changes its number."
    : `Here the messages after ${first} move down to close the gap${
        removed.length === 1 && first < total
          ? ` (${first + 1} becomes ${first}, …, ${total} becomes ${total - 1})`
          : ""
      }.`
  return h(
    "p",
    { class: "renumber-note" },
    `Message numbers last only for one session: the next session numbers the ${left} remaining message${left === 1 ? "" : "s"} 1 to ${left} again, with no gaps (RFC 1939 §5). ${moved} `,
    "What stays is each message's UID (the list's UID column, from UIDL): a client that keeps mail remembers UIDs, never numbers."
  )
}

const lost = async (cause: string, broken = false) => {
  const current = state.session
  if (current === undefined) return
  await current.disconnect().catch(() => {})
  // A command still waiting for its answer: the server went quiet and the library's time
  // limit ended the connection (a timed-out connection is never reused).
  const events = recorder.entries().map((e) => e.event)
  const lastSent = events.findLast((e) => e._tag === "Sent")
  const closedAt = events.findLast((e) => e._tag === "StateChanged" && e.to === "CLOSED")?.at
  const limit = state.settings?.timeout
  const timedOut =
    lastSent?._tag === "Sent" &&
    limit !== undefined &&
    closedAt !== undefined &&
    closedAt - lastSent.at >= limit * 1000 * 0.9 &&
    !events.slice(events.indexOf(lastSent)).some((e) => e._tag === "Received" && e.command === lastSent.line)
  const why = timedOut
    ? ` ${lastSent.line} got no answer within ${limit} s, so the library gave the connection up.`
    : ""
  const ended = broken
    ? `The connection ended: the server broke the POP3 protocol (${cause}), so the library closed the connection — the session cannot go on.`
    : `The connection ended (${cause}).${why}`
  const text = `${ended} Nothing marked for deletion was removed: the server only removes messages after QUIT.`
  say("Not connected.")
  showForm(h("div", { class: "notice warn card", role: "alert" }, h("p", {}, text)))
}

showForm()
