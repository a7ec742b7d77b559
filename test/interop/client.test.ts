// The Effect client against a real Dovecot: TLS (STLS and implicit, with certificate
// checks), every login mechanism the client has, every TRANSACTION command, byte-exact
// bodies up to 5 MB, stream cancellation, deletion semantics on QUIT and on failure,
// and what never leaks (passwords).
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Pop3 from "../../core/index.ts"
import type { ConnectOptions, Mailbox, Pop3Error, TraceEvent, Transport } from "../../core/index.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { closedPort, firstDifference, topOf, uid, UID_VALIDITY } from "./helpers.ts"

const available = requireService("Dovecot", dovecotAvailable())

const CANARY = "s3cr3t-CANARY-pw"
const BULK = Pop3.PIPELINE_WINDOW * 2 + 37

/** Runs a client program in its own scope over the Node transport. */
const run = <A, E>(effect: Effect.Effect<A, E, Transport | Scope.Scope>): Promise<A> =>
  Effect.runPromise(effect.pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

/** Runs a program that must fail and returns its error (the scope then closes as a success). */
const failure = <A, E>(effect: Effect.Effect<A, E, Transport | Scope.Scope>): Promise<E> => run(Effect.flip(effect))

/** The mechanisms the harness's Dovecot offers: its SASL list, APOP (greeting timestamp) and USER. */
const DOVECOT_OFFERS: ReadonlySet<string> = new Set([
  "SCRAM-SHA-256",
  "SCRAM-SHA-1",
  "CRAM-MD5",
  "PLAIN",
  "LOGIN",
  "APOP",
  "USER"
])

/** What `auto` should try against Dovecot, in order: the client's list, filtered to what is offered and allowed. */
const autoOrder = (secure: boolean) =>
  Pop3.mechanisms.filter((m) => DOVECOT_OFFERS.has(m.name) && (secure || !m.plaintext))

/** The client lines of a login exchange (commands and SASL continuations). */
const authLines = (sent: ReadonlyArray<string>): Array<string> => {
  const first = sent.findIndex(startsAttempt)
  if (first < 0) return []
  const end = sent.findIndex((l, i) => i > first && /^(CAPA|STAT|QUIT|LIST|UIDL|NOOP|RSET)$/.test(l))
  return sent.slice(first, end < 0 ? undefined : end)
}
const startsAttempt = (line: string): boolean => /^(APOP|USER|AUTH) /.test(line)

/** How the first line of an attempt with `mechanism` looks in the (redacted) trace. */
const firstLineOf = (mechanism: string, user: string): RegExp =>
  mechanism === "APOP"
    ? new RegExp(`^APOP ${user} \\*\\*\\*\\*$`)
    : mechanism === "USER"
      ? new RegExp(`^USER ${user}$`)
      : new RegExp(`^AUTH ${mechanism}( \\*\\*\\*\\*)?$`)

/** Forms in which a password could leak: as is, base64 (LOGIN), and PLAIN's base64 message. */
const leaks = (text: string, user: string, password: string): Array<string> => {
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64")
  const forms = [
    password,
    b64(password),
    b64(`\u0000${user}\u0000${password}`),
    b64(`${user}\u0000${user}\u0000${password}`)
  ]
  return forms.filter((form) => text.includes(form))
}

/** A tracer that keeps every event and can render them as the CLI would. */
const recorder = () => {
  const events: Array<TraceEvent> = []
  return {
    events,
    trace: (event: TraceEvent) => void events.push(event),
    sent: () => events.flatMap((e) => (e._tag === "Sent" ? [e.line] : [])),
    text: () => events.map((e) => Pop3.formatTraceEvent(e)).join("\n")
  }
}

describe.skipIf(!available)("the Effect client against Dovecot", () => {
  let server: Dovecot | undefined
  const started = performance.now()
  const timings: Array<string> = []
  const d = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }
  beforeAll(async () => {
    const t = performance.now()
    // More bulk messages than the pipelining window, so a refill happens on the wire.
    server = await startDovecot({ bulkMessages: BULK })
    timings.push(`startDovecot ${(performance.now() - t).toFixed(0)} ms`)
  })
  afterAll(async () => {
    await server?.stop()
    timings.push(`whole file ${(performance.now() - started).toFixed(0)} ms`)
    process.stdout.write(`[client.test.ts timings] ${timings.join("; ")}\n`)
  })

  // Connection options: plain (tls none), STLS and implicit TLS, all verified against the test CA.
  const plain = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
    host: d().host,
    port: d().port,
    tls: "none",
    ...extra
  })
  const stls = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
    host: d().host,
    port: d().port,
    tls: "starttls",
    ca: d().ca,
    servername: "localhost",
    ...extra
  })
  const implicit = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
    host: d().host,
    port: d().tlsPort,
    tls: "implicit",
    ca: d().ca,
    servername: "localhost",
    ...extra
  })
  type User = keyof Dovecot["users"]
  /** Connects over STLS and logs in with the default mechanism. */
  const mailbox = (
    user: User,
    options: ConnectOptions = stls()
  ): Effect.Effect<Mailbox, Pop3Error, Transport | Scope.Scope> =>
    Effect.flatMap(Pop3.connect(options), (session) =>
      session.login({
        user: d().users[user].user,
        password: d().users[user].password,
        allowPlaintext: options.tls === "none"
      })
    )
  const statOf = (user: User) => run(Effect.flatMap(mailbox(user), (m) => m.stat))

  describe("greeting and capabilities", () => {
    it("parses the greeting and its APOP timestamp", async () => {
      const greeting = await run(
        Effect.map(Pop3.connect(plain()), (s) => ({ greeting: s.greeting, state: s.state(), secure: s.secure }))
      )
      expect(greeting.greeting.text).toMatch(/^Dovecot test ready\. </)
      expect(greeting.greeting.code).toBeUndefined()
      // Dovecot's timestamp: <pid.counter.time.random@hostname>.
      expect(greeting.greeting.apopTimestamp).toMatch(/^<[^<>@\s]+@[^<>@\s]+>$/)
      expect(greeting.greeting.text.endsWith(greeting.greeting.apopTimestamp ?? "(none)")).toBe(true)
      expect(greeting.state).toBe("AUTHORIZATION")
      expect(greeting.secure).toBe(false)
    })

    it("reads CAPA before login (with STLS and SASL) and again after login (without them)", async () => {
      const result = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(plain())
          const before = session.capabilities()
          const reread = yield* session.capa
          const m = yield* session.login({
            user: "alice",
            password: d().users.alice.password,
            mechanism: "apop",
            allowPlaintext: true
          })
          const after = m.capabilities()
          const explicit = yield* m.capa
          // The session's view is "the latest CAPA answer", so it follows the login too.
          const sessionAfter = session.capabilities()
          return { before, reread, after, explicit, sessionAfter }
        })
      )
      expect(result.before.lines).toEqual(
        expect.arrayContaining(["TOP", "UIDL", "RESP-CODES", "PIPELINING", "STLS", "USER"])
      )
      expect(Pop3.saslMechanisms(result.before)).toEqual(["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
      expect(result.reread.lines).toEqual(result.before.lines)
      expect(Pop3.hasCapability(result.after, "UIDL")).toBe(true)
      expect(Pop3.hasCapability(result.after, "STLS")).toBe(false)
      expect(Pop3.hasCapability(result.after, "USER")).toBe(false)
      expect(Pop3.saslMechanisms(result.after)).toEqual([])
      expect(result.explicit.lines).toEqual(result.after.lines)
      expect(result.sessionAfter.lines).toEqual(result.after.lines)
    })
  })

  describe("TLS", () => {
    it("upgrades with STLS (cert checked for localhost via the test CA) and re-reads CAPA without STLS", async () => {
      const rec = recorder()
      const result = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(stls({ trace: rec.trace }))
          const caps = session.capabilities()
          const m = yield* session.login({ user: "alice", password: d().users.alice.password, mechanism: "user" })
          return { secure: session.secure, caps, stat: yield* m.stat }
        })
      )
      expect(result.secure).toBe(true)
      expect(Pop3.hasCapability(result.caps, "STLS")).toBe(false)
      expect(Pop3.hasCapability(result.caps, "USER")).toBe(true)
      expect(result.stat.count).toBe(5)
      // STLS, then TLS, then a fresh CAPA, then the login.
      const tags = rec.events.map((e) => (e._tag === "Sent" ? e.line : e._tag))
      // No CAPA before STLS (RFC 2595 §4 has it forgotten after TLS anyway).
      expect(tags.indexOf("STLS")).toBeLessThan(tags.indexOf("CAPA"))
      expect(tags.indexOf("TlsEstablished")).toBeGreaterThan(tags.indexOf("STLS"))
      expect(tags.indexOf("CAPA")).toBeGreaterThan(tags.indexOf("TlsEstablished"))
      expect(tags.indexOf("USER alice")).toBeGreaterThan(tags.indexOf("TlsEstablished"))
    })

    it("speaks implicit TLS on tlsPort", async () => {
      const result = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(implicit())
          const caps = session.capabilities()
          const m = yield* session.login({ user: "bob", password: d().users.bob.password, mechanism: "user" })
          return { secure: session.secure, caps, stat: yield* m.stat }
        })
      )
      expect(result.secure).toBe(true)
      expect(Pop3.hasCapability(result.caps, "STLS")).toBe(false)
      expect(Pop3.hasCapability(result.caps, "USER")).toBe(true)
      expect(result.stat.count).toBe(3)
    })

    it("verifies an IP host against the certificate's IP SAN when no servername is given", async () => {
      const secure = await run(Effect.map(Pop3.connect(implicit({ servername: undefined })), (s) => s.secure))
      expect(secure).toBe(true)
    })

    it("fails with TlsError when the self-signed certificate is not trusted (implicit and STLS)", async () => {
      const implicitError = await failure(Pop3.connect(implicit({ ca: undefined })))
      expect(implicitError._tag).toBe("TlsError")
      expect(implicitError.message).toMatch(/self-signed|self signed/i)
      const stlsError = await failure(Pop3.connect(stls({ ca: undefined })))
      expect(stlsError._tag).toBe("TlsError")
      expect(stlsError.message).toMatch(/self-signed|self signed/i)
    })

    it("accepts the untrusted certificate with insecure: true (implicit and STLS)", async () => {
      const viaImplicit = await run(
        Effect.map(Pop3.connect(implicit({ ca: undefined, insecure: true })), (s) => s.secure)
      )
      const viaStls = await run(Effect.map(Pop3.connect(stls({ ca: undefined, insecure: true })), (s) => s.secure))
      expect(viaImplicit).toBe(true)
      expect(viaStls).toBe(true)
    })

    it("fails with TlsError when the certificate does not match the servername (implicit and STLS)", async () => {
      for (const options of [implicit({ servername: "mail.example.org" }), stls({ servername: "mail.example.org" })]) {
        const error = await failure(Pop3.connect(options))
        expect(error._tag).toBe("TlsError")
        if (error._tag === "TlsError") expect(error.host).toBe("mail.example.org")
        expect(error.message).toMatch(/altname|does not match/i)
      }
    })

    it("fails with TlsError when implicit TLS meets the plain port", async () => {
      const error = await failure(Pop3.connect(implicit({ port: d().port })))
      expect(error._tag).toBe("TlsError")
    })

    it("times out (TimeoutError) when a plain client meets the TLS port, which never greets in clear", async () => {
      const error = await failure(Pop3.connect(plain({ port: d().tlsPort, timeout: 300 })))
      // The 300 ms limit on the greeting ended it (a hang would hit the test's own limit).
      expect(error).toMatchObject({ _tag: "TimeoutError", operation: "the greeting", millis: 300 })
    })

    it("fails with ConnectError on a closed port", async () => {
      const port = await closedPort()
      const error = await failure(Pop3.connect(plain({ port })))
      expect(error._tag).toBe("ConnectError")
      expect(error.message).toContain("ECONNREFUSED")
    })
  })

  describe("login", () => {
    it("logs in with USER/PASS and traces the password only as ****", async () => {
      const rec = recorder()
      const state = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(stls({ trace: rec.trace }))
          const m = yield* session.login({ user: "alice", password: d().users.alice.password, mechanism: "user" })
          return m.state()
        })
      )
      expect(state).toBe("TRANSACTION")
      expect(rec.sent()).toEqual(expect.arrayContaining(["USER alice", "PASS ****"]))
      expect(rec.sent().some((l) => l.startsWith("APOP"))).toBe(false)
      expect(rec.text()).not.toContain(d().users.alice.password)
    })

    it("logs in with APOP over plain TCP when allowed (no password on the wire) and traces the digest only as ****", async () => {
      const rec = recorder()
      const state = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(plain({ trace: rec.trace }))
          const m = yield* session.login({
            user: "alice",
            password: d().users.alice.password,
            mechanism: "apop",
            allowPlaintext: true
          })
          return m.state()
        })
      )
      expect(state).toBe("TRANSACTION")
      expect(rec.sent()).toContain("APOP alice ****")
      expect(rec.sent().some((l) => l.startsWith("USER") || l.startsWith("PASS"))).toBe(false)
      expect(rec.text()).not.toContain(d().users.alice.password)
    })

    it("auto picks the strongest mechanism Dovecot offers (never a plaintext one over plain TCP)", async () => {
      for (const options of [plain(), stls()]) {
        const rec = recorder()
        // Over plain TCP only with consent (a digest crosses too); auto still prefers a mechanism that does not reveal the password.
        await run(
          Effect.flatMap(Pop3.connect({ ...options, trace: rec.trace }), (s) =>
            s.login({ user: "bob", password: d().users.bob.password, allowPlaintext: options.tls === "none" })
          )
        )
        const expected = autoOrder(options.tls !== "none")[0]
        if (expected === undefined) throw new Error("no usable mechanism")
        if (options.tls === "none") expect(expected.plaintext).toBe(false)
        // One attempt, and it is the expected mechanism.
        expect(authLines(rec.sent())[0], options.tls).toMatch(firstLineOf(expected.name, "bob"))
        expect(authLines(rec.sent()).filter((l) => startsAttempt(l))).toHaveLength(1)
        expect(rec.text()).not.toContain(d().users.bob.password)
      }
    })

    it("logs in with every mechanism both sides support, and refuses a wrong password with each, never leaking it", async () => {
      const names = Pop3.mechanisms.map((m) => m.name).filter((name) => DOVECOT_OFFERS.has(name))
      expect(names).toEqual(expect.arrayContaining(["APOP", "USER"]))
      for (const name of names) {
        const good = recorder()
        const stat = await run(
          Effect.gen(function* () {
            const session = yield* Pop3.connect(stls({ trace: good.trace }))
            const m = yield* session.login({
              user: "alice",
              password: d().users.alice.password,
              mechanism: name.toLowerCase()
            })
            return yield* m.stat
          })
        )
        expect(stat.count, name).toBe(5)
        expect(authLines(good.sent())[0], name).toMatch(firstLineOf(name, "alice"))
        expect(leaks(good.text(), "alice", d().users.alice.password), name).toEqual([])

        const bad = recorder()
        const error = await failure(
          Effect.flatMap(Pop3.connect(stls({ trace: bad.trace })), (s) =>
            s.login({ user: "alice", password: CANARY, mechanism: name.toLowerCase() })
          )
        )
        if (error._tag !== "AuthError")
          throw new Error(`${name}: expected AuthError, got ${error._tag}: ${error.message}`)
        expect(error.attempts, name).toEqual([{ mechanism: name, code: "AUTH", text: "Authentication failed." }])
        expect(
          leaks(
            `${error.message}\n${JSON.stringify(error)}\n${bad.text()}\n${JSON.stringify(bad.events)}`,
            "alice",
            CANARY
          ),
          name
        ).toEqual([])
      }
    })

    it("refuses every plaintext mechanism over plain TCP without allowPlaintext, sending nothing of it", async () => {
      const plaintext = Pop3.mechanisms.filter((m) => m.plaintext && DOVECOT_OFFERS.has(m.name))
      expect(plaintext.map((m) => m.name)).toContain("USER")
      for (const mechanism of plaintext) {
        const rec = recorder()
        const error = await failure(
          Effect.flatMap(Pop3.connect(plain({ trace: rec.trace })), (s) =>
            s.login({ user: "alice", password: CANARY, mechanism: mechanism.name.toLowerCase() })
          )
        )
        expect(error._tag, mechanism.name).toBe("AuthError")
        if (error._tag === "AuthError") expect(error.attempts).toEqual([])
        expect(error.message).toMatch(/unencrypted/)
        expect(authLines(rec.sent()), mechanism.name).toEqual([])
        expect(leaks(rec.text(), "alice", CANARY)).toEqual([])
      }
    })

    it("allows USER/PASS over plain TCP with allowPlaintext", async () => {
      const rec = recorder()
      const stat = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(plain({ trace: rec.trace }))
          const m = yield* session.login({
            user: "bob",
            password: d().users.bob.password,
            mechanism: "user",
            allowPlaintext: true
          })
          return yield* m.stat
        })
      )
      expect(stat.count).toBe(3)
      expect(rec.sent()).toContain("PASS ****")
    })

    it("reports a wrong password as AuthError [AUTH], never showing the password; the session may try again", async () => {
      const rec = recorder()
      const result = await run(
        Effect.gen(function* () {
          const session = yield* Pop3.connect(stls({ trace: rec.trace }))
          const wrongUser = yield* Effect.flip(session.login({ user: "alice", password: CANARY, mechanism: "user" }))
          const wrongAuto = yield* Effect.flip(session.login({ user: "alice", password: CANARY }))
          const stateAfter = session.state()
          const m = yield* session.login({ user: "alice", password: d().users.alice.password, mechanism: "user" })
          return { wrongUser, wrongAuto, stateAfter, stat: yield* m.stat }
        })
      )
      const { wrongUser, wrongAuto } = result
      expect(wrongUser._tag).toBe("AuthError")
      if (wrongUser._tag !== "AuthError") throw new Error("unreachable")
      expect(wrongUser.attempts).toEqual([{ mechanism: "USER", code: "AUTH", text: "Authentication failed." }])
      expect(wrongUser.retry).toBe("permanent")
      // auto over TLS starts with the strongest offered mechanism; Dovecot's [AUTH] judges the
      // account, not the mechanism, so the client stops there instead of trying the others.
      if (wrongAuto._tag !== "AuthError") throw new Error(`expected AuthError, got ${wrongAuto._tag}`)
      expect(wrongAuto.attempts).toEqual([
        { mechanism: autoOrder(true)[0]?.name, code: "AUTH", text: "Authentication failed." }
      ])
      for (const error of [wrongUser, wrongAuto]) {
        expect(leaks(`${error.message}\n${JSON.stringify(error)}\n${String(error)}`, "alice", CANARY)).toEqual([])
      }
      expect(leaks(`${rec.text()}\n${JSON.stringify(rec.events)}`, "alice", CANARY)).toEqual([])
      // The explicit USER attempts (wrong, then right), and any inside auto: PASS always redacted.
      const passes = rec.sent().filter((l) => l.startsWith("PASS"))
      expect(passes.length).toBeGreaterThanOrEqual(2)
      expect(new Set(passes)).toEqual(new Set(["PASS ****"]))
      expect(result.stateAfter).toBe("AUTHORIZATION")
      expect(result.stat.count).toBe(5)
    })

    it("reports an unknown user like a wrong password", async () => {
      const error = await failure(
        Effect.flatMap(Pop3.connect(stls()), (s) => s.login({ user: "nobody", password: CANARY, mechanism: "user" }))
      )
      expect(error._tag).toBe("AuthError")
      expect(error.message).toContain("[AUTH]")
    })

    it("refuses a user name with CRLF as InvalidArgument before sending it", async () => {
      const rec = recorder()
      const error = await failure(
        Effect.flatMap(Pop3.connect(stls({ trace: rec.trace })), (s) =>
          s.login({ user: "alice\r\nDELE 1", password: "x", mechanism: "user" })
        )
      )
      expect(error._tag).toBe("InvalidArgument")
      expect(rec.sent().some((l) => l.startsWith("USER") || l.startsWith("DELE"))).toBe(false)
    })
  })

  describe("TRANSACTION commands", () => {
    const alice = () => d().messages("alice")

    it("STAT, LIST, LIST n, UIDL and UIDL n match the seeded mailbox", async () => {
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("alice")
          return {
            stat: yield* m.stat,
            list: yield* m.list,
            list2: yield* m.listOne(2),
            list5: yield* m.listOne(5),
            uidl: yield* m.uidl,
            uidl3: yield* m.uidlOne(3)
          }
        })
      )
      const messages = alice()
      expect(result.stat).toEqual({ count: 5, size: messages.reduce((s, m) => s + m.length, 0) })
      expect(result.list).toEqual(messages.map((m, i) => ({ msg: i + 1, size: m.length })))
      expect(result.list2).toEqual({ msg: 2, size: messages[1]?.length })
      expect(result.list5.size).toBeGreaterThan(5_000_000)
      expect(result.uidl).toEqual(messages.map((_, i) => ({ msg: i + 1, uid: uid(i + 1, UID_VALIDITY.alice) })))
      expect(result.uidl3).toEqual({ msg: 3, uid: "000000036553f100" })
    })

    it("TOP n 0 gives the header and the blank line; TOP n 3 adds three body lines, unstuffed", async () => {
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("alice")
          return {
            top1: yield* Pop3.collect(m.top(1, 0)),
            top2: yield* Pop3.collect(m.top(2, 3)),
            top5: yield* Pop3.collect(m.top(5, 3))
          }
        })
      )
      const messages = alice()
      expect(firstDifference(result.top1, topOf(messages[0], 0))).toBeUndefined()
      expect(firstDifference(result.top2, topOf(messages[1], 3))).toBeUndefined()
      expect(firstDifference(result.top5, topOf(messages[4], 3))).toBeUndefined()
      // Message 2's body starts "line before", ".leading dot line", "..two leading dots".
      expect(Buffer.from(result.top2).toString("latin1")).toMatch(
        /\r\n\r\nline before\r\n\.leading dot line\r\n\.\.two leading dots\r\n$/
      )
      expect(Buffer.from(result.top1).toString("latin1")).toMatch(/\r\n\r\n$/)
    })

    it("RETR gives every message byte for byte, including the 5 MB one", async () => {
      const t = performance.now()
      const bodies = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("alice")
          const out: Array<Uint8Array> = []
          for (let i = 1; i <= 5; i++) out.push(yield* Pop3.collect(m.retr(i)))
          return out
        })
      )
      timings.push(
        `RETR 1..5 (${alice().reduce((s, m) => s + m.length, 0)} octets) ${(performance.now() - t).toFixed(0)} ms`
      )
      expect(bodies).toHaveLength(5)
      for (const [i, body] of bodies.entries()) {
        expect(firstDifference(body, alice()[i]), `message ${i + 1}`).toBeUndefined()
      }
    })

    it("RETR over implicit TLS is byte-exact for the 5 MB message too, and arrives in many chunks", async () => {
      const chunks = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("alice", implicit())
          return yield* Stream.runCollect(m.retr(5))
        })
      )
      expect(chunks.length).toBeGreaterThan(1)
      const joined = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)))
      expect(firstDifference(joined, alice()[4])).toBeUndefined()
    })

    it("a consumer that takes only the first chunk of the 5 MB message leaves the session usable", async () => {
      const rec = recorder()
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("alice", stls({ trace: rec.trace }))
          const first = yield* Stream.runCollect(Stream.take(m.retr(5), 1))
          yield* m.noop
          const stat = yield* m.stat
          const again = yield* Pop3.collect(m.retr(2))
          const top = yield* Pop3.collect(m.top(5, 0))
          return { first, stat, again, top }
        })
      )
      expect(result.first).toHaveLength(1)
      const chunk = result.first[0]
      if (chunk === undefined) throw new Error("no chunk")
      expect(chunk.length).toBeGreaterThan(0)
      expect(chunk.length).toBeLessThan(alice()[4]?.length ?? 0)
      expect(firstDifference(chunk, alice()[4]?.subarray(0, chunk.length))).toBeUndefined()
      expect(result.stat.count).toBe(5)
      expect(firstDifference(result.again, alice()[1])).toBeUndefined()
      expect(firstDifference(result.top, topOf(alice()[4], 0))).toBeUndefined()
      // The drained remainder is traced as a finished body, then NOOP is answered +OK.
      const lines = rec.events.flatMap((e) =>
        e._tag === "Sent" ? [`C: ${e.line}`] : e._tag === "Received" ? [`S: ${e.line}`] : []
      )
      expect(lines.slice(lines.indexOf("C: NOOP"), lines.indexOf("C: NOOP") + 2)).toEqual(["C: NOOP", "S: +OK"])
    })

    it("RETR 99 and DELE 99 fail with ServerError and leave the session usable", async () => {
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("bob")
          const retr = yield* Effect.flip(Pop3.collect(m.retr(99)))
          const dele = yield* Effect.flip(m.dele(99))
          const top = yield* Effect.flip(Pop3.collect(m.top(4, 0)))
          const list = yield* Effect.flip(m.listOne(99))
          yield* m.noop
          return { retr, dele, top, list, stat: yield* m.stat }
        })
      )
      for (const [error, command] of [
        [result.retr, "RETR 99"],
        [result.dele, "DELE 99"],
        [result.top, "TOP 4 0"],
        [result.list, "LIST 99"]
      ] as const) {
        expect(error._tag).toBe("ServerError")
        if (error._tag === "ServerError") {
          expect(error.command).toBe(command)
          expect(error.text).not.toBe("")
        }
      }
      expect(result.stat.count).toBe(3)
    })

    it("DELE of an already deleted message fails with ServerError", async () => {
      const error = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("bob")
          yield* m.dele(1)
          const error = yield* Effect.flip(m.dele(1))
          yield* m.rset
          return error
        })
      )
      expect(error._tag).toBe("ServerError")
      expect(error.message).toMatch(/deleted/i)
      expect((await statOf("bob")).count).toBe(3)
    })

    it("an empty mailbox: STAT 0 0, LIST and UIDL empty", async () => {
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("empty")
          return {
            stat: yield* m.stat,
            list: yield* m.list,
            uidl: yield* m.uidl,
            retr: yield* Effect.flip(Pop3.collect(m.retr(1)))
          }
        })
      )
      expect(result.stat).toEqual({ count: 0, size: 0 })
      expect(result.list).toEqual([])
      expect(result.uidl).toEqual([])
      expect(result.retr._tag).toBe("ServerError")
    })

    it(`lists a ${BULK}-message mailbox in order`, async () => {
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("bulk")
          return { list: yield* m.list, uidl: yield* m.uidl, last: yield* Pop3.collect(m.retr(BULK)) }
        })
      )
      expect(result.list.map((e) => e.size)).toEqual(
        d()
          .messages("bulk")
          .map((m) => m.length)
      )
      expect(result.uidl.map((e) => e.uid)).toEqual(
        d()
          .messages("bulk")
          .map((_, i) => uid(i + 1, UID_VALIDITY.bulk))
      )
      expect(firstDifference(result.last, d().messages("bulk")[BULK - 1])).toBeUndefined()
    })
  })

  describe("pipelining (Dovecot announces PIPELINING)", () => {
    const range = (from: number, to: number): Array<number> => Array.from({ length: to - from + 1 }, (_, i) => from + i)
    /** The most commands of `name` ever written and not yet answered, from the trace. */
    const maxInFlight = (events: ReadonlyArray<TraceEvent>, name: string): number => {
      let inflight = 0
      let max = 0
      for (const e of events) {
        if (e._tag === "Sent" && e.line.startsWith(`${name} `)) max = Math.max(max, ++inflight)
        if (e._tag === "Received" && e.command?.startsWith(`${name} `) === true) inflight--
      }
      return max
    }

    it("topMany over the whole bulk mailbox: every header in order, with a bounded window really in flight", async () => {
      const rec = recorder()
      const t = performance.now()
      const tops = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("bulk", stls({ trace: rec.trace }))
          return yield* Stream.runCollect(m.topMany(range(1, BULK), 0))
        })
      )
      timings.push(`topMany x${BULK} ${(performance.now() - t).toFixed(0)} ms`)
      expect(tops.map((x) => x.msg)).toEqual(range(1, BULK))
      for (const x of tops)
        expect(firstDifference(x.bytes, topOf(d().messages("bulk")[x.msg - 1], 0)), `TOP ${x.msg}`).toBeUndefined()
      const max = maxInFlight(rec.events, "TOP")
      expect(max).toBeGreaterThan(1)
      expect(max).toBeLessThanOrEqual(Pop3.PIPELINE_WINDOW)
    })

    it("retrMany gives alice's messages byte for byte, the 5 MB one included", async () => {
      const rec = recorder()
      const messages = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("alice", stls({ trace: rec.trace }))
          return yield* Stream.runCollect(m.retrMany([5, 1, 2, 3, 4]))
        })
      )
      expect(messages.map((x) => x.msg)).toEqual([5, 1, 2, 3, 4])
      for (const x of messages)
        expect(firstDifference(x.bytes, d().messages("alice")[x.msg - 1]), `RETR ${x.msg}`).toBeUndefined()
      expect(maxInFlight(rec.events, "RETR")).toBeGreaterThan(1)
    })

    it("stopping retrMany early reads away the answers in flight; the session stays in step", async () => {
      const result = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("bulk")
          const first = yield* Stream.runCollect(Stream.take(m.retrMany(range(1, BULK)), 3))
          yield* m.noop
          return { first, stat: yield* m.stat, uidl: yield* m.uidlOne(BULK), again: yield* Pop3.collect(m.retr(4)) }
        })
      )
      expect(result.first.map((x) => x.msg)).toEqual([1, 2, 3])
      expect(result.stat.count).toBe(BULK)
      expect(result.uidl).toEqual({ msg: BULK, uid: uid(BULK, UID_VALIDITY.bulk) })
      expect(firstDifference(result.again, d().messages("bulk")[3])).toBeUndefined()
    })

    it("deleMany then QUIT removes exactly those messages", async () => {
      const doomed = [...range(1, 150), BULK]
      try {
        await run(
          Effect.gen(function* () {
            const m = yield* mailbox("bulk")
            yield* m.deleMany(doomed)
            yield* m.quit
          })
        )
        const uids = await run(Effect.flatMap(mailbox("bulk"), (m) => m.uidl))
        expect(uids.map((e) => e.uid)).toEqual(range(151, BULK - 1).map((n) => uid(n, UID_VALIDITY.bulk)))
      } finally {
        await d().reset()
      }
      expect((await statOf("bulk")).count).toBe(BULK)
    })

    it("deleMany with a missing message fails with ServerError, and the failed scope deletes nothing", async () => {
      const rec = recorder()
      const exit = await Effect.runPromiseExit(
        Effect.gen(function* () {
          const m = yield* mailbox("bulk", stls({ trace: rec.trace }))
          const error = yield* Effect.flip(m.deleMany([1, 2, BULK + 1, 4, 5]))
          // The session is still in step after the batch.
          yield* m.noop
          return yield* Effect.fail(error)
        }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
      )
      if (!Exit.isFailure(exit)) throw new Error("expected a failure")
      const error = exit.cause.reasons.find((r) => r._tag === "Fail")
      expect(error?._tag === "Fail" ? error.error : undefined).toMatchObject({
        _tag: "ServerError",
        command: `DELE ${BULK + 1}`
      })
      expect(rec.sent().slice(-3)).toEqual(["NOOP", "RSET", "QUIT"])
      expect((await statOf("bulk")).count).toBe(BULK)
    })
  })

  describe("deletion", () => {
    it("DELE then RSET keeps the message", async () => {
      const inSession = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("bob")
          yield* m.dele(2)
          const deleted = yield* Effect.flip(Pop3.collect(m.retr(2)))
          yield* m.rset
          const back = yield* Pop3.collect(m.retr(2))
          yield* m.quit
          return { deleted, back, state: m.state() }
        })
      )
      expect(inSession.deleted._tag).toBe("ServerError")
      expect(firstDifference(inSession.back, d().messages("bob")[1])).toBeUndefined()
      expect(inSession.state).toBe("CLOSED")
      expect(await statOf("bob")).toEqual({
        count: 3,
        size: d()
          .messages("bob")
          .reduce((s, m) => s + m.length, 0)
      })
    })

    it("DELE then QUIT removes the message for the next session", async () => {
      try {
        await run(
          Effect.gen(function* () {
            const m = yield* mailbox("bob")
            yield* m.dele(1)
            yield* m.quit
          })
        )
        const after = await run(
          Effect.gen(function* () {
            const m = yield* mailbox("bob")
            return { stat: yield* m.stat, uidl: yield* m.uidl, first: yield* Pop3.collect(m.retr(1)) }
          })
        )
        const bob = d().messages("bob")
        expect(after.stat).toEqual({ count: 2, size: (bob[1]?.length ?? 0) + (bob[2]?.length ?? 0) })
        // The survivors keep their UIDs; message numbers shift down.
        expect(after.uidl).toEqual([
          { msg: 1, uid: uid(2, UID_VALIDITY.bob) },
          { msg: 2, uid: uid(3, UID_VALIDITY.bob) }
        ])
        expect(firstDifference(after.first, bob[1])).toBeUndefined()
      } finally {
        await d().reset()
      }
      expect((await statOf("bob")).count).toBe(3)
    })

    it("closing the scope after DELE without QUIT, successfully, commits (QUIT in the finalizer)", async () => {
      const rec = recorder()
      try {
        await run(
          Effect.gen(function* () {
            const m = yield* mailbox("bob", stls({ trace: rec.trace }))
            yield* m.dele(3)
          })
        )
        expect(rec.sent().slice(-2)).toEqual(["DELE 3", "QUIT"])
        expect((await statOf("bob")).count).toBe(2)
      } finally {
        await d().reset()
      }
    })

    it("closing the scope with a failure after DELE sends RSET, so nothing is deleted", async () => {
      const rec = recorder()
      const exit = await Effect.runPromiseExit(
        Effect.gen(function* () {
          const m = yield* mailbox("bob", stls({ trace: rec.trace }))
          yield* m.dele(1)
          yield* m.dele(2)
          return yield* Effect.fail("boom" as const)
        }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(rec.sent().slice(-4)).toEqual(["DELE 1", "DELE 2", "RSET", "QUIT"])
      const closed = rec.events.find((e) => e._tag === "Closed")
      expect(closed?._tag === "Closed" ? closed.reason : undefined).toMatch(/failure/)
      expect(await statOf("bob")).toEqual({
        count: 3,
        size: d()
          .messages("bob")
          .reduce((s, m) => s + m.length, 0)
      })
    })

    it("closing the scope by interruption after DELE also keeps the message", async () => {
      const rec = recorder()
      const exit = await Effect.runPromiseExit(
        Effect.gen(function* () {
          const m = yield* mailbox("bob", stls({ trace: rec.trace }))
          yield* m.dele(1)
          return yield* Effect.interrupt
        }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(rec.sent().slice(-3)).toEqual(["DELE 1", "RSET", "QUIT"])
      expect((await statOf("bob")).count).toBe(3)
    })
  })

  describe("two sessions for one user", () => {
    it("Dovecot lets both in; each keeps its own view, and a message expunged by one is an error for the other", async () => {
      try {
        const result = await run(
          Effect.gen(function* () {
            const a = yield* mailbox("bob")
            const b = yield* mailbox("bob", plain())
            const bBefore = yield* b.stat
            yield* a.dele(1)
            // A deletion mark is private to its session until QUIT.
            const bWhileMarked = yield* Pop3.collect(b.retr(1))
            yield* a.quit
            const bAfter = yield* b.stat
            const bRetr = yield* Effect.flip(Pop3.collect(b.retr(1)))
            const bRetr2 = yield* Pop3.collect(b.retr(2))
            yield* b.quit
            return { bBefore, bWhileMarked, bAfter, bRetr, bRetr2 }
          })
        )
        const bob = d().messages("bob")
        expect(result.bBefore.count).toBe(3)
        expect(firstDifference(result.bWhileMarked, bob[0])).toBeUndefined()
        // B's numbering is a snapshot from its login (RFC 1939 §5: numbers are fixed for the session).
        expect(result.bAfter.count).toBe(3)
        expect(result.bRetr._tag).toBe("ServerError")
        expect(result.bRetr.message).toMatch(/expunged/i)
        expect(firstDifference(result.bRetr2, bob[1])).toBeUndefined()
        expect((await statOf("bob")).count).toBe(2)
      } finally {
        await d().reset()
      }
    })
  })

  describe("after QUIT", () => {
    it("commands on a closed session fail with InvalidState and send nothing", async () => {
      const rec = recorder()
      const error = await run(
        Effect.gen(function* () {
          const m = yield* mailbox("empty", stls({ trace: rec.trace }))
          yield* m.quit
          const sentBefore = rec.sent().length
          const error = yield* Effect.flip(m.stat)
          return { error, extra: rec.sent().length - sentBefore }
        })
      )
      expect(error.error._tag).toBe("InvalidState")
      expect(error.extra).toBe(0)
    })
  })
})
