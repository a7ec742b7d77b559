import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import {
  BodyLimits,
  collect,
  connect,
  type Mailbox,
  PIPELINE_REFILL,
  PIPELINE_WINDOW,
  ProtocolError,
  type TraceEvent
} from "../../../core/index.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import type { Behaviour } from "../../../dev-server/server.ts"
import { makeMailStore, serveConnection } from "../../../dev-server/server.ts"

// More messages than the window holds, twice over: the bound on what is in flight can fail.
const messages = Array.from(
  { length: PIPELINE_WINDOW * 2 + 50 },
  (_, i) => `Subject: message ${i + 1}\r\n\r\n.leading dot ${i + 1}\r\nbody ${"x".repeat(i)}\r\n`
)

// Runs `use` against a fresh dev server; returns what it returned, the trace, and the
// order of lines the server received.
const session = async <A>(behaviour: Behaviour, use: (mailbox: Mailbox) => Effect.Effect<A, unknown>) => {
  const store = makeMailStore({ alice: { password: "pw", messages } })
  const trace: Array<TraceEvent> = []
  const received: Array<string> = []
  const layer = MemoryTransport.layer(
    (conn) => void serveConnection(store, conn, { ...behaviour, onCommand: (l) => received.push(l) })
  )
  const result = await Effect.runPromise(
    Effect.gen(function* () {
      const s = yield* connect({ host: "dev", tls: "none", timeout: 5000, trace: (e) => trace.push(e) })
      const mailbox = yield* s.login({ user: "alice", password: "pw", mechanism: "user", allowPlaintext: true })
      return yield* use(mailbox)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
  return { result, trace, received, store }
}

// How many commands were on the wire, unanswered, at most, judged from the trace order.
const maxInFlight = (trace: ReadonlyArray<TraceEvent>) => {
  let inflight = 0
  let max = 0
  for (const e of trace) {
    if (e._tag === "Sent") max = Math.max(max, ++inflight)
    if (e._tag === "Received" && e.command !== undefined) inflight--
  }
  return max
}

describe("pipelining", () => {
  it("retrMany returns every message byte-exact and in order, with a bounded window", async () => {
    const msgs = messages.map((_, i) => i + 1)
    expect(msgs.length).toBeGreaterThan(PIPELINE_WINDOW * 2)
    const { result, trace } = await session({}, (mb) => Stream.runCollect(mb.retrMany(msgs)))
    expect(result.map((m) => m.msg)).toEqual(msgs)
    for (const m of result) expect(new TextDecoder().decode(m.bytes)).toBe(messages[m.msg - 1])
    // The window is filled (the first batch is all of it) and never exceeded.
    expect(maxInFlight(trace)).toBe(PIPELINE_WINDOW)
    // Refilled in batches of at least PIPELINE_REFILL (one write each), not one command per answer.
    const runs: Array<number> = []
    let previous: TraceEvent["_tag"] | undefined
    for (const e of trace) {
      if (e._tag === "Sent" && e.line.startsWith("RETR")) {
        if (previous === "Sent") runs[runs.length - 1]!++
        else runs.push(1)
      }
      if (e._tag === "Sent" || e._tag === "Received") previous = e._tag
    }
    expect(runs.reduce((a, b) => a + b, 0)).toBe(msgs.length)
    expect(runs[0]).toBe(PIPELINE_WINDOW)
    for (const run of runs.slice(0, -1)) expect(run).toBeGreaterThanOrEqual(PIPELINE_REFILL)
  })

  it("sends one command at a time when the server does not announce PIPELINING", async () => {
    const { result, trace } = await session({ capa: ["TOP", "UIDL", "USER"] }, (mb) =>
      Stream.runCollect(mb.topMany([1, 2, 3, 4, 5], 0))
    )
    expect(result.map((m) => m.msg)).toEqual([1, 2, 3, 4, 5])
    expect(new TextDecoder().decode(result[2]!.bytes)).toBe("Subject: message 3\r\n\r\n")
    expect(maxInFlight(trace)).toBe(1)
  })

  it("stops at the first -ERR, reads away what was in flight, and the session goes on", async () => {
    const { result, received } = await session({}, (mb) =>
      Effect.gen(function* () {
        const failed = yield* Effect.flip(Stream.runCollect(mb.retrMany([1, 2, 9999, 3, 4])))
        const stat = yield* mb.stat
        return { failed, stat }
      })
    )
    expect(result.failed._tag).toBe("ServerError")
    expect(result.failed.message).toContain("RETR 9999")
    expect(result.stat.count).toBe(messages.length)
    // Everything already sent was answered before STAT: STAT is the last line before QUIT.
    expect(received.slice(-2)).toEqual(["STAT", "QUIT"])
  })

  it("a consumer that stops early leaves the connection in sync", async () => {
    const { result } = await session({}, (mb) =>
      Effect.gen(function* () {
        const first = yield* Stream.runCollect(Stream.take(mb.retrMany(messages.map((_, i) => i + 1)), 3))
        const uid = yield* mb.uidlOne(7)
        return { first: first.map((m) => m.msg), uid }
      })
    )
    expect(result.first).toEqual([1, 2, 3])
    expect(result.uid.msg).toBe(7)
  })

  it("deleMany marks every message; QUIT commits them", async () => {
    const { store } = await session({}, (mb) => Effect.andThen(mb.deleMany([1, 2, 3]), mb.quit))
    expect(store.messages("alice").length).toBe(messages.length - 3)
  })

  it("refuses an invalid message number before sending anything", async () => {
    const { result, received } = await session({}, (mb) => Effect.flip(mb.deleMany([1, 0, 2])))
    expect(result._tag).toBe("InvalidArgument")
    expect(received.filter((l) => l.startsWith("DELE"))).toEqual([])
  })
})

describe("BodyLimits: a body held in memory is bounded", () => {
  const limited = <A, E, R>(octets: number, effect: Effect.Effect<A, E, R>) =>
    Effect.provideService(effect, BodyLimits, { octets })
  const size = (msg: number) => messages[msg - 1]!.length

  it("collect: ProtocolError past the limit; at the limit the body is whole; the session goes on", async () => {
    const { result } = await session({}, (mb) =>
      Effect.gen(function* () {
        const exact = yield* limited(size(100), collect(mb.retr(100)))
        const over = yield* Effect.flip(limited(size(100) - 1, collect(mb.retr(100))))
        const stat = yield* mb.stat
        return { exact: exact.length, over, stat }
      })
    )
    expect(result.exact).toBe(size(100))
    expect(result.over).toBeInstanceOf(ProtocolError)
    expect(result.over.message).toBe(
      `the server broke the POP3 protocol: the body is longer than this client's limit of ${size(100) - 1} octets for a body held in memory (BodyLimits); stream it instead`
    )
    expect(result.stat.count).toBe(messages.length)
  })

  it("retrMany: ProtocolError naming the command whose body went past the limit", async () => {
    const { result } = await session({}, (mb) =>
      Effect.flip(limited(size(3), Stream.runCollect(mb.retrMany([1, 2, 3, 4, 5]))))
    )
    expect(result).toBeInstanceOf(ProtocolError)
    expect((result as ProtocolError).reason).toMatch(/^the answer to RETR 4 is longer than this client's limit/)
  })

  it("a streamed body is not bounded by it", async () => {
    const { result } = await session({}, (mb) =>
      limited(
        10,
        Stream.runFold(
          mb.retr(100),
          () => 0,
          (n, bytes) => n + bytes.length
        )
      )
    )
    expect(result).toBe(size(100))
  })
})
