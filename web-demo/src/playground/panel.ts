// The playground card beside the connect form: start a session with the POP3 server that
// runs in this page's Worker, optionally misbehaving in one of the ways real servers do, to
// see what each does to the client, the trace and the diagram.
import { h } from "../dom.ts"
import type { Switches } from "./protocol.ts"

export interface PlaygroundPanel {
  readonly element: HTMLElement
  readonly busy: (busy: boolean) => void
}

/** Commands the stall lets through: CAPA, USER, PASS and CAPA again; LIST then waits forever. */
export const STALL_AFTER = 4
/** Seconds the client waits per answer in a playground session with a stall. */
export const STALL_TIMEOUT = 5

interface Switch {
  readonly id: string
  readonly label: string
  readonly hint: string
  readonly set: (s: Switches) => Switches
}

const switches: ReadonlyArray<Switch> = [
  { id: "pg-no-dot-stuffing", label: "No dot-stuffing", hint: "Body lines that start with “.” go out undoubled; open message 12 to see the client cut it short.", set: (s) => ({ ...s, noDotStuffing: true }) },
  { id: "pg-bare-lf", label: "Bare LF line ends", hint: "LF instead of CR LF everywhere; the client tolerates it — look at the bytes.", set: (s) => ({ ...s, lfOnly: true }) },
  { id: "pg-stall", label: "A stall", hint: `After ${STALL_AFTER} commands (the login) the server stops answering; the client gives up after ${STALL_TIMEOUT} s.`, set: (s) => ({ ...s, stallAfterCommands: STALL_AFTER }) },
  { id: "pg-in-use", label: "Mailbox in use: -ERR [IN-USE]", hint: "Good credentials, but another session holds the mailbox lock (RFC 2449 §8.1.1).", set: (s) => ({ ...s, inUse: true }) },
  { id: "pg-login-delay", label: "-ERR [LOGIN-DELAY]", hint: "The server says logins come too often (RFC 2449 §8.1.2).", set: (s) => ({ ...s, loginDelay: 300 }) },
  { id: "pg-drop", label: "Connection dropped mid-body", hint: "RETR and TOP send half the message, then the server hangs up.", set: (s) => ({ ...s, closeMidBody: true }) },
  { id: "pg-wrong-sizes", label: "Wrong LIST sizes", hint: "Sizes count each line end as one octet, as some servers do: LIST says less than RETR delivers.", set: (s) => ({ ...s, wrongListSizes: true }) }
]

export const makePlaygroundPanel = (onStart: (switches: Switches) => void, onReset: () => void): PlaygroundPanel => {
  const boxes = switches.map((s) => ({ s, input: h("input", { type: "checkbox", id: s.id, "aria-describedby": `${s.id}-hint` }) }))
  const start = h("button", { type: "button", class: "primary" }, "Start a Playground session")
  const reset = h("button", { type: "button", class: "small" }, "Put deleted sample messages back")
  start.addEventListener("click", () => onStart(boxes.reduce<Switches>((acc, { s, input }) => (input.checked ? s.set(acc) : acc), {})))
  reset.addEventListener("click", onReset)
  const element = h("section", { class: "playground card", "aria-labelledby": "playground-title" },
    h("h2", { id: "playground-title" }, "Playground: a POP3 server in this page"),
    h("p", { class: "lead" },
      "No bridge, no server, no network: the project's dev POP3 server runs in a Web Worker of this page with a 14-message sample mailbox, and the client talks to it through the library's in-memory transport. Log in as ",
      h("code", {}, "demo"), " with USER/PASS."),
    h("fieldset", {},
      h("legend", {}, "Make the server misbehave (optional)"),
      ...boxes.map(({ s, input }) =>
        h("label", { class: "check" }, input, h("span", {}, s.label, h("span", { class: "hint block", id: `${s.id}-hint` }, s.hint))))),
    h("div", { class: "actions" }, start, reset))
  return {
    element,
    busy: (busy) => {
      start.disabled = busy
      start.textContent = busy ? "Starting the Playground…" : "Start a Playground session"
    }
  }
}
