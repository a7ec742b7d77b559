/**
 * Connection options and their defaults, in one place.
 *
 * @module
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import { MAX_COLLECTED_OCTETS, MAX_LISTING_LINES, MAX_LISTING_OCTETS } from "../protocol/limits.ts"
import { ProtocolError } from "../errors.ts"
import type { Target } from "../transport/transport.ts"
import { bareHost } from "../host.ts"
import type { TraceListener } from "./trace.ts"

/**
 * How to reach and secure a POP3 server.
 * @category models
 */
export interface ConnectOptions {
  /** A host name or an address; an IPv6 address with or without brackets (`[::1]`, `::1`). */
  readonly host: string
  /** Default 995 with `tls: "implicit"`, otherwise 110. */
  readonly port?: number | undefined
  /**
   * `implicit`: TLS from the first byte. `starttls`: plain, then STLS (RFC 2595) before
   * login — refused servers fail, never fall back to plaintext. `none`: no TLS at all.
   * Default: `implicit` on port 995, otherwise `starttls`.
   */
  readonly tls?: "implicit" | "starttls" | "none" | undefined
  /** The certificate name to verify (default: `host`). */
  readonly servername?: string | undefined
  /** Extra trusted CA certificates, PEM. */
  readonly ca?: string | ReadonlyArray<string> | undefined
  /** Accept any certificate. Only for testing; never the default. */
  readonly insecure?: boolean | undefined
  /**
   * Time limit for connecting, for each wait for body bytes, and for each status line
   * whole (default 30 s; a bare number is milliseconds).
   */
  readonly timeout?: Duration.Input | undefined
  /** Receives the redacted protocol trace. */
  readonly trace?: TraceListener | undefined
}

/**
 * The options with every default filled in.
 * @category models
 */
export interface ResolvedOptions {
  readonly target: Target
  readonly tls: "implicit" | "starttls" | "none"
  readonly timeoutMillis: number
  readonly trace: TraceListener
}

/**
 * The default time limit per wait.
 * @category defaults
 */
export const DEFAULT_TIMEOUT_MILLIS = 30_000

/**
 * The listener when none was given: the connection then builds no trace events at all
 * (a status line's text, timestamps, an object per command and answer).
 * @category defaults
 */
export const noTrace: TraceListener = () => {}

// A trace listener must not throw; one that does is ignored, so a broken observer cannot break the
// session (the Connecting/Connected/Closed events are traced outside the connection's guard).
const safeListener = (listener: TraceListener | undefined): TraceListener => {
  if (listener === undefined) return noTrace
  return (event) => {
    try {
      listener(event)
    } catch {
      // ignored, as documented on TraceListener
    }
  }
}

/**
 * What is wrong with options the types cannot catch (JavaScript callers, numbers from
 * configuration): a host that is not a name, a port outside 1–65535. Undefined when fine.
 * @category internals
 */
export const invalidOptions = (options: ConnectOptions): string | undefined => {
  if (typeof options.host !== "string" || options.host === "") return "host must be a server name or address"
  const { port } = options
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
    return `port must be a whole number from 1 to 65535, got ${String(port)}`
  return undefined
}

/**
 * Fills in defaults.
 * @category constructors
 */
export const resolveOptions = (options: ConnectOptions): ResolvedOptions => {
  const tls = options.tls ?? (options.port === 995 ? "implicit" : "starttls")
  const port = options.port ?? (tls === "implicit" ? 995 : 110)
  const timeoutMillis = options.timeout === undefined ? DEFAULT_TIMEOUT_MILLIS : Duration.toMillis(options.timeout)
  const ca = options.ca === undefined ? undefined : typeof options.ca === "string" ? [options.ca] : options.ca
  const host = bareHost(options.host)
  return {
    tls,
    timeoutMillis,
    trace: safeListener(options.trace),
    target: {
      host,
      port,
      tls: tls === "implicit" ? "implicit" : "none",
      servername: options.servername ?? host,
      ca,
      insecure: options.insecure === true,
      connectTimeoutMillis: timeoutMillis
    }
  }
}

/**
 * The most lines and octets a LIST, UIDL or CAPA listing may have before the client gives
 * up with `ProtocolError` (and drops the connection). Provide another value to read larger
 * mailboxes, or to test with small ones. A CAPA answer is held to MAX_CAPA_LINES and
 * MAX_CAPA_OCTETS as well, whatever this says.
 * @category limits
 */
export const ListingLimits = Context.Reference<{ readonly lines: number; readonly octets: number }>(
  "pop3/ListingLimits",
  {
    defaultValue: () => ({ lines: MAX_LISTING_LINES, octets: MAX_LISTING_OCTETS })
  }
)

/**
 * The most octets of one body collected into memory (`collect`, the Promise API's `retr`
 * and `top`, `retrMany`/`topMany`) before the client gives up with `ProtocolError` (and
 * drops the connection): a server that never ends a body must not fill the memory.
 * Default MAX_COLLECTED_OCTETS (512 MiB); a body streamed is not bounded by it.
 * @category limits
 */
export const BodyLimits = Context.Reference<{ readonly octets: number }>("pop3/BodyLimits", {
  defaultValue: () => ({ octets: MAX_COLLECTED_OCTETS })
})

/**
 * The `ProtocolError` of a body past `BodyLimits`.
 * @category limits
 */
export const bodyTooLong = (octets: number, what = "the body"): ProtocolError =>
  new ProtocolError({
    reason: `${what} is longer than this client's limit of ${octets} octets for a body held in memory (BodyLimits); stream it instead`
  })
