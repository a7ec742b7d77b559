/**
 * Every WebSocket close code the bridge sends, in one place, so the client-side WebSocket
 * transport can map them into typed errors. 4000–4999 is the range RFC 6455 leaves to
 * applications; codes 1000–1999 keep their RFC 6455 meaning. The close *reason* text says more
 * (e.g. "idle timeout", "upstream TLS failed: CERT_HAS_EXPIRED") but is for humans.
 *
 * Refusals that happen before the WebSocket exists (wrong path 404, Origin 403, token 401,
 * shutting down 503) are plain HTTP answers to the upgrade request; a browser only sees
 * them as a failed connection (close code 1006).
 */

/** The bridge's close codes. @category close codes */
export const CloseCode = {
  /** Normal end: the mail server closed the connection (or the client did). */
  Normal: 1000,
  /** The bridge is shutting down (after the drain deadline). */
  GoingAway: 1001,
  /** The client broke the WebSocket protocol (sent by `ws` itself). */
  ProtocolError: 1002,
  /** A text frame arrived; the bridge relays bytes, so only binary frames are accepted. */
  TextFrame: 1003,
  /** Invalid UTF-8 in a text frame (sent by `ws` itself; text frames are refused anyway). */
  InvalidData: 1007,
  /** A message larger than the bridge's `--max-message` (sent by `ws` itself). */
  TooBig: 1009,
  /** A bug in the bridge; the reason says what failed. */
  InternalError: 1011,
  /** The target (host, port or resolved address) is not on the allowlist. */
  TargetNotAllowed: 4001,
  /** Malformed request: missing/invalid host, port or tls parameter, or tls=starttls. */
  BadRequest: 4002,
  /** A limit was reached: connections (total or per client), idle time, session length. */
  Limit: 4008,
  /** The client opened sessions faster than the bridge's per-client rate (as HTTP 429). */
  RateLimited: 4029,
  /** The mail server could not be reached, or the connection to it failed later. */
  UpstreamConnectFailed: 4010,
  /** The TLS handshake with the mail server failed (e.g. its certificate did not verify). */
  UpstreamTlsFailed: 4011,
  /** Resolving, connecting to or handshaking with the mail server took too long. */
  UpstreamTimeout: 4012
} as const

/** One of the bridge's close codes. @category close codes */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/** RFC 6455 limits a close reason to 123 bytes of UTF-8; longer reasons are cut. @category close codes */
export const closeReason = (text: string): string => {
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= 123) return text
  // Cut on a character boundary: decode leniently and drop a trailing replacement char.
  return new TextDecoder().decode(bytes.slice(0, 123)).replace(/\uFFFD$/, "")
}
