/**
 * The protocol trace: what crossed the wire and what it did to the session, as events.
 *
 * Secrets never get here: commands are traced in the redacted form the encoder made, so
 * an observer (the CLI's `--trace`, the demo's trace view, a logger) cannot leak them.
 * Bodies are traced by size, not content.
 *
 * @module
 */
import { hostPort } from "../host.ts"
import type { State } from "../protocol/state.ts"

/**
 * A trace event. `at` is milliseconds since the epoch, from Effect's `Clock`.
 * @category models
 */
export type TraceEvent =
  | {
      readonly _tag: "Connecting"
      readonly at: number
      readonly host: string
      readonly port: number
      readonly tls: string
      readonly transport: string
    }
  | { readonly _tag: "Connected"; readonly at: number }
  | { readonly _tag: "TlsEstablished"; readonly at: number }
  | { readonly _tag: "Sent"; readonly at: number; readonly line: string; readonly bytes: number }
  | {
      readonly _tag: "Received"
      readonly at: number
      readonly line: string
      /** The redacted command this line answers; absent for the greeting. */
      readonly command?: string
      /** Milliseconds from writing the command to reading this line. */
      readonly latency?: number
    }
  | {
      readonly _tag: "Body"
      readonly at: number
      readonly command: string
      readonly bytes: number
      readonly millis: number
    }
  | {
      readonly _tag: "StateChanged"
      readonly at: number
      readonly from: State
      readonly to: State
      readonly cause: string
    }
  | { readonly _tag: "Closed"; readonly at: number; readonly reason: string }

/**
 * Receives trace events; must not throw (a throwing listener is ignored).
 * @category models
 */
export type TraceListener = (event: TraceEvent) => void

/**
 * Renders an event as one line of text, as the CLI prints it.
 * @category formatting
 */
export const formatTraceEvent = (event: TraceEvent, start = 0): string => {
  const t = `${((event.at - start) / 1000).toFixed(3).padStart(8)}s`
  switch (event._tag) {
    case "Connecting":
      return `${t} .. connecting to ${hostPort(event.host, event.port)} (tls ${event.tls}, ${event.transport})`
    case "Connected":
      return `${t} .. connected`
    case "TlsEstablished":
      return `${t} .. TLS established`
    case "Sent":
      return `${t} C: ${event.line}`
    case "Received":
      return `${t} S: ${event.line}${event.latency !== undefined ? `   (${event.latency} ms)` : ""}`
    case "Body":
      return `${t} S: <${event.bytes} octets of ${event.command.split(" ")[0]} body in ${event.millis} ms>`
    case "StateChanged":
      return `${t} .. ${event.from} -> ${event.to} (${event.cause})`
    case "Closed":
      return `${t} .. closed: ${event.reason}`
  }
}
