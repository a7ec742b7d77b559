import { describe, expect, it } from "vitest"
import type { CommandName } from "../../../core/protocol/command.ts"
import {
  allowed,
  answeredIn,
  canQuit,
  endsSession,
  isTerminal,
  keepsState,
  type State,
  statesAllowing,
  transition,
  transitions
} from "../../../core/protocol/state.ts"

const ALL_STATES: ReadonlyArray<State> = [
  "GREETING",
  "AUTHORIZATION",
  "AUTHORIZATION_PASS",
  "STLS",
  "SASL",
  "TRANSACTION",
  "UPDATE",
  "CLOSED",
  "ERROR"
]
const ALL_COMMANDS: ReadonlyArray<CommandName> = [
  "USER",
  "PASS",
  "APOP",
  "AUTH",
  "SaslResponse",
  "STAT",
  "LIST",
  "UIDL",
  "RETR",
  "TOP",
  "DELE",
  "NOOP",
  "RSET",
  "QUIT",
  "CAPA",
  "STLS",
  "UTF8"
]

describe("allowed", () => {
  const expected: { readonly [S in State]: ReadonlyArray<CommandName> } = {
    GREETING: [],
    AUTHORIZATION: ["CAPA", "STLS", "USER", "APOP", "AUTH", "UTF8", "QUIT"],
    AUTHORIZATION_PASS: ["PASS", "QUIT"],
    STLS: [],
    SASL: ["SaslResponse"],
    TRANSACTION: ["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "NOOP", "RSET", "CAPA", "QUIT"],
    UPDATE: [],
    CLOSED: [],
    ERROR: []
  }
  it("covers exactly the known states", () => {
    expect(Object.keys(allowed).sort()).toEqual([...ALL_STATES].sort())
  })
  for (const state of ALL_STATES) {
    it(`${state} allows exactly ${expected[state].join(", ") || "nothing"}`, () => {
      expect([...allowed[state]].sort()).toEqual([...expected[state]].sort())
      expect(new Set(allowed[state]).size).toBe(allowed[state].length)
    })
  }
  it("nothing may be sent before the greeting, during a TLS handshake, or after QUIT", () => {
    for (const command of ALL_COMMANDS) {
      for (const state of ["GREETING", "STLS", "UPDATE", "CLOSED", "ERROR"] as const) {
        expect(allowed[state].includes(command)).toBe(false)
      }
    }
  })
})

describe("transition", () => {
  const cases: ReadonlyArray<
    readonly [State, Parameters<typeof transition>[1], Parameters<typeof transition>[2], State | undefined]
  > = [
    ["GREETING", "greeting", "ok", "AUTHORIZATION"],
    ["GREETING", "greeting", "err", "CLOSED"],
    ["AUTHORIZATION", "USER", "ok", "AUTHORIZATION_PASS"],
    ["AUTHORIZATION", "USER", "err", "AUTHORIZATION"],
    ["AUTHORIZATION_PASS", "PASS", "ok", "TRANSACTION"],
    ["AUTHORIZATION_PASS", "PASS", "err", "AUTHORIZATION"],
    ["AUTHORIZATION", "APOP", "ok", "TRANSACTION"],
    ["AUTHORIZATION", "APOP", "err", "AUTHORIZATION"],
    ["AUTHORIZATION", "STLS", "ok", "STLS"],
    ["AUTHORIZATION", "STLS", "err", "AUTHORIZATION"],
    ["STLS", "tls-established", "event", "AUTHORIZATION"],
    ["AUTHORIZATION", "AUTH", "sent", "SASL"],
    ["SASL", "AUTH", "continue", "SASL"],
    ["SASL", "AUTH", "ok", "TRANSACTION"],
    ["SASL", "AUTH", "err", "AUTHORIZATION"],
    ["SASL", "SaslResponse", "continue", "SASL"],
    ["SASL", "SaslResponse", "ok", "TRANSACTION"],
    ["SASL", "SaslResponse", "err", "AUTHORIZATION"],
    ["AUTHORIZATION", "CAPA", "ok", "AUTHORIZATION"],
    ["AUTHORIZATION", "UTF8", "err", "AUTHORIZATION"],
    ["AUTHORIZATION", "QUIT", "ok", "CLOSED"],
    ["AUTHORIZATION_PASS", "QUIT", "err", "CLOSED"],
    ["TRANSACTION", "RETR", "ok", "TRANSACTION"],
    ["TRANSACTION", "DELE", "err", "TRANSACTION"],
    ["TRANSACTION", "QUIT", "sent", "UPDATE"],
    ["UPDATE", "QUIT", "ok", "CLOSED"],
    ["UPDATE", "QUIT", "err", "CLOSED"],
    ["TRANSACTION", "QUIT", "ok", undefined],
    ["TRANSACTION", "protocol-error", "event", "ERROR"],
    ["CLOSED", "protocol-error", "event", "ERROR"],
    ["ERROR", "protocol-error", "event", undefined],
    ["TRANSACTION", "connection-lost", "event", "CLOSED"],
    ["UPDATE", "connection-lost", "event", "CLOSED"],
    // No rows: these never happen.
    ["AUTHORIZATION", "RETR", "ok", undefined],
    ["TRANSACTION", "USER", "ok", undefined],
    ["AUTHORIZATION", "USER", "sent", undefined],
    ["TRANSACTION", "RETR", "continue", undefined],
    ["CLOSED", "connection-lost", "event", undefined],
    ["ERROR", "connection-lost", "event", undefined]
  ]
  for (const [from, on, outcome, to] of cases) {
    it(`${from} ${on} ${outcome} → ${String(to)}`, () => {
      expect(transition(from, on, outcome)).toBe(to)
    })
  }

  it("has no duplicate rows (one destination per state, trigger and outcome)", () => {
    const keys = transitions.map((t) => `${t.from} ${t.on} ${t.outcome}`)
    expect(new Set(keys).size).toBe(keys.length)
  })

  it("agrees with the table row by row", () => {
    for (const t of transitions) expect(transition(t.from, t.on, t.outcome)).toBe(t.to)
  })

  it("every command allowed in a state has its answers in the table", () => {
    for (const state of ALL_STATES) {
      for (const command of allowed[state]) {
        // An answer is looked up in the state the exchange happens in: SASL for AUTH, UPDATE for QUIT.
        const from = answeredIn(state, command)
        expect(transition(from, command, "ok"), `${state} ${command} ok`).toBeDefined()
        expect(transition(from, command, "err"), `${state} ${command} err`).toBeDefined()
      }
    }
  })

  it("every row's command is allowed in its from-state, or its from-state is where sending it led", () => {
    for (const t of transitions) {
      if (t.outcome === "event" || t.on === "greeting") continue
      const command = t.on as CommandName
      const inExchange = transitions.some((s) => s.on === command && s.outcome === "sent" && s.to === t.from)
      expect(inExchange || allowed[t.from].includes(command), `${t.from} ${t.on}`).toBe(true)
    }
  })

  it("every destination state is reachable from GREETING", () => {
    const reached = new Set<State>(["GREETING"])
    for (let changed = true; changed; ) {
      changed = false
      for (const t of transitions) {
        if (reached.has(t.from) && !reached.has(t.to)) {
          reached.add(t.to)
          changed = true
        }
      }
    }
    for (const t of transitions) expect(reached.has(t.to), t.to).toBe(true)
    for (const t of transitions) expect(reached.has(t.from), t.from).toBe(true)
    expect([...reached].sort()).toEqual([
      "AUTHORIZATION",
      "AUTHORIZATION_PASS",
      "CLOSED",
      "ERROR",
      "GREETING",
      "SASL",
      "STLS",
      "TRANSACTION",
      "UPDATE"
    ])
  })

  it("every live state can lose its connection; the terminal ones leave only for ERROR", () => {
    for (const state of ALL_STATES) {
      const terminal = state === "CLOSED" || state === "ERROR"
      expect(isTerminal(state), state).toBe(terminal)
      expect(transition(state, "connection-lost", "event")).toBe(terminal ? undefined : "CLOSED")
      if (terminal) expect(transitions.filter((t) => t.from === state && t.to !== "ERROR")).toEqual([])
    }
  })
})

describe("what the engine derives from the table", () => {
  it("answeredIn: SASL for AUTH, UPDATE for QUIT in TRANSACTION, the sending state otherwise", () => {
    expect(answeredIn("AUTHORIZATION", "AUTH")).toBe("SASL")
    expect(answeredIn("TRANSACTION", "QUIT")).toBe("UPDATE")
    expect(answeredIn("AUTHORIZATION", "QUIT")).toBe("AUTHORIZATION")
    expect(answeredIn("SASL", "SaslResponse")).toBe("SASL")
    expect(answeredIn("TRANSACTION", "RETR")).toBe("TRANSACTION")
  })
  it("endsSession: QUIT wherever it is allowed, and nothing else", () => {
    for (const state of ALL_STATES) {
      for (const command of allowed[state])
        expect(endsSession(state, command), `${state} ${command}`).toBe(command === "QUIT")
    }
  })
  it("canQuit: the states a session rests in between exchanges", () => {
    expect(ALL_STATES.filter(canQuit)).toEqual(["AUTHORIZATION", "AUTHORIZATION_PASS", "TRANSACTION"])
  })
})

describe("keepsState", () => {
  it("is true for every TRANSACTION command but QUIT", () => {
    for (const command of ["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "NOOP", "RSET", "CAPA"] as const) {
      expect(keepsState("TRANSACTION", command), command).toBe(true)
    }
    expect(keepsState("TRANSACTION", "QUIT")).toBe(false)
  })
  it("is true for CAPA and UTF8 in AUTHORIZATION, false for everything that logs in or ends", () => {
    expect(keepsState("AUTHORIZATION", "CAPA")).toBe(true)
    expect(keepsState("AUTHORIZATION", "UTF8")).toBe(true)
    for (const command of ["STLS", "USER", "APOP", "AUTH", "QUIT"] as const)
      expect(keepsState("AUTHORIZATION", command), command).toBe(false)
    expect(keepsState("AUTHORIZATION_PASS", "PASS")).toBe(false)
    expect(keepsState("SASL", "SaslResponse")).toBe(false)
  })
  it("is false for commands with no rows", () => {
    expect(keepsState("AUTHORIZATION", "RETR")).toBe(false)
    expect(keepsState("CLOSED", "NOOP")).toBe(false)
  })
})

describe("statesAllowing", () => {
  const cases: ReadonlyArray<readonly [CommandName, ReadonlyArray<State>]> = [
    ["PASS", ["AUTHORIZATION_PASS"]],
    ["QUIT", ["AUTHORIZATION", "AUTHORIZATION_PASS", "TRANSACTION"]],
    ["CAPA", ["AUTHORIZATION", "TRANSACTION"]],
    ["RETR", ["TRANSACTION"]],
    ["STLS", ["AUTHORIZATION"]],
    ["SaslResponse", ["SASL"]],
    ["UTF8", ["AUTHORIZATION"]]
  ]
  for (const [command, states] of cases) {
    it(`${command} → ${states.join(", ")}`, () => {
      expect([...statesAllowing(command)].sort()).toEqual([...states].sort())
    })
  }
  it("every command is allowed somewhere", () => {
    for (const command of ALL_COMMANDS) expect(statesAllowing(command).length, command).toBeGreaterThan(0)
  })
})
