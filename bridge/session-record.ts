/**
 * The one log record a finished session leaves, the same on Node and on Workers: who, to
 * where, how many bytes each way, how long, and how it ended. Never a payload byte.
 *
 * @module
 */
import { LOG_TEXT_MAX } from "./defaults.ts"
import type { Target } from "./policy.ts"
import { targetText } from "./policy.ts"

/**
 * Text a client chose (its Origin header, its close reason), made safe for a log line: cut
 * to `max` characters (saying how many were cut), and every character outside printable
 * ASCII written as `\xHH` or `\u{…}`, so no control sequence, line break, bidi override or
 * look-alike letter reaches a terminal or log viewer as itself. Undefined stays undefined.
 * @category logging
 */
export const clientText = (text: string | undefined, max = LOG_TEXT_MAX): string | undefined => {
  if (text === undefined) return undefined
  const chars = Array.from(text)
  const kept = chars.length > max ? chars.slice(0, max) : chars
  const escaped = kept
    .map((c) => {
      const code = c.codePointAt(0) ?? 0
      if (code >= 0x20 && code < 0x7f && c !== "\\") return c
      if (c === "\\") return "\\\\"
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`
    })
    .join("")
  return chars.length > max ? `${escaped}...(${chars.length - max} more)` : escaped
}

/** Which side ended a session. @category models */
export type ClosedBy = "client" | "upstream" | "bridge"

/** What a relay knows when its session ends. @category models */
export interface FinishedSession {
  readonly client: string
  readonly origin: string | undefined
  readonly target: Target | undefined
  readonly address: string | undefined
  readonly bytesUp: number
  readonly bytesDown: number
  readonly started: number
  readonly ended: { readonly code: number; readonly reason: string; readonly by: ClosedBy }
}

/** The `session` log record. @category logging */
export const sessionRecord = (session: FinishedSession): Readonly<Record<string, unknown>> => ({
  time: new Date().toISOString(),
  event: "session",
  client: clientText(session.client),
  origin: clientText(session.origin),
  target: session.target === undefined ? undefined : targetText(session.target),
  tls: session.target?.tls,
  address: session.address,
  bytesUp: session.bytesUp,
  bytesDown: session.bytesDown,
  durationMs: Date.now() - session.started,
  closeCode: session.ended.code,
  // A client's own close reason is its text (≤ 123 bytes, but any characters).
  closeReason: session.ended.by === "client" ? clientText(session.ended.reason) : session.ended.reason,
  closedBy: session.ended.by
})
