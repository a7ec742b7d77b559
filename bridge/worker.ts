/**
 * pop3-bridge as a Cloudflare Worker: `GET /pop3?host=H&port=P&tls=implicit|none|passthrough` with a
 * WebSocket upgrade becomes one `connect()` socket to an allowlisted mail server
 * (worker-relay.ts). The same URL contract, Origin and token rules (policy.ts, shared with
 * the Node bridge), allowlist, and close codes (close-codes.ts) as the Node bridge; the
 * settings come from the Worker's environment (worker-config.ts, wrangler.toml).
 *
 * Refusals before the WebSocket exists are HTTP answers, as on Node: 404 (path), 426 (not
 * a WebSocket upgrade), 403 (Origin), 401 (token), 500 (misconfigured: the body says only
 * that; what is wrong goes to the Worker's log, not to whoever asked). `/healthz` answers
 * 200. There is no `/metrics`: counters would be per isolate, and a request would reach an
 * arbitrary one; use Workers Logs (one JSON line per session and refusal) instead.
 *
 * Limits on connections are per isolate (Cloudflare runs many, all over its network), so
 * they bound one isolate's memory, not a client's total.
 */
import type { ConnectionLimiter } from "./limits.ts"
import { makeLimiter } from "./limits.ts"
import { isOriginAllowed, presentedToken, tokenMatches } from "./policy.ts"
import type { RateLimiter } from "./rate-limit.ts"
import { makeRateLimiter } from "./rate-limit.ts"
import type { RefusalLog } from "./refusal-log.ts"
import { makeRefusalLog } from "./refusal-log.ts"
import { clientText } from "./session-record.ts"
import type { WorkerEnv, WorkerSettings } from "./worker-config.ts"
import { workerSettingsFrom } from "./worker-config.ts"
import type { WorkersWebSocket } from "./worker-relay.ts"
import { runSession } from "./worker-relay.ts"

/** The runtime's WebSocketPair (a global in Workers). */
declare const WebSocketPair: new () => { readonly 0: WorkersWebSocket; readonly 1: WorkersWebSocket }

/** The part of the Workers ExecutionContext used here. */
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
}

/** Settings are read once per isolate: a deployment's env does not change. */
let state:
  | {
      readonly env: WorkerEnv
      readonly settings: WorkerSettings | Error
      readonly limiter: ConnectionLimiter
      readonly rate: RateLimiter
      readonly logRefusal: RefusalLog
    }
  | undefined
const unlimited: RateLimiter = { take: () => true, size: () => 0 }
const stateFor = (env: WorkerEnv): NonNullable<typeof state> => {
  if (state?.env === env) return state
  let settings: WorkerSettings | Error
  try {
    settings = workerSettingsFrom(env)
  } catch (error) {
    settings = error instanceof Error ? error : new Error(String(error))
  }
  const limiter =
    settings instanceof Error
      ? makeLimiter(1, 1)
      : makeLimiter(settings.maxConnections, settings.maxConnectionsPerClient)
  const rate =
    settings instanceof Error || settings.sessionRate === "off"
      ? unlimited
      : makeRateLimiter(settings.sessionRate, settings.sessionBurst, () => Date.now())
  const logRefusal = makeRefusalLog(
    (entry) => console.log(JSON.stringify(entry)),
    () => Date.now()
  )
  state = { env, settings, limiter, rate, logRefusal }
  return state
}

const text = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(`${body}\n`, {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      ...headers
    }
  })

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response {
    const url = new URL(request.url)
    if (url.pathname === "/healthz") return text(200, "ok")
    if (url.pathname !== "/pop3") return text(404, "not found")
    const { settings, limiter, rate, logRefusal } = stateFor(env)
    if (settings instanceof Error) {
      // The reason may quote a setting; only the operator (Workers Logs) should see it.
      console.log(JSON.stringify({ time: new Date().toISOString(), event: "misconfigured", message: settings.message }))
      return text(500, "bridge misconfigured (see the Worker's logs)")
    }
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return text(426, "connect with a WebSocket")

    // Cloudflare's edge sets CF-Connecting-IP; clients cannot choose it.
    const client = request.headers.get("CF-Connecting-IP") ?? "unknown"
    const origin = request.headers.get("Origin") ?? undefined
    const refuse = (status: number, reason: string, headers: Record<string, string> = {}): Response => {
      if (settings.log) {
        logRefusal({
          time: new Date().toISOString(),
          event: "refused",
          client: clientText(client),
          origin: clientText(origin),
          status,
          reason
        })
      }
      return text(status, reason, headers)
    }
    if (!isOriginAllowed(origin, settings.allowOrigin, settings.requireOrigin)) return refuse(403, "origin not allowed")
    if (
      settings.token !== undefined &&
      !tokenMatches(presentedToken(request.headers.get("Authorization") ?? undefined, url.searchParams), settings.token)
    ) {
      return refuse(401, "missing or wrong token", { "WWW-Authenticate": "Bearer" })
    }

    const pair = new WebSocketPair()
    const [clientEnd, server] = [pair[0], pair[1]]
    // From compatibility date 2026-03-17 binary messages arrive as Blob by default; the
    // relay wants ArrayBuffer (synchronous, no extra copy).
    server.binaryType = "arraybuffer"
    server.accept()
    ctx.waitUntil(runSession(server, { client, origin, params: url.searchParams }, settings, limiter, rate, logRefusal))
    // websockify-style clients offer "binary"; select it so their handshake succeeds.
    const offered = (request.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((p) => p.trim())
    const headers: Record<string, string> = offered.includes("binary") ? { "Sec-WebSocket-Protocol": "binary" } : {}
    return new Response(null, { status: 101, webSocket: clientEnd, headers } as ResponseInit)
  }
}
