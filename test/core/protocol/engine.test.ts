import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Command } from "../../../core/protocol/command.ts"
import { type Engine, type EngineEvent, makeEngine, NeedData, type StateChange } from "../../../core/protocol/engine.ts"
import { LocalProtocolError, RemoteProtocolError } from "../../../core/protocol/errors.ts"
import { allowed, type State } from "../../../core/protocol/state.ts"
import { applyChunking, type Chunking, chunkingArb, concatBytes, fromLatin1, latin1 } from "./chunks.ts"

/** An engine event made comparable: commands by their redacted line, bodies merged. */
type Normal =
  | { readonly tag: "Greeting"; readonly kind: string; readonly code?: string; readonly text: string }
  | {
      readonly tag: "Response"
      readonly command: string
      readonly kind: string
      readonly code?: string
      readonly text: string
    }
  | { readonly tag: "Body"; readonly command: string; readonly bytes: string }
  | { readonly tag: "BodyEnd"; readonly command: string }

const normalize = (events: ReadonlyArray<EngineEvent>): Array<Normal> => {
  const out: Array<Normal> = []
  for (const e of events) {
    switch (e._tag) {
      case "Greeting":
        out.push({
          tag: "Greeting",
          kind: e.status.kind,
          ...(e.status.code === undefined ? {} : { code: e.status.code }),
          text: e.status.text
        })
        break
      case "Response":
        out.push({
          tag: "Response",
          command: e.command.redacted,
          kind: e.status.kind,
          ...(e.status.code === undefined ? {} : { code: e.status.code }),
          text: e.status.text
        })
        break
      case "Body": {
        expect(e.bytes.length).toBeGreaterThan(0)
        const last = out.at(-1)
        if (last?.tag === "Body" && last.command === e.command.redacted)
          out[out.length - 1] = { ...last, bytes: last.bytes + fromLatin1(e.bytes) }
        else out.push({ tag: "Body", command: e.command.redacted, bytes: fromLatin1(e.bytes) })
        break
      }
      case "BodyEnd":
        out.push({ tag: "BodyEnd", command: e.command.redacted })
    }
  }
  return out
}

/** Pulls events until NeedData (bounded, so a looping engine fails the test). */
const pull = (engine: Engine, maxSteps = 100_000): Array<EngineEvent> => {
  const out: Array<EngineEvent> = []
  for (let i = 0; i < maxSteps; i++) {
    const e = engine.next()
    if (e === NeedData) return out
    out.push(e)
  }
  throw new Error("the engine did not stop yielding events")
}

/** An engine with a log of state changes and a `server` helper that feeds and pulls. */
const harness = () => {
  const changes: Array<StateChange> = []
  const engine = makeEngine({ onStateChange: (c) => changes.push(c) })
  const server = (text: string): Array<Normal> => {
    engine.receive(latin1(text))
    return normalize(pull(engine))
  }
  const send = (command: Command) => engine.send(command)
  return { engine, changes, server, send }
}

const catchError = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("expected an error, but nothing was thrown")
}

const greeting = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"

/** Brings a harness to `target` with nothing pending (UPDATE: QUIT pending; ERROR: failed). */
const harnessIn = (target: State) => {
  const h = harness()
  if (target === "GREETING") return h
  h.server(greeting)
  switch (target) {
    case "AUTHORIZATION":
      break
    case "AUTHORIZATION_PASS":
      h.send({ name: "USER", user: "mrose" })
      h.server("+OK\r\n")
      break
    case "STLS":
      h.send({ name: "STLS" })
      h.server("+OK Begin TLS negotiation\r\n")
      break
    case "SASL":
      h.send({ name: "AUTH", mechanism: "PLAIN" })
      h.server("+ \r\n")
      break
    case "TRANSACTION":
    case "UPDATE":
    case "CLOSED":
      h.send({ name: "USER", user: "mrose" })
      h.server("+OK\r\n")
      h.send({ name: "PASS", password: "tanstaaf" })
      h.server("+OK maildrop ready\r\n")
      if (target !== "TRANSACTION") h.send({ name: "QUIT" })
      if (target === "CLOSED") h.server("+OK bye\r\n")
      break
    case "ERROR":
      expect(() => h.server("+OK nobody asked\r\n")).toThrow(RemoteProtocolError)
      break
  }
  expect(h.engine.state()).toBe(target)
  return h
}

/** A valid instance of every command. */
const sample: { readonly [K in Command["name"]]: Command } = {
  USER: { name: "USER", user: "mrose" },
  PASS: { name: "PASS", password: "tanstaaf" },
  APOP: { name: "APOP", user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb" },
  AUTH: { name: "AUTH", mechanism: "PLAIN" },
  SaslResponse: { name: "SaslResponse", response: "AG1yb3NlAHRhbnN0YWFm" },
  STAT: { name: "STAT" },
  LIST: { name: "LIST" },
  UIDL: { name: "UIDL" },
  RETR: { name: "RETR", msg: 1 },
  TOP: { name: "TOP", msg: 1, lines: 0 },
  DELE: { name: "DELE", msg: 1 },
  NOOP: { name: "NOOP" },
  RSET: { name: "RSET" },
  QUIT: { name: "QUIT" },
  CAPA: { name: "CAPA" },
  STLS: { name: "STLS" },
  UTF8: { name: "UTF8" }
}
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

// ---------------------------------------------------------------------------------------
// The scripted session: greeting → CAPA → USER/PASS → STAT → LIST → UIDL → TOP → RETR →
// DELE → QUIT. Each step is the commands to send and the server's answers to them.
// ---------------------------------------------------------------------------------------

const retrBody = "From: a@example.org\r\nSubject: dots\r\n\r\n.leading dot\r\n.\r\n..\r\nbare\rCR \xe9\xff\r\nlf only\n"
const stuff = (body: string) => body.replace(/^\./gm, "..")

interface Step {
  readonly commands: ReadonlyArray<Command>
  readonly answers: string
  readonly expected: ReadonlyArray<Normal>
}

const sessionSteps: ReadonlyArray<Step> = [
  {
    commands: [],
    answers: greeting,
    expected: [{ tag: "Greeting", kind: "ok", text: "POP3 server ready <1896.697170952@dbc.mtview.ca.us>" }]
  },
  {
    commands: [{ name: "CAPA" }],
    answers: "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n",
    expected: [
      { tag: "Response", command: "CAPA", kind: "ok", text: "Capability list follows" },
      { tag: "Body", command: "CAPA", bytes: "TOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\nSASL PLAIN\r\n" },
      { tag: "BodyEnd", command: "CAPA" }
    ]
  },
  {
    commands: [{ name: "USER", user: "mrose" }],
    answers: "+OK mrose is a real hoopy frood\r\n",
    expected: [{ tag: "Response", command: "USER mrose", kind: "ok", text: "mrose is a real hoopy frood" }]
  },
  {
    commands: [{ name: "PASS", password: "tanstaaf" }],
    answers: "+OK mrose's maildrop has 2 messages (320 octets)\r\n",
    expected: [
      { tag: "Response", command: "PASS ****", kind: "ok", text: "mrose's maildrop has 2 messages (320 octets)" }
    ]
  },
  {
    commands: [{ name: "STAT" }],
    answers: "+OK 2 320\r\n",
    expected: [{ tag: "Response", command: "STAT", kind: "ok", text: "2 320" }]
  },
  {
    commands: [{ name: "LIST" }],
    answers: "+OK 2 messages (320 octets)\r\n1 120\r\n2   200\r\n.\r\n",
    expected: [
      { tag: "Response", command: "LIST", kind: "ok", text: "2 messages (320 octets)" },
      { tag: "Body", command: "LIST", bytes: "1 120\r\n2   200\r\n" },
      { tag: "BodyEnd", command: "LIST" }
    ]
  },
  {
    commands: [{ name: "UIDL" }],
    answers: "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
    expected: [
      { tag: "Response", command: "UIDL", kind: "ok", text: "" },
      { tag: "Body", command: "UIDL", bytes: "1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n" },
      { tag: "BodyEnd", command: "UIDL" }
    ]
  },
  {
    commands: [{ name: "TOP", msg: 1, lines: 0 }],
    answers: "+OK top of message follows\r\nFrom: a@example.org\r\n\r\n.\r\n",
    expected: [
      { tag: "Response", command: "TOP 1 0", kind: "ok", text: "top of message follows" },
      { tag: "Body", command: "TOP 1 0", bytes: "From: a@example.org\r\n\r\n" },
      { tag: "BodyEnd", command: "TOP 1 0" }
    ]
  },
  {
    commands: [{ name: "RETR", msg: 1 }],
    answers: `+OK 120 octets\r\n${stuff(retrBody)}.\r\n`,
    expected: [
      { tag: "Response", command: "RETR 1", kind: "ok", text: "120 octets" },
      { tag: "Body", command: "RETR 1", bytes: retrBody },
      { tag: "BodyEnd", command: "RETR 1" }
    ]
  },
  {
    commands: [{ name: "DELE", msg: 1 }],
    answers: "+OK message 1 deleted\r\n",
    expected: [{ tag: "Response", command: "DELE 1", kind: "ok", text: "message 1 deleted" }]
  },
  {
    commands: [{ name: "QUIT" }],
    answers: "+OK dewey POP3 server signing off (maildrop empty)\r\n",
    expected: [{ tag: "Response", command: "QUIT", kind: "ok", text: "dewey POP3 server signing off (maildrop empty)" }]
  }
]

const expectedChanges: ReadonlyArray<StateChange> = [
  { from: "GREETING", to: "AUTHORIZATION", cause: "greeting +OK" },
  { from: "AUTHORIZATION", to: "AUTHORIZATION_PASS", cause: "USER +OK" },
  { from: "AUTHORIZATION_PASS", to: "TRANSACTION", cause: "PASS +OK" },
  { from: "TRANSACTION", to: "UPDATE", cause: "QUIT sent" },
  { from: "UPDATE", to: "CLOSED", cause: "QUIT +OK" }
]

/** Merges the TRANSACTION steps (STAT … QUIT) into one pipelined step. */
const pipelined = (steps: ReadonlyArray<Step>): ReadonlyArray<Step> => {
  const first = steps.findIndex((s) => s.commands[0]?.name === "STAT")
  const rest = steps.slice(first)
  return [
    ...steps.slice(0, first),
    {
      commands: rest.flatMap((s) => s.commands),
      answers: rest.map((s) => s.answers).join(""),
      expected: rest.flatMap((s) => s.expected)
    }
  ]
}

/**
 * Runs the steps against a server transcript that arrives in the given chunks: each step's
 * commands are sent, then events are pulled (feeding the next chunk on NeedData) until
 * that step's answers are complete, and nothing is left over.
 */
const runSession = (steps: ReadonlyArray<Step>, chunking: Chunking) => {
  const changes: Array<StateChange> = []
  const engine = makeEngine({ onStateChange: (c) => changes.push(c) })
  const events: Array<EngineEvent> = []
  const written: Array<Uint8Array> = []
  for (const step of steps) {
    // A server answers what it was sent: a step's answers arrive after its commands, in
    // any chunking (answers that come before their command are data nobody asked for).
    const chunks = applyChunking(latin1(step.answers), chunking)
    let next = 0
    for (const command of step.commands) written.push(engine.send(command).bytes)
    const want = step.expected.filter((e) => e.tag !== "Body").length
    let got = 0
    for (let guard = 0; got < want; guard++) {
      if (guard > 1_000_000) throw new Error("no progress")
      const e = engine.next()
      if (e === NeedData) {
        const chunk = chunks[next++]
        if (chunk === undefined) throw new Error(`the transcript ended during ${JSON.stringify(step.commands)}`)
        engine.receive(chunk)
        continue
      }
      events.push(e)
      if (e._tag !== "Body") got++
    }
    // Nothing left over.
    expect(next).toBe(chunks.length)
  }
  expect(engine.next()).toBe(NeedData)
  expect(engine.buffered()).toBe(0)
  expect(engine.pending()).toBe(0)
  return { events: normalize(events), changes, state: engine.state(), written: fromLatin1(concatBytes(written)) }
}

const expectedWritten =
  "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nSTAT\r\nLIST\r\nUIDL\r\nTOP 1 0\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n"

describe("engine: a full session", () => {
  it("runs greeting → CAPA → USER/PASS → STAT → LIST → UIDL → TOP → RETR → DELE → QUIT → CLOSED", () => {
    const result = runSession(sessionSteps, { kind: "whole" })
    expect(result.events).toEqual(sessionSteps.flatMap((s) => s.expected))
    expect(result.changes).toEqual(expectedChanges)
    expect(result.state).toBe("CLOSED")
    expect(result.written).toBe(expectedWritten)
  })

  it("the same session one byte at a time", () => {
    const result = runSession(sessionSteps, { kind: "bytewise" })
    expect(result.events).toEqual(sessionSteps.flatMap((s) => s.expected))
    expect(result.changes).toEqual(expectedChanges)
  })

  it("the same session with the TRANSACTION commands pipelined", () => {
    const result = runSession(pipelined(sessionSteps), { kind: "whole" })
    expect(result.events).toEqual(sessionSteps.flatMap((s) => s.expected))
    expect(result.changes).toEqual(expectedChanges)
    expect(result.state).toBe("CLOSED")
    expect(result.written).toBe(expectedWritten)
  })

  it("property: any chunking, serial or pipelined, gives identical events and state changes (numRuns: 300)", () => {
    fc.assert(
      fc.property(chunkingArb(), fc.boolean(), (chunking, pipeline) => {
        const result = runSession(pipeline ? pipelined(sessionSteps) : sessionSteps, chunking)
        expect(result.events).toEqual(sessionSteps.flatMap((s) => s.expected))
        expect(result.changes).toEqual(expectedChanges)
        expect(result.state).toBe("CLOSED")
      }),
      { numRuns: 300 }
    )
  })

  it("state-change causes never carry a secret", () => {
    const { changes } = runSession(sessionSteps, { kind: "whole" })
    for (const c of changes) expect(c.cause).not.toContain("tanstaaf")
  })
})

describe("engine: commands by state", () => {
  for (const state of ALL_STATES) {
    const refused = (Object.keys(sample) as Array<Command["name"]>).filter((n) => !allowed[state].includes(n))
    it(`${state}: refuses ${refused.join(", ") || "nothing"} with IllegalInState and changes nothing`, () => {
      const h = harnessIn(state)
      h.engine.receive(latin1("+OK buffered"))
      const before = {
        state: h.engine.state(),
        pending: h.engine.pending(),
        buffered: h.engine.buffered(),
        changes: h.changes.length
      }
      for (const name of refused) {
        const error = catchError(() => h.send(sample[name]))
        expect(error, name).toBeInstanceOf(LocalProtocolError)
        expect((error as LocalProtocolError).reason, name).toBe("IllegalInState")
        expect({
          state: h.engine.state(),
          pending: h.engine.pending(),
          buffered: h.engine.buffered(),
          changes: h.changes.length
        }).toEqual(before)
      }
    })
    for (const name of allowed[state]) {
      it(`${state}: accepts ${name}`, () => {
        const h = harnessIn(state)
        const pendingBefore = h.engine.pending()
        expect(h.send(sample[name]).command).toBe(sample[name])
        expect(h.engine.pending()).toBe(pendingBefore + 1)
      })
    }
  }

  it("refuses PASS before USER, and PASS after USER was rejected", () => {
    const h = harnessIn("AUTHORIZATION")
    expect((catchError(() => h.send({ name: "PASS", password: "x" })) as LocalProtocolError).reason).toBe(
      "IllegalInState"
    )
    h.send({ name: "USER", user: "nobody" })
    expect(h.server("-ERR never heard of nobody\r\n")).toEqual([
      { tag: "Response", command: "USER nobody", kind: "err", text: "never heard of nobody" }
    ])
    expect(h.engine.state()).toBe("AUTHORIZATION")
    expect((catchError(() => h.send({ name: "PASS", password: "x" })) as LocalProtocolError).reason).toBe(
      "IllegalInState"
    )
  })

  it("a rejected PASS returns to AUTHORIZATION", () => {
    const h = harnessIn("AUTHORIZATION_PASS")
    h.send({ name: "PASS", password: "wrong" })
    expect(h.server("-ERR [AUTH] invalid password\r\n")).toEqual([
      { tag: "Response", command: "PASS ****", kind: "err", code: "AUTH", text: "invalid password" }
    ])
    expect(h.engine.state()).toBe("AUTHORIZATION")
  })

  it("APOP +OK goes straight to TRANSACTION", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send(sample.APOP)
    h.server("+OK maildrop has 1 message\r\n")
    expect(h.engine.state()).toBe("TRANSACTION")
  })

  it("an encoder error from send leaves the engine unchanged", () => {
    const h = harnessIn("TRANSACTION")
    const error = catchError(() => h.send({ name: "RETR", msg: 0 }))
    expect((error as LocalProtocolError).reason).toBe("InvalidArgument")
    expect(h.engine.pending()).toBe(0)
    const error2 = catchError(() => harnessIn("AUTHORIZATION_PASS").send({ name: "PASS", password: "a\r\nDELE 1" }))
    expect((error2 as LocalProtocolError).reason).toBe("InvalidArgument")
    expect((error2 as Error).message).not.toContain("DELE 1")
  })

  it("connectionLost moves a live session to CLOSED and leaves terminal states alone", () => {
    for (const state of ALL_STATES) {
      const h = harnessIn(state)
      h.engine.connectionLost()
      expect(h.engine.state(), state).toBe(state === "ERROR" ? "ERROR" : "CLOSED")
    }
  })
})

describe("engine: pipelining", () => {
  it("matches answers to queued RETR/DELE in order, bodies to their command", () => {
    const h = harnessIn("TRANSACTION")
    const written = [
      h.send({ name: "RETR", msg: 1 }),
      h.send({ name: "DELE", msg: 1 }),
      h.send({ name: "RETR", msg: 2 }),
      h.send({ name: "DELE", msg: 2 }),
      h.send({ name: "LIST", msg: 9 }),
      h.send({ name: "NOOP" })
    ]
    expect(written.map((w) => w.redacted)).toEqual(["RETR 1", "DELE 1", "RETR 2", "DELE 2", "LIST 9", "NOOP"])
    expect(h.engine.pending()).toBe(6)
    const events = h.server(
      "+OK\r\none\r\n.\r\n+OK deleted\r\n+OK\r\n..two\r\n.\r\n-ERR [SYS/TEMP] later\r\n-ERR no such message\r\n+OK\r\n"
    )
    expect(events).toEqual([
      { tag: "Response", command: "RETR 1", kind: "ok", text: "" },
      { tag: "Body", command: "RETR 1", bytes: "one\r\n" },
      { tag: "BodyEnd", command: "RETR 1" },
      { tag: "Response", command: "DELE 1", kind: "ok", text: "deleted" },
      { tag: "Response", command: "RETR 2", kind: "ok", text: "" },
      { tag: "Body", command: "RETR 2", bytes: ".two\r\n" },
      { tag: "BodyEnd", command: "RETR 2" },
      { tag: "Response", command: "DELE 2", kind: "err", code: "SYS/TEMP", text: "later" },
      { tag: "Response", command: "LIST 9", kind: "err", text: "no such message" },
      { tag: "Response", command: "NOOP", kind: "ok", text: "" }
    ])
    expect(h.engine.pending()).toBe(0)
    expect(h.engine.state()).toBe("TRANSACTION")
  })

  it("answers the right command objects", () => {
    const h = harnessIn("TRANSACTION")
    const a = h.send({ name: "STAT" })
    const b = h.send({ name: "NOOP" })
    h.engine.receive(latin1("+OK 0 0\r\n+OK\r\n"))
    const [ea, eb] = pull(h.engine)
    expect(ea?._tag === "Response" && ea.command).toBe(a)
    expect(eb?._tag === "Response" && eb.command).toBe(b)
  })

  it("-ERR to RETR has no body: the next status line follows directly", () => {
    const h = harnessIn("TRANSACTION")
    h.send({ name: "RETR", msg: 1 })
    h.send({ name: "RETR", msg: 2 })
    h.send({ name: "CAPA" })
    expect(h.server("-ERR no such message\r\n+OK\r\nbody\r\n.\r\n-ERR no CAPA\r\n")).toEqual([
      { tag: "Response", command: "RETR 1", kind: "err", text: "no such message" },
      { tag: "Response", command: "RETR 2", kind: "ok", text: "" },
      { tag: "Body", command: "RETR 2", bytes: "body\r\n" },
      { tag: "BodyEnd", command: "RETR 2" },
      { tag: "Response", command: "CAPA", kind: "err", text: "no CAPA" }
    ])
  })

  it("LIST n and UIDL n are answered on one line", () => {
    const h = harnessIn("TRANSACTION")
    h.send({ name: "LIST", msg: 2 })
    h.send({ name: "UIDL", msg: 2 })
    h.send({ name: "STAT" })
    expect(h.server("+OK 2 200\r\n+OK 2 QhdPYR:00WBw1Ph7x7\r\n+OK 2 320\r\n").map((e) => e.tag)).toEqual([
      "Response",
      "Response",
      "Response"
    ])
  })

  it("Busy: nothing may be queued behind a state-changing command", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send({ name: "USER", user: "mrose" })
    const snapshot = () => ({ state: h.engine.state(), pending: h.engine.pending(), changes: h.changes.length })
    const before = snapshot()
    for (const command of [
      { name: "PASS", password: "tanstaaf" },
      { name: "CAPA" },
      { name: "USER", user: "other" }
    ] satisfies ReadonlyArray<Command>) {
      const error = catchError(() => h.send(command))
      expect(error, command.name).toBeInstanceOf(LocalProtocolError)
      expect((error as LocalProtocolError).reason, command.name).toBe("Busy")
      expect((error as Error).message).not.toContain("tanstaaf")
      expect(snapshot()).toEqual(before)
    }
    // Once USER is answered, PASS may go.
    h.server("+OK\r\n")
    expect(h.send({ name: "PASS", password: "tanstaaf" }).redacted).toBe("PASS ****")
  })

  it("Busy: a state-changing command cannot be queued behind pending ones", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send({ name: "CAPA" })
    for (const command of [sample.USER, sample.APOP, sample.AUTH, sample.STLS] satisfies ReadonlyArray<Command>) {
      expect((catchError(() => h.send(command)) as LocalProtocolError).reason, command.name).toBe("Busy")
    }
    expect(h.send({ name: "UTF8" }).redacted).toBe("UTF8")
    expect(h.engine.pending()).toBe(2)
  })

  it("Busy: STLS and AUTH block everything behind them", () => {
    const s = harnessIn("AUTHORIZATION")
    s.send({ name: "STLS" })
    expect((catchError(() => s.send({ name: "CAPA" })) as LocalProtocolError).reason).toBe("Busy")
    const a = harnessIn("AUTHORIZATION")
    a.send({ name: "AUTH", mechanism: "PLAIN" })
    expect(a.engine.state()).toBe("SASL")
    expect((catchError(() => a.send({ name: "SaslResponse", response: "x" })) as LocalProtocolError).reason).toBe(
      "Busy"
    )
  })

  it("QUIT may be queued behind pipelined commands, and the session stays in UPDATE until QUIT is answered", () => {
    const h = harnessIn("TRANSACTION")
    h.send({ name: "RETR", msg: 1 })
    h.send({ name: "DELE", msg: 1 })
    h.send({ name: "QUIT" })
    expect(h.engine.state()).toBe("UPDATE")
    expect(h.engine.pending()).toBe(3)
    const states: Array<State> = []
    h.engine.receive(latin1("+OK\r\nbody\r\n.\r\n+OK deleted\r\n+OK bye\r\n"))
    for (let e = h.engine.next(); e !== NeedData; e = h.engine.next()) {
      states.push(h.engine.state())
      if (h.engine.state() !== "CLOSED") {
        expect((catchError(() => h.send({ name: "NOOP" })) as LocalProtocolError).reason).toBe("IllegalInState")
      }
    }
    expect(states).toEqual(["UPDATE", "UPDATE", "UPDATE", "UPDATE", "CLOSED"])
    expect(h.changes.slice(-2)).toEqual([
      { from: "TRANSACTION", to: "UPDATE", cause: "QUIT sent" },
      { from: "UPDATE", to: "CLOSED", cause: "QUIT +OK" }
    ])
  })

  it("nothing may follow QUIT", () => {
    const h = harnessIn("TRANSACTION")
    h.send({ name: "NOOP" })
    h.send({ name: "QUIT" })
    for (const command of [sample.NOOP, sample.QUIT, sample.RETR]) {
      expect((catchError(() => h.send(command)) as LocalProtocolError).reason).toBe("IllegalInState")
    }
  })

  it("keeps a long pipeline in order (1,000 commands, answered in small batches)", () => {
    const h = harnessIn("TRANSACTION")
    const n = 1000
    const sent: Array<string> = []
    const answered: Array<string> = []
    let answeredCount = 0
    for (let i = 1; i <= n; i++) {
      sent.push(h.send({ name: i % 2 === 0 ? "DELE" : "RETR", msg: i }).redacted)
      if (i % 100 === 0) {
        // Answer all but the last few, keeping some always in flight.
        const upto = i - 5
        let text = ""
        for (let j = answeredCount + 1; j <= upto; j++) text += j % 2 === 0 ? "+OK\r\n" : `+OK\r\nmsg ${j}\r\n.\r\n`
        answeredCount = upto
        for (const e of h.server(text)) if (e.tag === "Response") answered.push(e.command)
      }
    }
    let text = ""
    for (let j = answeredCount + 1; j <= n; j++) text += j % 2 === 0 ? "+OK\r\n" : `+OK\r\nmsg ${j}\r\n.\r\n`
    for (const e of h.server(text)) if (e.tag === "Response") answered.push(e.command)
    expect(answered).toEqual(sent)
    expect(h.engine.pending()).toBe(0)
  })
})

describe("engine: data nobody asked for", () => {
  // A stray line after an answer (in the same read) would be taken for the next command's
  // answer, shifting every later one: found before the next command is encoded.
  for (const [what, stray, excerpt] of [
    ["a stray status line", "+OK\r\n", '"+OK"'],
    ["a stray -ERR", "-ERR fake\r\n", '"-ERR fake"'],
    ["half a line", "+OK 40 oct", undefined]
  ] as const) {
    it(`${what} after an answer fails the next send: RemoteProtocolError, ERROR, nothing to write`, () => {
      const h = harnessIn("TRANSACTION")
      h.send({ name: "LIST" })
      h.engine.receive(latin1(`+OK 1 messages\r\n1 40\r\n.\r\n${stray}`))
      expect([h.engine.next(), h.engine.next(), h.engine.next()].map((e) => (e as EngineEvent)._tag)).toEqual([
        "Response",
        "Body",
        "BodyEnd"
      ])
      const error = catchError(() => h.send({ name: "RETR", msg: 1 }))
      expect(error).toBeInstanceOf(RemoteProtocolError)
      expect((error as Error).message).toMatch(/^the server sent data nobody asked for \(before RETR\)/)
      if (excerpt !== undefined) expect((error as Error).message).toContain(excerpt)
      expect(h.engine.state()).toBe("ERROR")
      expect(h.engine.pending()).toBe(0)
      // Failed for good, as after any remote error.
      expect(catchError(() => h.send({ name: "NOOP" }))).toBeInstanceOf(LocalProtocolError)
    })
  }

  it("after the greeting too (a second line in the greeting's read)", () => {
    const h = harnessIn("GREETING")
    h.engine.receive(latin1("+OK ready\r\n-ERR fake\r\n"))
    expect((h.engine.next() as EngineEvent)._tag).toBe("Greeting")
    expect(catchError(() => h.send({ name: "CAPA" }))).toBeInstanceOf(RemoteProtocolError)
  })

  it("bytes behind an unanswered command are its answer, not strays (pipelining)", () => {
    const h = harnessIn("TRANSACTION")
    h.send({ name: "STAT" })
    h.send({ name: "NOOP" })
    h.engine.receive(latin1("+OK 1 40\r\n+OK"))
    expect((h.engine.next() as EngineEvent)._tag).toBe("Response")
    // NOOP's answer, half here: a command sent now waits behind it.
    h.send({ name: "STAT" })
    expect(h.server("\r\n+OK 1 40\r\n").map((e) => e.tag)).toEqual(["Response", "Response"])
    expect(h.engine.state()).toBe("TRANSACTION")
    expect(h.engine.pending()).toBe(0)
  })
})

describe("engine: STLS", () => {
  it("drops bytes received before TLS: an injected line is never seen", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send({ name: "STLS" })
    h.engine.receive(latin1("+OK Begin TLS negotiation\r\n-ERR injected\r\n+OK also injected"))
    const first = h.engine.next()
    expect(first !== NeedData && first._tag === "Response" && first.command.redacted).toBe("STLS")
    expect(h.engine.state()).toBe("STLS")
    expect(h.engine.pending()).toBe(0)
    expect(h.engine.buffered()).toBeGreaterThan(0)
    // Nothing may be sent during the handshake.
    expect((catchError(() => h.send({ name: "CAPA" })) as LocalProtocolError).reason).toBe("IllegalInState")
    h.engine.tlsEstablished()
    expect(h.engine.state()).toBe("AUTHORIZATION")
    expect(h.engine.buffered()).toBe(0)
    expect(h.engine.next()).toBe(NeedData)
    h.send({ name: "CAPA" })
    expect(h.server("+OK\r\nSTLS\r\nUSER\r\n.\r\n")).toEqual([
      { tag: "Response", command: "CAPA", kind: "ok", text: "" },
      { tag: "Body", command: "CAPA", bytes: "STLS\r\nUSER\r\n" },
      { tag: "BodyEnd", command: "CAPA" }
    ])
    expect(h.changes.map((c) => `${c.from}→${c.to}`)).toEqual([
      "GREETING→AUTHORIZATION",
      "AUTHORIZATION→STLS",
      "STLS→AUTHORIZATION"
    ])
    expect(h.changes.at(-1)?.cause).toBe("TLS established")
  })

  it("the same in any chunking of the STLS answer and the injection", () => {
    const transcript = latin1("+OK Begin TLS\r\n-ERR injected\r\n")
    for (let cut = 1; cut < transcript.length; cut++) {
      const h = harnessIn("AUTHORIZATION")
      h.send({ name: "STLS" })
      h.engine.receive(transcript.slice(0, cut))
      let events = pull(h.engine)
      if (events.length === 0) {
        h.engine.receive(transcript.slice(cut))
        events = [h.engine.next() as EngineEvent]
      } else {
        h.engine.receive(transcript.slice(cut))
      }
      expect(normalize(events)).toEqual([{ tag: "Response", command: "STLS", kind: "ok", text: "Begin TLS" }])
      h.engine.tlsEstablished()
      expect(h.engine.next()).toBe(NeedData)
      expect(h.engine.state()).toBe("AUTHORIZATION")
    }
  })

  it("a refused STLS stays in AUTHORIZATION; tlsEstablished outside STLS is a local error", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send({ name: "STLS" })
    h.server("-ERR no TLS here\r\n")
    expect(h.engine.state()).toBe("AUTHORIZATION")
    expect((catchError(() => h.engine.tlsEstablished()) as LocalProtocolError).reason).toBe("IllegalInState")
    expect((catchError(() => harnessIn("TRANSACTION").engine.tlsEstablished()) as LocalProtocolError).reason).toBe(
      "IllegalInState"
    )
  })
})

describe("engine: AUTH (RFC 5034)", () => {
  it("AUTH → + continuation → SaslResponse → +OK enters TRANSACTION", () => {
    const h = harnessIn("AUTHORIZATION")
    expect(h.send({ name: "AUTH", mechanism: "PLAIN" }).redacted).toBe("AUTH PLAIN")
    expect(h.engine.state()).toBe("SASL")
    expect(h.server("+ \r\n")).toEqual([{ tag: "Response", command: "AUTH PLAIN", kind: "continuation", text: "" }])
    expect(h.engine.state()).toBe("SASL")
    expect(h.send({ name: "SaslResponse", response: "AG1yb3NlAHRhbnN0YWFm" }).redacted).toBe("****")
    expect(h.server("+OK maildrop locked and ready\r\n")).toEqual([
      { tag: "Response", command: "****", kind: "ok", text: "maildrop locked and ready" }
    ])
    expect(h.engine.state()).toBe("TRANSACTION")
    expect(h.changes.map((c) => `${c.from}→${c.to}`)).toEqual([
      "GREETING→AUTHORIZATION",
      "AUTHORIZATION→SASL",
      "SASL→TRANSACTION"
    ])
  })

  it("several challenge rounds", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send({ name: "AUTH", mechanism: "SCRAM-SHA-256" })
    h.server("+ \r\n")
    h.send({ name: "SaslResponse", response: "biwsbj11c2VyLHI9cm9zZQ==" })
    expect(h.server("+ cj1yb3NlLHM9c2FsdCxpPTQwOTY=\r\n")).toEqual([
      { tag: "Response", command: "****", kind: "continuation", text: "cj1yb3NlLHM9c2FsdCxpPTQwOTY=" }
    ])
    h.send({ name: "SaslResponse", response: "Yz1iaXdzLHI9cm9zZSxwPXByb29m" })
    h.server("+ dj1zaWduYXR1cmU=\r\n")
    h.send({ name: "SaslResponse", response: "" })
    h.server("+OK\r\n")
    expect(h.engine.state()).toBe("TRANSACTION")
  })

  it("AUTH with an initial response answered +OK directly", () => {
    const h = harnessIn("AUTHORIZATION")
    h.send({ name: "AUTH", mechanism: "PLAIN", initialResponse: "AG1yb3NlAHRhbnN0YWFm" })
    expect(h.server("+OK\r\n")).toEqual([{ tag: "Response", command: "AUTH PLAIN ****", kind: "ok", text: "" }])
    expect(h.engine.state()).toBe("TRANSACTION")
  })

  it('failures return to AUTHORIZATION: -ERR to AUTH, a "*" cancel, an XOAUTH2 error challenge', () => {
    const direct = harnessIn("AUTHORIZATION")
    direct.send({ name: "AUTH", mechanism: "CRAM-MD5" })
    direct.server("-ERR [AUTH] unsupported\r\n")
    expect(direct.engine.state()).toBe("AUTHORIZATION")

    const cancel = harnessIn("AUTHORIZATION")
    cancel.send({ name: "AUTH", mechanism: "PLAIN" })
    cancel.server("+ \r\n")
    expect(cancel.send({ name: "SaslResponse", response: "*" }).redacted).toBe("*")
    expect(cancel.server("-ERR cancelled\r\n")).toEqual([
      { tag: "Response", command: "*", kind: "err", text: "cancelled" }
    ])
    expect(cancel.engine.state()).toBe("AUTHORIZATION")

    const oauth = harnessIn("AUTHORIZATION")
    oauth.send({ name: "AUTH", mechanism: "XOAUTH2" })
    oauth.server("+\r\n")
    oauth.send({ name: "SaslResponse", response: "dXNlcj1tcm9zZQFhdXRoPUJlYXJlciB0b2tlbgEB" })
    oauth.server("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")
    expect(oauth.engine.state()).toBe("SASL")
    oauth.send({ name: "SaslResponse", response: "" })
    oauth.server("-ERR [AUTH] invalid token\r\n")
    expect(oauth.engine.state()).toBe("AUTHORIZATION")
  })

  it("an OAuth token far over 255 octets goes in a SaslResponse", () => {
    const h = harnessIn("SASL")
    expect(h.send({ name: "SaslResponse", response: "t".repeat(3000) }).bytes.length).toBe(3002)
  })
})

describe("engine: the server breaking the protocol", () => {
  const expectFailed = (h: ReturnType<typeof harness>, error: unknown) => {
    expect(error).toBeInstanceOf(RemoteProtocolError)
    expect(h.engine.state()).toBe("ERROR")
    expect(h.changes.at(-1)?.to).toBe("ERROR")
    // Every later call fails fast.
    expect(catchError(() => h.engine.next())).toBe(error)
    h.engine.receive(latin1("+OK\r\n"))
    expect(catchError(() => h.engine.next())).toBe(error)
    const local = catchError(() => h.send({ name: "QUIT" }))
    expect(local).toBeInstanceOf(LocalProtocolError)
    expect((local as LocalProtocolError).reason).toBe("IllegalInState")
  }

  it('a "+" continuation answering a non-AUTH command', () => {
    for (const [state, command] of [
      ["AUTHORIZATION", sample.USER],
      ["AUTHORIZATION_PASS", sample.PASS],
      ["TRANSACTION", sample.RETR],
      ["TRANSACTION", sample.STAT]
    ] as const) {
      const h = harnessIn(state)
      h.send(command)
      expectFailed(
        h,
        catchError(() => h.server("+ c2VjcmV0\r\n"))
      )
    }
  })

  it("a response with nothing pending", () => {
    for (const state of ["AUTHORIZATION", "TRANSACTION", "CLOSED"] as const) {
      const h = harnessIn(state)
      expectFailed(
        h,
        catchError(() => h.server("+OK surprise\r\n"))
      )
    }
  })

  it("a greeting that is a continuation or garbage", () => {
    for (const text of ["+ hello\r\n", "* OK IMAP4rev1\r\n", "220 smtp.example.org ESMTP\r\n", "+ERR\r\n", "\r\n"]) {
      const h = harness()
      expectFailed(
        h,
        catchError(() => h.server(text))
      )
    }
  })

  it("a malformed answer to a command", () => {
    const h = harnessIn("TRANSACTION")
    h.send(sample.STAT)
    expectFailed(
      h,
      catchError(() => h.server("+ERR not really\r\n"))
    )
  })

  it("a status line over 8 KiB", () => {
    const h = harnessIn("TRANSACTION")
    h.send(sample.NOOP)
    expectFailed(
      h,
      catchError(() => h.server(`+OK ${"x".repeat(9000)}\r\n`))
    )
  })

  it("a greeting -ERR closes the session", () => {
    const h = harness()
    expect(h.server("-ERR [SYS/TEMP] too many connections\r\n")).toEqual([
      { tag: "Greeting", kind: "err", code: "SYS/TEMP", text: "too many connections" }
    ])
    expect(h.engine.state()).toBe("CLOSED")
    expect(h.changes).toEqual([{ from: "GREETING", to: "CLOSED", cause: "greeting -ERR" }])
    expect((catchError(() => h.send(sample.QUIT)) as LocalProtocolError).reason).toBe("IllegalInState")
  })

  it("property: random server bytes only ever raise RemoteProtocolError, in bounded steps (numRuns: 500)", () => {
    const token = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          "+OK",
          "-ERR",
          "+",
          " ",
          "\r\n",
          "\n",
          "\r",
          ".",
          "..",
          ".\r\n",
          "[SYS/TEMP]",
          "1 2",
          "x",
          "\x00",
          "\xff"
        )
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map(fromLatin1) }
    )
    const transcript = fc.array(token, { maxLength: 80 }).map((ts) => latin1(ts.join("")))
    // The client sends a random allowed command whenever it may.
    const commandFor = (state: State, pick: number): Command | undefined => {
      const names = allowed[state]
      const name = names[pick % Math.max(1, names.length)]
      return name === undefined ? undefined : sample[name]
    }
    fc.assert(
      fc.property(
        transcript,
        chunkingArb(),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        (bytes, chunking, picks) => {
          const engine = makeEngine()
          const chunks = applyChunking(bytes, chunking)
          let steps = 0
          let pickAt = 0
          let failure: unknown
          try {
            for (const chunk of chunks) {
              engine.receive(chunk)
              for (;;) {
                if (engine.pending() === 0 && pickAt < picks.length * 4) {
                  const command = commandFor(engine.state(), picks[pickAt++ % picks.length]!)
                  if (command !== undefined && command.name !== "STLS") engine.send(command)
                }
                const event = engine.next()
                if (event === NeedData) break
                steps++
                expect(steps).toBeLessThanOrEqual(2 * bytes.length + 2)
              }
            }
          } catch (error) {
            failure = error
          }
          if (failure !== undefined) {
            expect(failure).toBeInstanceOf(RemoteProtocolError)
            expect(engine.state()).toBe("ERROR")
            expect(catchError(() => engine.next())).toBe(failure)
          }
        }
      ),
      { numRuns: 500 }
    )
  })
})
