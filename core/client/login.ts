/**
 * Logging in: choose the mechanisms (`registry.ts`), try them in order, reconnect when a
 * server hung up after a failed attempt, and stop early so a wrong password costs few
 * failed logins.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type { AuthExchange, Mechanism } from "../auth/mechanism.ts"
import { chooseMechanisms, MAX_AUTO_FAILURES } from "../auth/registry.ts"
import { type AuthAttempt, AuthError, InvalidArgument, InvalidState, type Pop3Error } from "../errors.ts"
import { lineBreakIn } from "../protocol/command.ts"
import { type Capabilities, hasCapability } from "../protocol/parse.ts"
import type { StatusLine } from "../protocol/response.ts"
import type { Established } from "./establish.ts"
import { type Mailbox, makeMailbox } from "./mailbox.ts"
import { ListingLimits, type ResolvedOptions } from "./options.ts"
import { capaAnswer, readCapa } from "./read.ts"

/**
 * How to log in: a user name and either a password or (XOAUTH2, OAUTHBEARER) an OAuth
 * token. A `password` given to a mechanism that takes a token is sent as the token, as
 * before tokens had a field of their own; a `token` is never given to a password mechanism.
 * @category models
 */
export type LoginOptions = LoginSettings &
  (
    | { readonly password: string | Redacted.Redacted<string>; readonly token?: undefined }
    | { readonly token: string | Redacted.Redacted<string>; readonly password?: undefined }
  )

/**
 * What `LoginOptions` has besides the secret.
 * @category models
 */
export interface LoginSettings {
  readonly user: string
  /**
   * A mechanism name (`user`, `apop`, `scram-sha-256`, … any case; see `mechanisms`), a
   * `Mechanism` of your own, or `auto` (default): the strongest offered that takes a password.
   */
  readonly mechanism?: string | Mechanism | undefined
  /**
   * Log in on a connection without TLS: plaintext mechanisms reveal the password, and
   * challenge-response ones (CRAM-MD5, APOP, SCRAM) a digest that can be cracked offline.
   * Default false.
   */
  readonly allowPlaintext?: boolean | undefined
  /**
   * Save the round trip of the CAPA after login: when the server announced PIPELINING, it
   * is written at once and its answer read with the next command's, which it rides with.
   * Until that command is answered, `Mailbox.capabilities()` returns those from before
   * login; the commands after it follow what the new CAPA says. Default false: login
   * returns once the new capabilities are known.
   */
  readonly capaWithNextCommand?: boolean | undefined
}

/**
 * What the session and its login share: the connection in use (replaced on reconnect),
 * the latest capabilities, and whether the session may still reconnect.
 * @category internals
 */
export interface SessionState {
  current: Established
  capabilities: Capabilities
  /** Set by quit, by a successful login and by an abandoned exchange: from then on the session never reconnects. */
  ended: boolean
}

// The credentials the mechanism takes, made from the one secret the caller gave.
const authenticate = (mechanism: Mechanism, exchange: AuthExchange, user: string, secret: Redacted.Redacted<string>) =>
  mechanism.credential === "token"
    ? mechanism.authenticate(exchange, { user, token: secret })
    : mechanism.authenticate(exchange, { user, password: secret })

/**
 * The session's `login`.
 * @category internals
 */
export const makeLogin =
  (resolved: ResolvedOptions, session: SessionState, reconnect: Effect.Effect<void, Pop3Error>) =>
  (login: LoginOptions): Effect.Effect<Mailbox, Pop3Error> =>
    Effect.gen(function* () {
      const given = login.token ?? login.password
      // Typed as required, but JavaScript callers (and `process.env.X!` in TypeScript)
      // can pass nothing at run time: a typed error then, not a TypeError from the encoder.
      // Only the type is named, never the value.
      const what = login.token !== undefined ? "token" : "password"
      if (typeof login.user !== "string")
        return yield* new InvalidArgument({ reason: `login needs user, a string (got ${typeof login.user})` })
      if (typeof (Redacted.isRedacted(given) ? Redacted.value(given) : given) !== "string")
        return yield* new InvalidArgument({
          reason: `login needs a ${what}, a string (got ${Redacted.isRedacted(given) ? "a Redacted of something else" : typeof given})`
        })
      const secret = Redacted.isRedacted(given) ? given : Redacted.make(given)
      // Checked before any mechanism runs: otherwise APOP would already have sent a digest
      // of the broken password (and USER the name) before PASS refused to encode it, and
      // SASL's base64 would carry a NUL into PLAIN's NUL-separated fields.
      const unsafe =
        unsafeCharacter("user name", login.user) ??
        unsafeCharacter(login.token !== undefined ? "token" : "password", Redacted.value(secret))
      if (unsafe !== undefined) return yield* unsafe
      const exchangeOf = (est: Established): AuthExchange => {
        // The password or token as given: a server that quotes it in an answer to the
        // login (not only the encoded forms the connection saw leave) gets it replaced.
        est.conn.addSecrets([Redacted.value(secret)])
        return exchange(est)
      }
      const exchange = (est: Established): AuthExchange => ({
        host: resolved.target.host,
        port: resolved.target.port,
        apopTimestamp: est.greeting.apopTimestamp,
        capabilities: session.capabilities,
        secure: est.secure,
        abandon: est.conn.abandon,
        send: (command) => Effect.flatMap(est.conn.write(command), est.conn.status)
      })
      // Before choosing: after a login the capabilities are TRANSACTION's (no SASL list), so
      // the engine's refusal would name whatever mechanism was left ("APOP is not allowed
      // in the TRANSACTION state" to a caller who asked for auto).
      if (session.current.conn.state() === "TRANSACTION")
        return yield* new InvalidState({ reason: "login is not possible: this session is already logged in" })
      const candidates = yield* chooseMechanisms(exchangeOf(session.current), {
        mechanism: login.mechanism,
        credential: login.token !== undefined ? "token" : "password",
        allowPlaintext: login.allowPlaintext === true
      })
      const attempts: Array<AuthAttempt> = []
      for (const mechanism of candidates) {
        let status: StatusLine | undefined
        for (let tries = 0; status === undefined; tries++) {
          // Only a connection the server ended before login is replaced: after the caller's
          // own quit, after a login (the mailbox owns the connection), or in ERROR (the
          // server broke the protocol) the engine answers with InvalidState.
          if (session.current.conn.state() === "CLOSED" && !session.ended) yield* reconnect
          const est = session.current
          const result = yield* Effect.result(
            est.conn.lock.withPermits(1)(
              Effect.gen(function* () {
                // RFC 6856: a UTF-8 user name needs UTF8 mode first, when the server has it.
                if (/[^\x00-\x7f]/.test(login.user) && hasCapability(session.capabilities, "UTF8")) {
                  yield* Effect.ignore(est.conn.exec({ name: "UTF8" }))
                }
                return yield* authenticate(mechanism, exchangeOf(est), login.user, secret)
              })
            )
          )
          if (Result.isSuccess(result)) {
            status = result.success
          } else if (result.failure._tag === "ConnectionClosed" && tries === 0 && attempts.length > 0) {
            continue
          } else {
            // A mechanism that dropped the connection itself (a SCRAM server that did not
            // prove itself) ends the session: no reconnect to a possible impostor.
            if (result.failure._tag === "AuthError" && est.conn.state() === "CLOSED") session.ended = true
            return yield* result.failure
          }
        }
        if (status.kind === "ok") {
          const est = session.current
          session.ended = true
          // Servers may announce more after login (RFC 2449 §5). With capaWithNextCommand
          // and PIPELINING announced, CAPA is queued now, its bytes leave with the next
          // command's (in one segment: see Connection.hold) and its answer is read before
          // the next answer, so it shares a round trip with the first command; the commands
          // after it follow what it announces (a window of 1 if PIPELINING is gone).
          if (login.capaWithNextCommand === true && hasCapability(session.capabilities, "PIPELINING")) {
            const encoded = yield* est.conn.lock.withPermits(1)(est.conn.hold({ name: "CAPA" }))
            // Read under the login's ListingLimits, not those of whichever command comes next.
            const limits = yield* ListingLimits
            est.conn.defer(
              Effect.map(
                Effect.provideService(capaAnswer(est.conn, encoded), ListingLimits, limits),
                (capabilities) => {
                  session.capabilities = capabilities
                }
              )
            )
          } else {
            session.capabilities = yield* est.conn.lock.withPermits(1)(readCapa(est.conn))
          }
          return makeMailbox(est.conn, () => session.capabilities)
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
      const more =
        candidates.length > attempts.length &&
        attempts.length >= MAX_AUTO_FAILURES &&
        attempts.every((a) => a.code === undefined)
      // [AUTH] to a digest mechanism (SCRAM, CRAM-MD5, APOP) ends auto too, yet Cyrus answers
      // so also for "this account has no secret this mechanism can check" (saslauthd, PAM,
      // LDAP), which PLAIN would pass: name the way out rather than try it unasked.
      const last = attempts[attempts.length - 1]!
      const untried = candidates.slice(attempts.length).filter((m) => m.plaintext)
      const digestRefused =
        attempts.length === 1 &&
        last.code === "AUTH" &&
        candidates[0]?.plaintext === false &&
        untried.length > 0 &&
        `${last.mechanism} was refused; ${untried[0]!.name} was not tried, as each failed login counts toward lockouts — if the password is right, the server may be unable to check it with ${last.mechanism} (an account checked through PAM, LDAP or saslauthd): ask for ${untried[0]!.name} by name`
      return yield* new AuthError({
        attempts,
        ...(digestRefused ? { untried: untried[0]!.name } : {}),
        reason: digestRefused
          ? digestRefused
          : attempts.length === 1
            ? `${attempts[0]!.mechanism} was refused`
            : more
              ? `${attempts.length} mechanisms were refused; no more are tried, as each failed login counts toward lockouts`
              : "every mechanism tried was refused"
      })
    })

// CR, LF or NUL would end a command line early (CPython #94019). Names the position, never the value.
const unsafeCharacter = (what: string, value: string): InvalidArgument | undefined => {
  const unsafe = lineBreakIn(value)
  return unsafe === undefined
    ? undefined
    : new InvalidArgument({
        reason: `login: the ${what} contains a ${unsafe.name} character at position ${unsafe.index}; nothing was sent`
      })
}
