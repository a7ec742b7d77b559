// The connection layer under the client: a time limit on every wait (not on whole
// operations), bodies read correctly however the server's writes are cut, abandoned
// bodies drained, and a connection the server dropped reported as such.

import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/index.ts"
import type { ConnectOptions, LoginOptions } from "../../../core/index.ts"
import { makeConnection } from "../../../core/client/connection.ts"
import { ConnectionClosed, TimeoutError } from "../../../core/errors.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import {
  clocked,
  failure,
  macrotask,
  memoryServer,
  MESSAGE_ORDER,
  num,
  PASSWORD,
  run,
  stored,
  success,
  USER
} from "./harness.ts"

const TIMEOUT = 300
const OPTIONS: ConnectOptions = { host: "memory.test", tls: "none", timeout: TIMEOUT }
const LOGIN: LoginOptions = { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true }

/** A promise and the function that resolves it. */
const gate = () => {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

/**
 * A hand-written server: `script` reads the client's lines and writes raw bytes, with
 * whatever pauses it likes.
 */
const scripted = (
  script: (io: {
    readonly line: () => Promise<string | undefined>
    readonly write: (s: string) => Promise<void>
  }) => Promise<void>
) =>
  MemoryTransport.layer((server) => {
    const reader = server.readable.getReader()
    const writer = server.writable.getWriter()
    let buffer = ""
    const line = async (): Promise<string | undefined> => {
      for (;;) {
        const at = buffer.indexOf("\r\n")
        if (at >= 0) {
          const l = buffer.slice(0, at)
          buffer = buffer.slice(at + 2)
          return l
        }
        const { done, value } = await reader.read()
        if (done) return undefined
        buffer += new TextDecoder().decode(value)
      }
    }
    const write = (s: string) => writer.write(new TextEncoder().encode(s))
    void script({ line, write })
      .catch(() => {})
      .finally(() => writer.close().catch(() => {}))
  })

describe("time limits", () => {
  // Time is the TestClock's (harness `clocked`): what is measured is the limits the client
  // waited out, not how busy the machine was.
  it("a server that stops answering fails the waiting operation with TimeoutError after one limit", async () => {
    // CAPA, USER, PASS and CAPA are answered; STAT never is.
    const server = memoryServer({ behaviour: { stallAfterCommands: 4 } })
    const { exit, elapsed } = await clocked(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(LOGIN)
        return yield* mailbox.stat
      }),
      { limit: TIMEOUT * 4 }
    )
    const error = failure(exit!)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error).toMatchObject({ operation: "the answer to STAT", millis: TIMEOUT })
    expect(error.message).toBe(`timed out after ${TIMEOUT} ms waiting for the answer to STAT`)
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT)
    expect(elapsed).toBeLessThan(TIMEOUT * 2)
  })

  it("the limit applies to each wait, not to the whole operation: a slow but steady body arrives", async () => {
    const pieces = 6
    const gap = (TIMEOUT * 2) / 3 // each under the limit, together well over it
    const retrSeen = gate()
    // The server writes piece i once the test clock has moved `gap` past piece i-1.
    const piecesDue = Array.from({ length: pieces }, gate)
    const layer = scripted(async ({ line, write }) => {
      await write("+OK slow server\r\n")
      for (let l = await line(); l !== undefined; l = await line()) {
        if (l === "CAPA") await write("-ERR no CAPA\r\n")
        else if (l.startsWith("USER") || l.startsWith("PASS") || l === "QUIT") await write("+OK\r\n")
        else if (l === "RETR 1") {
          await write("+OK\r\n")
          retrSeen.open()
          for (const due of piecesDue) {
            await due.opened
            await write(`piece ${piecesDue.indexOf(due)}\r\n`)
          }
          await write(".\r\n")
        } else await write("-ERR what\r\n")
        if (l === "QUIT") return
      }
    })
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(
          Effect.exit(
            Effect.gen(function* () {
              const session = yield* connect({ ...OPTIONS, timeout: TIMEOUT })
              const mailbox = yield* session.login(LOGIN)
              return new TextDecoder().decode(yield* collect(mailbox.retr(1)))
            }).pipe(Effect.scoped, Effect.provide(layer))
          )
        )
        yield* Effect.promise(() => retrSeen.opened)
        for (const due of piecesDue) {
          yield* Effect.promise(macrotask)
          yield* TestClock.adjust(gap)
          due.open()
        }
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(TestClock.layer()))
    )
    // 6 × 200 ms of test time passed during the RETR: a limit on the whole operation fails it.
    expect(success(exit)).toBe(Array.from({ length: pieces }, (_, i) => `piece ${i}\r\n`).join(""))
  })

  it("a timed-out connection is never reused: a late answer is not taken for the next command's", async () => {
    const late = gate()
    const lateWritten = gate()
    const received: Array<string> = []
    const layer = scripted(async ({ line, write }) => {
      await write("+OK\r\n")
      for (let l = await line(); l !== undefined; l = await line()) {
        received.push(l)
        if (l === "CAPA") await write("-ERR no CAPA\r\n")
        else if (l === "STAT") {
          // Answered only after the client gave up waiting.
          await late.opened
          await write("+OK 2 320\r\n")
          lateWritten.open()
        } else await write("+OK\r\n")
      }
    })
    const { exit } = await clocked(
      layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(LOGIN)
        const first = yield* Effect.flip(mailbox.stat)
        late.open()
        // The late "+OK 2 320" is in the client's socket before the next command.
        yield* Effect.promise(() => lateWritten.opened)
        yield* Effect.promise(macrotask)
        const second = yield* Effect.exit(mailbox.noop)
        return { first, second }
      }),
      { limit: TIMEOUT * 4 }
    )
    const { first, second } = success(exit!)
    expect(first).toBeInstanceOf(TimeoutError)
    expect(Exit.isFailure(second) && failure(second)).toBeInstanceOf(ConnectionClosed)
    expect(failure(second)).toMatchObject({ reason: "an earlier wait timed out (the answer to STAT)" })
    // Nothing after STAT reached the server: not NOOP, and no RSET or QUIT on closing.
    expect(received.at(-1)).toBe("STAT")
    expect(received.filter((l) => l === "STAT").length).toBe(1)
  })
})

describe("framing across reads", () => {
  // Every write is cut into pieces of this size, each awaited: "\r\n.\r\n" straddles reads.
  for (const size of [1, 2, 3, 7]) {
    it(`bodies are byte-exact when the server writes ${size}-octet pieces`, async () => {
      const server = memoryServer({ behaviour: { writeChunkSize: size } })
      const small = MESSAGE_ORDER.filter((m) => m !== "long").map(num)
      const exit = await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect({ ...OPTIONS, timeout: 5000 })
          const mailbox = yield* session.login(LOGIN)
          const bodies: Array<Uint8Array> = []
          for (const n of small) bodies.push(yield* collect(mailbox.retr(n)))
          const list = yield* mailbox.list
          return { bodies, list }
        })
      )
      const { bodies, list } = success(exit)
      small.forEach((n, i) => expect(bodies[i]).toEqual(stored(server.store, n)))
      expect(list.length).toBe(MESSAGE_ORDER.length)
    })
  }

  it("a long message written in odd-sized pieces is byte-exact", async () => {
    const server = memoryServer({ behaviour: { writeChunkSize: 4093 } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect({ ...OPTIONS, timeout: 5000 })
        const mailbox = yield* session.login(LOGIN)
        return yield* collect(mailbox.retr(num("long")))
      })
    )
    expect(success(exit)).toEqual(stored(server.store, num("long")))
  })

  it("a body comes as several chunks, never one buffered copy of a large message", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(LOGIN)
        return yield* Stream.runCollect(mailbox.retr(num("long")))
      })
    )
    const chunks = success(exit)
    expect(chunks.length).toBeGreaterThan(2)
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(stored(server.store, num("long")).length)
  })
})

describe("abandoned bodies", () => {
  it("TOP abandoned after one chunk is drained, and deletions still commit at the end", async () => {
    const server = memoryServer({ behaviour: { writeChunkSize: 64 } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect({ ...OPTIONS, timeout: 5000 })
        const mailbox = yield* session.login(LOGIN)
        const head = yield* Stream.runHead(mailbox.top(num("dots"), 100))
        yield* mailbox.dele(num("plain"))
        return head
      })
    )
    const head = success(exit)
    expect(head._tag).toBe("Some")
    await server.settled()
    expect(server.commands.slice(-3)).toEqual([`TOP ${num("dots")} 100`, `DELE ${num("plain")}`, "QUIT"])
    expect(server.store.messages(USER).length).toBe(MESSAGE_ORDER.length - 1)
  })

  it("two bodies abandoned in a row leave the session in step", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(LOGIN)
        yield* Stream.runHead(mailbox.retr(num("long")))
        yield* Stream.runHead(mailbox.retr(num("eightBit")))
        return { uidl: yield* mailbox.uidl, dots: yield* collect(mailbox.retr(num("dots"))) }
      })
    )
    const { uidl, dots } = success(exit)
    expect(uidl.map((u) => u.uid)).toEqual(server.store.messages(USER).map((m) => m.uid))
    expect(dots).toEqual(stored(server.store, num("dots")))
  })
})

describe("a connection the server dropped", () => {
  it("is ConnectionClosed for the next command, and stays closed", async () => {
    // The server logs out idle clients after 50 ms (RFC 1939 autologout).
    const server = memoryServer({ behaviour: { idleTimeoutMs: 50 } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(LOGIN)
        yield* Effect.sleep(150)
        const first = yield* Effect.flip(mailbox.stat)
        const second = yield* Effect.flip(mailbox.noop)
        return { first, second, state: mailbox.state() }
      })
    )
    const { first, second, state } = success(exit)
    expect(first).toBeInstanceOf(ConnectionClosed)
    // Writing STAT or reading its answer, whichever notices first.
    expect(first.message).toMatch(/^the connection closed during (sending STAT|the answer to STAT): /)
    expect(["ConnectionClosed", "InvalidState"]).toContain(second._tag)
    expect(state).toBe("CLOSED")
    // Nothing was deleted, and no farewell was attempted on a dead connection.
    expect(server.store.messages(USER).length).toBe(MESSAGE_ORDER.length)
  })

  it("closing the scope on a dead connection does not hang", async () => {
    const dropped = gate()
    // Answers the login (and the CAPA after it), then hangs up.
    const layer = scripted(async ({ line, write }) => {
      await write("+OK\r\n")
      let loggedIn = false
      for (let l = await line(); l !== undefined; l = await line()) {
        if (l === "CAPA") await write("-ERR no CAPA\r\n")
        else await write("+OK\r\n")
        if (l.startsWith("PASS")) loggedIn = true
        else if (loggedIn) break
      }
      dropped.open()
    })
    const { exit, elapsed } = await clocked(
      layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        yield* session.login(LOGIN)
        yield* Effect.promise(() => dropped.opened)
      }),
      { limit: TIMEOUT * 4 }
    )
    success(exit!)
    // The farewell on a closed socket fails at once instead of waiting out a limit.
    expect(elapsed).toBeLessThan(TIMEOUT)
  })
})

describe("held commands (Connection.hold, the CAPA after login)", () => {
  // A socket that records, in order, what was written and each wait for the server.
  const recording = (answers: ReadonlyArray<string>) => {
    const order: Array<string> = []
    const left = [...answers]
    const reader: Socket.Reader = {
      pull: Effect.suspend(() => {
        order.push("wait")
        const next = left.shift()
        return next === undefined ? Effect.never : Effect.succeed([new TextEncoder().encode(next)] as const)
      }),
      upgrade: () => Effect.void
    }
    const text = (chunk: Uint8Array | string) => (typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk))
    const writer: Socket.Writer = {
      write: () => Effect.void,
      writeAll: (chunks) => Effect.sync(() => void order.push(`write ${chunks.map(text).join("")}`))
    }
    return { order, reader, writer }
  }
  const open = (reader: Socket.Reader, writer: Socket.Writer) =>
    makeConnection({ reader, writer, timeoutMillis: 2000, trace: () => {}, now: Date.now })

  it("go out with the next write, in front of it", async () => {
    const { order, reader, writer } = recording(["+OK hi\r\n", "+OK\r\nUSER\r\n.\r\n+OK bye\r\n"])
    const bye = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* open(reader, writer)
          yield* conn.read("the greeting")
          const capa = yield* conn.hold({ name: "CAPA" })
          expect(order).toEqual(["wait"])
          const encoded = yield* conn.write({ name: "QUIT" })
          yield* conn.status(capa)
          yield* conn.collectBody(capa, () => {})
          return (yield* conn.status(encoded)).text
        })
      )
    )
    expect(bye).toBe("bye")
    // One write: over TCP, one segment (Dovecot answers a second segment a round trip later).
    expect(order).toEqual(["wait", "write CAPA\r\nQUIT\r\n", "wait"])
  })

  it("go out on their own before the next wait for the server, so their answer can come", async () => {
    const { order, reader, writer } = recording(["+OK hi\r\n", "+OK\r\nUSER\r\n.\r\n"])
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* open(reader, writer)
          yield* conn.read("the greeting")
          const capa = yield* conn.hold({ name: "CAPA" })
          yield* conn.status(capa)
        })
      )
    )
    expect(order).toEqual(["wait", "write CAPA\r\n", "wait"])
  })
})
