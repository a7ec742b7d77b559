// The guided tour: one playground session, step by step — greeting, CAPA, login,
// STAT/LIST/UIDL, RETR with dot-stuffing, DELE, RSET, QUIT and UPDATE. Each step runs its
// commands through the library, then says in a sentence or two what happened and where the
// RFC says so, highlights the trace line it is about, and names the state the diagram shows.
// Next and Back are ordinary buttons that keep focus, so Enter, Enter, … walks the tour.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import {
  collect,
  connect,
  type Mailbox,
  type Authorization,
  type State,
  type TraceEvent,
  type Transport
} from "pop3-everywhere"
import { h, replace } from "./dom.ts"
import type { TracePanel } from "./trace-panel.ts"

export interface TourDeps {
  readonly trace: TracePanel
  readonly tracer: (event: TraceEvent) => void
  /** The trace row shown for an event, once shown. */
  readonly rowOf: (event: TraceEvent) => HTMLElement | undefined
  /** A fresh playground transport (server bytes tapped for the bytes view). */
  readonly transport: () => Layer.Layer<Transport>
  readonly showBytes: (event: TraceEvent) => void
  /** Puts the start screen back. */
  readonly leave: () => void
  /**
   * A fresh start: the sample mailbox as it was (the tour's steps name its messages: a
   * Playground session before may have deleted some) and nothing recorded before the tour.
   */
  readonly restart: () => void
}

export interface Tour {
  /** The card on the start screen. */
  readonly card: HTMLElement
}

/** The message of the sample mailbox whose lines start with dots. */
export const DOTS_MESSAGE = 12

interface Live {
  scope: Scope.Closeable
  session?: Authorization
  mailbox?: Mailbox
}

interface Step {
  readonly title: string
  readonly text: string
  readonly rfc: string
  /** What the step sends (nothing for the first and last). */
  readonly run?: (live: Live) => Promise<void>
  /** The trace line the step is about, among the events its run traced. */
  readonly pick?: (events: ReadonlyArray<TraceEvent>) => TraceEvent | undefined
  /** Open the bytes view of the picked line. */
  readonly bytes?: boolean
}

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)
const answer = (prefix: string) => (events: ReadonlyArray<TraceEvent>) =>
  events.find((e) => e._tag === "Received" && (e.command ?? "").startsWith(prefix))
const body = (prefix: string) => (events: ReadonlyArray<TraceEvent>) =>
  events.find((e) => e._tag === "Body" && e.command.startsWith(prefix))

/** The tour's steps; their runs use `transport` and `tracer` only when run. */
export const steps = (
  transport: () => Layer.Layer<Transport>,
  tracer: (e: TraceEvent) => void
): ReadonlyArray<Step> => [
  {
    title: "A POP3 session, step by step",
    text: "This tour runs one session against the playground server in this page. Each Next sends the next commands through the library; the trace on the right shows every line and the diagram the session's state.",
    rfc: "RFC 1939 §3"
  },
  {
    title: "1. The greeting",
    text: "After the TCP connection opens, the server speaks first: one line starting with +OK. The <…@…> part is a timestamp the APOP command can use; the session is now in the AUTHORIZATION state.",
    rfc: "RFC 1939 §4",
    run: async (live) => {
      live.session = await run(
        connect({ host: "playground", port: 110, tls: "implicit", timeout: 30_000, trace: tracer }).pipe(
          Effect.provide(transport()),
          Scope.provide(live.scope)
        )
      )
    },
    pick: (events) => events.find((e) => e._tag === "Received" && e.command === undefined),
    bytes: true
  },
  {
    title: "2. CAPA: what can this server do?",
    text: "The client asks CAPA, and the server lists its capabilities in a multi-line answer ended by a line holding only “.”: TOP, UIDL, PIPELINING, the login mechanisms.",
    rfc: "RFC 2449 §5",
    pick: answer("CAPA")
  },
  {
    title: "3. Login with USER and PASS",
    text: "USER names the mailbox and PASS gives the password; the trace shows **** because the library redacts it before any observer sees it. On +OK the server locks the mailbox and the state moves to TRANSACTION; the client asks CAPA again, since servers may announce more after login.",
    rfc: "RFC 1939 §7, §4",
    run: async (live) => {
      if (live.session === undefined) throw new Error("not connected")
      live.mailbox = await run(live.session.login({ user: "demo", password: "demo", mechanism: "user" }))
    },
    pick: answer("PASS")
  },
  {
    title: "4. STAT, LIST and UIDL",
    text: "STAT answers with the number of messages and their total size in one line; LIST gives each message's size and UIDL its unique ID, which stays the same across sessions while message numbers do not.",
    rfc: "RFC 1939 §5, §7",
    run: async (live) => {
      const m = live.mailbox!
      await run(m.stat)
      await run(m.list)
      await run(m.uidl)
    },
    pick: answer("UIDL")
  },
  {
    title: `5. RETR ${DOTS_MESSAGE} and dot-stuffing`,
    text: `The body of message ${DOTS_MESSAGE} ends with a line holding only “.”, so every message line that begins with “.” gets one more on the wire and the client strips it again. The bytes view below the diagram shows the stuffed lines beside the message.`,
    rfc: "RFC 1939 §3, §5",
    run: async (live) => {
      await run(collect(live.mailbox!.retr(DOTS_MESSAGE)))
    },
    pick: body("RETR"),
    bytes: true
  },
  {
    title: "6. DELE only marks",
    text: "DELE 1 marks message 1 as deleted: the server hides it from LIST and RETR, but removes nothing yet — deletion waits for QUIT, so a dropped connection never loses mail.",
    rfc: "RFC 1939 §5, §6",
    run: async (live) => {
      await run(live.mailbox!.dele(1))
    },
    pick: answer("DELE")
  },
  {
    title: "7. RSET unmarks",
    text: "RSET unmarks every message marked in this session; POP3 has no per-message undo.",
    rfc: "RFC 1939 §5",
    run: async (live) => {
      await run(live.mailbox!.rset)
    },
    pick: answer("RSET")
  },
  {
    title: "8. QUIT and the UPDATE state",
    text: "QUIT from TRANSACTION puts the server into UPDATE: it removes the marked messages — none now, after RSET — releases the lock and closes. Without QUIT there is no UPDATE, and nothing is deleted.",
    rfc: "RFC 1939 §6",
    run: async (live) => {
      await run(live.mailbox!.quit)
      await run(Scope.close(live.scope, Exit.void))
    },
    pick: answer("QUIT")
  },
  {
    title: "The end",
    text: "That was all of POP3's core. Start a Playground session with a misbehaving server to see what goes wrong, or export this session under the trace and replay it.",
    rfc: "RFC 1939"
  }
]

export const makeTour = (deps: TourDeps): Tour => {
  const start = h("button", { type: "button", class: "primary" }, "Start the guided tour")
  const card = h(
    "section",
    { class: "tour-card card", "aria-labelledby": "tour-card-title" },
    h("h2", { id: "tour-card-title" }, "Guided tour"),
    h(
      "p",
      {},
      "Ten short steps through one playground session, each with its RFC section, pointing at the trace line and the state it is about. Keyboard: Enter on Next, Enter again, …"
    ),
    h("div", { class: "actions" }, start)
  )

  start.addEventListener("click", () => {
    const events: Array<TraceEvent> = []
    const tracer = (event: TraceEvent) => {
      events.push(event)
      deps.tracer(event)
    }
    const live: Live = { scope: Effect.runSync(Scope.make()) }
    const all = steps(deps.transport, tracer)
    /** For each step run so far, the trace event it points at. */
    const picked: Array<TraceEvent | undefined> = []
    /** For each step run so far, the state the session was in once it ran. */
    const states: Array<State | undefined> = []
    let at = 0
    let done = 0
    let busy = false

    const heading = h("h2", { id: "tour-title", tabindex: -1 }, "")
    const counter = h("p", { class: "tour-count" })
    const text = h("p", { class: "tour-text" })
    const rfc = h("p", { class: "tour-rfc" })
    const pointer = h("p", { class: "tour-pointer" })
    const region = h(
      "div",
      { class: "tour-step", role: "region", "aria-live": "polite", "aria-labelledby": "tour-title" },
      counter,
      heading,
      text,
      rfc,
      pointer
    )
    const back = h("button", { type: "button" }, "Back")
    const next = h("button", { type: "button", class: "primary" }, "Next")
    const exit = h("button", { type: "button", class: "small" }, "End the tour")
    const view = h(
      "section",
      { class: "tour card", "aria-label": "Guided tour" },
      region,
      h("div", { class: "buttons" }, back, next, exit)
    )

    const mark = (event: TraceEvent | undefined) => {
      for (const old of document.querySelectorAll(".trace-row.tour-mark")) old.classList.remove("tour-mark")
      const row = event === undefined ? undefined : deps.rowOf(event)
      if (row === undefined) return
      row.classList.add("tour-mark")
      // Centre the line in the trace's own scroll box; the page itself stays where it is.
      const log = row.closest<HTMLElement>(".trace-log")
      if (log !== null)
        log.scrollTop += row.getBoundingClientRect().top - log.getBoundingClientRect().top - log.clientHeight / 2
    }

    const render = () => {
      const step = all[at]!
      counter.textContent = `Step ${at + 1} of ${all.length}`
      heading.textContent = step.title
      text.textContent = step.text
      rfc.replaceChildren("See ", h("cite", {}, step.rfc), ".")
      const event = picked[at]
      const state = deps.trace.state()
      pointer.replaceChildren()
      if (event !== undefined) {
        const line =
          event._tag === "Sent" || event._tag === "Received"
            ? `${event._tag === "Sent" ? "C" : "S"}: ${event.line}`
            : event._tag === "Body"
              ? `the ${event.command} body`
              : ""
        pointer.append("In the trace: ", h("code", {}, line), " (highlighted). ")
      }
      const then = states[at]
      if (then !== undefined && step.run !== undefined) {
        // Back shows an earlier step; the diagram keeps showing the live session.
        if (then === state) pointer.append("In the diagram: ", h("strong", {}, then), ".")
        else
          pointer.append(
            "At this step the session was in ",
            h("strong", {}, then),
            "; the diagram shows it as it is now: ",
            h("strong", {}, state ?? "not connected"),
            "."
          )
      }
      // The bytes view first: it changes the trace box's height, and the mark centres in it.
      if (step.bytes === true && event !== undefined) deps.showBytes(event)
      mark(event)
      // What the step points at, in sight: the bytes view, else the diagram's current state
      // (UPDATE and CLOSED are at its foot, below the fold of the trace column).
      const target =
        step.bytes === true && event !== undefined
          ? document.querySelector(".bytes-view")
          : step.run !== undefined && then === state
            ? document.querySelector(".diagram-wrap .node.current")
            : null
      target?.scrollIntoView({ block: "nearest" })
      back.setAttribute("aria-disabled", String(at === 0))
      next.setAttribute("aria-disabled", String(at === all.length - 1))
      next.textContent =
        at === all.length - 1 ? "Next" : at + 1 < done ? "Next" : `Next: ${all[at + 1]!.title.replace(/^\d+\. /, "")}`
    }

    const advance = async () => {
      if (busy || at >= all.length - 1) return
      at++
      if (at >= done) {
        const step = all[at]!
        busy = true
        next.setAttribute("aria-busy", "true")
        const before = events.length
        try {
          await step.run?.(live)
        } catch (error) {
          text.textContent = `This step failed: ${error instanceof Error ? error.message : String(error)}. End the tour and try again.`
          busy = false
          next.removeAttribute("aria-busy")
          return
        }
        busy = false
        next.removeAttribute("aria-busy")
        picked[at] =
          step.pick?.(step.run === undefined ? events : events.slice(before)) ??
          (step.run === undefined ? picked[at - 1] : undefined)
        states[at] = deps.trace.state()
        done = at + 1
      }
      render()
    }

    back.addEventListener("click", () => {
      if (busy || at === 0) return
      at--
      render()
    })
    next.addEventListener("click", () => void advance())
    exit.addEventListener("click", () => {
      // Ended early, the session must not commit a DELE: a failure exit has the library
      // send RSET before QUIT. After step 8 the scope is already closed and this does nothing.
      void run(Scope.close(live.scope, Exit.fail("the tour ended"))).finally(() => {
        mark(undefined)
        deps.leave()
      })
    })

    deps.restart()
    deps.trace.reset()
    replace(start.closest("#workspace") ?? document.body, view)
    done = 1
    render()
    window.scrollTo({ top: 0 })
    next.focus({ preventScroll: true })
  })
  return { card }
}
