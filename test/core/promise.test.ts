// The Promise API's pipelined operations (topMany, retrMany, deleMany), against the dev
// server behind the in-memory transport: the same bytes as the Effect API, really
// pipelined, early exits that leave the session usable, and the same tagged errors.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import {
  connect as connectEffect,
  InvalidState,
  type Mailbox,
  type Message,
  ServerError,
  type TraceEvent
} from "../../core/index.ts"
import { connect, type PromiseMailbox } from "../../core/promise.ts"
import type { Behaviour } from "../../dev-server/server.ts"
import { makeMailStore, type MailStore } from "../../dev-server/server.ts"
import { MESSAGE_ORDER, memoryServer, PASSWORD, run, stored, success, USER } from "./client/harness.ts"

const LOGIN = { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true } as const

/** More messages than the pipelining window (300), so a window refill is needed. */
const MANY = 400
const manyStore = (): MailStore =>
  makeMailStore({
    [USER]: {
      password: PASSWORD,
      messages: Array.from(
        { length: MANY },
        (_, i) => `Subject: message ${i + 1}\r\n\r\n.leading dot ${i + 1}\r\nbody ${"x".repeat(i)}\r\n`
      )
    }
  })

// A logged-in Promise mailbox on a fresh dev server, with the trace and the lines the
// server received.
const open = async (options: { readonly store?: MailStore; readonly behaviour?: Behaviour } = {}) => {
  const server = memoryServer(options)
  const trace: Array<TraceEvent> = []
  const session = await connect({
    host: "dev",
    tls: "none",
    timeout: 5000,
    trace: (e) => trace.push(e),
    transport: server.layer
  })
  const mailbox = await session.login(LOGIN)
  return { server, trace, mailbox }
}

const all = async <A>(iterable: AsyncIterable<A>): Promise<Array<A>> => {
  const out: Array<A> = []
  for await (const a of iterable) out.push(a)
  return out
}

// What the iterable yielded before it rejected, and what it rejected with.
const until = async <A>(
  iterable: AsyncIterable<A>
): Promise<{ readonly yielded: Array<A>; readonly error: unknown }> => {
  const yielded: Array<A> = []
  try {
    for await (const a of iterable) yielded.push(a)
  } catch (error) {
    return { yielded, error }
  }
  throw new Error(`expected a rejection, got ${yielded.length} elements`)
}

// The most commands on the wire, unanswered, at once, judged from the trace order.
const maxInFlight = (trace: ReadonlyArray<TraceEvent>, verb: string) => {
  let inflight = 0
  let max = 0
  for (const e of trace) {
    if (e._tag === "Sent" && e.line.startsWith(verb)) max = Math.max(max, ++inflight)
    if (e._tag === "Received" && e.command?.startsWith(verb) === true) inflight--
  }
  return max
}

const sent = (trace: ReadonlyArray<TraceEvent>) => trace.flatMap((e) => (e._tag === "Sent" ? [e.line] : []))

// The same reads through the Effect API, on its own server with the same store contents.
const viaEffect =
  (store: MailStore, use: (msgs: ReadonlyArray<number>) => (mailbox: Mailbox) => Stream.Stream<Message, unknown>) =>
  async (msgs: ReadonlyArray<number>): Promise<ReadonlyArray<Message>> => {
    const server = memoryServer({ store })
    return success(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connectEffect({ host: "dev", tls: "none", timeout: 5000 })
          const mailbox = yield* session.login(LOGIN)
          return yield* Stream.runCollect(use(msgs)(mailbox))
        })
      )
    )
  }

const numbers = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe("Promise API: retrMany and topMany", () => {
  it("yield what the Effect API yields, byte-exact, in order", async () => {
    const msgs = numbers(MESSAGE_ORDER.length)
    // Out of order and with a repeat: the results follow the request.
    const mixed = [...msgs].reverse().concat([2])
    const { server, mailbox } = await open()
    const retr = await all(mailbox.retrMany(mixed))
    const top0 = await all(mailbox.topMany(msgs, 0))
    const top3 = await all(mailbox.topMany(msgs, 3))
    await mailbox.quit()

    expect(retr.map((m) => m.msg)).toEqual(mixed)
    for (const m of retr) expect(m.bytes).toEqual(stored(server.store, m.msg))
    expect(retr).toEqual(await viaEffect(server.store, (ns) => (mb) => mb.retrMany(ns))(mixed))
    expect(top0).toEqual(await viaEffect(server.store, (ns) => (mb) => mb.topMany(ns, 0))(msgs))
    expect(top3).toEqual(await viaEffect(server.store, (ns) => (mb) => mb.topMany(ns, 3))(msgs))
    expect(top0.map((m) => m.msg)).toEqual(msgs)
    expect(top3[0]!.bytes.length).toBeGreaterThan(top0[0]!.bytes.length)
  })

  it("equal the single-message calls", async () => {
    const { mailbox } = await open()
    const msgs = numbers(MESSAGE_ORDER.length)
    const many = await all(mailbox.retrMany(msgs))
    const tops = await all(mailbox.topMany(msgs, 1))
    for (const n of msgs) {
      expect(many[n - 1]!.bytes).toEqual(await mailbox.retr(n))
      expect(tops[n - 1]!.bytes).toEqual(await mailbox.top(n, 1))
    }
    await mailbox.close()
  })

  it("pipeline: many commands are sent before the first answer when the server has PIPELINING", async () => {
    const { trace, mailbox } = await open({ store: manyStore() })
    const got = await all(mailbox.retrMany(numbers(MANY)))
    expect(got.map((m) => m.msg)).toEqual(numbers(MANY))
    const firstAnswer = trace.findIndex((e) => e._tag === "Received" && e.command?.startsWith("RETR") === true)
    const sentBefore = trace.slice(0, firstAnswer).filter((e) => e._tag === "Sent" && e.line.startsWith("RETR")).length
    expect(sentBefore).toBeGreaterThan(1)
    expect(maxInFlight(trace, "RETR")).toBeGreaterThan(20)
    expect(maxInFlight(trace, "RETR")).toBeLessThanOrEqual(300)
    // Every RETR was sent once.
    expect(sent(trace).filter((l) => l.startsWith("RETR")).length).toBe(MANY)
    await mailbox.quit()
  })

  it("one command at a time when the server does not announce PIPELINING", async () => {
    const { trace, mailbox } = await open({ store: manyStore(), behaviour: { capa: ["TOP", "UIDL", "USER"] } })
    const got = await all(mailbox.topMany([1, 2, 3, 4, 5], 0))
    expect(got.map((m) => new TextDecoder().decode(m.bytes))).toEqual(
      [1, 2, 3, 4, 5].map((n) => `Subject: message ${n}\r\n\r\n`)
    )
    expect(maxInFlight(trace, "TOP")).toBe(1)
    await mailbox.quit()
  })

  it("nothing is sent until iterated, and each iteration sends anew", async () => {
    const { trace, mailbox } = await open()
    const iterable = mailbox.topMany([1, 2], 0)
    await mailbox.noop()
    expect(sent(trace).filter((l) => l.startsWith("TOP"))).toEqual([])
    expect((await all(iterable)).map((m) => m.msg)).toEqual([1, 2])
    expect((await all(iterable)).map((m) => m.msg)).toEqual([1, 2])
    expect(sent(trace).filter((l) => l.startsWith("TOP"))).toEqual(["TOP 1 0", "TOP 2 0", "TOP 1 0", "TOP 2 0"])
    await mailbox.quit()
  })
})

/**
 * Ten pipelining windows of small messages: a loop left after two has had only the first
 * windows sent, whatever the transport hands over per read (all that waits, as a socket does).
 */
const WINDOWS = 3000
const windowsStore = (): MailStore =>
  makeMailStore({
    [USER]: {
      password: PASSWORD,
      messages: Array.from({ length: WINDOWS }, (_, i) => `Subject: message ${i + 1}\r\n\r\nbody\r\n`)
    }
  })

describe("Promise API: leaving a pipelined loop early", () => {
  it("break abandons the rest, reads away what was in flight, and the same session goes on", async () => {
    const { trace, mailbox } = await open({ store: windowsStore() })
    const seen: Array<number> = []
    for await (const m of mailbox.retrMany(numbers(WINDOWS))) {
      seen.push(m.msg)
      if (seen.length === 2) break
    }
    expect(seen).toEqual([1, 2])
    const stat = await mailbox.stat()
    expect(stat.count).toBe(WINDOWS)
    const lines = sent(trace)
    const retrs = lines.filter((l) => l.startsWith("RETR"))
    // The first windows went out; the rest was never sent.
    expect(retrs.length).toBeGreaterThan(2)
    expect(retrs.length).toBeLessThan(WINDOWS / 2)
    // Every RETR sent was answered before STAT was sent (the finalizer read them away).
    const statAt = trace.findIndex((e) => e._tag === "Sent" && e.line === "STAT")
    const answered = trace
      .slice(0, statAt)
      .filter((e) => e._tag === "Received" && e.command?.startsWith("RETR") === true).length
    expect(answered).toBe(retrs.length)
    // And the session still does everything else.
    expect((await mailbox.uidlOne(7)).msg).toBe(7)
    expect(await mailbox.retr(3)).toEqual(stored(windowsStore(), 3))
    expect((await all(mailbox.topMany([5, 6], 0))).map((m) => m.msg)).toEqual([5, 6])
    await mailbox.quit()
  })

  it("a throw inside the loop does the same", async () => {
    const { mailbox } = await open({ store: manyStore() })
    const boom = new Error("boom")
    await expect(
      (async () => {
        for await (const m of mailbox.topMany(numbers(MANY), 0)) {
          if (m.msg === 3) throw boom
        }
      })()
    ).rejects.toBe(boom)
    expect((await mailbox.stat()).count).toBe(MANY)
    await mailbox.quit()
  })

  it("the iterator's return() closes the stream: the connection is free again", async () => {
    const { mailbox } = await open({ store: manyStore() })
    const iterator = mailbox.retrMany(numbers(MANY))[Symbol.asyncIterator]()
    const first = await iterator.next()
    expect(first.done).toBe(false)
    expect((first.value as Message).msg).toBe(1)
    expect(await iterator.return!()).toEqual({ done: true, value: undefined })
    // Closed for good: next() answers done, and sends nothing.
    expect(await iterator.next()).toEqual({ done: true, value: undefined })
    expect((await mailbox.stat()).count).toBe(MANY)
    await mailbox.quit()
  })

  it("without PIPELINING too", async () => {
    const { mailbox } = await open({ store: manyStore(), behaviour: { capa: ["TOP", "UIDL", "USER"] } })
    for await (const m of mailbox.retrMany(numbers(MANY))) if (m.msg === 1) break
    expect((await mailbox.stat()).count).toBe(MANY)
    await mailbox.quit()
  })
})

describe("Promise API: pipelined failures", () => {
  it("a -ERR in the middle rejects with ServerError after the earlier messages were yielded", async () => {
    const { server, trace, mailbox } = await open()
    const { yielded, error } = await until(mailbox.retrMany([1, 2, 9999, 3, 4]))
    expect(yielded.map((m) => m.msg)).toEqual([1, 2])
    expect(yielded[1]!.bytes).toEqual(stored(server.store, 2))
    expect(error).toBeInstanceOf(ServerError)
    expect((error as ServerError)._tag).toBe("ServerError")
    expect((error as ServerError).message).toContain("RETR 9999")
    // The same tagged error the single-message call rejects with.
    const single = await mailbox.retr(9999).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(single).toBeInstanceOf(ServerError)
    expect({ ...(error as ServerError) }).toEqual({ ...(single as ServerError) })
    // The session goes on: everything sent was answered before STAT.
    expect((await mailbox.stat()).count).toBe(MESSAGE_ORDER.length)
    const statAt = trace.findIndex((e) => e._tag === "Sent" && e.line === "STAT")
    const retrsSent = trace.slice(0, statAt).filter((e) => e._tag === "Sent" && e.line.startsWith("RETR")).length
    const retrsAnswered = trace
      .slice(0, statAt)
      .filter((e) => e._tag === "Received" && e.command?.startsWith("RETR") === true).length
    expect(retrsAnswered).toBe(retrsSent)
    await mailbox.quit()
  })

  it("topMany of a deleted message rejects with ServerError", async () => {
    const { mailbox } = await open()
    await mailbox.dele(2)
    const { yielded, error } = await until(mailbox.topMany([1, 2, 3], 0))
    expect(yielded.map((m) => m.msg)).toEqual([1])
    expect((error as ServerError)._tag).toBe("ServerError")
    await mailbox.close()
  })

  it("an invalid message number rejects with InvalidArgument before anything is sent", async () => {
    const { trace, mailbox } = await open()
    const { yielded, error } = await until(mailbox.retrMany([1, 0, 2]))
    expect(yielded).toEqual([])
    expect((error as { _tag: string })._tag).toBe("InvalidArgument")
    await expect(mailbox.deleMany([1, -1])).rejects.toMatchObject({ _tag: "InvalidArgument" })
    expect(sent(trace).filter((l) => l.startsWith("RETR") || l.startsWith("DELE"))).toEqual([])
    expect((await mailbox.stat()).count).toBe(MESSAGE_ORDER.length)
    await mailbox.quit()
  })
})

describe("Promise API: deleMany", () => {
  it("marks every message, pipelined; quit commits", async () => {
    const { server, trace, mailbox } = await open({ store: manyStore() })
    await mailbox.deleMany(numbers(50))
    expect(maxInFlight(trace, "DELE")).toBeGreaterThan(1)
    expect((await mailbox.stat()).count).toBe(MANY - 50)
    await mailbox.quit()
    await server.settled()
    expect(server.store.messages(USER).length).toBe(MANY - 50)
    expect(new TextDecoder().decode(server.store.messages(USER)[0]!.data)).toContain("Subject: message 51\r\n")
  })

  it("close does not commit", async () => {
    const { server, mailbox } = await open()
    await mailbox.deleMany([1, 2, 3])
    await mailbox.close()
    await server.settled()
    expect(server.store.messages(USER).length).toBe(MESSAGE_ORDER.length)
  })

  it("a -ERR rejects with ServerError; the marks before it stand (and those already on the wire)", async () => {
    const { server, mailbox } = await open()
    await expect(mailbox.deleMany([1, 9999, 2])).rejects.toSatisfy(
      (e) => e instanceof ServerError && e.message.includes("DELE 9999")
    )
    // With PIPELINING, DELE 2 was sent with the others before the -ERR came back: the
    // server applied it, and the client read its answer away.
    expect((await mailbox.stat()).count).toBe(MESSAGE_ORDER.length - 2)
    await mailbox.quit()
    await server.settled()
    expect(server.store.messages(USER).length).toBe(MESSAGE_ORDER.length - 2)
  })

  it("without PIPELINING, a -ERR stops before the next DELE is sent", async () => {
    const { trace, mailbox } = await open({ behaviour: { capa: ["TOP", "UIDL", "USER"] } })
    await expect(mailbox.deleMany([1, 9999, 2])).rejects.toBeInstanceOf(ServerError)
    expect(sent(trace).filter((l) => l.startsWith("DELE"))).toEqual(["DELE 1", "DELE 9999"])
    expect((await mailbox.stat()).count).toBe(MESSAGE_ORDER.length - 1)
    await mailbox.close()
  })
})

// Type-level: the element type mirrors the Effect API's.
export type _Elements = [
  ReturnType<PromiseMailbox["retrMany"]> extends AsyncIterable<Message> ? true : never,
  ReturnType<PromiseMailbox["topMany"]> extends AsyncIterable<Message> ? true : never
]

describe("Promise API: a call inside a pipelined loop", () => {
  // The loop owns the connection until it ends, so such a call could only wait for the loop,
  // which waits for the call. Refused at once, with nothing sent, instead of a silent hang.
  it("dele inside a retrMany loop rejects with InvalidState at once, sends nothing, and the loop goes on", async () => {
    const { server, mailbox } = await open()
    const errors: Array<unknown> = []
    const got: Array<number> = []
    for await (const { msg } of mailbox.retrMany([1, 2, 3])) {
      got.push(msg)
      errors.push(
        await mailbox.dele(msg).then(
          () => "deleted",
          (e: unknown) => e
        )
      )
    }
    expect(got).toEqual([1, 2, 3])
    expect(errors).toHaveLength(3)
    for (const error of errors) {
      expect(error).toBeInstanceOf(InvalidState)
      expect((error as InvalidState).message).toMatch(
        /^dele was called while a topMany\/retrMany\/listStream\/uidlStream loop or a retrStream is using the connection/
      )
    }
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    // After the loop the session is free: the same marks, in one go.
    await mailbox.deleMany(got)
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual(["DELE 1", "DELE 2", "DELE 3"])
    await mailbox.quit()
  })

  it("every other call, and a nested loop, are refused the same way; close still works", async () => {
    const { mailbox } = await open()
    const calls: Record<string, () => Promise<unknown>> = {
      stat: () => mailbox.stat(),
      list: () => mailbox.list(),
      uidl: () => mailbox.uidl(),
      retr: () => mailbox.retr(1),
      top: () => mailbox.top(1, 0),
      rset: () => mailbox.rset(),
      noop: () => mailbox.noop(),
      quit: () => mailbox.quit(),
      nested: () => all(mailbox.topMany([1], 0))
    }
    const outcomes: Record<string, unknown> = {}
    for await (const _ of mailbox.topMany([1, 2], 0)) {
      for (const [name, call] of Object.entries(calls))
        outcomes[name] ??= await call().then(
          () => "ok",
          (e: unknown) => e
        )
    }
    for (const [name, outcome] of Object.entries(outcomes)) expect(outcome, name).toBeInstanceOf(InvalidState)
    // A loop left by break frees the connection too.
    for await (const _ of mailbox.retrMany([1, 2, 3])) break
    expect((await mailbox.stat()).count).toBeGreaterThan(0)
    await mailbox.close()
  })
})
