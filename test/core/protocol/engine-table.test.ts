// The state table is the only source of the engine's moves. Random sessions — any command
// in any order, answered with +OK, -ERR, a "+" continuation or garbage, with TLS and lost
// connections thrown in — and every state change the engine reports must be a row of
// `transitions`, taken from the state the engine was in.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Command } from "../../../core/protocol/command.ts"
import { NeedData, type StateChange, makeEngine } from "../../../core/protocol/engine.ts"
import { LocalProtocolError, RemoteProtocolError } from "../../../core/protocol/errors.ts"
import { transitions } from "../../../core/protocol/state.ts"

const COMMANDS: ReadonlyArray<Command> = [
  { name: "USER", user: "alice" },
  { name: "PASS", password: "secret" },
  { name: "APOP", user: "alice", digest: "c4c9334bac560ecc979e58001b3e22fb" },
  { name: "AUTH", mechanism: "PLAIN" },
  { name: "AUTH", mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA==" },
  { name: "SaslResponse", response: "dGVzdA==" },
  { name: "STAT" },
  { name: "LIST" },
  { name: "UIDL", msg: 1 },
  { name: "RETR", msg: 1 },
  { name: "TOP", msg: 1, lines: 0 },
  { name: "DELE", msg: 1 },
  { name: "NOOP" },
  { name: "RSET" },
  { name: "QUIT" },
  { name: "CAPA" },
  { name: "STLS" },
  { name: "UTF8" }
]

// What the server says: status lines, and now and then a body to end a multi-line answer.
const REPLIES = [
  "+OK\r\n",
  "-ERR no\r\n",
  "+ \r\n",
  "+ c3RlcA==\r\n",
  "+OK body follows\r\n..dot\r\nline\r\n.\r\n",
  "garbage\r\n",
  ".\r\n"
]

type Step =
  | { readonly _tag: "send"; readonly command: Command }
  | { readonly _tag: "reply"; readonly text: string }
  | { readonly _tag: "tls" }
  | { readonly _tag: "lost" }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...COMMANDS).map((command) => ({ _tag: "send" as const, command })) },
  { weight: 4, arbitrary: fc.constantFrom(...REPLIES).map((text) => ({ _tag: "reply" as const, text })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "tls" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "lost" as const }) }
)

// Where a session may start, so that the random steps also explore the states behind a
// login (reached by chance only rarely).
const send = (command: Command): Step => ({ _tag: "send", command })
const reply = (text: string): Step => ({ _tag: "reply", text })
const PREFIXES: ReadonlyArray<ReadonlyArray<Step>> = [
  [],
  [
    send({ name: "USER", user: "alice" }),
    reply("+OK\r\n"),
    send({ name: "PASS", password: "secret" }),
    reply("+OK\r\n")
  ],
  [send({ name: "AUTH", mechanism: "PLAIN" }), reply("+ \r\n")],
  [send({ name: "STLS" }), reply("+OK\r\n")]
]
const sessionArb = fc
  .tuple(fc.constantFrom(...PREFIXES), fc.array(stepArb, { maxLength: 40 }))
  .map(([prefix, steps]) => [...prefix, ...steps])

const rows = new Set(transitions.map((t) => `${t.from} → ${t.to}`))

// Runs a session and returns the engine's state changes. Errors are part of the game: a
// refused send or tlsEstablished (LocalProtocolError) changes nothing; a broken protocol
// (RemoteProtocolError) ends it.
const play = (steps: ReadonlyArray<Step>): Array<StateChange> => {
  const changes: Array<StateChange> = []
  const engine = makeEngine({ onStateChange: (c) => changes.push(c) })
  engine.receive(new TextEncoder().encode("+OK ready <1.2@host>\r\n"))
  const drain = () => {
    while (engine.next() !== NeedData) {
      /* events are not the subject here */
    }
  }
  try {
    drain()
    for (const step of steps) {
      try {
        switch (step._tag) {
          case "send":
            engine.send(step.command)
            break
          case "reply":
            engine.receive(new TextEncoder().encode(step.text))
            drain()
            break
          case "tls":
            engine.tlsEstablished()
            break
          case "lost":
            engine.connectionLost()
            break
        }
      } catch (error) {
        if (!(error instanceof LocalProtocolError)) throw error
      }
    }
  } catch (error) {
    if (!(error instanceof RemoteProtocolError)) throw error
  }
  return changes
}

describe("engine ⟷ state table", () => {
  it("property: every move of random sessions is a row of the table (numRuns: 2000)", () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(sessionArb, (steps) => {
        const changes = play(steps)
        for (const change of changes) {
          seen.add(`${change.from} → ${change.to}`)
          expect(rows.has(`${change.from} → ${change.to}`), `${change.from} → ${change.to} (${change.cause})`).toBe(
            true
          )
        }
        // Each move starts where the previous one ended: nothing moves the engine unreported.
        for (let i = 1; i < changes.length; i++) expect(changes[i]!.from).toBe(changes[i - 1]!.to)
      }),
      { numRuns: 2000 }
    )
    // The sessions reached the interesting rows, so the property said something about them.
    for (const move of [
      "AUTHORIZATION → SASL",
      "SASL → TRANSACTION",
      "TRANSACTION → UPDATE",
      "UPDATE → CLOSED",
      "STLS → AUTHORIZATION",
      "TRANSACTION → ERROR"
    ]) {
      expect(seen.has(move), move).toBe(true)
    }
  })
})
