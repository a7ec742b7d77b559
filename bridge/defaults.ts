/**
 * The bridge's default settings and the range each numeric setting must fall in, shared by
 * the Node bridge (config.ts) and the Workers bridge (worker-config.ts). Pure data, no
 * runtime imports.
 */

/** The longest delay a JavaScript timer can hold (2^31 − 1 ms, about 24.8 days); longer ones fire at once. @category config */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** The defaults, each chosen for an internet-facing bridge. @category config */
export const DEFAULTS = {
  listen: "127.0.0.1:8110", // loopback: exposing the bridge is a deliberate act
  maxConnections: 1000,
  maxConnectionsPerClient: 10, // a mail client needs one per account
  // New sessions per client address: a burst of 60, then one every 2 s (30 a minute). A
  // mail client opens one per account per check; credential stuffing opens thousands.
  sessionRate: { count: 30, perMs: 60_000 },
  sessionBurst: 60,
  // Before the upgrade: the TLS handshake plus a complete HTTP request must arrive within
  // this time, and connections still that far are capped in total and per address.
  requestTimeoutMs: 10_000,
  maxPending: 512,
  maxPendingPerClient: 16, // more than a browser opens at once; far fewer than a flood
  backlog: 4096, // Node's default (511) overflows on a burst of ~1000 connects (measured: thousands of drops); Linux caps it at net.core.somaxconn
  connectTimeoutMs: 10_000, // DNS + TCP + TLS to the mail server
  idleTimeoutMs: 600_000, // RFC 1939 servers may log out after 10 idle minutes anyway
  maxSessionMs: 3_600_000,
  maxMessageBytes: 64 * 1024, // POP3 commands are ≤ 255 bytes; pipelined batches stay far below
  maxBufferedBytes: 1024 * 1024, // per-session memory bound for a slow client
  shutdownTimeoutMs: 20_000, // below the usual 30 s container stop grace period
  pingIntervalMs: 30_000 // reverse proxies drop silent WebSockets after ~60 s (nginx default)
} as const

/** A shared secret shorter than this is refused: it would be guessable. @category config */
export const MIN_TOKEN_LENGTH = 16

/**
 * Refusal log lines (HTTP refusals and refused sessions): at most this many a second
 * across all clients after a burst of `REFUSAL_LOG_BURST`; the rest are counted and the
 * count is logged with the next line that gets through. A flood costs a few lines, not
 * one line per attempt.
 * @category config
 */
export const REFUSAL_LOG_RATE = { count: 10, perMs: 1000 } as const
/** See `REFUSAL_LOG_RATE`. @category config */
export const REFUSAL_LOG_BURST = 50

/** Client-supplied text (Origin, close reasons) in a log record is cut to this many characters. @category config */
export const LOG_TEXT_MAX = 200

/** How a numeric setting is checked: inclusive bounds, whole or not, and the unit for messages. @category config */
export interface Range {
  readonly min: number
  readonly max: number
  readonly unit: "count" | "ms" | "bytes"
}

/**
 * The range of every numeric setting. Times stop at `MAX_TIMER_MS` (a longer timer fires
 * at once: `--max-session 600h` would end every session after a millisecond); sizes stop
 * where one session's buffer would be absurd; counts must be whole. Times may be as short
 * as 1 ms (tests use short ones), except the ping interval.
 * @category config
 */
export const RANGES = {
  maxConnections: { min: 1, max: 1_000_000, unit: "count" },
  maxConnectionsPerClient: { min: 1, max: 1_000_000, unit: "count" },
  sessionBurst: { min: 1, max: 1_000_000, unit: "count" },
  maxPending: { min: 1, max: 1_000_000, unit: "count" },
  maxPendingPerClient: { min: 1, max: 1_000_000, unit: "count" },
  backlog: { min: 1, max: 65_535, unit: "count" },
  requestTimeoutMs: { min: 1, max: 600_000, unit: "ms" },
  connectTimeoutMs: { min: 1, max: MAX_TIMER_MS, unit: "ms" },
  idleTimeoutMs: { min: 1, max: MAX_TIMER_MS, unit: "ms" },
  maxSessionMs: { min: 1, max: MAX_TIMER_MS, unit: "ms" },
  shutdownTimeoutMs: { min: 0, max: MAX_TIMER_MS, unit: "ms" },
  pingIntervalMs: { min: 10, max: MAX_TIMER_MS, unit: "ms" },
  maxMessageBytes: { min: 512, max: 64 * 1024 * 1024, unit: "bytes" },
  maxBufferedBytes: { min: 1024, max: 1024 * 1024 * 1024, unit: "bytes" }
} as const satisfies Readonly<Record<string, Range>>

/** A numeric setting that has a range. @category config */
export type RangedSetting = keyof typeof RANGES

/** One decimal, rounded down: a shown maximum must not exceed the real one. */
const down = (value: number, per: number): number => Math.floor((value / per) * 10) / 10

const show = (value: number, unit: Range["unit"]): string => {
  if (unit === "ms") {
    if (value >= 86_400_000) return `${down(value, 86_400_000)}d`
    if (value >= 3_600_000) return `${down(value, 3_600_000)}h`
    if (value >= 60_000) return `${down(value, 60_000)}m`
    return value >= 1000 ? `${down(value, 1000)}s` : `${value}ms`
  }
  if (unit === "bytes")
    return value >= 1048576 ? `${down(value, 1048576)}m` : value >= 1024 ? `${down(value, 1024)}k` : `${value}`
  return `${value}`
}

/**
 * The value if it is a whole number within the setting's range; else an error naming
 * `label` (the flag, option or variable the user wrote) and the range, in the user's units.
 * @category config
 */
export const inRange = (label: string, setting: RangedSetting, value: number): number => {
  const { min, max, unit } = RANGES[setting]
  if (!Number.isInteger(value) || value < min || value > max) {
    const why = unit === "ms" && value > max && max === MAX_TIMER_MS ? " (the longest timer JavaScript can hold)" : ""
    const got = Number.isFinite(value) ? show(value, unit) : String(value)
    throw new Error(`${label} must be between ${show(min, unit)} and ${show(max, unit)}${why}, got ${got}`)
  }
  return value
}
