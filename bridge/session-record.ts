/**
 * The one log record a finished session leaves, the same on Node and on Workers: who, to
 * where, how many bytes each way, how long, and how it ended. Never a payload byte.
 *
 * @module
 */
import type { Target } from "./policy.ts"
import { targetText } from "./policy.ts"

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
  client: session.client,
  origin: session.origin,
  target: session.target === undefined ? undefined : targetText(session.target),
  tls: session.target?.tls,
  address: session.address,
  bytesUp: session.bytesUp,
  bytesDown: session.bytesDown,
  durationMs: Date.now() - session.started,
  closeCode: session.ended.code,
  closeReason: session.ended.reason,
  closedBy: session.ended.by
})
