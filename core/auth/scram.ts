/**
 * SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding.
 *
 * The client proves it knows the password without sending it, and — the point of SCRAM —
 * the server proves it knows it too: its signature in the final message MUST match, and a
 * missing or wrong one is an error even when the server says `+OK` (an impostor could
 * otherwise accept any password and collect the mail we send it).
 *
 * PBKDF2, the one costly part, runs on WebCrypto (`crypto.subtle`: browsers, Node, Deno,
 * Bun, Workers) — a few milliseconds for 4096 iterations, off the JavaScript thread where
 * the platform allows — and on `@noble/hashes` where there is no `crypto.subtle` (a page
 * served over plain http) or it refuses (a platform without PBKDF2 or SHA-1; Cloudflare's
 * production Workers refuse more than 100,000 iterations with `NotSupportedError`). The
 * bytes are the same either way; only the time differs. The HMACs are microseconds and stay
 * on `@noble/hashes`.
 *
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js"
import { sha1 } from "@noble/hashes/legacy.js"
import { pbkdf2Async } from "@noble/hashes/pbkdf2.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromBase64, SaslFailure, type SaslClient, saslMechanism, toBase64 } from "./sasl.ts"
import { saslprep } from "./saslprep.ts"

type Hash = typeof sha256 | typeof sha1

const decoder = new TextDecoder()

// PBKDF2 iteration counts above this are refused: a hostile server could ask for 2^31
// and freeze the client. RFC 7677 recommends 4096; Dovecot uses 4096.
const MAX_ITERATIONS = 1_000_000
/**
 * Fewer PBKDF2 iterations than this are refused (RFC 7677 §4: at least 4096): a server —
 * or whoever answers in its place — asking for 1 gets a proof that is cheap to crack offline.
 * @category limits
 */
export const MIN_ITERATIONS = 4096

/**
 * The part of WebCrypto's `SubtleCrypto` that SCRAM uses (`crypto.subtle` is one).
 * @category models
 */
export interface Pbkdf2Subtle {
  importKey(
    format: "raw",
    keyData: Uint8Array<ArrayBuffer>,
    algorithm: "PBKDF2",
    extractable: false,
    keyUsages: Array<"deriveBits">
  ): PromiseLike<CryptoKey>
  deriveBits(algorithm: Pbkdf2Params, baseKey: CryptoKey, length: number): PromiseLike<ArrayBuffer>
}

/**
 * Options of `scramClient`.
 * @category models
 */
export interface ScramOptions {
  /**
   * The WebCrypto that derives the salted password; `null` for `@noble/hashes` alone. By
   * default `globalThis.crypto?.subtle`, looked up at each login.
   */
  readonly subtle?: Pbkdf2Subtle | null
}

const webCryptoHash = (hash: Hash): "SHA-1" | "SHA-256" | undefined =>
  hash === sha256 ? "SHA-256" : hash === sha1 ? "SHA-1" : undefined

/**
 * PBKDF2 (RFC 8018) of the prepared password, `hash.outputLen` bytes. On WebCrypto when
 * there is one; on `@noble/hashes` when there is none, or when WebCrypto fails in any way:
 * `NotSupportedError` is the expected refusal, but whatever a platform or polyfill throws,
 * the fallback computes the same bytes, so the login does not fail for it. WebCrypto's
 * error is dropped, never reported. `pbkdf2Async` yields to the event loop every few
 * milliseconds and cannot reject for arguments checked before the call: a rejection would
 * be a bug (a defect).
 */
const saltedPassword = (
  hash: Hash,
  password: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
  subtle: Pbkdf2Subtle | undefined
): Effect.Effect<Uint8Array> => {
  const noble = Effect.promise(() => pbkdf2Async(hash, password, salt, { c: iterations, dkLen: hash.outputLen }))
  const name = webCryptoHash(hash)
  if (subtle === undefined || name === undefined) return noble
  return Effect.tryPromise({
    try: async () => {
      const key = await subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"])
      return new Uint8Array(
        await subtle.deriveBits({ name: "PBKDF2", hash: name, salt, iterations }, key, hash.outputLen * 8)
      )
    },
    catch: (error) => error
  }).pipe(Effect.catch(() => noble))
}

const xor = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((x, i) => x ^ b[i]!)

/** Equality of two byte strings in a time that depends on their length only. */
const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!
  return difference === 0
}

const wipe = (...buffers: ReadonlyArray<Uint8Array>) => {
  for (const b of buffers) b.fill(0)
}

const attributes = (message: string): Map<string, string> => {
  const map = new Map<string, string>()
  for (const part of message.split(",")) {
    const eq = part.indexOf("=")
    if (eq === 1) map.set(part[0]!, part.slice(2))
  }
  return map
}

const escapeName = (name: string) => name.replace(/=/g, "=3D").replace(/,/g, "=2C")

/**
 * A SCRAM client; `nonce` is injectable for the RFC test vectors, `options.subtle` for the
 * tests of the `@noble/hashes` fallback. Each step is an Effect, run by the SASL exchange;
 * it fails with `SaslFailure`, whose message never holds the password or a key.
 * @category mechanisms
 */
export const scramClient = (
  hash: Hash,
  user: string,
  password: string,
  nonce: string = randomNonce(),
  options: ScramOptions = {}
): SaslClient => {
  const preparedUser = saslprep(user)
  const preparedPassword = saslprep(password)
  if (preparedUser === undefined || preparedPassword === undefined) {
    throw new SaslFailure("the user name or password contains characters SASLprep prohibits")
  }
  const clientFirstBare = `n=${escapeName(preparedUser)},r=${nonce}`
  let expectedServerSignature: Uint8Array | undefined
  let verified = false
  let round = 0
  const refuse = (reason: string) => Effect.fail(new SaslFailure(reason))

  /** The client-final message, answering the server-first one. */
  const clientFinal = (message: string, attrs: Map<string, string>): Effect.Effect<Uint8Array, SaslFailure> => {
    const serverNonce = attrs.get("r")
    const salt = fromBase64(attrs.get("s") ?? "")
    const iterations = Number(attrs.get("i"))
    if (attrs.has("e")) return refuse(`the server refused: ${attrs.get("e")}`)
    if (serverNonce === undefined || !serverNonce.startsWith(nonce) || serverNonce.length <= nonce.length) {
      return refuse("the server's nonce does not extend ours")
    }
    if (salt === undefined || salt.length === 0) return refuse("the server's salt is missing or not base64")
    // Checked before any derivation starts: the count is the server's to choose.
    if (!Number.isSafeInteger(iterations) || iterations > MAX_ITERATIONS) {
      return refuse(`the server asked for an unacceptable iteration count (${attrs.get("i")})`)
    }
    if (iterations < MIN_ITERATIONS) {
      return refuse(
        `the server asked for ${iterations} iterations, fewer than the ${MIN_ITERATIONS} RFC 7677 requires; a proof that weak is cheap to crack offline`
      )
    }
    const subtle = options.subtle === undefined ? globalThis.crypto?.subtle : (options.subtle ?? undefined)
    const passwordBytes = utf8ToBytes(preparedPassword)
    return saltedPassword(hash, passwordBytes, salt, iterations, subtle).pipe(
      Effect.ensuring(Effect.sync(() => wipe(passwordBytes))),
      Effect.map((salted) => {
        const clientKey = hmac(hash, salted, utf8ToBytes("Client Key"))
        const storedKey = hash(clientKey)
        const clientFinalWithoutProof = `c=biws,r=${serverNonce}`
        const authMessage = utf8ToBytes(`${clientFirstBare},${message},${clientFinalWithoutProof}`)
        const clientSignature = hmac(hash, storedKey, authMessage)
        const serverKey = hmac(hash, salted, utf8ToBytes("Server Key"))
        expectedServerSignature = hmac(hash, serverKey, authMessage)
        const proof = xor(clientKey, clientSignature)
        const answer = utf8ToBytes(`${clientFinalWithoutProof},p=${toBase64(proof)}`)
        wipe(salted, clientKey, storedKey, clientSignature, serverKey, proof)
        return answer
      })
    )
  }

  return {
    initial: () => utf8ToBytes(`n,,${clientFirstBare}`),
    step: (challenge) =>
      Effect.suspend(() => {
        round++
        const message = decoder.decode(challenge)
        const attrs = attributes(message)
        if (round === 1) return clientFinal(message, attrs)
        if (round === 2) {
          if (attrs.has("e")) return refuse(`the server refused: ${attrs.get("e")}`)
          const signature = fromBase64(attrs.get("v") ?? "")
          const expected = expectedServerSignature
          expectedServerSignature = undefined
          const matches = signature !== undefined && expected !== undefined && constantTimeEqual(signature, expected)
          if (expected !== undefined) wipe(expected)
          if (!matches)
            return refuse("the server's SCRAM signature is wrong: it does not know the password (possible impostor)")
          verified = true
          return Effect.succeed(new Uint8Array(0))
        }
        return refuse("SCRAM expects two challenges")
      }),
    finish: () => {
      if (!verified)
        throw new SaslFailure(
          "the server accepted the login without proving it knows the password (no SCRAM server signature)"
        )
    }
  }
}

const randomNonce = (): string => {
  const bytes = new Uint8Array(18)
  globalThis.crypto.getRandomValues(bytes)
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_")
}

const scram = (name: string, hash: Hash, rank: number) =>
  saslMechanism({
    name,
    rank,
    plaintext: false,
    auto: true,
    client: (c) => {
      try {
        return scramClient(hash, c.user, Redacted.value(c.password))
      } catch (error) {
        // Refuse before sending anything: a client whose first step throws still yields a
        // client whose initial() throws inside the exchange.
        return {
          initial: () => {
            throw error
          },
          step: () => new Uint8Array(0),
          finish: () => {}
        }
      }
    }
  })

/**
 * SCRAM-SHA-256 (RFC 7677).
 * @category mechanisms
 */
export const scramSha256 = scram("SCRAM-SHA-256", sha256, 70)

/**
 * SCRAM-SHA-1 (RFC 5802).
 * @category mechanisms
 */
export const scramSha1 = scram("SCRAM-SHA-1", sha1, 60)
