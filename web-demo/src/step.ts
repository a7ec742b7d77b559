// "Try a command": type a command with its arguments (`LIST 2`, `TOP 12 3`), see what it does
// and in which states the library's table allows it; when connected, the ones that change
// nothing on the server can be sent — through the library's Mailbox methods, the same calls
// the rest of the demo makes — and the server's raw reply is shown. A command the demo does
// not send from here is still valid POP3, and the panel says why it is not sent.
import * as Effect from "effect/Effect"
import {
  allowed,
  collect,
  type CommandName,
  type Mailbox,
  type Pop3Error,
  type State,
  statesAllowing,
  type TraceEvent
} from "pop3-everywhere"
import type { Diagram } from "./diagram.ts"
import { h } from "./dom.ts"
import { explain } from "./explain.ts"
import { octets } from "./format.ts"
import { commandNames, glossary, isTypedCommand } from "./glossary.ts"

/** What a command answered, in words; for TOP also the lines of its body, to show in the raw reply. */
type Outcome = string | { readonly text: string; readonly body: ReadonlyArray<string> }
type Run = (mailbox: Mailbox, args: ReadonlyArray<number>) => Effect.Effect<Outcome, Pop3Error>

/** How much of a TOP reply the raw reply shows: the header's last lines, the body lines, each line cut. */
export const TOP_SHOWN = { headerTail: 4, bodyLines: 20, lineChars: 120 } as const

/**
 * The lines of a TOP reply after its status line as the server sent them ("S: …", a line
 * that starts with "." with its extra dot), then "."; notes in brackets say what is left
 * out: header lines before the last few, body lines past TOP_SHOWN.bodyLines, the end of a
 * long line. Text only: the panel puts it in a text node, never in HTML.
 */
export const topReply = (bytes: Uint8Array): ReadonlyArray<string> => {
  const lines = new TextDecoder().decode(bytes).split(/\r?\n/)
  if (lines.at(-1) === "") lines.pop()
  const blank = lines.indexOf("")
  const header = blank === -1 ? lines : lines.slice(0, blank)
  const body = blank === -1 ? [] : lines.slice(blank + 1)
  const { headerTail, bodyLines, lineChars } = TOP_SHOWN
  const server = (line: string) => {
    const wire = line.startsWith(".") ? `.${line}` : line
    return wire.length > lineChars
      ? `S: ${wire.slice(0, lineChars)}…   (${wire.length - lineChars} more characters)`
      : `S: ${wire}`
  }
  const hidden = header.length - headerTail
  const more = body.length - bodyLines
  return [
    ...(hidden > 0 ? [`   (${hidden} header line${hidden === 1 ? "" : "s"} before these)`] : []),
    ...header.slice(-headerTail).map(server),
    ...(blank === -1 ? [] : ["S: "]),
    ...body.slice(0, bodyLines).map(server),
    ...(more > 0 ? [`   (${more} more body line${more === 1 ? "" : "s"})`] : []),
    "S: ."
  ]
}

/**
 * The commands this panel may send (they change nothing on the server), with the numbers
 * of arguments each takes.
 */
const READ_ONLY: Partial<Record<CommandName, { readonly args: ReadonlyArray<number>; readonly run: Run }>> = {
  STAT: { args: [0], run: (m) => Effect.map(m.stat, (s) => `${s.count} messages, ${octets(s.size)} in total.`) },
  LIST: {
    args: [0, 1],
    run: (m, [n]) =>
      n !== undefined
        ? Effect.map(m.listOne(n), (e) => `message ${e.msg} is ${octets(e.size)}.`)
        : Effect.map(
            m.list,
            (l) =>
              `${l.length} entries: ${l
                .slice(0, 6)
                .map((e) => `${e.msg} (${octets(e.size)})`)
                .join(", ")}${l.length > 6 ? ", …" : ""}`
          )
  },
  UIDL: {
    args: [0, 1],
    run: (m, [n]) =>
      n !== undefined
        ? Effect.map(m.uidlOne(n), (e) => `message ${e.msg} has the unique ID ${e.uid}.`)
        : Effect.map(
            m.uidl,
            (l) =>
              `${l.length} IDs: ${l
                .slice(0, 3)
                .map((e) => `${e.msg} ${e.uid}`)
                .join(", ")}${l.length > 3 ? ", …" : ""}`
          )
  },
  RETR: {
    args: [1],
    run: (m, [n]) =>
      Effect.map(
        collect(m.retr(n!)),
        (b) => `message ${n}, ${octets(b.length)} (the trace has its size, the bytes view its lines).`
      )
  },
  TOP: {
    args: [2],
    run: (m, [n, lines]) =>
      Effect.map(collect(m.top(n!, lines!)), (b) => ({
        text: `the header of message ${n} and ${lines} body line${lines === 1 ? "" : "s"}: ${octets(b.length)}.`,
        body: topReply(b)
      }))
  },
  NOOP: { args: [0], run: (m) => Effect.as(m.noop, "+OK — nothing happened, as intended.") },
  CAPA: {
    args: [0],
    run: (m) => Effect.map(m.capa, (c) => (c.lines.length > 0 ? c.lines.join(" · ") : "The server has no CAPA."))
  }
}

/** Why the panel does not send a command that is valid POP3. */
const POLICY: Partial<Record<CommandName, string>> = {
  DELE: "the mailbox list would not know the message is marked. Use the list's Delete key or the message's “Mark for deletion” button: they send DELE and strike the message through.",
  RSET: "the mailbox list would keep its marks. Use “Undo all deletions (RSET)” above the list: it sends RSET and unmarks them.",
  QUIT: "the page must know the session is over. Use Quit (or Disconnect) above the list.",
  USER: "logging in is the library's job: the form (or the Playground) runs USER and PASS, and a password typed here would be in the page's history.",
  PASS: "a password typed here would be in the page's history; the form's login sends it and the trace shows ****.",
  APOP: "logging in is the library's job: it computes the digest from the greeting's timestamp and the password.",
  AUTH: "a SASL exchange takes several lines the library answers itself; choose the mechanism in the form.",
  SaslResponse: "it is only sent inside an AUTH exchange, by the library.",
  STLS: "it upgrades the connection to TLS in place, which the library does only while connecting: tick End-to-end TLS with Security “None” in the form (the in-page playground has no TLS), or use implicit TLS.",
  UTF8: "the library sends it itself when the server offers UTF8 and the user name needs it."
}

export interface StepContext {
  /** Trace events so far (to show the raw reply to what was sent). */
  readonly events?: () => ReadonlyArray<TraceEvent>
  readonly state: () => State | undefined
  readonly session: () =>
    | { readonly mailbox: Mailbox; readonly run: <A>(e: Effect.Effect<A, Pop3Error>) => Promise<A> }
    | undefined
  readonly context: () => { bridgeUrl: string; host: string; port: number }
}

export interface StepPanel {
  readonly element: HTMLElement
  readonly refresh: () => void
}

export const makeStepPanel = (diagram: Diagram, ctx: StepContext): StepPanel => {
  const input = h("input", {
    id: "step-command",
    list: "step-commands",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "e.g. LIST 2 or TOP 12 3",
    "aria-describedby": "step-help"
  })
  // SASL responses are lines inside AUTH, not a command anyone types.
  const datalist = h(
    "datalist",
    { id: "step-commands" },
    ...commandNames.filter(isTypedCommand).map((c) => h("option", { value: c }))
  )
  const send = h("button", { type: "button", class: "small", disabled: true }, "Send")
  const help = h("div", { id: "step-help", class: "step-help", "aria-live": "polite" })
  const result = h("div", { class: "step-result", "aria-live": "polite", hidden: true })
  let busy = false

  const words = () =>
    input.value
      .trim()
      .split(/\s+/)
      .filter((w) => w !== "")
  const name = (): CommandName | undefined => {
    const raw = words()[0] ?? ""
    const upper = raw.toUpperCase()
    if (isTypedCommand(raw)) return raw
    return isTypedCommand(upper) ? upper : undefined
  }
  /** The arguments as numbers, or why they are wrong for `command`. */
  const argsOf = (command: CommandName): { ok: true; args: Array<number> } | { ok: false; why: string } => {
    const given = words().slice(1)
    const spec = READ_ONLY[command]
    if (spec === undefined) return { ok: true, args: [] }
    if (!spec.args.includes(given.length)) {
      return {
        ok: false,
        why: `${command} takes ${spec.args.map((n) => (n === 0 ? "no argument" : n === 1 ? "one number" : `${n} numbers`)).join(" or ")}: ${glossary[command].syntax}.`
      }
    }
    const args = given.map(Number)
    const bad = given.find((g, i) => !/^\d{1,9}$/.test(g) || (command !== "TOP" || i === 0 ? args[i]! < 1 : false))
    if (bad !== undefined)
      return {
        ok: false,
        why: `“${bad}” is not a message number (${command === "TOP" ? "TOP n lines: n from 1, lines from 0" : "1 or more"}).`
      }
    return { ok: true, args }
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
      if (input.value.trim() !== "")
        help.append(
          h("p", {}, `“${words()[0] ?? ""}” is not a POP3 command this library knows. Try one from the list.`)
        )
      return
    }
    const states = statesAllowing(command)
    diagram.setAllowing(states)
    const entry = glossary[command]
    help.append(
      h("p", {}, h("code", {}, entry.syntax), ` — ${entry.line} `, h("span", { class: "muted" }, `(${entry.rfc})`)),
      h(
        "p",
        {},
        states.length > 0
          ? `Allowed in ${states.join(", ")} (outlined in the diagram).`
          : "Not sent on its own in any state."
      )
    )
    const spec = READ_ONLY[command]
    const parsed = argsOf(command)
    send.textContent = `Send ${[command, ...(parsed.ok ? parsed.args : [])].join(" ")}`
    let why: string | undefined
    if (spec === undefined)
      why = `${command} is valid POP3, but not sent from here because ${POLICY[command] ?? "it would change the session behind the page's back."}`
    else if (!parsed.ok) why = parsed.why
    else if (session === undefined || state === undefined) why = "Connect and log in to send it."
    else if (!allowed[state].includes(command))
      why = `${command} is valid POP3, but not allowed in ${state}: the protocol allows it only in ${statesAllowing(command).join(", ")}.`
    send.disabled = why !== undefined || busy
    if (why !== undefined) help.append(h("p", { class: "muted" }, why))
  }

  /** The server's status lines traced since `from`: the raw reply; a body as `body` has it, when given. */
  const replyFrom = (from: number, body?: ReadonlyArray<string>) =>
    (ctx.events?.() ?? [])
      .slice(from)
      .flatMap((e) =>
        e._tag === "Received"
          ? [`S: ${e.line}`]
          : e._tag === "Body"
            ? (body ?? [`S: (${e.bytes} bytes of body, then “.”)`])
            : []
      )

  send.addEventListener("click", async () => {
    const command = name()
    const session = ctx.session()
    const spec = command === undefined ? undefined : READ_ONLY[command]
    const parsed = command === undefined ? undefined : argsOf(command)
    if (command === undefined || session === undefined || spec === undefined || parsed === undefined || !parsed.ok)
      return
    const line = [command, ...parsed.args].join(" ")
    const from = ctx.events?.().length ?? 0
    busy = true
    refresh()
    result.hidden = false
    result.className = "step-result"
    result.replaceChildren(`${line} sent…`)
    const raw = (body?: ReadonlyArray<string>) => {
      const reply = replyFrom(from, body)
      return reply.length > 0
        ? h("pre", { class: "step-raw", "aria-label": "The server's reply" }, reply.join("\n"))
        : null
    }
    try {
      const outcome = await session.run(spec.run(session.mailbox, parsed.args))
      const { text, body } = typeof outcome === "string" ? { text: outcome, body: undefined } : outcome
      result.replaceChildren(h("p", {}, `${line}: ${text}`), raw(body) ?? "")
    } catch (error) {
      const e = explain(error, ctx.context())
      result.className = "step-result error"
      result.replaceChildren(h("p", {}, `${line}: ${e.title}. ${e.detail}`), raw() ?? "")
    } finally {
      busy = false
      refresh()
    }
  })
  input.addEventListener("input", () => {
    // A new command: the last result belongs to the old one.
    result.hidden = true
    result.replaceChildren()
    refresh()
  })
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !send.disabled) send.click()
  })

  const all = h(
    "details",
    { class: "all-commands" },
    h("summary", {}, "Every POP3 command in one line"),
    h(
      "dl",
      {},
      ...commandNames.map((c) => {
        const states = statesAllowing(c)
        return h(
          "div",
          {},
          h("dt", {}, h("code", {}, glossary[c].syntax)),
          h(
            "dd",
            {},
            `${glossary[c].line} `,
            h("span", { class: "muted" }, states.length > 0 ? `In ${states.join(", ")}.` : "")
          )
        )
      })
    )
  )
  const element = h(
    "section",
    { class: "step", "aria-labelledby": "step-title" },
    h("h3", { id: "step-title" }, "Try a command"),
    h(
      "div",
      { class: "step-row" },
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
