/**
 * The SASL mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5
 * (RFC 2195), XOAUTH2 (Google/Microsoft) and OAUTHBEARER (RFC 7628). SCRAM has its own
 * file. All crypto comes from `@noble/hashes`.
 *
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js"
import { md5 } from "@noble/hashes/legacy.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import * as Redacted from "effect/Redacted"
import { SaslFailure, saslMechanism } from "./sasl.ts"

const text = new TextDecoder()

/**
 * PLAIN: authzid NUL authcid NUL password, in one initial response. Plaintext.
 * @category mechanisms
 */
export const plain = saslMechanism({
  name: "PLAIN",
  rank: 30,
  plaintext: true,
  auto: true,
  client: (c) => ({
    initial: () => utf8ToBytes(`\u0000${c.user}\u0000${Redacted.value(c.password)}`),
    step: () => {
      throw new SaslFailure("PLAIN expects no challenge")
    },
    finish: () => {}
  })
})

/**
 * LOGIN: the user name, then the password, each after a server prompt. Plaintext.
 * @category mechanisms
 */
export const login = saslMechanism({
  name: "LOGIN",
  rank: 20,
  plaintext: true,
  auto: true,
  client: (c) => {
    let round = 0
    return {
      initial: () => undefined,
      step: () => {
        // Servers prompt "Username:" then "Password:", but the prompts are not standard;
        // the order is what counts.
        round++
        if (round === 1) return utf8ToBytes(c.user)
        if (round === 2) return utf8ToBytes(Redacted.value(c.password))
        throw new SaslFailure("LOGIN expects two prompts")
      },
      finish: () => {}
    }
  }
})

/**
 * The CRAM-MD5 response: user SP hex(HMAC-MD5(secret, challenge)).
 * RFC 2195's example: challenge `<1896.697170952@postoffice.reston.mci.net>`, user `tim`,
 * secret `tanstaaftanstaaf` → `tim b913a602c7eda7a495b4e6e7334d3890`.
 * @category crypto
 */
export const cramMd5Response = (user: string, secret: string, challenge: Uint8Array): string =>
  `${user} ${bytesToHex(hmac(md5, utf8ToBytes(secret), challenge))}`

/**
 * CRAM-MD5: answers the server's challenge with an HMAC; the password never crosses.
 * @category mechanisms
 */
export const cramMd5 = saslMechanism({
  name: "CRAM-MD5",
  rank: 50,
  plaintext: false,
  auto: true,
  client: (c) => {
    let answered = false
    return {
      initial: () => undefined,
      step: (challenge) => {
        if (answered) throw new SaslFailure("CRAM-MD5 expects one challenge")
        answered = true
        return utf8ToBytes(cramMd5Response(c.user, Redacted.value(c.password), challenge))
      },
      finish: () => {}
    }
  }
})

// OAuth failures arrive as a challenge carrying a JSON error (RFC 7628 §3.2.2); the client
// must answer (XOAUTH2: empty; OAUTHBEARER: %x01) to get the final -ERR.
const oauthClient = (initial: Uint8Array, failureAnswer: Uint8Array) => {
  let detail: string | undefined
  return {
    initial: () => initial,
    step: (challenge: Uint8Array) => {
      if (detail !== undefined) throw new SaslFailure("the server sent a second OAuth error challenge")
      detail = text.decode(challenge).slice(0, 500)
      return failureAnswer
    },
    finish: () => {},
    failureDetail: () => detail
  }
}

/**
 * XOAUTH2: `user=… ^A auth=Bearer <token> ^A ^A`. Takes the OAuth access token (`token`).
 * Over 255 octets the token goes after an empty `+` (Office 365 requires it).
 * @category mechanisms
 */
export const xoauth2 = saslMechanism({
  name: "XOAUTH2",
  rank: 2,
  plaintext: true,
  // A token, not a password: used only when named (see registry.ts).
  auto: false,
  credential: "token",
  client: (c) =>
    oauthClient(
      utf8ToBytes(`user=${c.user}\u0001auth=Bearer ${Redacted.value(c.token)}\u0001\u0001`),
      new Uint8Array(0)
    )
})

/**
 * OAUTHBEARER (RFC 7628): a GS2 header with the user, then host, port and the bearer token (`token`).
 * @category mechanisms
 */
export const oauthbearer = saslMechanism({
  name: "OAUTHBEARER",
  rank: 1,
  plaintext: true,
  auto: false,
  credential: "token",
  client: (c, ex) =>
    oauthClient(
      utf8ToBytes(
        `n,a=${c.user.replace(/=/g, "=3D").replace(/,/g, "=2C")},\u0001host=${ex.host}\u0001port=${ex.port}\u0001auth=Bearer ${Redacted.value(c.token)}\u0001\u0001`
      ),
      new Uint8Array([1])
    )
})
