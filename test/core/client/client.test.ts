// The client against the dev server over the in-memory transport: the happy path of every
// operation, byte-exact bodies, how the scope ends a session, and the argument checks that
// must stop a command before anything is sent.

import { md5 } from "@noble/hashes/legacy.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/index.ts"
import type { ConnectOptions, LoginOptions } from "../../../core/index.ts"
import { AuthError, InvalidArgument, InvalidState, ServerError } from "../../../core/errors.ts"
import type { CommandSpec } from "../../../dev-server/server.ts"
import {
  failure,
  memoryServer,
  MESSAGE_ORDER,
  MESSAGES,
  num,
  PASSWORD,
  run,
  stored,
  success,
  text,
  USER
} from "./harness.ts"

const OPTIONS: ConnectOptions = { host: "memory.test", tls: "none", timeout: 2000 }
const PLAIN_LOGIN: LoginOptions = { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true }

const enc = new TextEncoder()

/** The header, the blank line and the first `lines` body lines, found independently of the server. */
const topOf = (data: Uint8Array, lines: number): Uint8Array => {
  const s = new TextDecoder("latin1").decode(data)
  const headerEnd = s.indexOf("\r\n\r\n") + 4
  let end = headerEnd
  for (let i = 0; i < lines && end < s.length; i++) end = s.indexOf("\r\n", end) + 2
  return data.subarray(0, end)
}

describe("connect", () => {
  it("reads the greeting with its APOP timestamp and the capabilities", async () => {
    const server = memoryServer()
    const session = success(await run(server.layer, connect(OPTIONS)))
    expect(session.greeting.text).toMatch(/^POP3 dev server ready <\d+\.\d+@pop3-dev-server>$/)
    expect(session.greeting.apopTimestamp).toMatch(/^<\d+\.\d+@pop3-dev-server>$/)
    expect(session.greeting.text.endsWith(session.greeting.apopTimestamp!)).toBe(true)
    expect(session.greeting.code).toBeUndefined()
    expect(session.secure).toBe(false)
    expect(session.capabilities().lines).toEqual([
      "TOP",
      "UIDL",
      "USER",
      "RESP-CODES",
      "AUTH-RESP-CODE",
      "PIPELINING",
      "IMPLEMENTATION pop3-dev-server"
    ])
    expect(session.capabilities().entries.get("IMPLEMENTATION")).toEqual(["pop3-dev-server"])
    // Closing the scope without logging in says goodbye.
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("has no APOP timestamp when the greeting has none", async () => {
    const server = memoryServer({ behaviour: { greeting: "+OK [SYS/TEMP] plain hello" } })
    const session = success(await run(server.layer, connect(OPTIONS)))
    expect(session.greeting).toEqual({ text: "plain hello", code: "SYS/TEMP", apopTimestamp: undefined })
  })

  it("fails with ServerError when the greeting is -ERR", async () => {
    const server = memoryServer({ behaviour: { greeting: "-ERR [SYS/TEMP] too busy" } })
    const error = failure(await run(server.layer, connect(OPTIONS)))
    expect(error).toBeInstanceOf(ServerError)
    expect(error).toMatchObject({ command: "(greeting)", code: "SYS/TEMP", text: "too busy" })
    expect((error as ServerError).retry).toBe("temporary")
    expect(server.commands).toEqual([])
  })

  it("works with a server without CAPA (empty capabilities, USER assumed)", async () => {
    const server = memoryServer({ behaviour: { capa: false } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        expect(session.capabilities().lines).toEqual([])
        const mailbox = yield* session.login(PLAIN_LOGIN)
        return yield* mailbox.stat
      })
    )
    expect(success(exit).count).toBe(MESSAGE_ORDER.length)
  })

  it("re-reads CAPA after login (Gmail announces more then)", async () => {
    const server = memoryServer({
      behaviour: {
        capa: (state) => (state === "AUTHORIZATION" ? ["USER"] : ["TOP", "UIDL", "PIPELINING", "EXPIRE 30"])
      }
    })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const before = session.capabilities().lines
        const mailbox = yield* session.login(PLAIN_LOGIN)
        const again = yield* mailbox.capa
        return { before, after: mailbox.capabilities().lines, again: again.lines }
      })
    )
    expect(success(exit)).toEqual({
      before: ["USER"],
      after: ["TOP", "UIDL", "PIPELINING", "EXPIRE 30"],
      again: ["TOP", "UIDL", "PIPELINING", "EXPIRE 30"]
    })
  })

  it("refuses STLS on the memory transport with TlsError, before sending STLS", async () => {
    const server = memoryServer()
    const error = failure(await run(server.layer, connect({ host: "memory.test", tls: "starttls", timeout: 2000 })))
    expect(error._tag).toBe("TlsError")
    expect(error.message).toMatch(/the memory transport cannot do STLS/)
    expect(server.commands).not.toContain("STLS")
    expect(server.commands.some((c) => c.startsWith("USER") || c.startsWith("APOP"))).toBe(false)
  })

  it("defaults to STLS on port 110, so the memory transport refuses without tls: none", async () => {
    const server = memoryServer()
    const error = failure(await run(server.layer, connect({ host: "memory.test", timeout: 2000 })))
    expect(error._tag).toBe("TlsError")
  })
})

describe("login", () => {
  it("logs in with USER/PASS when plaintext is allowed", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        expect(session.state()).toBe("AUTHORIZATION")
        const mailbox = yield* session.login(PLAIN_LOGIN)
        expect(mailbox.state()).toBe("TRANSACTION")
        expect(session.state()).toBe("TRANSACTION")
        yield* mailbox.quit
        return mailbox.state()
      })
    )
    expect(success(exit)).toBe("CLOSED")
    expect(server.commands).toEqual(["CAPA", `USER ${USER}`, `PASS ${PASSWORD}`, "CAPA", "QUIT"])
  })

  // A login on a fresh memory server that must fail: the error, and the server to inspect.
  const loginFailure = async (login: LoginOptions) => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        return yield* session.login(login)
      })
    )
    return { server, error: failure(exit) }
  }

  it("a port outside 1–65535 or a missing host: InvalidArgument before any connection", async () => {
    for (const [options, reason] of [
      [{ ...OPTIONS, port: 99999 }, /^port must be a whole number from 1 to 65535, got 99999$/],
      [{ ...OPTIONS, port: 0 }, /got 0$/],
      [{ ...OPTIONS, port: 110.5 }, /got 110\.5$/],
      [{ ...OPTIONS, host: "" }, /^host must be a server name or address$/],
      [{ ...OPTIONS, host: undefined }, /^host must be a server name or address$/]
    ] as const) {
      const server = memoryServer()
      const error = failure(await run(server.layer, connect(options as unknown as ConnectOptions)))
      expect(error).toBeInstanceOf(InvalidArgument)
      expect(error.message).toMatch(reason)
      expect(server.sessions.length).toBe(0)
    }
  })

  it("a missing user or password (from JavaScript, or process.env.X!): InvalidArgument, nothing sent", async () => {
    for (const [login, reason] of [
      [{ user: USER, password: undefined }, /^login needs a password, a string \(got undefined\)$/],
      [{ user: undefined, password: PASSWORD }, /^login needs user, a string \(got undefined\)$/],
      [{ user: USER, password: 42 }, /^login needs a password, a string \(got number\)$/]
    ] as const) {
      const { server, error } = await loginFailure({ ...login, allowPlaintext: true } as unknown as LoginOptions)
      expect(error).toBeInstanceOf(InvalidArgument)
      expect(error.message).toMatch(reason)
      expect(server.commands).toEqual(["CAPA", "QUIT"])
    }
  })

  it("refuses USER/PASS over a plain connection unless allowed, sending nothing", async () => {
    const { server, error } = await loginFailure({ user: USER, password: PASSWORD, mechanism: "user" })
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toMatch(/unencrypted/)
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("logs in with APOP: the digest of timestamp + password, never the password", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login({
          user: USER,
          password: PASSWORD,
          mechanism: "apop",
          allowPlaintext: true
        })
        yield* mailbox.quit
        return session.greeting.apopTimestamp!
      })
    )
    const timestamp = success(exit)
    const digest = bytesToHex(md5(enc.encode(timestamp + PASSWORD)))
    expect(server.commands).toEqual(["CAPA", `APOP ${USER} ${digest}`, "CAPA", "QUIT"])
  })

  it("auto picks APOP first (with allowPlaintext: a digest crosses the unencrypted path)", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login({ user: USER, password: PASSWORD, allowPlaintext: true })
        return yield* mailbox.stat
      })
    )
    expect(success(exit).count).toBe(MESSAGE_ORDER.length)
    expect(server.commands[1]).toMatch(/^APOP alice [0-9a-f]{32}$/)
    expect(server.commands.join("\n")).not.toContain(PASSWORD)
  })

  it("auto without an APOP timestamp on a plain connection refuses to send the password", async () => {
    const server = memoryServer({ behaviour: { greeting: "+OK hello" } })
    const error = failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          return yield* session.login({ user: USER, password: PASSWORD, mechanism: "auto" })
        })
      )
    )
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toMatch(/not encrypted: USER would send the password unencrypted/)
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("auto falls back from a refused APOP to USER/PASS", async () => {
    const refuseApop: CommandSpec = { states: ["AUTHORIZATION"], run: (s) => s.err("APOP disabled here") }
    const server = memoryServer({ hooks: { commands: { APOP: refuseApop } } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login({ user: USER, password: PASSWORD, allowPlaintext: true })
        return yield* mailbox.stat
      })
    )
    expect(success(exit).count).toBe(MESSAGE_ORDER.length)
    expect(server.commands.map((c) => c.split(" ")[0])).toEqual([
      "CAPA",
      "APOP",
      "USER",
      "PASS",
      "CAPA",
      "STAT",
      "QUIT"
    ])
  })

  it("a wrong password is an AuthError; a refusal with a response code stops auto (no lockout fodder)", async () => {
    const server = memoryServer()
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
    const auth = error as AuthError
    expect(auth.attempts).toEqual([{ mechanism: "APOP", code: "AUTH", text: "Authentication failed" }])
    expect(auth.retry).toBe("permanent")
    expect(auth.untried).toBe("USER")
    // APOP refused with [AUTH]: USER/PASS is not tried (lockouts), the message names it as the way out.
    expect(auth.message).toMatch(
      /^login failed: APOP was refused; USER was not tried, as each failed login counts toward lockouts — if the password is right, the server may be unable to check it with APOP \(an account checked through PAM, LDAP or saslauthd\): ask for USER by name \(APOP: \[AUTH\] Authentication failed\)/
    )
    expect(server.commands.some((c) => c.startsWith("USER") || c.startsWith("PASS"))).toBe(false)
  })

  it("an unknown mechanism is InvalidArgument, nothing sent", async () => {
    const server = memoryServer()
    const error = failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          return yield* session.login({ user: USER, password: PASSWORD, mechanism: "kerberos" })
        })
      )
    )
    expect(error).toBeInstanceOf(InvalidArgument)
    expect(error.message).toMatch(/unknown authentication mechanism "kerberos"/)
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("mechanism names are case-insensitive", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        yield* session.login({ user: USER, password: PASSWORD, mechanism: "ApOp", allowPlaintext: true })
      })
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(server.commands[1]).toMatch(/^APOP /)
  })

  it("quit in AUTHORIZATION ends the session; login afterwards is InvalidState", async () => {
    const server = memoryServer()
    const error = failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          yield* session.quit
          expect(session.state()).toBe("CLOSED")
          return yield* session.login(PLAIN_LOGIN)
        })
      )
    )
    expect(error).toBeInstanceOf(InvalidState)
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })
})

describe("unsafe arguments are refused before anything is sent", () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ["CR LF in the user name", "ali\r\nce", PASSWORD],
    ["LF in the user name", "alice\n", PASSWORD],
    ["CR in the user name", "\ralice", PASSWORD],
    ["CR LF in the password", USER, `${PASSWORD}\r\nDELE 1`],
    ["LF in the password", USER, `${PASSWORD}\n`],
    ["CR in the password", USER, `\r${PASSWORD}`],
    ["NUL in the password", USER, `${PASSWORD}\u0000`]
  ]
  for (const mechanism of ["user", "apop", "auto"]) {
    for (const [name, user, password] of cases) {
      it(`${name} (${mechanism})`, async () => {
        const server = memoryServer()
        const error = failure(
          await run(
            server.layer,
            Effect.gen(function* () {
              const session = yield* connect(OPTIONS)
              return yield* session.login({ user, password, mechanism, allowPlaintext: true })
            })
          )
        )
        expect(error).toBeInstanceOf(InvalidArgument)
        expect(error.message).toMatch(/(CR|LF|NUL) character at position \d+/)
        expect(error.message).not.toContain(PASSWORD)
        expect(JSON.stringify(error)).not.toContain(PASSWORD)
        // Only the greeting's CAPA and the farewell: no USER, PASS or APOP line at all.
        expect(server.commands).toEqual(["CAPA", "QUIT"])
      })
    }
  }

  it("a 255-octet command line is sent, a 256-octet one is InvalidArgument", async () => {
    const server = memoryServer()
    const fits = "u".repeat(255 - "USER \r\n".length)
    const tooLong = fits + "u"
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const long = yield* Effect.flip(
          session.login({ user: tooLong, password: "x", mechanism: "user", allowPlaintext: true })
        )
        expect(server.commands).toEqual(["CAPA"])
        const refused = yield* Effect.flip(
          session.login({ user: fits, password: "x", mechanism: "user", allowPlaintext: true })
        )
        return { long, refused }
      })
    )
    const { long, refused } = success(exit)
    expect(long).toBeInstanceOf(InvalidArgument)
    expect(long.message).toMatch(/256 octets, over the 255-octet limit/)
    expect(refused).toBeInstanceOf(AuthError) // the line went out; the server just did not know the user
    expect(server.commands.slice(0, 3)).toEqual(["CAPA", `USER ${fits}`, "PASS x"])
  })

  it("bad message numbers are InvalidArgument and nothing is sent", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        const sentBefore = server.commands.length
        const errors = [
          yield* Effect.flip(collect(mailbox.retr(0))),
          yield* Effect.flip(collect(mailbox.retr(1.5))),
          yield* Effect.flip(collect(mailbox.top(1, -1))),
          yield* Effect.flip(mailbox.dele(-3)),
          yield* Effect.flip(mailbox.listOne(Number.NaN)),
          yield* Effect.flip(mailbox.uidlOne(2 ** 60))
        ]
        expect(server.commands.length).toBe(sentBefore)
        // The session is still usable.
        const stat = yield* mailbox.stat
        return { errors, stat }
      })
    )
    const { errors, stat } = success(exit)
    for (const error of errors) expect(error).toBeInstanceOf(InvalidArgument)
    expect(stat.count).toBe(MESSAGE_ORDER.length)
  })
})

describe("the mailbox", () => {
  it("stat, list, listOne, uidl and uidlOne match the store", async () => {
    const server = memoryServer()
    const messages = server.store.messages(USER)
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        return {
          stat: yield* mailbox.stat,
          list: yield* mailbox.list,
          listOne: yield* mailbox.listOne(3),
          uidl: yield* mailbox.uidl,
          uidlOne: yield* mailbox.uidlOne(2)
        }
      })
    )
    const result = success(exit)
    expect(result.stat).toEqual({ count: messages.length, size: messages.reduce((n, m) => n + m.data.length, 0) })
    expect(result.list).toEqual(messages.map((m, i) => ({ msg: i + 1, size: m.data.length })))
    expect(result.listOne).toEqual({ msg: 3, size: messages[2]!.data.length })
    expect(result.uidl).toEqual(messages.map((m, i) => ({ msg: i + 1, uid: m.uid })))
    expect(result.uidlOne).toEqual({ msg: 2, uid: messages[1]!.uid })
  })

  it("an empty mailbox lists nothing", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login({
          user: "empty",
          password: "empty-pw",
          mechanism: "user",
          allowPlaintext: true
        })
        return [yield* mailbox.stat, yield* mailbox.list, yield* mailbox.uidl] as const
      })
    )
    expect(success(exit)).toEqual([{ count: 0, size: 0 }, [], []])
  })

  it("retr returns every message byte-exact: dot lines, 8-bit bytes, 200 KB lines", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        const bodies: Array<Uint8Array> = []
        for (let n = 1; n <= MESSAGE_ORDER.length; n++) bodies.push(yield* collect(mailbox.retr(n)))
        // The session is in step afterwards.
        const stat = yield* mailbox.stat
        return { bodies, stat }
      })
    )
    const { bodies, stat } = success(exit)
    expect(stat.count).toBe(MESSAGE_ORDER.length)
    MESSAGE_ORDER.forEach((_, i) => expect(bodies[i]).toEqual(stored(server.store, i + 1)))
    // Spot checks that the fixtures contain what they claim.
    expect(text(bodies[num("dots") - 1]!)).toBe(MESSAGES.dots)
    expect(bodies[num("eightBit") - 1]!.includes(0xff)).toBe(true)
    expect(bodies[num("long") - 1]!.length).toBeGreaterThan(300_000)
  })

  it("top returns the header and the first n body lines", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        return {
          plain0: yield* collect(mailbox.top(num("plain"), 0)),
          plain2: yield* collect(mailbox.top(num("plain"), 2)),
          dots6: yield* collect(mailbox.top(num("dots"), 6)),
          dotsAll: yield* collect(mailbox.top(num("dots"), 1000)),
          long1: yield* collect(mailbox.top(num("long"), 1))
        }
      })
    )
    const r = success(exit)
    const s = server.store
    expect(text(r.plain0)).toBe("From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\n")
    expect(text(r.plain2)).toBe(`${text(r.plain0)}line one\r\nline two\r\n`)
    expect(r.plain2).toEqual(topOf(stored(s, num("plain")), 2))
    expect(text(r.dots6)).toBe("Subject: dots\r\n\r\nstart\r\n.\r\n..\r\n...\r\n.hidden\r\n..double\r\n")
    expect(r.dotsAll).toEqual(stored(s, num("dots")))
    expect(r.long1).toEqual(topOf(stored(s, num("long")), 1))
    expect(r.long1.length).toBe("Subject: long\r\n\r\n".length + 200_002)
  })

  it("dele marks, rset unmarks, noop answers; DELE is committed only by QUIT", async () => {
    const server = memoryServer()
    const uids = server.store.messages(USER).map((m) => m.uid)
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        yield* mailbox.dele(1)
        expect((yield* mailbox.stat).count).toBe(4)
        yield* mailbox.rset
        expect((yield* mailbox.stat).count).toBe(5)
        yield* mailbox.dele(2)
        yield* mailbox.dele(3)
        const again = yield* Effect.flip(mailbox.dele(2))
        const gone = yield* Effect.flip(collect(mailbox.retr(2)))
        yield* mailbox.noop
        // Nothing is removed before QUIT.
        expect(server.store.messages(USER).length).toBe(5)
        yield* mailbox.quit
        return { again, gone }
      })
    )
    const { again, gone } = success(exit)
    expect(again).toBeInstanceOf(ServerError)
    expect(again.message).toMatch(/^DELE 2 refused: -ERR Message 2 is already deleted$/)
    expect(gone).toBeInstanceOf(ServerError)
    expect(server.store.messages(USER).map((m) => m.uid)).toEqual([uids[0], uids[3], uids[4]])
  })

  it("-ERR on a command is a ServerError with the redacted command and the server's text", async () => {
    const server = memoryServer()
    const error = failure(
      await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          const mailbox = yield* session.login(PLAIN_LOGIN)
          return yield* collect(mailbox.retr(99))
        })
      )
    )
    expect(error).toBeInstanceOf(ServerError)
    expect(error).toMatchObject({ command: "RETR 99", text: "There is no message 99" })
    expect(error.message).toBe("RETR 99 refused: -ERR There is no message 99")
  })

  it("operations started together are serialized on the wire and all answer correctly", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        return yield* Effect.all(
          [
            mailbox.stat,
            collect(mailbox.retr(num("long"))),
            mailbox.list,
            collect(mailbox.retr(num("dots"))),
            mailbox.uidl
          ],
          {
            concurrency: "unbounded"
          }
        )
      })
    )
    const [stat, long, list, dots, uidl] = success(exit)
    expect(stat.count).toBe(5)
    expect(long).toEqual(stored(server.store, num("long")))
    expect(list.length).toBe(5)
    expect(dots).toEqual(stored(server.store, num("dots")))
    expect(uidl.length).toBe(5)
  })

  it("retr, stat and dele after quit are InvalidState and send nothing", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        yield* mailbox.quit
        return [
          yield* Effect.flip(collect(mailbox.retr(1))),
          yield* Effect.flip(mailbox.stat),
          yield* Effect.flip(mailbox.dele(1))
        ]
      })
    )
    for (const error of success(exit)) {
      expect(error).toBeInstanceOf(InvalidState)
      expect(error.message).toMatch(/not allowed in the CLOSED state/)
    }
    expect(server.commands.slice(-1)).toEqual(["QUIT"])
    expect(server.commands.filter((c) => c === "QUIT").length).toBe(1)
  })
})

describe("closing the scope", () => {
  it("after success sends QUIT, so deletions are committed", async () => {
    const server = memoryServer()
    const before = server.store.messages(USER).length
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        yield* mailbox.dele(1)
      })
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    await server.settled()
    expect(server.commands.slice(-2)).toEqual(["DELE 1", "QUIT"])
    expect(server.commands).not.toContain("RSET")
    expect(server.store.messages(USER).length).toBe(before - 1)
  })

  for (const commitOnDisconnect of [false, true]) {
    const label = commitOnDisconnect ? " (even on a QPOP-style server that commits on disconnect)" : ""
    it(`after a failure sends RSET then QUIT, so nothing is deleted${label}`, async () => {
      const server = memoryServer({ behaviour: { commitOnDisconnect } })
      const before = server.store.messages(USER).map((m) => m.uid)
      const exit = await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          const mailbox = yield* session.login(PLAIN_LOGIN)
          yield* mailbox.dele(1)
          yield* mailbox.dele(2)
          return yield* Effect.fail("storing the message failed" as const)
        })
      )
      expect(failure(exit)).toBe("storing the message failed")
      await server.settled()
      expect(server.commands.slice(-4)).toEqual(["DELE 1", "DELE 2", "RSET", "QUIT"])
      expect(server.store.messages(USER).map((m) => m.uid)).toEqual(before)
    })

    it(`after a ServerError sends RSET then QUIT${label}`, async () => {
      const server = memoryServer({ behaviour: { commitOnDisconnect } })
      const exit = await run(
        server.layer,
        Effect.gen(function* () {
          const session = yield* connect(OPTIONS)
          const mailbox = yield* session.login(PLAIN_LOGIN)
          yield* mailbox.dele(1)
          return yield* collect(mailbox.retr(42))
        })
      )
      expect(failure(exit)).toBeInstanceOf(ServerError)
      await server.settled()
      expect(server.commands.slice(-4)).toEqual(["DELE 1", "RETR 42", "RSET", "QUIT"])
      expect(server.store.messages(USER).length).toBe(5)
    })
  }

  it("after an interruption sends RSET then QUIT", async () => {
    const server = memoryServer({ behaviour: { commitOnDisconnect: true } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        yield* mailbox.dele(1)
        return yield* Effect.interrupt
      })
    )
    expect(Exit.isFailure(exit)).toBe(true)
    await server.settled()
    expect(server.commands.slice(-3)).toEqual(["DELE 1", "RSET", "QUIT"])
    expect(server.store.messages(USER).length).toBe(5)
  })

  it("releases the mailbox lock, so the next session can log in", async () => {
    const server = memoryServer()
    const once = Effect.gen(function* () {
      const session = yield* connect(OPTIONS)
      const mailbox = yield* session.login(PLAIN_LOGIN)
      return yield* mailbox.stat
    })
    success(await run(server.layer, once))
    success(
      await run(server.layer, Effect.flatMap(once, () => Effect.fail("boom")).pipe(Effect.catch(() => Effect.void)))
    )
    expect(success(await run(server.layer, once)).count).toBe(5)
    await server.settled()
    expect(server.sessions.length).toBe(3)
    expect(server.store.isLocked(USER)).toBe(false)
  })
})

describe("bodies as streams", () => {
  it("a body abandoned after its first chunk is drained, and the next command works", async () => {
    const server = memoryServer()
    const long = stored(server.store, num("long"))
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        const first = yield* Stream.runCollect(Stream.take(mailbox.retr(num("long")), 1))
        const stat = yield* mailbox.stat
        const plain = yield* collect(mailbox.retr(num("plain")))
        const again = yield* collect(mailbox.retr(num("long")))
        return { first, stat, plain, again }
      })
    )
    const { first, stat, plain, again } = success(exit)
    expect(first.length).toBe(1)
    expect(first[0]!.length).toBeGreaterThan(0)
    expect(first[0]!.length).toBeLessThan(long.length) // it really was abandoned early
    expect(long.subarray(0, first[0]!.length)).toEqual(first[0])
    expect(stat.count).toBe(5)
    expect(plain).toEqual(stored(server.store, num("plain")))
    expect(again).toEqual(long)
  })

  it("a body abandoned by a failing consumer is drained too", async () => {
    const server = memoryServer({ behaviour: { writeChunkSize: 16 } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        const consumed = yield* Effect.flip(
          Stream.runForEach(mailbox.retr(num("dots")), () => Effect.fail("disk full" as const))
        )
        return { consumed, uidl: yield* mailbox.uidlOne(2) }
      })
    )
    const { consumed, uidl } = success(exit)
    expect(consumed).toBe("disk full")
    expect(uidl).toEqual({ msg: 2, uid: server.store.messages(USER)[1]!.uid })
  })

  it("an unconsumed body stream sends nothing", async () => {
    const server = memoryServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(OPTIONS)
        const mailbox = yield* session.login(PLAIN_LOGIN)
        mailbox.retr(1) // built, never run
        return yield* mailbox.noop
      })
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(server.commands.some((c) => c.startsWith("RETR"))).toBe(false)
  })
})
