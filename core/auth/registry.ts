/**
 * The mechanism registry: every mechanism `login` knows, and the rules that pick among them.
 *
 * Each mechanism carries its own facts (`Mechanism`: rank, what it reveals without TLS,
 * whether `auto` may pick it, which credential it takes, how to tell it is offered); this
 * file only lists them. Everything that needs a list of mechanisms derives it from here:
 * `auto`'s order, the CLI's `--auth` choices and usage text, the web demo's select, and
 * the README's table (checked by `test/core/auth/registry.test.ts`). Adding a mechanism
 * is one file for it and one line below.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { AuthError, InvalidArgument } from "../errors.ts"
import { apop } from "./apop.ts"
import type { AuthExchange, CredentialKind, Mechanism } from "./mechanism.ts"
import { cramMd5, login, oauthbearer, plain, xoauth2 } from "./mechanisms.ts"
import { scramSha1, scramSha256 } from "./scram.ts"
import { userPass } from "./user-pass.ts"

/**
 * The mechanisms `login` knows, strongest (highest `rank`) first: SCRAM-SHA-256 >
 * SCRAM-SHA-1 > CRAM-MD5 > APOP > PLAIN > LOGIN > USER, then XOAUTH2 and OAUTHBEARER, which
 * take an OAuth token and are used only when named.
 * @category auth
 */
export const mechanisms: ReadonlyArray<Mechanism> = [
  scramSha256,
  scramSha1,
  cramMd5,
  apop,
  plain,
  login,
  userPass,
  xoauth2,
  oauthbearer
].sort((a, b) => b.rank - a.rank)

/**
 * The most failed logins `auto` risks at the server: servers that send no response codes
 * (Courier) cannot say whether the password or the mechanism was wrong, and each failure
 * counts toward fail2ban and account lockouts. Two keep the useful case — an account that
 * cannot do CRAM-MD5 (Courier checking passwords through PAM) logs in with the next one.
 * @category auth
 */
export const MAX_AUTO_FAILURES = 2

/**
 * What the caller asked for: a mechanism (by name, or a value of its own), or `auto`.
 * @category models
 */
export interface MechanismRequest {
  /** A name (`user`, `scram-sha-256`, …, any case), `auto`, or a `Mechanism` value. */
  readonly mechanism: string | Mechanism | undefined
  /** The credential the caller gave. */
  readonly credential: CredentialKind
  /** The caller consents to logging in without encryption. */
  readonly allowPlaintext: boolean
}

// Without encryption every mechanism gives something away: plaintext ones the secret,
// challenge-response ones (CRAM-MD5, APOP, SCRAM) a digest that an active attacker, who
// chooses the challenge, cracks offline. Either needs the caller's explicit consent.
const unencrypted = (chosen: ReadonlyArray<Mechanism>): AuthError => {
  const plaintext = chosen.filter((m) => m.plaintext).map((m) => m.name)
  const digests = chosen.filter((m) => !m.plaintext).map((m) => m.name)
  const parts = [
    ...(plaintext.length > 0 ? [`${plaintext.join(", ")} would send the password unencrypted`] : []),
    ...(digests.length > 0
      ? [`${digests.join(", ")} would send a digest of it that an attacker on the path can crack offline`]
      : [])
  ]
  return new AuthError({
    attempts: [],
    reason: `the connection is not encrypted: ${parts.join("; ")}; use TLS, or allow plaintext explicitly`,
    plaintextRefused: true
  })
}

/**
 * The mechanisms to try, in order, or why none can be — decided before anything is sent.
 * A mechanism asked for must be offered by the server and take the credential given (a
 * password also serves as a token, as before tokens had a field of their own); `auto`
 * takes the offered mechanisms that `auto` may pick and that take a password.
 * @category auth
 */
export const chooseMechanisms = (
  exchange: AuthExchange,
  request: MechanismRequest
): Effect.Effect<ReadonlyArray<Mechanism>, AuthError | InvalidArgument> => {
  const unencryptedAllowed = request.allowPlaintext || exchange.secure
  const wanted = request.mechanism ?? "auto"
  if (typeof wanted !== "string" || wanted.toUpperCase() !== "AUTO") {
    const mechanism = typeof wanted === "string" ? mechanisms.find((m) => m.name === wanted.toUpperCase()) : wanted
    if (mechanism === undefined) {
      return Effect.fail(
        new InvalidArgument({
          reason: `unknown authentication mechanism "${String(wanted)}" (known: auto, ${mechanisms.map((m) => m.name.toLowerCase()).join(", ")})`
        })
      )
    }
    if (mechanism.credential === "password" && request.credential === "token") {
      return Effect.fail(
        new InvalidArgument({
          reason: `login: ${mechanism.name} takes a password, and a token was given; nothing was sent`
        })
      )
    }
    // Refused here, before anything is sent: insisting would reach the server anyway (APOP
    // without a timestamp would even send an unsalted MD5 of the password).
    if (!mechanism.offered(exchange)) {
      return Effect.fail(
        new AuthError({
          attempts: [],
          reason: `${mechanism.name} cannot be used: ${mechanism.notOffered(exchange)}; nothing was sent`,
          notOffered: true
        })
      )
    }
    if (!unencryptedAllowed) return Effect.fail(unencrypted([mechanism]))
    return Effect.succeed([mechanism])
  }
  if (request.credential === "token") {
    const tokenMechanisms = mechanisms.filter((m) => m.credential === "token").map((m) => m.name.toLowerCase())
    return Effect.fail(
      new InvalidArgument({
        reason: `login: auto picks only mechanisms that take a password; with a token, name the mechanism (${tokenMechanisms.join(" or ")}); nothing was sent`
      })
    )
  }
  const offered = mechanisms.filter((m) => m.auto && m.credential === "password" && m.offered(exchange))
  if (offered.length === 0)
    return Effect.fail(new AuthError({ attempts: [], reason: "the server offers no mechanism this client supports" }))
  if (!unencryptedAllowed) return Effect.fail(unencrypted(offered))
  return Effect.succeed(offered)
}
