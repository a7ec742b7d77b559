/**
 * The SASL exchange of RFC 5034 (POP3 AUTH), shared by every SASL mechanism.
 *
 * A mechanism is a small state machine over bytes (`SaslClient`): an optional initial
 * response, then one answer per server challenge — given at once, or later as a Promise or
 * an Effect (SCRAM's PBKDF2 runs on WebCrypto) — then a check of the outcome. This file
 * does the POP3 framing: base64, the initial response on the AUTH line only when the line
 * fits RFC 2449's 255 octets (otherwise after an empty `+` — Office 365 insists on that for
 * OAuth), `*` to cancel when the client cannot go on, and a bound on the number of rounds
 * so a hostile server cannot keep us talking forever.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { AuthError, type Pop3Error } from "../errors.ts"
import { MAX_COMMAND_LINE } from "../protocol/limits.ts"
import type { StatusLine } from "../protocol/response.ts"
import type { AuthExchange, CredentialKind, CredentialsFor, MechanismOf } from "./mechanism.ts"

/**
 * A step's answer to a challenge: the bytes, or a Promise of them (rejecting with
 * `SaslFailure` to refuse), or an Effect (failing with `SaslFailure` to refuse).
 * @category models
 */
export type SaslAnswer = Uint8Array | PromiseLike<Uint8Array> | Effect.Effect<Uint8Array, SaslFailure>

/**
 * The client side of one SASL exchange.
 * @category models
 */
export interface SaslClient {
  /** The initial response, or `undefined` when the mechanism starts with a server challenge. */
  readonly initial: () => Uint8Array | undefined
  /**
   * Answers a server challenge, at once or asynchronously (`SaslAnswer`). Refuses an
   * unacceptable challenge with `SaslFailure`: thrown, or as the Promise's rejection or the
   * Effect's failure. Anything else thrown or rejected is a bug (a defect).
   */
  readonly step: (challenge: Uint8Array) => SaslAnswer
  /** Checks the exchange at `+OK` (SCRAM: the server must have proved itself). Throws `SaslFailure`. */
  readonly finish: () => void
  /** Extra detail to add to a `-ERR` (e.g. the OAuth error JSON the server sent). */
  readonly failureDetail?: () => string | undefined
}

/**
 * A client-side refusal to continue an exchange (bad challenge, wrong server signature).
 * The message must not contain a secret.
 * @category errors
 */
export class SaslFailure extends Error {
  override readonly name = "SaslFailure"
  readonly _tag = "SaslFailure"
}

/**
 * Runs one step of a SASL client as an Effect, whatever form its answer takes: a
 * `SaslFailure` (thrown, rejected or failed) is the typed failure, anything else a defect.
 * @category combinators
 */
export const saslStep = (client: SaslClient, challenge: Uint8Array): Effect.Effect<Uint8Array, SaslFailure> =>
  Effect.suspend(() => {
    let answer: SaslAnswer
    try {
      answer = client.step(challenge)
    } catch (error) {
      return error instanceof SaslFailure ? Effect.fail(error) : Effect.die(error)
    }
    if (Effect.isEffect(answer)) return answer
    if (!isPromiseLike(answer)) return Effect.succeed(answer)
    const pending = answer
    return Effect.tryPromise({ try: () => pending, catch: (error) => error }).pipe(
      Effect.catch((error) => (error instanceof SaslFailure ? Effect.fail(error) : Effect.die(error)))
    )
  })

const isPromiseLike = (answer: Uint8Array | PromiseLike<Uint8Array>): answer is PromiseLike<Uint8Array> =>
  typeof (answer as Partial<PromiseLike<Uint8Array>>).then === "function"

/**
 * At most this many challenges per exchange; real mechanisms need two or three.
 * @category limits
 */
export const MAX_SASL_ROUNDS = 10

/**
 * Base64 of bytes (web-standard `btoa`, so it runs everywhere).
 * @category encoding
 */
export const toBase64 = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

/**
 * Bytes of base64, or `undefined` when it is not valid base64.
 * @category encoding
 */
export const fromBase64 = (text: string): Uint8Array<ArrayBuffer> | undefined => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return undefined
  try {
    const s = atob(text)
    const out = new Uint8Array(s.length)
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
    return out
  } catch {
    return undefined
  }
}

/**
 * Why a SASL mechanism is not offered: what the server's CAPA says instead.
 * @category helpers
 */
export const saslNotOffered = (exchange: AuthExchange): string => {
  if (exchange.capabilities.refused !== undefined) return "the server has no CAPA, so it announces no SASL mechanisms"
  const sasl = exchange.capabilities.entries.get("SASL") ?? []
  return sasl.length === 0 ? "the server announces no SASL mechanisms" : `the server offers SASL ${sasl.join(" ")}`
}

/**
 * Builds a `Mechanism` from a SASL client factory; offered when CAPA's `SASL` line lists
 * its name. `rank` defaults to 0, `auto` to false and `credential` to `"password"`.
 * @category constructors
 */
export const saslMechanism = <K extends CredentialKind = "password">(options: {
  readonly name: string
  readonly plaintext: boolean
  readonly rank?: number | undefined
  readonly auto?: boolean | undefined
  readonly credential?: K | undefined
  readonly client: (credentials: CredentialsFor<K>, exchange: AuthExchange) => SaslClient
}): MechanismOf<K> => ({
  name: options.name,
  rank: options.rank ?? 0,
  plaintext: options.plaintext,
  auto: options.auto ?? false,
  credential: options.credential ?? ("password" as K),
  offered: (ex) => (ex.capabilities.entries.get("SASL") ?? []).some((m) => m.toUpperCase() === options.name),
  notOffered: saslNotOffered,
  authenticate: (ex, credentials) => runSasl(options.name, options.client(credentials, ex), ex)
})

const cancelled = (mechanism: string, reason: string) =>
  new AuthError({
    attempts: [{ mechanism, code: undefined, text: reason }],
    reason: `${mechanism} was abandoned: ${reason}`
  })

const runSasl = (name: string, client: SaslClient, ex: AuthExchange): Effect.Effect<StatusLine, Pop3Error> =>
  Effect.gen(function* () {
    // A client that cannot even start (SCRAM: a character SASLprep prohibits) refuses
    // before anything is sent, as a typed failure rather than a defect.
    let initial: Uint8Array | undefined
    try {
      initial = client.initial()
    } catch (error) {
      if (error instanceof SaslFailure) {
        return yield* new AuthError({
          attempts: [{ mechanism: name, code: undefined, text: error.message }],
          reason: `${name}: ${error.message}`
        })
      }
      throw error
    }
    let pendingInitial: Uint8Array | undefined
    let status: StatusLine
    if (initial === undefined) {
      status = yield* ex.send({ name: "AUTH", mechanism: name })
    } else {
      const encoded = initial.length === 0 ? "=" : toBase64(initial)
      // "AUTH " + name + " " + response + CRLF must fit the command-line limit.
      if ("AUTH ".length + name.length + 1 + encoded.length + 2 <= MAX_COMMAND_LINE) {
        status = yield* ex.send({ name: "AUTH", mechanism: name, initialResponse: encoded })
      } else {
        pendingInitial = initial
        status = yield* ex.send({ name: "AUTH", mechanism: name })
      }
    }
    // The client's refusal is decided first, then "*" is sent and the server's -ERR read,
    // so the session stays in sync and AUTHORIZATION can go on with another mechanism.
    const cancel = (reason: string) =>
      Effect.flatMap(ex.send({ name: "SaslResponse", response: "*" }), () => Effect.fail(cancelled(name, reason)))
    for (let round = 0; status.kind === "continuation"; round++) {
      if (round >= MAX_SASL_ROUNDS) return yield* cancel(`the server sent more than ${MAX_SASL_ROUNDS} challenges`)
      let answer: Uint8Array
      if (pendingInitial !== undefined) {
        answer = pendingInitial
        pendingInitial = undefined
      } else {
        const challenge = fromBase64(status.text)
        if (challenge === undefined) return yield* cancel("the server's challenge is not valid base64")
        const stepped = yield* Effect.result(saslStep(client, challenge))
        if (Result.isFailure(stepped)) return yield* cancel(stepped.failure.message)
        answer = stepped.success
      }
      status = yield* ex.send({ name: "SaslResponse", response: toBase64(answer) })
    }
    if (status.kind === "ok") {
      try {
        client.finish()
      } catch (error) {
        if (error instanceof SaslFailure) {
          // The server said +OK but did not prove itself: treat it as an impostor — drop
          // the connection without another word (no RSET, no QUIT) and fail.
          yield* ex.abandon(error.message)
          return yield* new AuthError({
            attempts: [{ mechanism: name, code: undefined, text: error.message }],
            reason: `${name}: ${error.message}`
          })
        }
        throw error
      }
      return status
    }
    const detail = client.failureDetail?.()
    return detail === undefined
      ? status
      : { ...status, text: `${status.text}${status.text === "" ? "" : " "}(${detail})` }
  })
