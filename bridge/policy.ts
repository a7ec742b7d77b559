/**
 * The bridge's policy: what a request asks for, and whether it may have it. Pure functions
 * with no `ws`, no sockets and no `node:` imports: the Node bridge (server.ts, relay.ts) and
 * the Workers bridge (worker.ts) both decide with this one implementation.
 *
 * Theory of operation:
 * 1. The upgrade request must carry an allowed Origin and, if configured, the token.
 * 2. `?host=H&port=P&tls=implicit|none|passthrough` names the target; it must equal an
 *    allowlist entry (host names compared case-insensitively, IP literals by value, ports
 *    exactly), and the entry must permit that TLS mode (`HOST:PORT/MODE,…`; without modes,
 *    port 995 permits only `implicit`, other ports `implicit` and `none`; `passthrough` only
 *    where the operator wrote it).
 * 3. A host name is resolved by the bridge; each address must be ordinary public unicast
 *    unless that exact address (with that port) is itself on the allowlist. The socket is
 *    then opened to a checked address, never to the name, so DNS cannot change the answer
 *    between the check and the connect. (The Workers bridge cannot resolve before
 *    `connect()`; worker-relay.ts says what it does instead.)
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import { canonicalIp, classifyAddress, ipFamily } from "./address.ts"
import { CloseCode } from "./close-codes.ts"
import type { ConnectionLimiter } from "./limits.ts"
import type { RateLimiter } from "./rate-limit.ts"

/**
 * How the bridge talks to the mail server. `implicit`: the bridge opens TLS and verifies the
 * certificate, so it reads the session in the clear. `none`: plain TCP, plain POP3.
 * `passthrough`: plain TCP whose bytes the client encrypts itself (end-to-end TLS, implicit
 * or STLS): the bridge relays them unchanged and sees only ciphertext. To the relay,
 * `passthrough` and `none` are the same bytes; they differ in what the operator permits.
 * @category policy
 */
export type TlsMode = "implicit" | "none" | "passthrough"

/** Every TLS mode an allowlist entry may name, in the order they are written. @category policy */
export const TLS_MODES: readonly TlsMode[] = ["implicit", "none", "passthrough"]

/**
 * The modes an entry without `/MODE…` permits: the POP3S port (995) speaks TLS from the
 * first byte, so plain TCP to it is refused; any other port permits `implicit` and `none`.
 * `passthrough` is never a default: a bridge that relays what it cannot read is a choice
 * its operator makes per server (abuse handling and audits lose sight of the traffic), and
 * an allowlist written before the mode existed must not widen on upgrade.
 * @category policy
 */
export const defaultModes = (port: number): readonly TlsMode[] => (port === 995 ? ["implicit"] : ["implicit", "none"])

/** A validated target: a lower-case host name or canonical IP, a port and a TLS mode. @category policy */
export interface Target {
  readonly host: string
  readonly port: number
  readonly tls: TlsMode
  /** True when `host` is an IP literal (then no DNS, and no SNI). */
  readonly isIp: boolean
}

/** Refusal reasons, used as the `reason` label of the refusals metric. @category policy */
export type RefusalReason =
  | "origin"
  | "token"
  | "shutting_down"
  | "bad_request"
  | "starttls"
  | "target_not_allowed"
  | "tls_mode_not_allowed"
  | "address_not_allowed"
  | "limit_total"
  | "limit_per_client"
  | "rate_limited"

/** A refused request: the close code and reason for the client, the label for metrics. @category policy */
export interface Refusal {
  readonly refused: true
  readonly code: CloseCode
  readonly reason: string
  readonly metric: RefusalReason
}

/** Build a refusal. @category policy */
export const refusal = (code: CloseCode, reason: string, metric: RefusalReason): Refusal => ({
  refused: true,
  code,
  reason,
  metric
})

/** Whether a policy result is a refusal. @category policy */
export const isRefusal = (value: unknown): value is Refusal =>
  typeof value === "object" && value !== null && (value as { refused?: unknown }).refused === true

/** An allowlist entry, `HOST:PORT[/MODE[,MODE…]]` parsed. @category policy */
export interface AllowEntry {
  readonly host: string
  readonly port: number
  readonly isIp: boolean
  /** The TLS modes clients may ask for (written, or `defaultModes(port)`). */
  readonly modes: readonly TlsMode[]
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

/** A host name or IP literal in canonical form (brackets and one trailing dot removed), or undefined. */
const normalizeHost = (raw: string): { host: string; isIp: boolean } | undefined => {
  let host = raw.trim().toLowerCase()
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1)
  if (host.includes("%")) return undefined // IPv6 zones name local interfaces: never a mail server
  if (ipFamily(host) !== 0) return { host: canonicalIp(host), isIp: true }
  if (host.endsWith(".")) host = host.slice(0, -1)
  if (host.length === 0 || host.length > 253) return undefined
  if (!host.split(".").every((label) => LABEL.test(label))) return undefined
  return { host, isIp: false }
}

const parsePort = (raw: string): number | undefined => {
  if (!/^[0-9]{1,5}$/.test(raw)) return undefined
  const port = Number(raw)
  return port >= 1 && port <= 65535 ? port : undefined
}

/**
 * Parse `HOST:PORT`, `[IPV6]:PORT` (used by `--allow` and `--listen`). Port 0 is accepted
 * only when `allowPortZero` (listening on a random port). Throws with a readable message.
 * @category policy
 */
export const parseHostPort = (text: string, allowPortZero = false): { host: string; port: number; isIp: boolean } => {
  const colon = text.lastIndexOf(":")
  const hostPart = colon === -1 ? "" : text.slice(0, colon)
  const portPart = colon === -1 ? "" : text.slice(colon + 1)
  // An unbracketed IPv6 literal would be ambiguous ("::1:110"): require brackets.
  if (hostPart.includes(":") && !hostPart.startsWith("[")) {
    throw new Error(`"${text}": write IPv6 addresses in brackets, e.g. [::1]:110`)
  }
  const host = normalizeHost(hostPart)
  const port = allowPortZero && portPart === "0" ? 0 : parsePort(portPart)
  if (host === undefined || port === undefined) throw new Error(`"${text}" is not HOST:PORT`)
  return { ...host, port }
}

/**
 * Parse one `--allow` entry: `HOST:PORT[/MODE[,MODE…]]`, modes from `TLS_MODES`. This
 * syntax is a public contract, the same for the Node and the Workers bridge. Throws with a
 * readable message.
 * @category policy
 */
export const parseAllowEntry = (text: string): AllowEntry => {
  const slash = text.indexOf("/")
  const where = parseHostPort(slash === -1 ? text : text.slice(0, slash))
  if (slash === -1) return { ...where, modes: defaultModes(where.port) }
  const written = text
    .slice(slash + 1)
    .split(",")
    .map((m) => m.trim().toLowerCase())
  const modes: TlsMode[] = []
  for (const mode of written) {
    const known = TLS_MODES.find((m) => m === mode)
    if (known === undefined) {
      throw new Error(`"${text}": unknown TLS mode "${mode}" (modes: ${TLS_MODES.join(", ")})`)
    }
    if (!modes.includes(known)) modes.push(known)
  }
  return { ...where, modes }
}

/** Parse the operator's `--allow` entries. Throws on a malformed entry. @category policy */
export const parseAllowlist = (entries: readonly string[]): readonly AllowEntry[] => entries.map(parseAllowEntry)

/**
 * Split one string of allowlist entries (the Workers bridge's `ALLOW` variable) at
 * whitespace and commas. A comma also separates an entry's modes
 * (`a.test:995/implicit,none, b.test:110`): a piece without a `:` that follows an entry
 * with modes continues that entry's list (an entry always has a `:`; a mode never does).
 * @category policy
 */
export const splitAllowlist = (text: string): string[] => {
  const entries: string[] = []
  for (const piece of text.split(/[\s,]+/)) {
    if (piece === "") continue
    const last = entries.length - 1
    if (!piece.includes(":") && last >= 0 && entries[last]!.includes("/")) entries[last] += `,${piece}`
    else entries.push(piece)
  }
  return entries
}

/**
 * Read the target from the request's query string. Unknown parameters are ignored (the
 * `token` parameter is read separately); repeated ones are refused as ambiguous.
 * @category policy
 */
export const parseTarget = (params: URLSearchParams): Target | Refusal => {
  const one = (name: string): string | undefined | null => {
    const all = params.getAll(name)
    return all.length > 1 ? null : all[0]
  }
  const rawHost = one("host")
  const rawPort = one("port")
  const rawTls = one("tls")
  if (rawHost === null || rawPort === null || rawTls === null) {
    return refusal(CloseCode.BadRequest, "repeated host, port or tls parameter", "bad_request")
  }
  if (rawHost === undefined) return refusal(CloseCode.BadRequest, "missing host parameter", "bad_request")
  const host = normalizeHost(rawHost)
  if (host === undefined) return refusal(CloseCode.BadRequest, "invalid host parameter", "bad_request")
  if (rawPort === undefined) return refusal(CloseCode.BadRequest, "missing port parameter", "bad_request")
  const port = parsePort(rawPort)
  if (port === undefined) return refusal(CloseCode.BadRequest, "invalid port parameter", "bad_request")
  if (rawTls === "starttls") {
    return refusal(
      CloseCode.BadRequest,
      "tls=starttls: STLS cannot pass through a WebSocket; use tls=implicit, or tls=passthrough with your own TLS",
      "starttls"
    )
  }
  const tls = TLS_MODES.find((mode) => mode === rawTls)
  if (tls === undefined) {
    return refusal(CloseCode.BadRequest, `tls parameter must be ${TLS_MODES.join(", ")}`, "bad_request")
  }
  return { ...host, port, tls }
}

/** Whether the target itself (name or IP, and port) is on the allowlist, in any mode. @category policy */
export const isTargetAllowed = (allow: readonly AllowEntry[], target: Target): boolean =>
  allow.some((entry) => entry.port === target.port && entry.host === target.host)

/** The TLS modes the allowlist permits for the target's host and port (all its entries together). @category policy */
export const allowedModes = (allow: readonly AllowEntry[], target: Target): readonly TlsMode[] =>
  TLS_MODES.filter((mode) =>
    allow.some((entry) => entry.port === target.port && entry.host === target.host && entry.modes.includes(mode))
  )

/** Whether this exact IP address, with this port, is on the allowlist. @category policy */
const isAddressListed = (allow: readonly AllowEntry[], address: string, port: number): boolean => {
  const ip = canonicalIp(address)
  return allow.some((entry) => entry.isIp && entry.port === port && entry.host === ip)
}

/**
 * From the addresses a target resolved to, keep those the bridge may connect to, in order.
 * A special address (loopback, private, link-local, …) is kept only if it is listed
 * exactly. None left: a refusal naming the first address's class.
 * @category policy
 */
export const checkAddresses = (
  allow: readonly AllowEntry[],
  target: Target,
  addresses: readonly string[]
): readonly string[] | Refusal => {
  const ok: string[] = []
  let firstProblem: string | undefined
  for (const address of addresses) {
    const cls = classifyAddress(address)
    if (cls === null || isAddressListed(allow, address, target.port)) ok.push(address)
    else firstProblem ??= `${target.host} resolves to a ${cls} address, which is not allowed`
  }
  if (ok.length > 0) return ok
  return refusal(CloseCode.TargetNotAllowed, firstProblem ?? `${target.host} has no addresses`, "address_not_allowed")
}

/** `scheme://host[:port]` in the browser's spelling, or the text unchanged (e.g. "null"). @category policy */
export const normalizeOrigin = (origin: string): string => {
  try {
    const url = new URL(origin)
    return url.origin === "null" ? origin : url.origin
  } catch {
    return origin
  }
}

/**
 * Whether a request's Origin may use the bridge. Browsers always send Origin on WebSocket
 * upgrades, so an allowlist protects users of *other* sites from being used as relays.
 * A request without Origin is a non-browser client, which could send any Origin it likes:
 * it is allowed unless `requireOrigin` (authenticate those with the token instead).
 * `*` in the list allows every origin.
 * @category policy
 */
export const isOriginAllowed = (
  origin: string | undefined,
  allowed: readonly string[],
  requireOrigin: boolean
): boolean => {
  if (origin === undefined || origin === "") return !requireOrigin
  if (allowed.includes("*")) return true
  const normal = normalizeOrigin(origin)
  return allowed.some((entry) => normalizeOrigin(entry) === normal)
}

/**
 * The token a request presents: `Authorization: Bearer …`, else the `token` query parameter.
 * `authorization` is every Authorization header joined with ", " (as fetch's `Headers.get`
 * joins them; the Node bridge joins `headersDistinct`): more than one credential is none —
 * the request is refused, whichever of them is right, and the query is not looked at. Node
 * kept the first header and the Worker fell back to the query, so the two bridges gave
 * different verdicts on the same request.
 * @category policy
 */
export const presentedToken = (authorization: string | undefined, params: URLSearchParams): string | undefined => {
  if (authorization?.includes(",") === true) return undefined
  const bearer = authorization === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1]
  return bearer ?? params.get("token") ?? undefined
}

/**
 * Whether two equal-length byte arrays are equal, in time that does not depend on where
 * they differ: every byte is looked at, and differences are OR-ed together (no early exit,
 * no data-dependent branch). The same idea as Node's `timingSafeEqual`, in plain JS so the
 * Workers bridge can use it too (WebCrypto has no synchronous compare).
 */
const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return difference === 0
}

/**
 * Compare tokens in constant time. Hashing first (SHA-256, `@noble/hashes`, synchronous on
 * every runtime) gives equal-length inputs, so neither the comparison nor a length check
 * leaks how much of the token was right.
 * @category policy
 */
export const tokenMatches = (presented: string | undefined, expected: string): boolean =>
  constantTimeEqual(sha256(utf8ToBytes(presented ?? "")), sha256(utf8ToBytes(expected))) && presented !== undefined

/**
 * A target as `host:port`, with brackets around an IPv6 literal.
 * @category policy
 */
export const targetText = (t: Target): string => `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`

/**
 * What `admit` decided for a new session. `holdsSlot`: a limiter slot was taken, to be
 * released when the session ends; `target` is kept on a refusal too, for the log.
 * @category policy
 */
export type Admission =
  | { readonly ok: true; readonly holdsSlot: true; readonly target: Target }
  | { readonly ok: false; readonly holdsSlot: boolean; readonly target: Target | undefined; readonly refusal: Refusal }

/**
 * The rules a session must pass before anything is connected, in order: the client's
 * session rate (every attempt that gets this far costs a token, refused or not: that is
 * what slows down credential stuffing), a free slot (total, then per client), a
 * well-formed target, a target on the allowlist in that TLS mode. Both bridges call this;
 * resolved-address checks follow at connect time (`checkAddresses`).
 * @category policy
 */
export const admit = (
  limiter: ConnectionLimiter,
  key: string,
  allow: readonly AllowEntry[],
  params: URLSearchParams,
  rate?: RateLimiter
): Admission => {
  if (rate !== undefined && !rate.take(key)) {
    return {
      ok: false,
      holdsSlot: false,
      target: undefined,
      refusal: refusal(
        CloseCode.RateLimited,
        "too many new sessions from your address; try again later",
        "rate_limited"
      )
    }
  }
  const full = limiter.acquire(key)
  if (full === "total")
    return {
      ok: false,
      holdsSlot: false,
      target: undefined,
      refusal: refusal(CloseCode.Limit, "too many connections", "limit_total")
    }
  if (full === "per_client") {
    return {
      ok: false,
      holdsSlot: false,
      target: undefined,
      refusal: refusal(CloseCode.Limit, "too many connections from your address", "limit_per_client")
    }
  }
  const parsed = parseTarget(params)
  if (isRefusal(parsed)) return { ok: false, holdsSlot: true, target: undefined, refusal: parsed }
  if (!isTargetAllowed(allow, parsed)) {
    return {
      ok: false,
      holdsSlot: true,
      target: parsed,
      refusal: refusal(
        CloseCode.TargetNotAllowed,
        `${targetText(parsed)} is not allowed by this bridge`,
        "target_not_allowed"
      )
    }
  }
  const modes = allowedModes(allow, parsed)
  if (!modes.includes(parsed.tls)) {
    return {
      ok: false,
      holdsSlot: true,
      target: parsed,
      refusal: refusal(
        CloseCode.TargetNotAllowed,
        `tls=${parsed.tls} is not allowed for ${targetText(parsed)} (allowed: ${modes.join(", ")})`,
        "tls_mode_not_allowed"
      )
    }
  }
  return { ok: true, holdsSlot: true, target: parsed }
}
