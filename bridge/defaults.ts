/**
 * The bridge's default settings, shared by the Node bridge (config.ts) and the Workers
 * bridge (worker-config.ts). Pure data, no runtime imports.
 */

/** The defaults, each chosen for an internet-facing bridge. @category config */
export const DEFAULTS = {
  listen: "127.0.0.1:8110", // loopback: exposing the bridge is a deliberate act
  maxConnections: 1000,
  maxConnectionsPerClient: 10, // a mail client needs one per account
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
