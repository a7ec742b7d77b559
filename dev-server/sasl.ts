// Server-side SASL mechanisms for the dev server (RFC 5034 AUTH): PLAIN (RFC 4616), LOGIN
// (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195), SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802,
// RFC 7677: a real server that salts, iterates, checks the client proof and proves itself),
// XOAUTH2 (Google/Microsoft) and OAUTHBEARER (RFC 7628) — plus misbehaving variants for the
// client's tests. Written from the RFCs, independently of core/ (which it must never import),
// so a misreading on the client side shows up as a failure here instead of being mirrored.
//
// Portable: @noble/hashes, TextEncoder and crypto.getRandomValues only.

import { hmac } from "@noble/hashes/hmac.js"
import { md5, sha1 } from "@noble/hashes/legacy.js"
import { pbkdf2 } from "@noble/hashes/pbkdf2.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import type { SaslMechanism, SaslOutcome } from "./session.ts"
import { fromBase64, SaslAbort, toBase64 } from "./session.ts"

export interface SaslOptions {
  /**
   * XOAUTH2 / OAUTHBEARER: the access token each user must present. Users without an entry
   * have no valid token; passwords are never accepted as tokens.
   */
  readonly oauthTokens?: Readonly<Record<string, string>> | undefined
  /** SCRAM iteration count (default 4096, RFC 7677's recommendation). */
  readonly iterations?: number | undefined
  /** SCRAM: the server-final message carries a wrong server signature (an impostor). */
  readonly scramWrongSignature?: boolean | undefined
  /** SCRAM: "+OK" right after a valid client-final, without ever sending the server-final. */
  readonly scramNoSignature?: boolean | undefined
  /**
   * XOAUTH2 / OAUTHBEARER: refuse an initial response on the AUTH line, like Office 365; the
   * token must come after an empty "+" challenge.
   */
  readonly oauthRequireContinuation?: boolean | undefined
  /** Every mechanism sends challenge after challenge and never decides. */
  readonly challengeForever?: boolean | undefined
}

/** The scope XOAUTH2 / OAUTHBEARER name in their error challenge. */
export const OAUTH_SCOPE = "https://mail.example.com/"

/** Google's XOAUTH2 error challenge (a JSON object, base64 on the wire). */
export const XOAUTH2_ERROR = JSON.stringify({ status: "401", schemes: "bearer", scope: OAUTH_SCOPE })

/** RFC 7628 §3.2.2's OAUTHBEARER error challenge. */
export const OAUTHBEARER_ERROR = JSON.stringify({ status: "invalid_token", scope: OAUTH_SCOPE })

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const utf8 = (text: string): Uint8Array => encoder.encode(text)
const text = (bytes: Uint8Array): string => decoder.decode(bytes)
const EMPTY = new Uint8Array(0)

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n)
  globalThis.crypto.getRandomValues(out)
  return out
}

/** Compares without an early exit, as a server comparing secrets should. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

// ── SASLprep (RFC 4013), the server's own copy ──────────────────────────────────────
// Non-ASCII spaces (RFC 3454 C.1.2) map to SPACE, "commonly mapped to nothing" (B.1) is
// dropped, then NFKC; undefined when a prohibited character (C.2–C.9) remains.
const NON_ASCII_SPACE = new Set([
  0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x200b, 0x202f,
  0x205f, 0x3000
])
const MAPPED_TO_NOTHING = new Set([
  0xad,
  0x34f,
  0x1806,
  0x180b,
  0x180c,
  0x180d,
  0x200b,
  0x200c,
  0x200d,
  0x2060,
  0xfeff,
  ...Array.from({ length: 16 }, (_, i) => 0xfe00 + i)
])

function prohibited(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) || // C.2 control characters
    cp === 0x6dd ||
    cp === 0x70f ||
    cp === 0x180e ||
    (cp >= 0x200e && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x206a && cp <= 0x206f) ||
    (cp >= 0xfff9 && cp <= 0xfffd) || // C.2.2, C.6, C.8
    (cp >= 0xe000 && cp <= 0xf8ff) ||
    cp >= 0xf0000 || // C.3 private use
    (cp & 0xfffe) === 0xfffe ||
    (cp >= 0xfdd0 && cp <= 0xfdef) || // C.4 non-characters
    (cp >= 0xd800 && cp <= 0xdfff) ||
    (cp >= 0xe0000 && cp <= 0xe007f)
  ) // C.5 surrogates, C.9 tags
}

export function serverSaslprep(input: string): string | undefined {
  let mapped = ""
  for (const ch of input) {
    const cp = ch.codePointAt(0)!
    if (MAPPED_TO_NOTHING.has(cp)) continue
    mapped += NON_ASCII_SPACE.has(cp) ? " " : ch
  }
  const out = mapped.normalize("NFKC")
  for (const ch of out) if (prohibited(ch.codePointAt(0)!)) return undefined
  return out
}

// ── PLAIN ───────────────────────────────────────────────────────────────────────────

/** PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd, as the initial response or after "+ ". */
export const plainMechanism: SaslMechanism = {
  name: "PLAIN",
  async authenticate(exchange, initial) {
    const message = initial ?? (await exchange.challenge(EMPTY))
    const parts = text(message).split("\u0000")
    if (parts.length !== 3) return { ok: false, text: "Malformed PLAIN message" }
    const [authzid = "", user = "", password = ""] = parts
    // Acting as another user is not supported: the authorization identity must be empty or ours.
    if (authzid !== "" && authzid !== user) return { ok: false }
    return exchange.store.checkPassword(user, password) ? { ok: true, user } : { ok: false }
  }
}

// ── LOGIN ───────────────────────────────────────────────────────────────────────────

/** LOGIN: "Username:" and "Password:" prompts (an initial response is taken as the user name). */
export const loginMechanism: SaslMechanism = {
  name: "LOGIN",
  async authenticate(exchange, initial) {
    const user = text(initial ?? (await exchange.challenge(utf8("Username:"))))
    const password = text(await exchange.challenge(utf8("Password:")))
    return exchange.store.checkPassword(user, password) ? { ok: true, user } : { ok: false }
  }
}

// ── CRAM-MD5 ────────────────────────────────────────────────────────────────────────

let cramCounter = 0

/** CRAM-MD5 (RFC 2195): a "<…@…>" challenge, answered by "user SP hex(HMAC-MD5(secret, challenge))". */
export const cramMd5Mechanism: SaslMechanism = {
  name: "CRAM-MD5",
  async authenticate(exchange, initial) {
    if (initial !== undefined) throw new SaslAbort("CRAM-MD5 takes no initial response")
    const challenge = utf8(`<${++cramCounter}.${Date.now()}.${bytesToHex(randomBytes(4))}@pop3-dev-server>`)
    const answer = text(await exchange.challenge(challenge))
    const space = answer.lastIndexOf(" ")
    if (space <= 0) return { ok: false, text: "Malformed CRAM-MD5 response" }
    const user = answer.slice(0, space)
    const digest = answer.slice(space + 1)
    const secret = exchange.store.secret(user)
    if (secret === undefined) return { ok: false }
    const expected = bytesToHex(hmac(md5, utf8(secret), challenge))
    return digest === expected ? { ok: true, user } : { ok: false }
  }
}

// ── SCRAM ───────────────────────────────────────────────────────────────────────────

type Hash = typeof sha1 | typeof sha256

/** "a=1,b=2" → Map; undefined on a malformed attribute or a repeated one. */
function scramAttributes(message: string): Map<string, string> | undefined {
  const out = new Map<string, string>()
  for (const part of message.split(",")) {
    if (!/^[A-Za-z]=/.test(part) || out.has(part[0]!)) return undefined
    out.set(part[0]!, part.slice(2))
  }
  return out
}

/** saslname (RFC 5802 §5.1): "=2C" is ",", "=3D" is "="; any other "=" is an error. */
function unescapeSaslname(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined
  return name.replace(/=2C/g, ",").replace(/=3D/g, "=")
}

/** The verifiers a real server stores instead of the password (RFC 5802 §2.2, §3). */
interface ScramCredentials {
  readonly salt: Uint8Array
  readonly iterations: number
  readonly storedKey: Uint8Array
  readonly serverKey: Uint8Array
}

/**
 * SCRAM-SHA-1 or SCRAM-SHA-256 without channel binding ("n" or "y" GS2 flag; "p" is refused).
 * The server-final "v=…" goes out as a "+" challenge (RFC 5034 §4: there is no additional
 * data with success), and the client's empty answer is awaited before "+OK".
 */
export function scramMechanism(name: "SCRAM-SHA-1" | "SCRAM-SHA-256", options: SaslOptions = {}): SaslMechanism {
  const hash: Hash = name === "SCRAM-SHA-1" ? sha1 : sha256
  const iterations = options.iterations ?? 4096
  // Derived once per user and secret, as a server that stores SCRAM verifiers would.
  const cache = new Map<string, ScramCredentials>()
  const credentials = (user: string, secret: string): ScramCredentials | undefined => {
    const key = `${user}\u0000${secret}`
    const known = cache.get(key)
    if (known !== undefined) return known
    const prepared = serverSaslprep(secret)
    if (prepared === undefined) return undefined
    const salt = randomBytes(16)
    const salted = pbkdf2(hash, utf8(prepared), salt, { c: iterations, dkLen: hash.outputLen })
    const made = {
      salt,
      iterations,
      storedKey: hash(hmac(hash, salted, utf8("Client Key"))),
      serverKey: hmac(hash, salted, utf8("Server Key"))
    }
    cache.set(key, made)
    return made
  }

  return {
    name,
    async authenticate(exchange, initial) {
      // client-first-message = gs2-header client-first-message-bare
      const clientFirst = text(initial ?? (await exchange.challenge(EMPTY)))
      const gs2 = /^([ny]|p=[^,]*),(a=[^,]*)?,/.exec(clientFirst)
      if (gs2 === null) return { ok: false, text: "Malformed SCRAM client-first message" }
      if (gs2[1]!.startsWith("p")) return { ok: false, text: "Channel binding is not supported" }
      if (gs2[2] !== undefined) return { ok: false, text: "Authorization identities are not supported" }
      const gs2Header = gs2[0]
      const clientFirstBare = clientFirst.slice(gs2Header.length)
      const first = scramAttributes(clientFirstBare)
      const escapedUser = first?.get("n")
      const clientNonce = first?.get("r")
      if (
        first === undefined ||
        first.has("m") ||
        escapedUser === undefined ||
        clientNonce === undefined ||
        clientNonce === "" ||
        /[^\x21-\x2b\x2d-\x7e]/.test(clientNonce)
      ) {
        return { ok: false, text: "Malformed SCRAM client-first message" }
      }
      const rawUser = unescapeSaslname(escapedUser)
      const user = rawUser === undefined ? undefined : serverSaslprep(rawUser)
      if (user === undefined) return { ok: false, text: "Invalid SCRAM user name" }

      // An unknown user gets a made-up salt, so the exchange does not reveal who exists.
      const secret = exchange.store.secret(user)
      const creds = secret === undefined ? undefined : credentials(user, secret)
      const salt = creds?.salt ?? randomBytes(16)
      const serverNonce = clientNonce + toBase64(randomBytes(18))
      const serverFirst = `r=${serverNonce},s=${toBase64(salt)},i=${iterations}`

      // client-final-message = "c=" base64(gs2-header) ",r=" nonce ["," extensions] ",p=" proof
      const clientFinal = text(await exchange.challenge(utf8(serverFirst)))
      const proofAt = clientFinal.lastIndexOf(",p=")
      if (proofAt < 0) return { ok: false, text: "Malformed SCRAM client-final message" }
      const withoutProof = clientFinal.slice(0, proofAt)
      const final = scramAttributes(withoutProof)
      const proof = fromBase64(clientFinal.slice(proofAt + 3))
      if (final === undefined || proof === undefined) return { ok: false, text: "Malformed SCRAM client-final message" }
      if (final.get("c") !== toBase64(utf8(gs2Header))) return { ok: false, text: "SCRAM channel binding mismatch" }
      if (final.get("r") !== serverNonce) return { ok: false, text: "SCRAM nonce mismatch" }
      if (creds === undefined) return { ok: false }

      const authMessage = utf8(`${clientFirstBare},${serverFirst},${withoutProof}`)
      const clientSignature = hmac(hash, creds.storedKey, authMessage)
      if (proof.length !== clientSignature.length) return { ok: false }
      const clientKey = proof.map((b, i) => b ^ clientSignature[i]!)
      if (!equalBytes(hash(clientKey), creds.storedKey)) return { ok: false }

      if (options.scramNoSignature) return { ok: true, user }
      const signature = hmac(hash, creds.serverKey, authMessage)
      if (options.scramWrongSignature) signature[0] = signature[0]! ^ 0xff
      const answer = await exchange.challenge(utf8(`v=${toBase64(signature)}`))
      // The client has nothing more to say; anything else is a protocol error.
      if (answer.length !== 0)
        return { ok: false, text: "Expected an empty response to the SCRAM server-final message" }
      return { ok: true, user }
    }
  }
}

// ── OAuth ───────────────────────────────────────────────────────────────────────────

/** Splits "k=v ^A k=v ^A ^A" into a map; undefined when the framing is wrong. */
function oauthPairs(message: string): Map<string, string> | undefined {
  if (!message.endsWith("\u0001\u0001")) return undefined
  const out = new Map<string, string>()
  for (const pair of message.slice(0, -2).split("\u0001")) {
    if (pair === "") continue
    const eq = pair.indexOf("=")
    if (eq <= 0) return undefined
    out.set(pair.slice(0, eq), pair.slice(eq + 1))
  }
  return out
}

function bearer(auth: string | undefined): string | undefined {
  const match = /^Bearer (\S+)$/i.exec(auth ?? "")
  return match?.[1]
}

/**
 * Shared by both OAuth mechanisms: refuses the initial response when Office-365-like, and on
 * a bad token sends the JSON error challenge, reads the client's answer, then fails.
 */
function oauthMechanism(
  name: "XOAUTH2" | "OAUTHBEARER",
  options: SaslOptions,
  parse: (message: string) => { user: string; token: string } | undefined,
  errorJson: string,
  expectedAnswer: Uint8Array
): SaslMechanism {
  return {
    name,
    async authenticate(exchange, initial) {
      if (initial !== undefined && options.oauthRequireContinuation) {
        // Office 365 wants "AUTH XOAUTH2", an empty "+", then the token on its own line.
        throw new SaslAbort(`${name} initial response not accepted; send the token after the "+" continuation`)
      }
      const parsed = parse(text(initial ?? (await exchange.challenge(EMPTY))))
      if (parsed === undefined) return { ok: false, text: `Malformed ${name} message` }
      const expected = options.oauthTokens?.[parsed.user]
      if (expected !== undefined && parsed.token === expected) return { ok: true, user: parsed.user }
      const answer = await exchange.challenge(utf8(errorJson))
      return equalBytes(answer, expectedAnswer)
        ? { ok: false }
        : { ok: false, text: `Unexpected answer to the ${name} error challenge` }
    }
  }
}

/** XOAUTH2: "user=U ^A auth=Bearer T ^A ^A"; after an error challenge the client answers empty. */
export function xoauth2Mechanism(options: SaslOptions = {}): SaslMechanism {
  return oauthMechanism(
    "XOAUTH2",
    options,
    (message) => {
      const pairs = oauthPairs(message)
      const user = pairs?.get("user")
      const token = bearer(pairs?.get("auth"))
      return user === undefined || token === undefined ? undefined : { user, token }
    },
    XOAUTH2_ERROR,
    EMPTY
  )
}

/** OAUTHBEARER (RFC 7628): "n,a=U," ^A "host=…" ^A "port=…" ^A "auth=Bearer T" ^A ^A; errors are answered with %x01. */
export function oauthbearerMechanism(options: SaslOptions = {}): SaslMechanism {
  return oauthMechanism(
    "OAUTHBEARER",
    options,
    (message) => {
      const gs2 = /^n,a=([^,]*),\u0001/.exec(message)
      if (gs2 === null) return undefined
      const user = unescapeSaslname(gs2[1]!)
      const pairs = oauthPairs(message.slice(gs2[0].length - 1))
      const token = bearer(pairs?.get("auth"))
      return user === undefined || token === undefined ? undefined : { user, token }
    },
    OAUTHBEARER_ERROR,
    new Uint8Array([1])
  )
}

// ── Misbehaviours and test helpers ──────────────────────────────────────────────────

/** A mechanism that never decides: challenge after challenge until the client gives up ("*"). */
export function endlessMechanism(name: string): SaslMechanism {
  return {
    name,
    async authenticate(exchange) {
      for (let round = 1; ; round++) await exchange.challenge(utf8(`challenge ${round}`))
    }
  }
}

/**
 * A mechanism that refuses every attempt with "-ERR <text>" and no response code — a
 * server whose mechanism is broken rather than one judging the account, so a client's
 * automatic negotiation should move on.
 */
export function refusingMechanism(name: string, text = `${name} is temporarily unavailable`): SaslMechanism {
  return {
    name,
    async authenticate(): Promise<SaslOutcome> {
      throw new SaslAbort(text)
    }
  }
}

/** Every mechanism of this file, in the order CAPA lists them. */
export const SASL_MECHANISM_NAMES = [
  "SCRAM-SHA-256",
  "SCRAM-SHA-1",
  "CRAM-MD5",
  "PLAIN",
  "LOGIN",
  "XOAUTH2",
  "OAUTHBEARER"
] as const

/**
 * The SASL mechanisms to hand to `serveConnection` / `listenTcp` (`hooks.sasl`), all of
 * them unless `names` narrows the list (in the order given).
 */
export function saslMechanisms(
  options: SaslOptions = {},
  names: ReadonlyArray<string> = SASL_MECHANISM_NAMES
): SaslMechanism[] {
  const all: Record<string, SaslMechanism> = {
    "SCRAM-SHA-256": scramMechanism("SCRAM-SHA-256", options),
    "SCRAM-SHA-1": scramMechanism("SCRAM-SHA-1", options),
    "CRAM-MD5": cramMd5Mechanism,
    PLAIN: plainMechanism,
    LOGIN: loginMechanism,
    XOAUTH2: xoauth2Mechanism(options),
    OAUTHBEARER: oauthbearerMechanism(options)
  }
  return names.map((n) => {
    const mechanism = all[n.toUpperCase()]
    if (mechanism === undefined) throw new Error(`dev server: no SASL mechanism ${n}`)
    return options.challengeForever ? endlessMechanism(mechanism.name) : mechanism
  })
}
