/**
 * The POP3 session state machine, as one table.
 *
 * Theory of operation. RFC 1939 §3 names three states — AUTHORIZATION, TRANSACTION and
 * UPDATE. We add the moments in between that a client must respect: waiting for the
 * greeting, after `USER` was accepted (only `PASS` or `QUIT` may follow), inside a STLS
 * handshake (RFC 2595: nothing may be sent until TLS is up), inside a SASL exchange
 * (RFC 5034: only continuation responses), and the terminal CLOSED and ERROR.
 *
 * `allowed` says which commands may be *sent* in a state. `transitions` says where a
 * command leads: on being sent (`sent`), or on the server's answer (`ok`, `err`, or a
 * SASL `continue`); and where local events lead (TLS established, the connection lost, the
 * server breaking the protocol). An answer's row starts in the state the exchange is in
 * once the command is sent (`answeredIn`): SASL for AUTH, UPDATE for QUIT in TRANSACTION,
 * the sending state otherwise. The engine makes every move through `transition`, and what
 * it needs to know about pipelining (`keepsState`, `endsSession`) and which states are
 * live (`canQuit`) or terminal is derived from these two tables. Everything that draws the
 * state diagram (the web demo, the docs) reads them too; nothing else encodes the rules.
 *
 * @module
 */
import type { CommandName } from "./command.ts"

/**
 * A session state.
 * @category models
 */
export type State =
  | "GREETING"
  | "AUTHORIZATION"
  | "AUTHORIZATION_PASS"
  | "STLS"
  | "SASL"
  | "TRANSACTION"
  | "UPDATE"
  | "CLOSED"
  | "ERROR"

/**
 * What moves the machine: a command being sent or answered, or a local event.
 * @category models
 */
export type Outcome = "sent" | "ok" | "err" | "continue"

/**
 * One row of the transition table.
 * @category models
 */
export interface Transition {
  readonly from: State
  readonly on: CommandName | "greeting" | "tls-established" | "connection-lost" | "protocol-error"
  readonly outcome: Outcome | "event"
  readonly to: State
}

const TRANSACTION_COMMANDS = ["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "NOOP", "RSET", "CAPA"] as const

/**
 * Which commands each state allows the client to send.
 * @category tables
 */
export const allowed: { readonly [S in State]: ReadonlyArray<CommandName> } = {
  GREETING: [],
  AUTHORIZATION: ["CAPA", "STLS", "USER", "APOP", "AUTH", "UTF8", "QUIT"],
  AUTHORIZATION_PASS: ["PASS", "QUIT"],
  STLS: [],
  SASL: ["SaslResponse"],
  TRANSACTION: [...TRANSACTION_COMMANDS, "QUIT"],
  UPDATE: [],
  CLOSED: [],
  ERROR: []
}

// Every state a connection is open in (CLOSED and ERROR are the terminal ones).
const LIVE_STATES = [
  "GREETING",
  "AUTHORIZATION",
  "AUTHORIZATION_PASS",
  "STLS",
  "SASL",
  "TRANSACTION",
  "UPDATE"
] as const

const row = (from: State, on: Transition["on"], outcome: Transition["outcome"], to: State): Transition => ({
  from,
  on,
  outcome,
  to
})

/**
 * Every transition. Commands answered without changing state are listed too, so the table
 * is the complete description of the protocol's flow.
 * @category tables
 */
export const transitions: ReadonlyArray<Transition> = [
  row("GREETING", "greeting", "ok", "AUTHORIZATION"),
  row("GREETING", "greeting", "err", "CLOSED"),
  row("AUTHORIZATION", "CAPA", "ok", "AUTHORIZATION"),
  row("AUTHORIZATION", "CAPA", "err", "AUTHORIZATION"),
  row("AUTHORIZATION", "UTF8", "ok", "AUTHORIZATION"),
  row("AUTHORIZATION", "UTF8", "err", "AUTHORIZATION"),
  row("AUTHORIZATION", "STLS", "ok", "STLS"),
  row("AUTHORIZATION", "STLS", "err", "AUTHORIZATION"),
  row("STLS", "tls-established", "event", "AUTHORIZATION"),
  row("AUTHORIZATION", "USER", "ok", "AUTHORIZATION_PASS"),
  row("AUTHORIZATION", "USER", "err", "AUTHORIZATION"),
  row("AUTHORIZATION_PASS", "PASS", "ok", "TRANSACTION"),
  row("AUTHORIZATION_PASS", "PASS", "err", "AUTHORIZATION"),
  row("AUTHORIZATION", "APOP", "ok", "TRANSACTION"),
  row("AUTHORIZATION", "APOP", "err", "AUTHORIZATION"),
  row("AUTHORIZATION", "AUTH", "sent", "SASL"),
  row("SASL", "AUTH", "continue", "SASL"),
  row("SASL", "AUTH", "ok", "TRANSACTION"),
  row("SASL", "AUTH", "err", "AUTHORIZATION"),
  row("SASL", "SaslResponse", "continue", "SASL"),
  row("SASL", "SaslResponse", "ok", "TRANSACTION"),
  row("SASL", "SaslResponse", "err", "AUTHORIZATION"),
  row("AUTHORIZATION", "QUIT", "ok", "CLOSED"),
  row("AUTHORIZATION", "QUIT", "err", "CLOSED"),
  row("AUTHORIZATION_PASS", "QUIT", "ok", "CLOSED"),
  row("AUTHORIZATION_PASS", "QUIT", "err", "CLOSED"),
  ...TRANSACTION_COMMANDS.flatMap((c) => [
    row("TRANSACTION", c, "ok", "TRANSACTION"),
    row("TRANSACTION", c, "err", "TRANSACTION")
  ]),
  // RFC 1939 §6: QUIT in TRANSACTION enters UPDATE; the answer says whether it completed.
  row("TRANSACTION", "QUIT", "sent", "UPDATE"),
  row("UPDATE", "QUIT", "ok", "CLOSED"),
  row("UPDATE", "QUIT", "err", "CLOSED"),
  ...LIVE_STATES.map((s) => row(s, "connection-lost", "event", "CLOSED")),
  // A server that breaks the protocol ends the session in ERROR, even after CLOSED (an
  // answer nobody asked for): the engine then refuses every call with that error.
  ...[...LIVE_STATES, "CLOSED" as const].map((s) => row(s, "protocol-error", "event", "ERROR"))
]

// Looked up by nested maps, not a joined string key: the engine asks on every command it
// sends and every answer, and building and hashing a fresh key string each time showed in
// the profile of a 10,000-message fetch.
const index = new Map<State, Map<Transition["on"], Map<Transition["outcome"], State>>>()
for (const t of transitions) {
  let byOn = index.get(t.from)
  if (byOn === undefined) index.set(t.from, (byOn = new Map()))
  let byOutcome = byOn.get(t.on)
  if (byOutcome === undefined) byOn.set(t.on, (byOutcome = new Map()))
  byOutcome.set(t.outcome, t.to)
}

/**
 * Where `on` with `outcome` leads from `from`, or `undefined` when the table has no row.
 * @category tables
 */
export const transition = (from: State, on: Transition["on"], outcome: Transition["outcome"]): State | undefined =>
  index.get(from)?.get(on)?.get(outcome)

/**
 * The state a command's answer is looked up in: where sending it led (SASL for AUTH,
 * UPDATE for QUIT in TRANSACTION), or the state it was sent in.
 * @category tables
 */
export const answeredIn = (sentIn: State, command: CommandName): State => transition(sentIn, command, "sent") ?? sentIn

/**
 * Whether every answer to `command` sent in `state` ends the session (QUIT): such a command
 * may follow unanswered ones, and nothing may follow it.
 * @category tables
 */
export const endsSession = (state: State, command: CommandName): boolean => {
  const from = answeredIn(state, command)
  return transition(from, command, "ok") === "CLOSED" && transition(from, command, "err") === "CLOSED"
}

/**
 * Whether the session is over in `state` (CLOSED, ERROR): no command may be sent and there
 * is no connection left to lose.
 * @category tables
 */
export const isTerminal = (state: State): boolean =>
  allowed[state].length === 0 && transition(state, "connection-lost", "event") === undefined

/**
 * Whether the client may end the session politely from `state` (QUIT is allowed there): the
 * states a session rests in between exchanges.
 * @category tables
 */
export const canQuit = (state: State): boolean => allowed[state].includes("QUIT")

/**
 * Whether a command leaves the state as it is whatever the answer — the commands that may
 * be pipelined behind each other.
 * @category tables
 */
export const keepsState = (state: State, command: CommandName): boolean => keeping.get(state)?.has(command) === true

// Derived once from the table, because the engine asks for every command it sends.
const keeping = new Map<State, ReadonlySet<CommandName>>(
  (Object.keys(allowed) as Array<State>).map((s) => [
    s,
    new Set(
      allowed[s].filter(
        (c) => transition(s, c, "sent") === undefined && transition(s, c, "ok") === s && transition(s, c, "err") === s
      )
    )
  ])
)

/**
 * The states in which a command may be sent (for the demo's "step" mode and error messages).
 * @category tables
 */
export const statesAllowing = (command: CommandName): ReadonlyArray<State> =>
  (Object.keys(allowed) as Array<State>).filter((s) => allowed[s].includes(command))
