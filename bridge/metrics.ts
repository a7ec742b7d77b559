/**
 * The bridge's counters and their Prometheus text rendering (exposition format 0.0.4).
 * Aggregates only: no hosts, no client addresses, so `/metrics` leaks nothing per user.
 */
import type { RefusalReason } from "./policy.ts"

/** Why a connection to the mail server failed. @category metrics */
export type UpstreamFailure = "connect" | "tls" | "timeout"

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
      metric("pop3_bridge_bytes_up_total", "counter", "Bytes relayed from clients to mail servers.", [["", metrics.bytesUp]])
      metric("pop3_bridge_bytes_down_total", "counter", "Bytes relayed from mail servers to clients.", [["", metrics.bytesDown]])
      metric("pop3_bridge_refusals_total", "counter", "Requests refused, by reason.", labelled("reason", metrics.refusals))
      metric("pop3_bridge_upstream_failures_total", "counter", "Failed connections to mail servers, by kind.", labelled("kind", metrics.upstreamFailures))
      metric("pop3_bridge_buffered_bytes", "gauge", "Bytes held in the bridge's buffers now.", [["", metrics.bufferedBytes()]])
      return lines.join("\n") + "\n"
    }
  }
  return metrics
}

/** Add one to a labelled counter. @category metrics */
export const increment = <K>(map: Map<K, number>, key: K): void => {
  map.set(key, (map.get(key) ?? 0) + 1)
}
