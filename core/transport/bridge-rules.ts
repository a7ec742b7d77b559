/**
 * What the client knows about a pop3-bridge (bridge/), as pure rules apart from the
 * WebSocket plumbing: the URL it asks for, whether the whole path to the mail server is
 * encrypted, and how the bridge's refusals read as typed errors. The bridge's own close
 * codes are listed in bridge/close-codes.ts (core does not import bridge/).
 *
 * @module
 */
import type * as Socket from "effect/socket/Socket"
import { BridgeError, ConnectError } from "../errors.ts"
import type { BridgeTls } from "./bridge-url.ts"
import { TLS_FAILURE } from "./transport.ts"

// The URL itself is in bridge-url.ts, which imports nothing (the CLI computes it first thing).
export { type BridgeTls, bridgeUrl } from "./bridge-url.ts"

/**
 * Whether `host` (a URL's hostname) names this machine.
 * @category rules
 */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/**
 * The password crosses two legs, client→bridge and bridge→server: with TLS at the bridge
 * the path is encrypted only if both are, the first by `wss:` or by staying on this
 * machine (loopback). With `passthrough` the legs do not matter: it is encrypted exactly
 * when the client runs TLS itself from the first byte (`clientTls`), end to end.
 * @category rules
 */
export const pathEncrypted = (bridge: URL, target: { readonly tls: BridgeTls }, clientTls = false): boolean =>
  target.tls === "passthrough"
    ? clientTls
    : target.tls === "implicit" && (bridge.protocol === "wss:" || isLoopback(bridge.hostname))

/**
 * The close codes by which the bridge reports refusals and upstream failures (the range
 * RFC 6455 leaves to applications).
 * @category rules
 */
export const BRIDGE_CLOSE_CODES = { min: 4000, max: 4999 } as const

/**
 * The HTTP status that answered the upgrade instead of 101, where the platform says it:
 * Node's `ws` fails the opening with exactly "Unexpected server response: <status>" (a
 * browser says nothing). Only the three digits are taken from the message.
 */
const httpStatus = (cause: unknown): number | undefined => {
  const message = (cause as { readonly message?: unknown } | null | undefined)?.message
  const match = typeof message === "string" ? /^Unexpected server response: ([1-5][0-9]{2})$/.exec(message) : null
  return match === null ? undefined : Number(match[1])
}

/** What an HTTP answer to the upgrade means, in the words of pop3-bridge's own refusals (bridge/server.ts). */
const refusal = (status: number): string => {
  switch (status) {
    case 401:
      return "it refused the token (HTTP 401: missing or wrong)"
    case 403:
      return "it refused this origin (HTTP 403: not in its --allow-origin list)"
    case 404:
      return "nothing answers WebSockets at this path (HTTP 404; a pop3-bridge's is /pop3)"
    case 503:
      return "it is shutting down (HTTP 503)"
    default:
      return `it answered HTTP ${status} instead of a WebSocket upgrade (is this a pop3-bridge's URL?)`
  }
}

/**
 * A socket failure as the bridge's error, when it is one: a close code of the bridge, or
 * no WebSocket to the bridge at all — then the failure is the bridge's, not the mail
 * server's, and the platform's cause is a bare Event that says nothing. (A browser cannot
 * tell "down" from an HTTP refusal of the upgrade: both are just an error event.)
 * @category rules
 */
export const classifyBridgeFailure = (
  bridge: URL,
  error: Socket.SocketError
): BridgeError | ConnectError | undefined => {
  const reason = error.reason
  if (
    reason._tag === "SocketCloseError" &&
    reason.code >= BRIDGE_CLOSE_CODES.min &&
    reason.code <= BRIDGE_CLOSE_CODES.max
  ) {
    return new BridgeError({ code: reason.code, reason: reason.closeReason ?? "" })
  }
  if (reason._tag === "SocketOpenError" && reason.kind !== "Timeout") {
    // For messages: never the query, which may hold the bridge's token.
    const where = `${bridge.protocol}//${bridge.host}${bridge.pathname}`
    // Where the platform says more than a bare Event (Node's `ws`): its error code only —
    // a message may quote the URL, token and all.
    const code = (reason.cause as { readonly code?: unknown } | null | undefined)?.code
    const known = typeof code === "string" && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : undefined
    const status = httpStatus(reason.cause)
    return new ConnectError({
      host: bridge.hostname,
      port: Number(bridge.port || (bridge.protocol === "wss:" ? 443 : 80)),
      reason:
        status !== undefined
          ? `no WebSocket to the pop3-bridge at ${where}: ${refusal(status)}`
          : known !== undefined && TLS_FAILURE.test(known)
            ? `no WebSocket to the pop3-bridge at ${where}: its TLS certificate was not accepted (${known})`
            : `no WebSocket to the pop3-bridge at ${where}${known === undefined ? "" : ` (${known})`} (is it running? a bridge also refuses a request whose origin, token or connection count it does not accept)`
    })
  }
  return undefined
}
