/**
 * SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding.
 *
 * The client proves it knows the password without sending it, and — the point of SCRAM —
 * the server proves it knows it too: its signature in the final message MUST match, and a
 * missing or wrong one is an error even when the server says `+OK` (an impostor could
 * otherwise accept any password and collect the mail we send it).
 *
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js"
import { sha1 } from "@noble/hashes/legacy.js"
import { pbkdf2 } from "@noble/hashes/pbkdf2.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Redacted from "effect/Redacted"
import { fromBase64, SaslFailure, type SaslClient, saslMechanism, toBase64 } from "./sasl.ts"
import { saslprep } from "./saslprep.ts"

type Hash = typeof sha256 | typeof sha1

const decoder = new TextDecoder()

// PBKDF2 iteration counts above this are refused: a hostile server could ask for 2^31
// and freeze the client. RFC 7677 recommends 4096; Dovecot uses 4096.
const MAX_ITERATIONS = 1_000_000

const xor = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((x, i) => x ^ b[i]!)

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
 * A SCRAM client; `nonce` is injectable for the RFC test vectors.
 * @category mechanisms
 */
export const scramClient = (hash: Hash, user: string, password: string, nonce: string = randomNonce()): SaslClient => {
  const preparedUser = saslprep(user)
  const preparedPassword = saslprep(password)
  if (preparedUser === undefined || preparedPassword === undefined) {
    throw new SaslFailure("the user name or password contains characters SASLprep prohibits")
  }
  const clientFirstBare = `n=${escapeName(preparedUser)},r=${nonce}`
  let expectedServerSignature: Uint8Array | undefined
  let verified = false
  let round = 0
  return {
    initial: () => utf8ToBytes(`n,,${clientFirstBare}`),
    step: (challenge) => {
      round++
      const message = decoder.decode(challenge)
      const attrs = attributes(message)
      if (round === 1) {
        const serverNonce = attrs.get("r")
        const salt = fromBase64(attrs.get("s") ?? "")
        const iterations = Number(attrs.get("i"))
        if (attrs.has("e")) throw new SaslFailure(`the server refused: ${attrs.get("e")}`)
        if (serverNonce === undefined || !serverNonce.startsWith(nonce) || serverNonce.length <= nonce.length) {
          throw new SaslFailure("the server's nonce does not extend ours")
        }
        if (salt === undefined || salt.length === 0) throw new SaslFailure("the server's salt is missing or not base64")
        if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
          throw new SaslFailure(`the server asked for an unacceptable iteration count (${attrs.get("i")})`)
        }
        const saltedPassword = pbkdf2(hash, utf8ToBytes(preparedPassword), salt, { c: iterations, dkLen: hash.outputLen })
        const clientKey = hmac(hash, saltedPassword, utf8ToBytes("Client Key"))
        const storedKey = hash(clientKey)
        const clientFinalWithoutProof = `c=biws,r=${serverNonce}`
        const authMessage = utf8ToBytes(`${clientFirstBare},${message},${clientFinalWithoutProof}`)
        const clientSignature = hmac(hash, storedKey, authMessage)
        const serverKey = hmac(hash, saltedPassword, utf8ToBytes("Server Key"))
        expectedServerSignature = hmac(hash, serverKey, authMessage)
        return utf8ToBytes(`${clientFinalWithoutProof},p=${toBase64(xor(clientKey, clientSignature))}`)
      }
      if (round === 2) {
        if (attrs.has("e")) throw new SaslFailure(`the server refused: ${attrs.get("e")}`)
        const signature = fromBase64(attrs.get("v") ?? "")
        if (signature === undefined || expectedServerSignature === undefined || toBase64(signature) !== toBase64(expectedServerSignature)) {
          throw new SaslFailure("the server's SCRAM signature is wrong: it does not know the password (possible impostor)")
        }
        verified = true
        return new Uint8Array(0)
      }
      throw new SaslFailure("SCRAM expects two challenges")
    },
    finish: () => {
      if (!verified) throw new SaslFailure("the server accepted the login without proving it knows the password (no SCRAM server signature)")
    }
  }
}

const randomNonce = (): string => {
  const bytes = new Uint8Array(18)
  globalThis.crypto.getRandomValues(bytes)
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_")
}

const scram = (name: string, hash: Hash) =>
  saslMechanism({
    name,
    plaintext: false,
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
export const scramSha256 = scram("SCRAM-SHA-256", sha256)

/**
 * SCRAM-SHA-1 (RFC 5802).
 * @category mechanisms
 */
export const scramSha1 = scram("SCRAM-SHA-1", sha1)
