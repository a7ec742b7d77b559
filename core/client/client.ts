/**
 * The POP3 client: connect, log in, work with the mailbox.
 *
 * The types follow the protocol's states: `connect` gives an `Authorization` session,
 * which can only log in or quit; `login` gives a `Mailbox` (TRANSACTION), the only value
 * with `retr`, `dele` and friends. Calls that still reach the engine in the wrong state
 * (for example after `quit`) fail with `InvalidState`.
 *
 * The connection lives in the caller's `Scope`. Closing the scope ends the session: after
 * success it sends QUIT (committing deletions, as POP3 defines); after a failure or an
 * interruption it sends RSET first, so nothing is deleted by a session that went wrong —
 * some servers (Eudora QPOP) apply deletions on any disconnect.
 *
 * @module
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Pull from "effect/Pull"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { apop } from "../auth/apop.ts"
import type { AuthExchange, Mechanism } from "../auth/mechanism.ts"
import { cramMd5, login as loginMechanism, oauthbearer, plain, xoauth2 } from "../auth/mechanisms.ts"
import { scramSha1, scramSha256 } from "../auth/scram.ts"
import { userPass } from "../auth/user-pass.ts"
import { type Command, type EncodedCommand, lineBreakIn } from "../protocol/command.ts"
import { makeLineSplitter } from "../protocol/lines.ts"
import {
  apopTimestamp,
  type Capabilities,
  hasCapability,
  type ListEntry,
  noCapabilities,
  parseCapa,
  parseListLine,
  parseStat,
  parseUidlLine,
  type Stat,
  type UidlEntry
} from "../protocol/parse.ts"
import { RemoteProtocolError } from "../protocol/errors.ts"
import type { ResponseCode, StatusLine } from "../protocol/response.ts"
import { allowed, canQuit, type State } from "../protocol/state.ts"
import { Transport } from "../transport/transport.ts"
import { type Connection, makeConnection } from "./connection.ts"
import { type AuthAttempt, AuthError, InvalidArgument, type Pop3Error, ProtocolError, ServerError, TlsError } from "../errors.ts"
import { classifySocketError, openSocket } from "./open.ts"
import { type BodySink, PIPELINE_WINDOW, pipelined, pipelinedInto } from "./pipeline.ts"
import { type ConnectOptions, ListingLimits, type ResolvedOptions, resolveOptions } from "./options.ts"

/**
 * The server's greeting.
 * @category models
 */
export interface Greeting {
  readonly text: string
  readonly code: ResponseCode | undefined
  /** The APOP timestamp, when the server offers APOP. */
  readonly apopTimestamp: string | undefined
}

/**
 * The mechanisms `login` knows, strongest first. `auto` tries those the server offers in
 * this order — SCRAM-SHA-256 > SCRAM-SHA-1 > CRAM-MD5 > APOP > PLAIN > LOGIN > USER — and
 * only over an encrypted path unless `allowPlaintext`. It moves to the next only when a
 * refusal carries no response code, and stops after `MAX_AUTO_FAILURES` refusals. A
 * mechanism named explicitly must be offered by the server. XOAUTH2 and OAUTHBEARER take
 * an OAuth token as the password and are used only when named.
 * @category auth
 */
export const mechanisms: ReadonlyArray<Mechanism> = [
  scramSha256,
  scramSha1,
  cramMd5,
  apop,
  plain,
  loginMechanism,
  userPass,
  xoauth2,
  oauthbearer
]

// OAuth mechanisms take a token, not a password: only used when asked for by name.
const AUTO_EXCLUDED = new Set(["XOAUTH2", "OAUTHBEARER"])

/**
 * The most failed logins `auto` risks at the server: servers that send no response codes
 * (Courier) cannot say whether the password or the mechanism was wrong, and each failure
 * counts toward fail2ban and account lockouts. Two keep the useful case — an account that
 * cannot do CRAM-MD5 (Courier checking passwords through PAM) logs in with the next one.
 * @category auth
 */
export const MAX_AUTO_FAILURES = 2

/**
 * How to log in.
 * @category models
 */
export interface LoginOptions {
  readonly user: string
  readonly password: string | Redacted.Redacted<string>
  /** A mechanism name (`user`, `apop`, …) or `auto` (default): the strongest offered. */
  readonly mechanism?: string | undefined
  /**
   * Log in on a connection without TLS: plaintext mechanisms reveal the password, and
   * challenge-response ones (CRAM-MD5, APOP, SCRAM) a digest that can be cracked offline.
   * Default false.
   */
  readonly allowPlaintext?: boolean | undefined
}

/**
 * A session in the AUTHORIZATION state.
 * @category models
 */
export interface Authorization {
  readonly greeting: Greeting
  /** The latest CAPA answer (re-read after STLS); empty when the server has no CAPA. */
  readonly capabilities: () => Capabilities
  /** Whether the connection is encrypted. */
  readonly secure: boolean
  readonly state: () => State
  readonly capa: Effect.Effect<Capabilities, Pop3Error>
  readonly login: (options: LoginOptions) => Effect.Effect<Mailbox, Pop3Error>
  readonly quit: Effect.Effect<void, Pop3Error>
}

/**
 * A message (or its top) with its number.
 * @category models
 */
export interface Message {
  readonly msg: number
  readonly bytes: Uint8Array
}

/**
 * A session in the TRANSACTION state: the mailbox is locked for us.
 * @category models
 */
export interface Mailbox {
  /** Capabilities as re-read after login (some servers announce more then). */
  readonly capabilities: () => Capabilities
  readonly state: () => State
  readonly stat: Effect.Effect<Stat, Pop3Error>
  readonly list: Effect.Effect<ReadonlyArray<ListEntry>, Pop3Error>
  readonly listOne: (msg: number) => Effect.Effect<ListEntry, Pop3Error>
  readonly uidl: Effect.Effect<ReadonlyArray<UidlEntry>, Pop3Error>
  readonly uidlOne: (msg: number) => Effect.Effect<UidlEntry, Pop3Error>
  /** The message, exactly as sent (CRLF line ends), unstuffed, without the terminator. */
  readonly retr: (msg: number) => Stream.Stream<Uint8Array, Pop3Error>
  /** The header and the first `lines` body lines. */
  readonly top: (msg: number, lines: number) => Stream.Stream<Uint8Array, Pop3Error>
  /**
   * Headers (and `lines` body lines) of many messages, pipelined when the server supports
   * it — one round trip per window instead of per message. In order.
   */
  readonly topMany: (msgs: ReadonlyArray<number>, lines: number) => Stream.Stream<Message, Pop3Error>
  /** Many whole messages, pipelined when possible; each is collected in memory. In order. */
  readonly retrMany: (msgs: ReadonlyArray<number>) => Stream.Stream<Message, Pop3Error>
  /** Marks a message deleted; it is removed only when QUIT succeeds. */
  readonly dele: (msg: number) => Effect.Effect<void, Pop3Error>
  /** Marks many messages deleted, pipelined when possible. */
  readonly deleMany: (msgs: ReadonlyArray<number>) => Effect.Effect<void, Pop3Error>
  /** Unmarks every deleted message. */
  readonly rset: Effect.Effect<void, Pop3Error>
  readonly noop: Effect.Effect<void, Pop3Error>
  readonly capa: Effect.Effect<Capabilities, Pop3Error>
  /** Ends the session, committing deletions (UPDATE). `-ERR` means some were not removed. */
  readonly quit: Effect.Effect<void, Pop3Error>
}

/**
 * Collects a body stream into one byte array.
 * @category helpers
 */
export const collect = <E, R>(stream: Stream.Stream<Uint8Array, E, R>): Effect.Effect<Uint8Array, E, R> =>
  Stream.mkUint8Array(stream)

interface Established {
  readonly conn: Connection
  readonly greeting: Greeting
  readonly capabilities: Capabilities
  readonly secure: boolean
}

// Opens one connection: socket, greeting, CAPA, and STLS when asked (then CAPA again).
const establish = (resolved: ResolvedOptions): Effect.Effect<Established, Pop3Error, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const { target, trace } = resolved
    // Trace timestamps come from Effect's Clock, so tests can drive time with TestClock.
    const clock = yield* Clock.Clock
    const now = () => clock.currentTimeMillisUnsafe()
    const { name: transportName, startTls } = yield* Transport
    // Known before connecting: fail without opening a connection (through a bridge, that
    // would be an upstream connection and a plaintext CAPA for nothing).
    if (resolved.tls === "starttls" && !startTls) {
      return yield* new TlsError({ host: target.servername, reason: `the ${transportName} transport cannot do STLS; use implicit TLS` })
    }
    trace({ _tag: "Connecting", at: now(), host: target.host, port: target.port, tls: resolved.tls, transport: transportName })
    const { reader, writer, transport } = yield* openSocket(target)
    trace({ _tag: "Connected", at: now() })
    const conn = yield* makeConnection({ reader, writer, timeoutMillis: resolved.timeoutMillis, trace, now, classify: transport.classify })

    // Leave politely when the scope closes (see the module comment for why RSET on failure).
    yield* Effect.addFinalizer((exit) =>
      Effect.suspend(() => {
        // Only from a state QUIT may be sent in (the table's), and not mid-exchange.
        if (!canQuit(conn.state()) || !conn.idle()) return Effect.void
        const farewell = Effect.gen(function*() {
          if (Exit.isFailure(exit) && allowed[conn.state()].includes("RSET")) yield* conn.exec({ name: "RSET" })
          yield* conn.exec({ name: "QUIT" })
        })
        return conn.lock.withPermitsIfAvailable(1)(farewell).pipe(
          Effect.timeout(Math.min(resolved.timeoutMillis, 5000)),
          Effect.ignore,
          Effect.andThen(Effect.sync(() => trace({ _tag: "Closed", at: now(), reason: Exit.isFailure(exit) ? "scope closed after a failure" : "scope closed" })))
        )
      })
    )

    const first = yield* conn.read("the greeting")
    if (first._tag !== "Greeting") return yield* new ProtocolError({ reason: "expected a greeting" })
    if (first.status.kind !== "ok") {
      return yield* new ServerError({ command: "(greeting)", code: first.status.code, text: first.status.text })
    }
    const greeting: Greeting = { text: first.status.text, code: first.status.code, apopTimestamp: apopTimestamp(first.status.text) }

    let capabilities = yield* readCapa(conn)
    let secure = transport.secure?.(target) ?? target.tls === "implicit"

    if (resolved.tls === "starttls") {
      const encoded = yield* conn.write({ name: "STLS" })
      const status = yield* conn.status(encoded)
      if (status.kind !== "ok") {
        return yield* new TlsError({
          host: target.servername,
          reason: `the server refused STLS${status.text !== "" ? `: ${status.text}` : ""}${hasCapability(capabilities, "STLS") ? "" : " (it does not announce STLS; use --tls implicit, or --tls none to go without encryption)"}`
        })
      }
      yield* conn.upgrade(transport.upgradeOptions(target)).pipe(
        Effect.mapError((error) => (error._tag === "TimeoutError" ? error : classifySocketError(target, error, true, transport)))
      )
      secure = true
      // RFC 2595 §4: forget everything learned before TLS and ask again.
      capabilities = yield* readCapa(conn)
    }
    return { conn, greeting, capabilities, secure }
  })

/**
 * Connects, reads the greeting and capabilities, and does STLS when asked.
 * @category constructors
 */
export const connect = (options: ConnectOptions): Effect.Effect<Authorization, Pop3Error, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = resolveOptions(options)
    const context = yield* Effect.context<Transport | Scope.Scope>()
    let current = yield* establish(resolved)
    let capabilities = current.capabilities
    // Set by quit, by a successful login and by an abandoned exchange: from then on the
    // session never reconnects.
    let ended = false
    // Some servers (free.fr; MailKit #856) hang up after a failed login: the next
    // mechanism then needs a new connection.
    const reconnect = Effect.gen(function*() {
      current = yield* Effect.provideContext(establish(resolved), context)
      capabilities = current.capabilities
    })

    const login = (login: LoginOptions): Effect.Effect<Mailbox, Pop3Error> =>
      Effect.gen(function*() {
        const credentials = {
          user: login.user,
          password: Redacted.isRedacted(login.password) ? login.password : Redacted.make(login.password)
        }
        // Checked before any mechanism runs: otherwise APOP would already have sent a digest
        // of the broken password (and USER the name) before PASS refused to encode it, and
        // SASL's base64 would carry a NUL into PLAIN's NUL-separated fields.
        const unsafe = unsafeCharacter("user name", credentials.user) ?? unsafeCharacter("password", Redacted.value(credentials.password))
        if (unsafe !== undefined) return yield* unsafe
        const exchangeOf = (est: Established): AuthExchange => ({
          host: resolved.target.host,
          port: resolved.target.port,
          apopTimestamp: est.greeting.apopTimestamp,
          capabilities,
          secure: est.secure,
          abandon: est.conn.abandon,
          send: (command) => Effect.flatMap(est.conn.write(command), est.conn.status)
        })
        const candidates = yield* chooseMechanisms(exchangeOf(current), login)
        const attempts: Array<AuthAttempt> = []
        for (const mechanism of candidates) {
          let status: StatusLine | undefined
          for (let tries = 0; status === undefined; tries++) {
            // Only a connection the server ended before login is replaced: after the caller's
            // own quit, after a login (the mailbox owns the connection), or in ERROR (the
            // server broke the protocol) the engine answers with InvalidState.
            if (current.conn.state() === "CLOSED" && !ended) yield* reconnect
            const est = current
            const result = yield* Effect.result(est.conn.lock.withPermits(1)(Effect.gen(function*() {
              // RFC 6856: a UTF-8 user name needs UTF8 mode first, when the server has it.
              if (/[^\x00-\x7f]/.test(login.user) && hasCapability(capabilities, "UTF8")) {
                yield* Effect.ignore(est.conn.exec({ name: "UTF8" }))
              }
              return yield* mechanism.authenticate(exchangeOf(est), credentials)
            })))
            if (Result.isSuccess(result)) {
              status = result.success
            } else if (result.failure._tag === "ConnectionClosed" && tries === 0 && attempts.length > 0) {
              continue
            } else {
              // A mechanism that dropped the connection itself (a SCRAM server that did not
              // prove itself) ends the session: no reconnect to a possible impostor.
              if (result.failure._tag === "AuthError" && est.conn.state() === "CLOSED") ended = true
              return yield* result.failure
            }
          }
          if (status.kind === "ok") {
            const est = current
            ended = true
            capabilities = yield* est.conn.lock.withPermits(1)(readCapa(est.conn))
            return makeMailbox(est.conn, () => capabilities)
          }
          attempts.push({ mechanism: mechanism.name, code: status.code, text: status.text })
          // A response code means the server judged the account, not the mechanism: [AUTH]
          // (wrong credentials), [IN-USE], [LOGIN-DELAY], [SYS/…] will not change with
          // another mechanism, and each extra failure counts toward account lockouts.
          if (status.code !== undefined) break
          // Without a code (Courier) a refusal may mean "not this mechanism for this account"
          // (PAM cannot check CRAM-MD5) or a wrong password: one more mechanism, no more.
          if (attempts.length >= MAX_AUTO_FAILURES) break
        }
        const more = candidates.length > attempts.length && attempts.length >= MAX_AUTO_FAILURES && attempts.every((a) => a.code === undefined)
        return yield* new AuthError({
          attempts,
          reason: attempts.length === 1
            ? `${attempts[0]!.mechanism} was refused`
            : more
            ? `${attempts.length} mechanisms were refused; no more are tried, as each failed login counts toward lockouts`
            : "every mechanism tried was refused"
        })
      })

    return {
      greeting: current.greeting,
      capabilities: () => capabilities,
      secure: current.secure,
      state: () => current.conn.state(),
      capa: Effect.suspend(() => current.conn.lock.withPermits(1)(Effect.tap(readCapa(current.conn), (c) => Effect.sync(() => (capabilities = c))))),
      login,
      quit: Effect.suspend(() => {
        ended = true
        return current.conn.lock.withPermits(1)(quit(current.conn))
      })
    } satisfies Authorization
  })

// CR, LF or NUL would end a command line early (CPython #94019). Names the position, never the value.
const unsafeCharacter = (what: string, value: string): InvalidArgument | undefined => {
  const unsafe = lineBreakIn(value)
  return unsafe === undefined
    ? undefined
    : new InvalidArgument({ reason: `login: the ${what} contains a ${unsafe.name} character at position ${unsafe.index}; nothing was sent` })
}

// Why a named mechanism cannot be used with this server (RFC 1939 §7, RFC 2449, RFC 5034).
const notOfferedReason = (mechanism: Mechanism, exchange: AuthExchange): string => {
  if (mechanism.name === "APOP") return "the server's greeting has no APOP timestamp"
  if (mechanism.name === "USER") return "the server does not announce USER in its capabilities (some servers allow it only after STLS)"
  if (exchange.capabilities.refused !== undefined) return "the server has no CAPA, so it announces no SASL mechanisms"
  const sasl = exchange.capabilities.entries.get("SASL") ?? []
  return sasl.length === 0 ? "the server announces no SASL mechanisms" : `the server offers SASL ${sasl.join(" ")}`
}

const chooseMechanisms = (exchange: AuthExchange, login: LoginOptions): Effect.Effect<ReadonlyArray<Mechanism>, AuthError | InvalidArgument> => {
  const wanted = (login.mechanism ?? "auto").toUpperCase()
  // Without encryption every mechanism gives something away: plaintext ones the password,
  // challenge-response ones (CRAM-MD5, APOP, SCRAM) a digest that an active attacker, who
  // chooses the challenge, cracks offline. Either needs the caller's explicit consent.
  const unencryptedAllowed = login.allowPlaintext === true || exchange.secure
  const unencrypted = (names: ReadonlyArray<Mechanism>) => {
    const plaintext = names.filter((m) => m.plaintext).map((m) => m.name)
    const digests = names.filter((m) => !m.plaintext).map((m) => m.name)
    const parts = [
      ...(plaintext.length > 0 ? [`${plaintext.join(", ")} would send the password unencrypted`] : []),
      ...(digests.length > 0 ? [`${digests.join(", ")} would send a digest of it that an attacker on the path can crack offline`] : [])
    ]
    return new AuthError({ attempts: [], reason: `the connection is not encrypted: ${parts.join("; ")}; use TLS, or allow plaintext explicitly`, plaintextRefused: true })
  }
  if (wanted !== "AUTO") {
    const mechanism = mechanisms.find((m) => m.name === wanted)
    if (mechanism === undefined) {
      return Effect.fail(new InvalidArgument({ reason: `unknown authentication mechanism "${login.mechanism}" (known: auto, ${mechanisms.map((m) => m.name.toLowerCase()).join(", ")})` }))
    }
    // Refused here, before anything is sent: insisting would reach the server anyway (APOP
    // without a timestamp would even send an unsalted MD5 of the password).
    if (!mechanism.offered(exchange)) {
      return Effect.fail(new AuthError({ attempts: [], reason: `${mechanism.name} cannot be used: ${notOfferedReason(mechanism, exchange)}; nothing was sent`, notOffered: true }))
    }
    if (!unencryptedAllowed) return Effect.fail(unencrypted([mechanism]))
    return Effect.succeed([mechanism])
  }
  const offered = mechanisms.filter((m) => !AUTO_EXCLUDED.has(m.name) && m.offered(exchange))
  if (offered.length === 0) return Effect.fail(new AuthError({ attempts: [], reason: "the server offers no mechanism this client supports" }))
  if (!unencryptedAllowed) return Effect.fail(unencrypted(offered))
  return Effect.succeed(offered)
}

const readCapa = (conn: Connection): Effect.Effect<Capabilities, Pop3Error> =>
  Effect.gen(function*() {
    const encoded = yield* conn.write({ name: "CAPA" })
    const status = yield* conn.status(encoded)
    // RFC 2449 is an extension: a server without it answers -ERR, and that is fine.
    if (status.kind !== "ok") return { ...noCapabilities, refused: status.text }
    return parseCapa(yield* collectLines(conn, encoded))
  })

// A listing is held in memory, so it is bounded (ListingLimits): past the limit, or at a
// line too long, reading stops and the connection — left mid-body — is abandoned.
const collectLines = (conn: Connection, encoded: EncodedCommand): Effect.Effect<Array<string>, Pop3Error> =>
  Effect.gen(function*() {
    const limits = yield* ListingLimits
    const splitter = makeLineSplitter()
    const lines: Array<string> = []
    let octets = 0
    const refuse = (reason: string) =>
      Effect.andThen(conn.abandon(`the answer to ${encoded.redacted} was not read to its end`), Effect.fail(new ProtocolError({ reason })))
    yield* conn.collectBody(encoded, (bytes) => {
      octets += bytes.length
      try {
        for (const line of splitter.push(bytes)) lines.push(line)
      } catch (error) {
        if (error instanceof RemoteProtocolError) return refuse(error.message)
        throw error
      }
      if (lines.length > limits.lines || octets > limits.octets) {
        return refuse(`the answer to ${encoded.redacted} is longer than this client's limit of ${limits.lines} lines or ${limits.octets} octets (ListingLimits)`)
      }
    })
    for (const line of splitter.end()) lines.push(line)
    return lines
  })

const parsing = <A>(parse: () => A): Effect.Effect<A, ProtocolError> =>
  Effect.try({
    try: parse,
    catch: (error) => new ProtocolError({ reason: error instanceof RemoteProtocolError ? error.message : String(error) })
  })

const quit = (conn: Connection): Effect.Effect<void, Pop3Error> =>
  Effect.gen(function*() {
    const { status } = yield* Effect.flatMap(conn.write({ name: "QUIT" }), (encoded) =>
      Effect.map(conn.status(encoded), (status) => ({ encoded, status })))
    if (status.kind === "err") return yield* new ServerError({ command: "QUIT", code: status.code, text: status.text })
  })

const makeMailbox = (conn: Connection, capabilities: () => Capabilities): Mailbox => {
  const withLock = conn.lock.withPermits(1)
  const simple = (command: Command) => withLock(Effect.asVoid(conn.exec(command)))
  const listing = (command: Command) =>
    withLock(Effect.flatMap(conn.exec(command), ({ encoded }) => collectLines(conn, encoded)))

  const body = (command: Command): Stream.Stream<Uint8Array, Pop3Error> =>
    Stream.unwrap(Effect.gen(function*() {
      yield* Effect.acquireRelease(conn.lock.take(1), () => conn.lock.release(1))
      const { encoded } = yield* conn.exec(command)
      let finished = false
      // A consumer that stops early leaves the rest of the body on the wire; read it
      // away so the next command's answer is not mistaken for message bytes.
      yield* Effect.addFinalizer(() =>
        finished ? Effect.void : Effect.ignore(Effect.whileLoop({
          while: () => !finished,
          body: () => conn.read(`the rest of ${encoded.redacted}`),
          step: (event) => {
            if (event._tag !== "Body") finished = true
          }
        }))
      )
      const started = conn.now()
      let size = 0
      // A failed read (timeout, closed, garbage) leaves nothing worth draining: trying would
      // only wait out a second full timeout on a stalled server before reporting the first.
      const readBody = Effect.tapError(conn.read(`the body of ${encoded.redacted}`), () => Effect.sync(() => (finished = true)))
      const pull: Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, Pop3Error> = Effect.flatMap(readBody, (event): Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, Pop3Error> => {
        if (event._tag === "Body") {
          size += event.bytes.length
          return Effect.succeed([event.bytes])
        }
        finished = true
        if (event._tag === "BodyEnd") {
          conn.trace({ _tag: "Body", at: conn.now(), command: encoded.redacted, bytes: size, millis: conn.now() - started })
          return Cause.done()
        }
        return Effect.fail(new ProtocolError({ reason: `expected the body of ${encoded.redacted}, got ${event._tag}` }))
      })
      return Stream.fromPull(Effect.succeed(pull))
    }))

  const window = () => (hasCapability(capabilities(), "PIPELINING") ? PIPELINE_WINDOW : 1)
  const many = (msgs: ReadonlyArray<number>, command: (msg: number) => Command) =>
    Stream.map(pipelined(conn, msgs.map(command), window()), (a): Message => ({ msg: msgs[a.index]!, bytes: a.body ?? new Uint8Array(0) }))

  const mailbox: Mailbox = {
    capabilities,
    state: conn.state,
    topMany: (msgs, lines) => many(msgs, (msg) => ({ name: "TOP", msg, lines })),
    retrMany: (msgs) => many(msgs, (msg) => ({ name: "RETR", msg })),
    deleMany: (msgs) => Stream.runDrain(pipelined(conn, msgs.map((msg): Command => ({ name: "DELE", msg })), window())),
    stat: withLock(Effect.flatMap(conn.exec({ name: "STAT" }), ({ status }) => parsing(() => parseStat(status.text)))),
    list: Effect.flatMap(listing({ name: "LIST" }), (lines) => parsing(() => lines.map(parseListLine))),
    listOne: (msg) => withLock(Effect.flatMap(conn.exec({ name: "LIST", msg }), ({ status }) => parsing(() => parseListLine(status.text)))),
    uidl: Effect.flatMap(listing({ name: "UIDL" }), (lines) => parsing(() => lines.map(parseUidlLine))),
    uidlOne: (msg) => withLock(Effect.flatMap(conn.exec({ name: "UIDL", msg }), ({ status }) => parsing(() => parseUidlLine(status.text)))),
    retr: (msg) => body({ name: "RETR", msg }),
    top: (msg, lines) => body({ name: "TOP", msg, lines }),
    dele: (msg) => simple({ name: "DELE", msg }),
    rset: simple({ name: "RSET" }),
    noop: simple({ name: "NOOP" }),
    capa: withLock(readCapa(conn)),
    quit: withLock(quit(conn))
  }
  connections.set(mailbox, conn)
  return mailbox
}

// The connection behind each mailbox, for helpers of this package's own programs that are
// not part of the Mailbox API (`listings`).
const connections = new WeakMap<Mailbox, Connection>()

/**
 * What `listings` returns.
 * @internal
 */
export interface Listings {
  readonly uidl: Result.Result<ReadonlyArray<UidlEntry>, Pop3Error>
  /** Undefined when LIST was not sent (no PIPELINING and UIDL failed). */
  readonly list: Result.Result<ReadonlyArray<ListEntry>, Pop3Error> | undefined
}

/**
 * UIDL and LIST of a mailbox, in one round trip when the server announces PIPELINING (both
 * commands written at once, then both answers read). Each answer stands on its own: a
 * `-ERR` to one is returned as its `ServerError`, and the other is still read. Without
 * PIPELINING, UIDL then LIST, LIST only when UIDL succeeded — as a caller doing
 * `mailbox.uidl` then `mailbox.list` would. For `pop3 fetch`; not exported by the package.
 * @internal
 */
export const listings = (mailbox: Mailbox): Effect.Effect<Listings, Pop3Error> => {
  const conn = connections.get(mailbox)
  // A -ERR becomes the result; any other failure fails the whole.
  const serverError = <A>(effect: Effect.Effect<A, Pop3Error>): Effect.Effect<Result.Result<A, Pop3Error>, Pop3Error> =>
    Effect.flatMap(Effect.result(effect), (result) =>
      Result.isFailure(result) && result.failure._tag !== "ServerError" ? Effect.fail(result.failure) : Effect.succeed(result))
  if (conn === undefined || !hasCapability(mailbox.capabilities(), "PIPELINING")) {
    return Effect.flatMap(serverError(mailbox.uidl), (uidl): Effect.Effect<Listings, Pop3Error> =>
      Result.isSuccess(uidl) ? Effect.map(serverError(mailbox.list), (list) => ({ uidl, list })) : Effect.succeed({ uidl, list: undefined }))
  }
  const answer = <A>(encoded: EncodedCommand, parse: (line: string) => A): Effect.Effect<Result.Result<ReadonlyArray<A>, Pop3Error>, Pop3Error> =>
    serverError(Effect.flatMap(conn.status(encoded), (status) =>
      status.kind === "ok"
        ? Effect.flatMap(collectLines(conn, encoded), (lines) => parsing(() => lines.map(parse)))
        : Effect.fail(new ServerError({ command: encoded.redacted, code: status.code, text: status.text }))))
  return conn.lock.withPermits(1)(Effect.gen(function*(): Effect.fn.Return<Listings, Pop3Error> {
    const [uidl, list] = yield* conn.writeAll([{ name: "UIDL" }, { name: "LIST" }])
    return { uidl: yield* answer(uidl!, parseUidlLine), list: yield* answer(list!, parseListLine) }
  }))
}

/**
 * `retrMany` with each body handed to a sink as it arrives instead of being collected —
 * `pop3 fetch` writes large messages straight to disk, whatever size LIST announced. For
 * `pop3 fetch`; not exported by the package.
 * @internal
 */
export const retrManyInto = <A, E>(
  mailbox: Mailbox,
  msgs: ReadonlyArray<number>,
  sinkFor: (msg: number) => BodySink<A, E>
): Stream.Stream<{ readonly msg: number; readonly body: A }, Pop3Error | E> => {
  const conn = connections.get(mailbox)
  if (conn === undefined) return Stream.die(new Error("retrManyInto: not a mailbox of this client"))
  const window = hasCapability(mailbox.capabilities(), "PIPELINING") ? PIPELINE_WINDOW : 1
  // RETR is multi-line, so every +OK answer has a body (a -ERR fails the stream).
  return Stream.map(
    pipelinedInto(conn, msgs.map((msg): Command => ({ name: "RETR", msg })), window, (index) => sinkFor(msgs[index]!)),
    (answer) => ({ msg: msgs[answer.index]!, body: answer.body as A })
  )
}

