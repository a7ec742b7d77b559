// "Try a command": type a command name, see what it does and in which states the library's
// table allows it; when connected, the read-only ones can be sent — through the library's
// Mailbox methods, the same calls the rest of the demo makes.
import * as Effect from "effect/Effect"
import { allowed, type CommandName, type Mailbox, type Pop3Error, type State, statesAllowing } from "pop3-everywhere"
import type { Diagram } from "./diagram.ts"
import { h } from "./dom.ts"
import { explain } from "./explain.ts"
import { octets } from "./format.ts"
import { commandNames, glossary, isCommandName } from "./glossary.ts"

/** The commands this panel may send: they change nothing on the server. */
const READ_ONLY: Partial<Record<CommandName, (mailbox: Mailbox) => Effect.Effect<string, Pop3Error>>> = {
  STAT: (m) => Effect.map(m.stat, (s) => `${s.count} messages, ${octets(s.size)} in total.`),
  LIST: (m) => Effect.map(m.list, (l) => `${l.length} entries: ${l.slice(0, 6).map((e) => `${e.msg} (${octets(e.size)})`).join(", ")}${l.length > 6 ? ", …" : ""}`),
  UIDL: (m) => Effect.map(m.uidl, (l) => `${l.length} IDs: ${l.slice(0, 3).map((e) => `${e.msg} ${e.uid}`).join(", ")}${l.length > 3 ? ", …" : ""}`),
  NOOP: (m) => Effect.as(m.noop, "+OK — nothing happened, as intended."),
  CAPA: (m) => Effect.map(m.capa, (c) => (c.lines.length > 0 ? c.lines.join(" · ") : "The server has no CAPA."))
}

export interface StepContext {
  readonly state: () => State | undefined
  readonly session: () => { readonly mailbox: Mailbox; readonly run: <A>(e: Effect.Effect<A, Pop3Error>) => Promise<A> } | undefined
  readonly context: () => { bridgeUrl: string; host: string; port: number }
}

export interface StepPanel {
  readonly element: HTMLElement
  readonly refresh: () => void
}

export const makeStepPanel = (diagram: Diagram, ctx: StepContext): StepPanel => {
  const input = h("input", { id: "step-command", list: "step-commands", autocomplete: "off", spellcheck: "false", placeholder: "e.g. RETR", "aria-describedby": "step-help" })
  const datalist = h("datalist", { id: "step-commands" }, ...commandNames.map((c) => h("option", { value: c })))
  const send = h("button", { type: "button", class: "small", disabled: true }, "Send")
  const help = h("div", { id: "step-help", class: "step-help", "aria-live": "polite" })
  const result = h("p", { class: "step-result", "aria-live": "polite", hidden: true })
  let busy = false

  const name = (): CommandName | undefined => {
    const raw = input.value.trim()
    const upper = raw.toUpperCase()
    if (isCommandName(raw)) return raw
    return isCommandName(upper) ? upper : undefined
  }

  const refresh = () => {
    const command = name()
    const state = ctx.state()
    const session = ctx.session()
    help.replaceChildren()
    if (command === undefined) {
      diagram.setAllowing([])
      send.disabled = true
      send.textContent = "Send"
      if (input.value.trim() !== "") help.append(h("p", {}, `“${input.value.trim()}” is not a POP3 command this library knows. Try one from the list.`))
      return
    }
    const states = statesAllowing(command)
    diagram.setAllowing(states)
    const entry = glossary[command]
    help.append(
      h("p", {}, h("code", {}, entry.syntax), ` — ${entry.line} `, h("span", { class: "muted" }, `(${entry.rfc})`)),
      h("p", {}, states.length > 0 ? `Allowed in ${states.join(", ")} (outlined in the diagram).` : "Not sent on its own in any state.")
    )
    const run = READ_ONLY[command]
    send.textContent = `Send ${command}`
    let why: string | undefined
    if (run === undefined) why = "From here the demo sends only read-only commands: STAT, LIST, UIDL, NOOP, CAPA. The others happen through the form and the mailbox."
    else if (session === undefined || state === undefined) why = "Connect and log in to send it."
    else if (!allowed[state].includes(command)) why = `Not allowed in ${state}.`
    send.disabled = why !== undefined || busy
    if (why !== undefined) help.append(h("p", { class: "muted" }, why))
  }

  send.addEventListener("click", async () => {
    const command = name()
    const session = ctx.session()
    const run = command === undefined ? undefined : READ_ONLY[command]
    if (command === undefined || session === undefined || run === undefined) return
    busy = true
    refresh()
    result.hidden = false
    result.className = "step-result"
    result.textContent = `${command} sent…`
    try {
      result.textContent = `${command}: ${await session.run(run(session.mailbox))}`
    } catch (error) {
      const e = explain(error, ctx.context())
      result.className = "step-result error"
      result.textContent = `${command}: ${e.title}. ${e.detail}`
    } finally {
      busy = false
      refresh()
    }
  })
  input.addEventListener("input", refresh)
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !send.disabled) send.click()
  })

  const all = h("details", { class: "all-commands" },
    h("summary", {}, "Every POP3 command in one line"),
    h("dl", {}, ...commandNames.map((c) => {
      const states = statesAllowing(c)
      return h("div", {},
        h("dt", {}, h("code", {}, glossary[c].syntax)),
        h("dd", {}, `${glossary[c].line} `, h("span", { class: "muted" }, states.length > 0 ? `In ${states.join(", ")}.` : "")))
    })))
  const element = h("section", { class: "step", "aria-labelledby": "step-title" },
    h("h3", { id: "step-title" }, "Try a command"),
    h("div", { class: "step-row" },
      h("div", { class: "field inline grow" }, h("label", { for: "step-command" }, "Command"), input, datalist),
      send
    ),
    help,
    result,
    all
  )
  refresh()
  return { element, refresh }
}
