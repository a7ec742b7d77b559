// Broken and hostile servers, as the dev server reproduces them. Each case must end in the
// right typed error (or work, for the harmless quirks), and never hang. How long a case
// waits is measured in TestClock time (harness `clocked`): the time limits it waited out,
// whatever the load on the machine.

import * as Effect from "effect/Effect"
import net from "node:net"
import { describe, expect, it } from "vitest"
import { collect, connect, loginDelay } from "../../../core/index.ts"
import { connect as connectPromise } from "../../../core/promise.ts"
import type { ConnectOptions, LoginOptions, LoginSettings, Mailbox, Pop3Error } from "../../../core/index.ts"
import { AuthError, ConnectionClosed, ProtocolError, TimeoutError } from "../../../core/errors.ts"
import { ListingLimits } from "../../../core/client/options.ts"
import { MAX_CAPA_LINES, MAX_CAPA_OCTETS } from "../../../core/protocol/limits.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import type { Behaviour } from "../../../dev-server/server.ts"
import {
  clocked,
  failure,
  memoryServer,
  MESSAGE_ORDER,
  num,
  PASSWORD,
  run,
  stored,
  success,
  text,
  toLf,
  USER
} from "./harness.ts"

const TIMEOUT = 400
const OPTIONS: ConnectOptions = { host: "memory.test", tls: "none", timeout: TIMEOUT }
const LOGIN: LoginOptions = { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true }

/**
 * Logs in on a server with `behaviour` and runs `body` on the mailbox under the TestClock;
 * `exit` is undefined when it had not ended after five time limits.
 */
const withMailbox = <A, E>(behaviour: Behaviour, body: (mailbox: Mailbox) => Effect.Effect<A, E>) => {
  const server = memoryServer({ behaviour })
  const exit = clocked(
    server.layer,
    Effect.gen(function* () {
      const session = yield* connect(OPTIONS)
      const mailbox = yield* session.login(LOGIN)
      return yield* body(mailbox)
    }),
    { limit: TIMEOUT * 5 }
  )
  return { server, exit }
}

describe("servers that hang", () => {
  it("stallAfterCommands: TimeoutError for the unanswered command", async () => {
    // Answers CAPA and USER, never PASS.
    const server = memoryServer({ behaviour: { stallAfterCommands: 2 } })
    const { exit, elapsed } = await clocked(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        return yield* session.login(LOGIN)
      }),
      { limit: TIMEOUT * 5 }
    )
    expect(failure(exit!)).toMatchObject({
      _tag: "TimeoutError",
      operation: "the answer to PASS ****",
      millis: TIMEOUT
    })
    // One limit waited out, and nothing more on closing.
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT)
    expect(elapsed).toBeLessThan(TIMEOUT * 2)
    expect(server.commands.at(-1)).toBe(`PASS ${PASSWORD}`)
  })

  it("stallMidBody: TimeoutError within one time limit (no second wait to drain)", async () => {
    const { exit } = withMailbox({ stallMidBody: true }, (mailbox) => collect(mailbox.retr(num("long"))))
    const { exit: value, elapsed } = await exit
    const error = failure(value!)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error).toMatchObject({ operation: `the body of RETR ${num("long")}`, millis: TIMEOUT })
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT)
    expect(elapsed).toBeLessThan(TIMEOUT * 2)
  })

  it("greeting: false (accepted the connection, never speaks): TimeoutError", async () => {
    const server = memoryServer({ behaviour: { greeting: false } })
    const { exit, elapsed } = await clocked(server.layer, connect(OPTIONS), { limit: TIMEOUT * 5 })
    expect(failure(exit!)).toMatchObject({ _tag: "TimeoutError", operation: "the greeting" })
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT)
    expect(elapsed).toBeLessThan(TIMEOUT * 2)
    expect(server.commands).toEqual([])
  })
})

describe("servers that hang up", () => {
  it("closeMidBody: ConnectionClosed during the body", async () => {
    const { exit } = withMailbox({ closeMidBody: true }, (mailbox) => collect(mailbox.retr(num("dots"))))
    const { exit: value, elapsed } = await exit
    const error = failure(value!)
    expect(error).toBeInstanceOf(ConnectionClosed)
    expect(error).toMatchObject({
      during: `the body of RETR ${num("dots")}`,
      reason: "the server closed the connection"
    })
    // Noticed at once, not by waiting out a limit.
    expect(elapsed).toBeLessThan(TIMEOUT)
  })

  it("closed right after connecting (memory): ConnectionClosed during the greeting", async () => {
    const layer = MemoryTransport.layer((server) => {
      void server.writable.close().catch(() => {})
      void server.readable.cancel().catch(() => {})
    })
    const { exit, elapsed } = await clocked(layer, connect(OPTIONS), { limit: TIMEOUT * 5 })
    expect(failure(exit!)).toMatchObject({ _tag: "ConnectionClosed", during: "the greeting" })
    expect(elapsed).toBeLessThan(TIMEOUT)
  })

  it("a greeting dripped a byte at a time, each in time: TimeoutError for the line, long before its end", async () => {
    // Each byte comes well within the limit; the line never does. Timed per wait, the
    // client would read all 400 bytes (20 s); the line's own limit ends it after a few.
    const sockets = new Set<net.Socket>()
    let sent = 0
    const tcp = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      const greeting = `+OK ${"x".repeat(394)}\r\n`
      const drip = setInterval(() => {
        if (socket.destroyed || sent >= greeting.length) return clearInterval(drip)
        socket.write(greeting[sent++]!)
      }, 50)
      socket.on("close", () => clearInterval(drip))
    })
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve))
    const port = (tcp.address() as net.AddressInfo).port
    try {
      const exit = await Effect.runPromiseExit(
        connect({ host: "127.0.0.1", port, tls: "none", timeout: 300 }).pipe(
          Effect.scoped,
          Effect.provide(NodeTransport.layer)
        )
      )
      const error = failure(exit)
      expect(error).toBeInstanceOf(TimeoutError)
      expect(error.message).toMatch(/the greeting/)
      // Bytes, not milliseconds: the client gave up a few bytes in (about 300 ms of 50 ms drips).
      expect(sent).toBeLessThan(100)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  })

  it("closed right after connecting (TCP): ConnectionClosed or ConnectError, quickly", async () => {
    const sockets = new Set<net.Socket>()
    const tcp = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.end()
    })
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve))
    const port = (tcp.address() as net.AddressInfo).port
    try {
      // Real sockets: the test clock moves 1 ms per turn of the event loop.
      const { exit, elapsed } = await clocked(
        NodeTransport.layer,
        connect({ host: "127.0.0.1", port, tls: "none", timeout: 2000 }),
        {
          limit: 10_000,
          step: 1
        }
      )
      expect(["ConnectionClosed", "ConnectError"]).toContain(failure(exit!)._tag)
      expect(elapsed).toBeLessThan(2000)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  })

  it("closeAfterAuthFailure: a wrong password is still an AuthError, not a network error", async () => {
    const server = memoryServer({ behaviour: { closeAfterAuthFailure: true } })
    const error = failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          return yield* session.login({ user: USER, password: "wrong", allowPlaintext: true })
        })
      )
    )
    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).attempts.map((a) => [a.mechanism, a.code])).toEqual([["APOP", "AUTH"]])
    expect((error as AuthError).retry).toBe("permanent")
  })

  it("a server that hangs up after a refusal without a code: the next mechanism gets a new connection", async () => {
    // APOP is refused without a response code (so auto moves on), then the server hangs up.
    const server = memoryServer({
      hooks: {
        commands: {
          APOP: {
            states: ["AUTHORIZATION"],
            run: (s) => {
              s.err("APOP failed")
              s.close()
            }
          }
        }
      }
    })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login({ user: USER, password: PASSWORD, allowPlaintext: true })
        return yield* mailbox.stat
      })
    )
    expect(success(exit).count).toBe(MESSAGE_ORDER.length)
    await server.settled()
    expect(server.sessions.length).toBe(2)
    expect(server.commands.map((c) => c.split(" ")[0])).toEqual([
      "CAPA",
      "APOP",
      "CAPA",
      "USER",
      "PASS",
      "CAPA",
      "STAT",
      "QUIT"
    ])
  })
})

describe("servers that break the protocol", () => {
  it("hugeStatusLine (1 GB, lazily): ProtocolError quickly, without reading it all", async () => {
    const server = memoryServer({ behaviour: { hugeStatusLine: 1_000_000_000 } })
    const { exit, elapsed } = await clocked(server.layer, connect({ ...OPTIONS, timeout: 10_000 }), { limit: 30_000 })
    const error = failure(exit!)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/a status line is longer than 8192 octets/)
    expect(error.message.length).toBeLessThan(300) // an excerpt, not the line
    expect(elapsed).toBeLessThan(10_000) // refused, not timed out
    expect(server.sentOctets()).toBeLessThan(4 * 1024 * 1024)
    // The server is not left pushing the rest of its gigabyte.
    await server.settled()
  })

  it("a greeting that is not a status line: ProtocolError", async () => {
    const server = memoryServer({ behaviour: { greeting: "HELLO there" } })
    const error = failure(await run(server.layer, connect(OPTIONS)))
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/expected \+OK, -ERR or a \+ continuation: "HELLO there"/)
  })

  it("plusErr: '+ERR' for a wrong password is a ProtocolError, never a login", async () => {
    const server = memoryServer({ behaviour: { plusErr: true } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const error = yield* Effect.flip(session.login({ ...LOGIN, password: "wrong" }))
        return { error, state: session.state() }
      })
    )
    const { error, state } = success(exit)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/"\+ERR \[AUTH\] Authentication failed"/)
    expect(state).toBe("ERROR")
    expect(server.commands).toEqual(["CAPA", `USER ${USER}`, "PASS wrong"])
  })

  it("plusErr: '+ERR' to RETR is a ProtocolError, not an empty message", async () => {
    const { exit } = withMailbox({ plusErr: true }, (mailbox) => collect(mailbox.retr(99)))
    const error = failure((await exit).exit!)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/\+ERR There is no message 99/)
  })

  it("noDotStuffing: a lone '.' ends the message early; the rest is then read as garbage status lines", async () => {
    const { server, exit } = withMailbox({ noDotStuffing: true }, (mailbox) =>
      Effect.gen(function* () {
        const early = yield* collect(mailbox.retr(num("earlyDot")))
        const next = yield* Effect.flip(mailbox.noop)
        const after = yield* Effect.flip(mailbox.stat)
        return { early, next, after, state: mailbox.state() }
      })
    )
    const { exit: value, elapsed } = await exit
    const { early, next, after, state } = success(value!)
    // What the client could see: everything before the unstuffed ".".
    expect(text(early)).toBe("Subject: early\r\n\r\nbefore\r\n")
    // The rest of the message, left in the read, is data nobody asked for: found before NOOP
    // is sent, never taken for its answer.
    expect(next).toBeInstanceOf(ProtocolError)
    expect(next.message).toMatch(/nobody asked for \(before NOOP\): "after the dot"/)
    // The engine is failed for good: no mis-synced answers later.
    expect(after._tag).toMatch(/ProtocolError|InvalidState/)
    expect(state).toBe("ERROR")
    expect(elapsed).toBeLessThan(TIMEOUT)
    // Nothing sent on a connection that is out of step (no NOOP, no farewell), nothing deleted.
    expect(server.commands.at(-1)).toBe(`RETR ${num("earlyDot")}`)
    expect(server.store.messages(USER).length).toBe(MESSAGE_ORDER.length)
  })

  it("noDotStuffing: a line that starts with '.' loses that dot (unavoidable), the framing holds", async () => {
    const { server, exit } = withMailbox({ noDotStuffing: true }, (mailbox) =>
      Effect.gen(function* () {
        const long = yield* collect(mailbox.retr(num("long")))
        return { long, stat: yield* mailbox.stat }
      })
    )
    const { long, stat } = success((await exit).exit!)
    const original = stored(server.store, num("long"))
    expect(long.length).toBe(original.length - 1)
    const dotAt = original.indexOf(0x2e)
    expect(long.subarray(0, dotAt)).toEqual(original.subarray(0, dotAt))
    expect(long.subarray(dotAt)).toEqual(original.subarray(dotAt + 1))
    expect(stat.count).toBe(MESSAGE_ORDER.length)
  })
})

describe("a CAPA answer is bounded on its own (not by the listing limits)", () => {
  const withCapa = (lines: number, width = 20) =>
    memoryServer({
      hooks: {
        commands: {
          CAPA: {
            states: ["AUTHORIZATION", "TRANSACTION"],
            run: (s) => {
              s.ok("Capability list follows")
              s.line("USER")
              for (let i = 1; i < lines; i++) s.line(`X-${String(i).padStart(width - 2, "0")}`)
              s.end()
            }
          }
        }
      }
    })
  const connecting = (server: ReturnType<typeof memoryServer>) =>
    run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        return session.capabilities().lines.length
      })
    )

  it(`${MAX_CAPA_LINES} lines are read; one more is a ProtocolError naming the limit, and nothing more is sent`, async () => {
    expect(success(await connecting(withCapa(MAX_CAPA_LINES)))).toBe(MAX_CAPA_LINES)
    const server = withCapa(MAX_CAPA_LINES + 1)
    const error = failure(await connecting(server))
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/longer than this client's limit of 1000 lines .*MAX_CAPA_LINES/)
    expect(server.commands).toEqual(["CAPA"])
  })

  it(`more than ${MAX_CAPA_OCTETS} octets in fewer lines: ProtocolError`, async () => {
    const error = failure(await connecting(withCapa(300, 1000)))
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/MAX_CAPA_LINES, MAX_CAPA_OCTETS/)
  })
})

describe("an answer about another message", () => {
  // A UID checked with uidlOne(n) before dele(n) must be message n's.
  for (const name of ["LIST", "UIDL"] as const) {
    it(`${name} n answered for message 9: ProtocolError, not message 9's entry`, async () => {
      const server = memoryServer({
        hooks: {
          commands: {
            [name]: {
              states: ["TRANSACTION"],
              run: (s) => s.okData(name === "LIST" ? "9 1234" : "9 someone-elses-uid")
            }
          }
        }
      })
      const exit = await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          const mailbox = yield* session.login(LOGIN)
          const asked: Effect.Effect<unknown, Pop3Error> = name === "LIST" ? mailbox.listOne(1) : mailbox.uidlOne(1)
          return yield* Effect.flip(asked)
        })
      )
      const error = success(exit)
      expect(error).toBeInstanceOf(ProtocolError)
      expect(error.message).toMatch(new RegExp(`${name} 1 was answered for message 9`))
    })
  }
})

describe("harmless quirks work", () => {
  it("bareOk: '+OK' without text everywhere (so no APOP)", async () => {
    const server = memoryServer({ behaviour: { bareOk: true } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const greeting = session.greeting
        const caps = session.capabilities().lines
        const mailbox = yield* session.login({ user: USER, password: PASSWORD, allowPlaintext: true })
        yield* mailbox.noop
        yield* mailbox.dele(1)
        yield* mailbox.rset
        const body = yield* collect(mailbox.retr(num("dots")))
        const stat = yield* mailbox.stat
        yield* mailbox.quit
        return { greeting, caps, body, stat }
      })
    )
    const { greeting, caps, body, stat } = success(exit)
    expect(greeting).toEqual({ text: "", code: undefined, apopTimestamp: undefined })
    expect(caps).toContain("USER")
    expect(body).toEqual(stored(server.store, num("dots")))
    expect(stat.count).toBe(MESSAGE_ORDER.length)
    expect(server.commands.some((c) => c.startsWith("APOP"))).toBe(false)
  })

  it("lfOnly: bare LF line ends; bodies keep LF exactly as sent", async () => {
    const { server, exit } = withMailbox({ lfOnly: true }, (mailbox) =>
      Effect.gen(function* () {
        const bodies: Array<Uint8Array> = []
        for (let n = 1; n <= MESSAGE_ORDER.length; n++) bodies.push(yield* collect(mailbox.retr(n)))
        const top = yield* collect(mailbox.top(num("plain"), 1))
        return {
          bodies,
          top,
          stat: yield* mailbox.stat,
          list: yield* mailbox.list,
          uidl: yield* mailbox.uidl,
          caps: yield* mailbox.capa
        }
      })
    )
    const r = success((await exit).exit!)
    r.bodies.forEach((body, i) => expect(body).toEqual(toLf(stored(server.store, i + 1))))
    expect(text(r.bodies[num("dots") - 1]!)).toBe(
      "Subject: dots\n\nstart\n.\n..\n...\n.hidden\n..double\n. a dot and a space\nmiddle . dot\n.\nthe line above is a single dot\n..\n"
    )
    expect(text(r.top)).toBe("From: bob@example.com\nTo: alice@example.com\nSubject: hello\n\nline one\n")
    expect(r.stat.count).toBe(MESSAGE_ORDER.length)
    expect(r.list.map((e) => e.msg)).toEqual([1, 2, 3, 4, 5])
    expect(r.uidl.map((e) => e.uid)).toEqual(server.store.messages(USER).map((m) => m.uid))
    expect(r.caps.entries.has("UIDL")).toBe(true)
  })

  it("wrongListSizes: LIST lies, RETR is still complete", async () => {
    const { server, exit } = withMailbox({ wrongListSizes: true }, (mailbox) =>
      Effect.gen(function* () {
        return {
          list: yield* mailbox.list,
          long: yield* collect(mailbox.retr(num("long"))),
          plain: yield* collect(mailbox.retr(num("plain")))
        }
      })
    )
    const { list, long, plain } = success((await exit).exit!)
    const real = stored(server.store, num("long"))
    expect(list[num("long") - 1]!.size).toBeLessThan(real.length)
    expect(long).toEqual(real)
    expect(plain).toEqual(stored(server.store, num("plain")))
  })

  it("uidlSpaces: runs of spaces in LIST and UIDL lines are parsed", async () => {
    const { server, exit } = withMailbox({ uidlSpaces: true }, (mailbox) =>
      Effect.gen(function* () {
        return {
          uidl: yield* mailbox.uidl,
          one: yield* mailbox.uidlOne(3),
          list: yield* mailbox.list,
          listOne: yield* mailbox.listOne(2)
        }
      })
    )
    const r = success((await exit).exit!)
    const messages = server.store.messages(USER)
    expect(r.uidl).toEqual(messages.map((m, i) => ({ msg: i + 1, uid: m.uid })))
    expect(r.one).toEqual({ msg: 3, uid: messages[2]!.uid })
    expect(r.list).toEqual(messages.map((m, i) => ({ msg: i + 1, size: m.data.length })))
    expect(r.listOne).toEqual({ msg: 2, size: messages[1]!.data.length })
  })

  it("duplicateUids: returned as the server sent them", async () => {
    const { server, exit } = withMailbox({ duplicateUids: true }, (mailbox) => mailbox.uidl)
    const uidl = success((await exit).exit!)
    const uids = server.store.messages(USER).map((m) => m.uid)
    expect(uidl).toEqual([
      { msg: 1, uid: uids[0] },
      { msg: 2, uid: uids[0] },
      { msg: 3, uid: uids[2] },
      { msg: 4, uid: uids[2] },
      { msg: 5, uid: uids[4] }
    ])
  })

  it("extraStatusText after STAT and LIST data is ignored", async () => {
    const { server, exit } = withMailbox({ extraStatusText: "(octets, roughly)" }, (mailbox) =>
      Effect.gen(function* () {
        return { stat: yield* mailbox.stat, one: yield* mailbox.listOne(1), list: yield* mailbox.list }
      })
    )
    const r = success((await exit).exit!)
    const messages = server.store.messages(USER)
    expect(r.stat).toEqual({ count: 5, size: messages.reduce((n, m) => n + m.data.length, 0) })
    expect(r.one).toEqual({ msg: 1, size: messages[0]!.data.length })
    expect(r.list.length).toBe(5)
  })
})

describe("login refusals carry their response codes", () => {
  const refused = async (behaviour: Behaviour, login: Partial<LoginSettings> = {}) => {
    const server = memoryServer({ behaviour })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const caps = session.capabilities()
        const error = yield* Effect.flip(
          session.login({ user: USER, password: PASSWORD, allowPlaintext: true, ...login })
        )
        return { caps, error }
      })
    )
    const { caps, error } = success(exit)
    expect(error).toBeInstanceOf(AuthError)
    return { server, caps, error: error as AuthError }
  }

  it("inUse: AuthError, retry temporary, code IN-USE, no second mechanism tried", async () => {
    const { error, server } = await refused({ inUse: true })
    expect(error.retry).toBe("temporary")
    expect(error.attempts).toEqual([
      { mechanism: "APOP", code: "IN-USE", text: "Mailbox is locked by another POP3 session" }
    ])
    expect(server.commands.some((c) => c.startsWith("USER"))).toBe(false)
  })

  it("a mailbox really locked by another session: IN-USE too", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const first = yield* connect(OPTIONS)
        yield* first.login(LOGIN)
        const second = yield* connect(OPTIONS)
        return yield* Effect.flip(second.login(LOGIN))
      })
    )
    const error = success(exit)
    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).attempts[0]?.code).toBe("IN-USE")
    expect((error as AuthError).retry).toBe("temporary")
  })

  it("loginDelay: LOGIN-DELAY is announced and the refusal is temporary", async () => {
    const { error, caps } = await refused({ loginDelay: 900 })
    expect(loginDelay(caps)).toBe(900)
    expect(error.retry).toBe("temporary")
    expect(error.attempts.at(-1)?.code).toBe("LOGIN-DELAY")
  })

  it("loginFailure '[AUTH] …': permanent, with the server's words", async () => {
    const { error } = await refused(
      { loginFailure: "[AUTH] Application-specific password required" },
      { mechanism: "user" }
    )
    expect(error.retry).toBe("permanent")
    expect(error.attempts).toEqual([
      { mechanism: "USER", code: "AUTH", text: "Application-specific password required" }
    ])
    expect(error.message).toMatch(
      /^login failed: USER was refused \(USER: \[AUTH\] Application-specific password required\)/
    )
  })

  it("loginFailure '[SYS/TEMP] …': temporary", async () => {
    const { error } = await refused({ loginFailure: "[SYS/TEMP] Try later" })
    expect(error.retry).toBe("temporary")
    expect(error.attempts.length).toBe(1)
  })

  it("loginFailure without a code: retry unknown", async () => {
    const { error } = await refused({ loginFailure: "lock busy" }, { mechanism: "apop" })
    expect(error.retry).toBe("unknown")
    expect(error.attempts).toEqual([{ mechanism: "APOP", code: undefined, text: "lock busy" }])
  })
})

describe("never hangs on scope close", () => {
  // Each program ends in test time, and after a broken read the next command fails at
  // once with the connection marked unusable: the server sees nothing more.
  const afterBrokenRead = (behaviour: Behaviour) =>
    withMailbox(behaviour, (mailbox) =>
      Effect.gen(function* () {
        const retr = yield* Effect.exit(collect(mailbox.retr(num("earlyDot"))))
        const stat = yield* Effect.flip(mailbox.stat)
        return { retr, stat }
      })
    )

  it("stallMidBody: the body times out once, STAT fails without a second wait, nothing more is sent", async () => {
    const { server, exit } = afterBrokenRead({ stallMidBody: true })
    const { exit: value, elapsed } = await exit
    const { retr, stat } = success(value!)
    expect(failure(retr)).toBeInstanceOf(TimeoutError)
    expect(stat).toMatchObject({
      _tag: "ConnectionClosed",
      reason: `an earlier wait timed out (the body of RETR ${num("earlyDot")})`
    })
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT)
    expect(elapsed).toBeLessThan(TIMEOUT * 2)
    expect(server.commands.at(-1)).toBe(`RETR ${num("earlyDot")}`)
  })

  it("closeMidBody: the body and STAT fail with ConnectionClosed, without waiting out a limit", async () => {
    const { server, exit } = afterBrokenRead({ closeMidBody: true })
    const { exit: value, elapsed } = await exit
    const { retr, stat } = success(value!)
    expect(failure(retr)).toMatchObject({ _tag: "ConnectionClosed", during: `the body of RETR ${num("earlyDot")}` })
    expect(stat).toBeInstanceOf(ConnectionClosed)
    expect(elapsed).toBeLessThan(TIMEOUT)
    expect(server.commands.at(-1)).toBe(`RETR ${num("earlyDot")}`)
  })

  it("noDotStuffing: the early end is read, STAT fails on the garbage before it is sent, without waiting out a limit", async () => {
    const { server, exit } = afterBrokenRead({ noDotStuffing: true })
    const { exit: value, elapsed } = await exit
    const { retr, stat } = success(value!)
    expect(text(success(retr))).toBe("Subject: early\r\n\r\nbefore\r\n")
    expect(stat).toBeInstanceOf(ProtocolError)
    expect(elapsed).toBeLessThan(TIMEOUT)
    // The garbage was found before STAT was written.
    expect(server.commands.at(-1)).toBe(`RETR ${num("earlyDot")}`)
  })
})

describe("listings are bounded (issue 12, item 9)", () => {
  const listing = (limits: { readonly lines: number; readonly octets: number }, behaviour: Behaviour = {}) => {
    const server = memoryServer({ behaviour })
    return run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(LOGIN)
        const uidl = yield* Effect.exit(mailbox.uidl.pipe(Effect.provideService(ListingLimits, limits)))
        // The listing was left half read: nothing more may be sent on this connection.
        const next = yield* Effect.exit(mailbox.noop)
        return { uidl, next, commands: server.commands.slice() }
      })
    ).then((exit) => ({ ...success(exit), server }))
  }

  it("more lines than ListingLimits.lines: ProtocolError, and the connection is dropped", async () => {
    const { uidl, next, commands } = await listing({ lines: 3, octets: 1_000_000 })
    expect(failure(uidl)).toBeInstanceOf(ProtocolError)
    expect(failure(uidl).message).toMatch(
      /the answer to UIDL is longer than this client's limit of 3 lines or 1000000 octets/
    )
    expect(failure(next)).toBeInstanceOf(ConnectionClosed)
    expect(commands.at(-1)).toBe("UIDL")
  })

  it("more octets than ListingLimits.octets: ProtocolError", async () => {
    const { uidl } = await listing({ lines: 1_000_000, octets: 40 })
    expect(failure(uidl)).toBeInstanceOf(ProtocolError)
  })

  it("a listing line over 8 KiB is a ProtocolError, not a crash", async () => {
    const { uidl, next } = await listing(
      { lines: 1_000_000, octets: 1_000_000 },
      { uid: (n, uid) => (n === 2 ? "u".repeat(10_000) : uid) }
    )
    expect(failure(uidl)).toBeInstanceOf(ProtocolError)
    expect(failure(uidl).message).toMatch(/a listing line is longer than 8192 octets/)
    expect(failure(next)).toBeInstanceOf(ConnectionClosed)
  })

  it("within the limits, listings are whole", async () => {
    const { uidl } = await listing({ lines: MESSAGE_ORDER.length, octets: 1_000_000 })
    expect(success(uidl)).toHaveLength(MESSAGE_ORDER.length)
  })
})

// Here, not in promise-lifecycle.test.ts (which runs in Chromium too): it needs node:net.
describe("Promise API: a body that never ends", () => {
  it("retr rejects with ProtocolError once past maxBodyOctets, rather than filling the memory", async () => {
    // A server whose RETR body goes on for ever, in time (each chunk well within the timeout).
    const sockets: Array<net.Socket> = []
    const server = net.createServer((socket) => {
      sockets.push(socket)
      socket.on("error", () => {})
      socket.write("+OK ready\r\n")
      socket.on("data", (chunk: Buffer) => {
        const line = chunk.toString("latin1")
        if (line.startsWith("CAPA")) socket.write("+OK\r\nUSER\r\n.\r\n")
        else if (line.startsWith("RETR")) {
          socket.write("+OK\r\n")
          const line76 = Buffer.from(`${"x".repeat(76)}\r\n`.repeat(800))
          const flood = () => {
            while (!socket.destroyed && socket.write(line76));
            if (!socket.destroyed) socket.once("drain", flood)
          }
          flood()
        } else socket.write("+OK\r\n")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      // timeout 1 s: after the error, what is left of the body is read away for at most that long.
      const session = await connectPromise({
        host: "127.0.0.1",
        port,
        tls: "none",
        timeout: 1000,
        maxBodyOctets: 4_000_000
      })
      const mailbox = await session.login({ user: "u", password: "p", allowPlaintext: true })
      await expect(mailbox.retr(1)).rejects.toMatchObject({
        _tag: "ProtocolError",
        reason: expect.stringMatching(/^the body is longer than this client's limit of 4000000 octets/)
      })
      await session.close()
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
