/**
 * The bridge's counters and their Prometheus text rendering (exposition format 0.0.4).
 * Aggregates only: no hosts, no client addresses, so `/metrics` leaks nothing per user.
 */
import type { RefusalReason } from "./policy.ts"

/** Why a connection to the mail server failed. @category metrics */
export type UpstreamFailure = "connect" | "tls" | "timeout"

/** Why a connection was closed before it became a WebSocket. @category metrics */
export type DropReason = "pending_total" | "pending_per_client" | "pending_evicted" | "request_timeout"

/** Live counters, updated by the server and the relay. @category metrics */
export interface Metrics {
  sessionsActive: number
  sessionsTotal: number
  /** Bytes relayed client → mail server. */
  bytesUp: number
  /** Bytes relayed mail server → client. */
  bytesDown: number
  readonly refusals: Map<RefusalReason, number>
  readonly upstreamFailures: Map<UpstreamFailure, number>
  /** Sessions refused by the per-client session rate (also counted in refusals). */
  rateLimited: number
  /** Client addresses with a partly used session-rate bucket (set by the server). */
  rateLimitKeys: () => number
  /** Connections that have not finished a request yet (set by the server). */
  pending: () => number
  /** Connections closed before the upgrade, by reason. */
  readonly dropped: Map<DropReason, number>
  /** Refusal log lines left out by the log rate limit. */
  logSuppressed: number
  /** Bytes currently held in the bridge's buffers across all sessions (set by the server). */
  bufferedBytes: () => number
  readonly render: () => string
}

/** Fresh counters at zero. @category metrics */
export const makeMetrics = (): Metrics => {
  const metrics: Metrics = {
    sessionsActive: 0,
    sessionsTotal: 0,
    bytesUp: 0,
    bytesDown: 0,
    refusals: new Map(),
    upstreamFailures: new Map(),
    rateLimited: 0,
    rateLimitKeys: () => 0,
    pending: () => 0,
    dropped: new Map(),
    logSuppressed: 0,
    bufferedBytes: () => 0,
    render: () => {
      const lines: string[] = []
      const metric = (name: string, type: string, help: string, samples: ReadonlyArray<readonly [string, number]>) => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
        for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`)
      }
      const labelled = (label: string, map: ReadonlyMap<string, number>) =>
        [...map].map(([key, value]) => [`{${label}="${key}"}`, value] as const)
      metric("pop3_bridge_sessions_active", "gauge", "WebSocket sessions open now.", [["", metrics.sessionsActive]])
      metric("pop3_bridge_sessions_total", "counter", "WebSocket sessions accepted.", [["", metrics.sessionsTotal]])
      metric("pop3_bridge_bytes_up_total", "counter", "Bytes relayed from clients to mail servers.", [
        ["", metrics.bytesUp]
      ])
      metric("pop3_bridge_bytes_down_total", "counter", "Bytes relayed from mail servers to clients.", [
        ["", metrics.bytesDown]
      ])
      metric(
        "pop3_bridge_refusals_total",
        "counter",
        "Requests refused, by reason.",
        labelled("reason", metrics.refusals)
      )
      metric(
        "pop3_bridge_upstream_failures_total",
        "counter",
        "Failed connections to mail servers, by kind.",
        labelled("kind", metrics.upstreamFailures)
      )
      metric(
        "pop3_bridge_rate_limited_total",
        "counter",
        "Sessions refused by the per-client session rate (close code 4029).",
        [["", metrics.rateLimited]]
      )
      metric("pop3_bridge_rate_limit_clients", "gauge", "Client addresses whose session-rate bucket is not full.", [
        ["", metrics.rateLimitKeys()]
      ])
      metric("pop3_bridge_pending_connections", "gauge", "Connections that have not finished a request yet.", [
        ["", metrics.pending()]
      ])
      metric(
        "pop3_bridge_connections_dropped_total",
        "counter",
        "Connections closed before the upgrade, by reason.",
        labelled("reason", metrics.dropped)
      )
      metric("pop3_bridge_log_lines_suppressed_total", "counter", "Refusal log lines left out by the log rate limit.", [
        ["", metrics.logSuppressed]
      ])
      metric("pop3_bridge_buffered_bytes", "gauge", "Bytes held in the bridge's buffers now.", [
        ["", metrics.bufferedBytes()]
      ])
      return lines.join("\n") + "\n"
    }
  }
  return metrics
}

/** Add one to a labelled counter. @category metrics */
export const increment = <K>(map: Map<K, number>, key: K): void => {
  map.set(key, (map.get(key) ?? 0) + 1)
}
