// The protocol trace: the event sequence of a session, latencies, body sizes, the text
// rendering, and redaction — a canary password must appear in no trace event and no
// error, whatever happens.

import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { collect, connect, formatTraceEvent } from "../../../core/index.ts"
import type { ConnectOptions, LoginOptions, TraceEvent } from "../../../core/index.ts"
import { failure, memoryServer, num, PASSWORD, run, stored, success, USER } from "./harness.ts"

const traced = (extra: Partial<ConnectOptions> = {}) => {
  const events: Array<TraceEvent> = []
  const options: ConnectOptions = {
    host: "memory.test",
    tls: "none",
    timeout: 1000,
    trace: (e) => events.push(e),
    ...extra
  }
  return { events, options }
}

/** A compact picture of the trace: tag and the interesting field. */
const shape = (e: TraceEvent): string => {
  switch (e._tag) {
    case "Sent":
      return `C: ${e.line}`
    case "Received":
      return `S: ${e.line.split(" ").slice(0, 1).join(" ")}${e.command !== undefined ? ` (${e.command})` : ""}`
    case "StateChanged":
      return `${e.from} -> ${e.to}`
    case "Body":
      return `body of ${e.command}`
    case "Closed":
      return `closed: ${e.reason}`
    default:
      return e._tag
  }
}

describe("the trace of a session", () => {
  it("has the expected sequence of events", async () => {
    const server = memoryServer()
    const { events, options } = traced()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(options)
        const mailbox = yield* session.login({
          user: USER,
          password: PASSWORD,
          mechanism: "user",
          allowPlaintext: true
        })
        yield* mailbox.stat
        yield* collect(mailbox.retr(num("plain")))
        yield* mailbox.quit
      })
    )
    success(exit)
    expect(events.map(shape)).toEqual([
      "Connecting",
      "Connected",
      "S: +OK",
      "GREETING -> AUTHORIZATION",
      "C: CAPA",
      "S: +OK (CAPA)",
      "body of CAPA",
      `C: USER ${USER}`,
      `S: +OK (USER ${USER})`,
      "AUTHORIZATION -> AUTHORIZATION_PASS",
      "C: PASS ****",
      "S: +OK (PASS ****)",
      "AUTHORIZATION_PASS -> TRANSACTION",
      "C: CAPA",
      "S: +OK (CAPA)",
      "body of CAPA",
      "C: STAT",
      "S: +OK (STAT)",
      `C: RETR ${num("plain")}`,
      `S: +OK (RETR ${num("plain")})`,
      `body of RETR ${num("plain")}`,
      "C: QUIT",
      "TRANSACTION -> UPDATE",
      "S: +OK (QUIT)",
      "UPDATE -> CLOSED"
    ])
    const connecting = events[0]!
    expect(connecting).toMatchObject({
      _tag: "Connecting",
      host: "memory.test",
      port: 110,
      tls: "none",
      transport: "memory"
    })
    // The greeting is traced in full, without a command or latency.
    const greeting = events[2]!
    expect(greeting._tag === "Received" && greeting.line).toMatch(/^\+OK POP3 dev server ready <.*>$/)
    expect(greeting).not.toHaveProperty("latency")
  })

  it("every answer carries a latency, every body its size; times never go backwards", async () => {
    const server = memoryServer()
    const { events, options } = traced()
    success(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(options)
          const mailbox = yield* session.login({
            user: USER,
            password: PASSWORD,
            mechanism: "user",
            allowPlaintext: true
          })
          yield* collect(mailbox.retr(num("long")))
          yield* Effect.all([mailbox.stat, mailbox.list, mailbox.noop], { concurrency: "unbounded" })
        })
      )
    )
    const answers = events.filter((e) => e._tag === "Received" && e.command !== undefined)
    expect(answers.length).toBeGreaterThanOrEqual(8)
    for (const a of answers) {
      expect(a._tag === "Received" && typeof a.latency === "number" && a.latency >= 0).toBe(true)
    }
    const body = events.find((e) => e._tag === "Body" && e.command === `RETR ${num("long")}`)
    expect(body).toMatchObject({ bytes: stored(server.store, num("long")).length })
    expect(body?._tag === "Body" && body.millis >= 0).toBe(true)
    // Sent sizes are the real octet counts (the redacted PASS line is shorter than the real one).
    for (const e of events) {
      if (e._tag !== "Sent") continue
      if (e.line === "PASS ****") expect(e.bytes).toBe(`PASS ${PASSWORD}\r\n`.length)
      else expect(e.bytes).toBe(`${e.line}\r\n`.length)
    }
    for (let i = 1; i < events.length; i++) expect(events[i]!.at).toBeGreaterThanOrEqual(events[i - 1]!.at)
    // The scope closed without QUIT: the farewell and the close are traced.
    expect(events.slice(-5).map(shape)).toEqual([
      "C: QUIT",
      "TRANSACTION -> UPDATE",
      "S: +OK (QUIT)",
      "UPDATE -> CLOSED",
      "closed: scope closed"
    ])
  })

  it("a scope closed after a failure traces RSET, QUIT and why it closed", async () => {
    const server = memoryServer()
    const { events, options } = traced()
    failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(options)
          yield* session.login({ user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true })
          return yield* Effect.fail("boom")
        })
      )
    )
    const tail = events
      .filter((e) => e._tag === "Sent" || e._tag === "Closed")
      .slice(-3)
      .map(shape)
    expect(tail).toEqual(["C: RSET", "C: QUIT", "closed: scope closed after a failure"])
  })

  it("APOP is traced as 'APOP user ****'", async () => {
    const server = memoryServer()
    const { events, options } = traced()
    success(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(options)
          yield* session.login({ user: USER, password: PASSWORD, mechanism: "apop", allowPlaintext: true })
        })
      )
    )
    const apop = events.filter((e) => e._tag === "Sent" && e.line.startsWith("APOP"))
    expect(apop).toMatchObject([{ line: `APOP ${USER} ****` }])
    // The digest itself is not in the trace either.
    const digest = server.commands.find((c) => c.startsWith("APOP"))!.split(" ")[2]!
    expect(JSON.stringify(events)).not.toContain(digest)
  })

  it("a throwing observer does not break the session", async () => {
    const server = memoryServer()
    let calls = 0
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect({
          host: "memory.test",
          tls: "none",
          timeout: 1000,
          trace: () => {
            calls++
            throw new Error("observer bug")
          }
        })
        const mailbox = yield* session.login({
          user: USER,
          password: PASSWORD,
          mechanism: "user",
          allowPlaintext: true
        })
        return yield* mailbox.stat
      })
    )
    expect(success(exit).count).toBe(5)
    expect(calls).toBeGreaterThan(10)
  })
})

describe("formatTraceEvent", () => {
  it("renders each kind of event as one line", () => {
    const at = 1_000_000
    const lines = (
      [
        { _tag: "Connecting", at, host: "h", port: 110, tls: "starttls", transport: "node" },
        { _tag: "Connected", at: at + 5 },
        { _tag: "TlsEstablished", at: at + 10 },
        { _tag: "Sent", at: at + 20, line: "PASS ****", bytes: 25 },
        { _tag: "Received", at: at + 1234, line: "+OK hi", command: "PASS ****", latency: 1214 },
        { _tag: "Received", at: at + 1300, line: "+OK greeting" },
        { _tag: "Body", at: at + 1400, command: "RETR 1", bytes: 5000, millis: 7 },
        { _tag: "StateChanged", at: at + 1500, from: "AUTHORIZATION", to: "TRANSACTION", cause: "PASS +OK" },
        { _tag: "Closed", at: at + 1600, reason: "scope closed" }
      ] satisfies Array<TraceEvent>
    ).map((e) => formatTraceEvent(e, at))
    expect(lines).toEqual([
      "   0.000s .. connecting to h:110 (tls starttls, node)",
      "   0.005s .. connected",
      "   0.010s .. TLS established",
      "   0.020s C: PASS ****",
      "   1.234s S: +OK hi   (1214 ms)",
      "   1.300s S: +OK greeting",
      "   1.400s S: <5000 octets of RETR body in 7 ms>",
      "   1.500s .. AUTHORIZATION -> TRANSACTION (PASS +OK)",
      "   1.600s .. closed: scope closed"
    ])
    for (const line of lines) expect(line).not.toContain("\n")
  })
})

describe("the canary password never leaks", () => {
  const leaks = (events: ReadonlyArray<TraceEvent>, error?: unknown) => {
    const texts = [JSON.stringify(events), ...events.map((e) => formatTraceEvent(e))]
    if (error !== undefined) {
      texts.push(JSON.stringify(error), String(error), (error as Error).message ?? "", (error as Error).stack ?? "")
    }
    return texts.filter((t) => t.includes(PASSWORD) || t.includes(PASSWORD.slice(0, 12)))
  }

  const scenarios: ReadonlyArray<readonly [string, LoginOptions]> = [
    ["USER/PASS, success", { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true }],
    ["APOP, success", { user: USER, password: PASSWORD, mechanism: "apop", allowPlaintext: true }],
    ["auto, success", { user: USER, password: PASSWORD, allowPlaintext: true }]
  ]
  for (const [name, login] of scenarios) {
    it(name, async () => {
      const server = memoryServer()
      const { events, options } = traced()
      success(
        await run(
          server.layer,
          Effect.gen(function* () {
            const session = yield* connect(options)
            const mailbox = yield* session.login(login)
            yield* mailbox.stat
          })
        )
      )
      expect(server.commands.join("\n")).toMatch(login.mechanism === "user" ? new RegExp(PASSWORD) : /APOP/) // the test can see it
      expect(leaks(events)).toEqual([])
    })
  }

  const wrong = `${PASSWORD}-wrong`
  for (const mechanism of ["user", "apop", "auto"]) {
    it(`a wrong password (${mechanism}): not in the trace, not in the error`, async () => {
      const server = memoryServer()
      const { events, options } = traced()
      const error = failure(
        await run(
          server.layer,
          Effect.gen(function* () {
            const session = yield* connect(options)
            return yield* session.login({ user: USER, password: wrong, mechanism, allowPlaintext: true })
          })
        )
      )
      expect(error._tag).toBe("AuthError")
      expect(leaks(events, error)).toEqual([])
    })
  }

  for (const password of [`${PASSWORD}\r\nDELE 1`, `\n${PASSWORD}`, `${PASSWORD}\u0000`]) {
    it(`a password with ${JSON.stringify(password.replace(PASSWORD, "…"))}: refused, and not in the trace or the error`, async () => {
      const server = memoryServer()
      const { events, options } = traced()
      const error = failure(
        await run(
          server.layer,
          Effect.gen(function* () {
            const session = yield* connect(options)
            return yield* session.login({ user: USER, password, mechanism: "user", allowPlaintext: true })
          })
        )
      )
      expect(error._tag).toBe("InvalidArgument")
      expect(leaks(events, error)).toEqual([])
      expect(events.some((e) => e._tag === "Sent" && e.line.startsWith("PASS"))).toBe(false)
    })
  }

  it("a server that breaks the protocol after PASS: the ProtocolError excerpt holds no password", async () => {
    const server = memoryServer({ behaviour: { plusErr: true } })
    const { events, options } = traced()
    const error = failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(options)
          return yield* session.login({ user: USER, password: wrong, mechanism: "user", allowPlaintext: true })
        })
      )
    )
    expect(error._tag).toBe("ProtocolError")
    expect(leaks(events, error)).toEqual([])
  })
})
