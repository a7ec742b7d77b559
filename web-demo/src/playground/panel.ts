// The playground card beside the connect form: start a session with the POP3 server that
// runs in this page's Worker, optionally misbehaving in one of the ways real servers do, to
// see what each does to the client, the trace and the diagram.
import { disableKeepingFocus, h } from "../dom.ts"
import type { Explanation } from "../explain.ts"
import type { Switches } from "./protocol.ts"

export interface PlaygroundPanel {
  readonly element: HTMLElement
  readonly busy: (busy: boolean) => void
  readonly showError: (error: Explanation | undefined) => void
}

/** What the learner chose besides the switches. */
export interface Login {
  readonly password: string
  /** "user" (USER/PASS) or "apop". */
  readonly mechanism: string
}

/**
 * The command the stall never answers: LIST, after the login, STAT and the first screen's
 * headers went through — the list is shown, and its sizes never come.
 */
export const STALL_AT = "LIST"
/** Seconds the client waits per answer in a playground session with a stall. */
export const STALL_TIMEOUT = 5

interface Switch {
  readonly id: string
  readonly label: string
  readonly hint: string
  readonly set: (s: Switches) => Switches
}

const switches: ReadonlyArray<Switch> = [
  {
    id: "pg-no-dot-stuffing",
    label: "No dot-stuffing",
    hint: "Body lines that start with “.” go out undoubled; open message 12 to see the client cut it short.",
    set: (s) => ({ ...s, noDotStuffing: true })
  },
  {
    id: "pg-bare-lf",
    label: "Bare LF line ends",
    hint: "LF instead of CR LF everywhere; the client tolerates it — look at the bytes.",
    set: (s) => ({ ...s, lfOnly: true })
  },
  {
    id: "pg-stall",
    label: "A stall",
    hint: `The server answers the login, STAT and the headers, then stops answering at ${STALL_AT}; the client gives up after ${STALL_TIMEOUT} s.`,
    set: (s) => ({ ...s, stallAtCommand: STALL_AT })
  },
  {
    id: "pg-in-use",
    label: "Mailbox in use: -ERR [IN-USE]",
    hint: "Good credentials, but another session holds the mailbox lock (RFC 2449 §8.1.2).",
    set: (s) => ({ ...s, inUse: true })
  },
  {
    id: "pg-login-delay",
    label: "-ERR [LOGIN-DELAY]",
    hint: "The server says logins come too often (RFC 2449 §8.1.1).",
    set: (s) => ({ ...s, loginDelay: 300 })
  },
  {
    id: "pg-drop",
    label: "Connection dropped mid-body",
    hint: "RETR and TOP send half the message, then the server hangs up.",
    set: (s) => ({ ...s, closeMidBody: true })
  },
  {
    id: "pg-wrong-sizes",
    label: "Wrong LIST sizes",
    hint: "Sizes count each line end as one octet, as some servers do: LIST says less than RETR delivers.",
    set: (s) => ({ ...s, wrongListSizes: true })
  }
]

export const makePlaygroundPanel = (
  onStart: (switches: Switches, login: Login) => void,
  onReset: () => void
): PlaygroundPanel => {
  const password = h("input", {
    id: "pg-password",
    type: "text",
    value: "demo",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "pg-password-hint"
  })
  const mechanism = h(
    "select",
    { id: "pg-mechanism" },
    h("option", { value: "user" }, "USER/PASS (trace shows ****)"),
    h("option", { value: "apop" }, "APOP (an MD5 digest instead)")
  )
  const error = h("div", { class: "teach-error", role: "alert", hidden: true })
  const boxes = switches.map((s) => ({
    s,
    // The hint is inside the label, so it is part of the name already: no aria-describedby
    // (screen readers read it twice).
    input: h("input", { type: "checkbox", id: s.id })
  }))
  const start = h("button", { type: "button", class: "primary" }, "Start a Playground session")
  const reset = h("button", { type: "button", class: "small" }, "Put deleted sample messages back")
  start.addEventListener("click", () =>
    onStart(
      boxes.reduce<Switches>((acc, { s, input }) => (input.checked ? s.set(acc) : acc), {}),
      { password: password.value, mechanism: mechanism.value }
    )
  )
  reset.addEventListener("click", onReset)
  const element = h(
    "section",
    { class: "playground card", "aria-labelledby": "playground-title" },
    h("h2", { id: "playground-title" }, "Playground: a POP3 server in this page"),
    h(
      "p",
      { class: "lead" },
      "No bridge, no server, no network: the project's dev POP3 server runs in a Web Worker of this page with a 14-message sample mailbox, and the client talks to it through the library's in-memory transport. The user is ",
      h("code", {}, "demo"),
      "."
    ),
    h(
      "div",
      { class: "row" },
      h(
        "div",
        { class: "field grow" },
        h("label", { for: "pg-password" }, "Playground password"),
        password,
        h(
          "p",
          { class: "hint", id: "pg-password-hint" },
          "It is “demo” (shown, not secret); type another to see a refused login."
        )
      ),
      h("div", { class: "field grow" }, h("label", { for: "pg-mechanism" }, "Login with"), mechanism)
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Make the server misbehave (optional)"),
      ...boxes.map(({ s, input }) =>
        h(
          "label",
          { class: "check" },
          input,
          h("span", {}, s.label, h("span", { class: "hint block", id: `${s.id}-hint` }, s.hint))
        )
      )
    ),
    error,
    h("div", { class: "actions" }, start, reset)
  )
  return {
    element,
    busy: (busy) => {
      disableKeepingFocus(start, busy)
      start.textContent = busy ? "Starting the Playground…" : "Start a Playground session"
    },
    showError: (e) => {
      error.hidden = e === undefined
      error.replaceChildren()
      if (e !== undefined) error.append(h("p", { class: "error-title" }, e.title), h("p", {}, e.detail))
    }
  }
}
