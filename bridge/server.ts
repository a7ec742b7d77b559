/**
 * The bridge's HTTP(S) server: `/pop3` WebSocket upgrades (checked for Origin and token
 * before the WebSocket exists), `/healthz`, `/metrics`, and graceful shutdown.
 */
import { createServer as createHttpServer, STATUS_CODES } from "node:http"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo, Socket } from "node:net"
import type { Duplex } from "node:stream"
import { WebSocketServer } from "ws"
import { ipFamily, unmapIpv4 } from "./address.ts"
import type { BridgeOptions, BridgeSettings } from "./config.ts"
import { settingsFrom } from "./config.ts"
import { makeGate } from "./gate.ts"
import { makeLimiter } from "./limits.ts"
import type { Metrics } from "./metrics.ts"
import { increment, makeMetrics } from "./metrics.ts"
import type { RefusalReason } from "./policy.ts"
import { isOriginAllowed, presentedToken, tokenMatches } from "./policy.ts"
import { makeRateLimiter, type RateLimiter } from "./rate-limit.ts"
import { makeRefusalLog } from "./refusal-log.ts"
import type { Session } from "./relay.ts"
import { startSession } from "./relay.ts"
import { clientText } from "./session-record.ts"

/** A listening bridge. @category server */
export interface RunningBridge {
  /** The port it listens on (useful with port 0). */
  readonly port: number
  /** Base URL, e.g. `ws://127.0.0.1:8110`; clients append `/pop3?host=…&port=…&tls=…`. */
  readonly url: string
  /**
   * Stop accepting, let sessions finish for up to `deadlineMs` (default: the configured
   * shutdown timeout), then close the rest with 1001. Resolves when everything is closed.
   */
  readonly close: (deadlineMs?: number) => Promise<void>
  readonly metrics: Metrics
  /** The port of the `/metrics` listener, when `metricsListen` is set. */
  readonly metricsPort: number | undefined
}

/** The client's address: the socket's peer, or the last X-Forwarded-For hop when trusted. */
const clientAddress = (req: IncomingMessage, settings: BridgeSettings): string => {
  const direct = unmapIpv4(req.socket.remoteAddress ?? "")
  if (!settings.trustProxy) return direct
  const header = req.headers["x-forwarded-for"]
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((h) => h.trim())
  // Only the last hop was added by our proxy; earlier ones are whatever the client sent.
  const last = hops.at(-1) ?? ""
  return ipFamily(last) === 0 ? direct : unmapIpv4(last)
}

/** Answer a request on a raw socket that never became a WebSocket. */
const rejectUpgrade = (socket: Duplex, status: number, text: string, headers = ""): void => {
  const body = `${text}\n`
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`
  )
}

const reply = (res: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void => {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff"
  })
  res.end(body)
}

const urlHost = (host: string): string => {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "0:0:0:0:0:0:0:0" ? "::1" : host
  return reachable.includes(":") ? `[${reachable}]` : reachable
}

const listen = (
  server: Server,
  where: { readonly host: string; readonly port: number },
  backlog: number
): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen({ port: where.port, host: where.host, backlog }, () => {
      server.off("error", reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

/** No limit: for `sessionRate: "off"`. */
const unlimited: RateLimiter = { take: () => true, size: () => 0 }

/** Start a bridge. Rejects if the options are invalid or the address is taken. @category server */
export const startBridge = async (options: BridgeOptions = {}): Promise<RunningBridge> => {
  const settings = settingsFrom(options)
  const metrics = makeMetrics()
  const limiter = makeLimiter(settings.maxConnections, settings.maxConnectionsPerClient)
  const rate =
    settings.sessionRate === "off"
      ? unlimited
      : makeRateLimiter(settings.sessionRate, settings.sessionBurst, () => performance.now())
  metrics.rateLimitKeys = rate.size
  const logRefusal = makeRefusalLog(
    settings.log,
    () => performance.now(),
    () => (metrics.logSuppressed += 1)
  )
  const gate = makeGate({
    requestTimeoutMs: settings.requestTimeoutMs,
    maxPending: settings.maxPending,
    maxPendingPerClient: settings.maxPendingPerClient,
    trustProxy: settings.trustProxy,
    onDrop: (reason) => increment(metrics.dropped, reason)
  })
  metrics.pending = gate.pending
  const sessions = new Set<Session>()
  metrics.bufferedBytes = () => [...sessions].reduce((sum, s) => sum + s.buffered(), 0)
  let closing: Promise<void> | undefined

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: settings.maxMessageBytes,
    perMessageDeflate: false, // compression costs memory per session and gains little on mail
    // websockify-style clients offer "binary"; select it so their handshake succeeds.
    handleProtocols: (protocols) => (protocols.has("binary") ? "binary" : false)
  })

  /** `/healthz` and `/metrics` (the latter only where `servesMetrics`). */
  const onRequest =
    (servesMetrics: boolean) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      gate.requestDone(req.socket as Socket)
      res.once("finish", () => gate.responseDone(req.socket as Socket))
      const path = new URL(req.url ?? "/", "http://bridge").pathname
      if (path !== "/healthz" && (path !== "/metrics" || !servesMetrics)) {
        if (path === "/pop3") return reply(res, 426, "connect with a WebSocket\n")
        return reply(res, 404, "not found\n")
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("Allow", "GET, HEAD")
        return reply(res, 405, "method not allowed\n")
      }
      if (path === "/healthz")
        return closing === undefined ? reply(res, 200, "ok\n") : reply(res, 503, "shutting down\n")
      reply(res, 200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
    }

  const refuseUpgrade = (
    req: IncomingMessage,
    socket: Duplex,
    status: number,
    reason: RefusalReason,
    text: string,
    headers = ""
  ): void => {
    increment(metrics.refusals, reason)
    logRefusal({
      time: new Date().toISOString(),
      event: "refused",
      client: clientText(clientAddress(req, settings)),
      origin: clientText(req.headers.origin),
      status,
      reason: text
    })
    rejectUpgrade(socket, status, text, headers)
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // The request is complete; its answer (101 or a refusal) is written at once.
    gate.upgraded(socket as Socket)
    socket.on("error", () => socket.destroy()) // a client resetting mid-handshake is not our error
    const url = new URL(req.url ?? "/", "http://bridge")
    const origin = req.headers.origin
    if (url.pathname !== "/pop3") return rejectUpgrade(socket, 404, "not found")
    if (closing !== undefined) return refuseUpgrade(req, socket, 503, "shutting_down", "shutting down")
    if (!isOriginAllowed(origin, settings.allowOrigin, settings.requireOrigin)) {
      return refuseUpgrade(req, socket, 403, "origin", "origin not allowed")
    }
    if (
      settings.token !== undefined &&
      !tokenMatches(presentedToken(req.headersDistinct["authorization"]?.join(", "), url.searchParams), settings.token)
    ) {
      return refuseUpgrade(req, socket, 401, "token", "missing or wrong token", "WWW-Authenticate: Bearer\r\n")
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const client = clientAddress(req, settings)
      // Behind a trusted proxy the socket's port is the proxy's, not the client's.
      const clientPort = settings.trustProxy ? 0 : (req.socket.remotePort ?? 0)
      const request = { client, clientPort, origin, params: url.searchParams, socket }
      const session = startSession(ws, request, settings, limiter, metrics, rate, logRefusal)
      sessions.add(session)
      void session.done.then(() => sessions.delete(session))
    })
  }

  const server: Server = settings.tls
    ? createHttpsServer(
        // The gate's timer covers the handshake (and counts it); Node's own handshake timeout
        // (default 120 s) stays as a backstop just behind it.
        { cert: settings.tls.cert, key: settings.tls.key, handshakeTimeout: settings.requestTimeoutMs + 1000 },
        onRequest(settings.metricsListen === undefined)
      )
    : createHttpServer(onRequest(settings.metricsListen === undefined))
  // The gate (gate.ts) times out slow and silent connections itself: Node checks its own
  // request timeouts only every 30 s. These stay as a second line.
  server.headersTimeout = settings.requestTimeoutMs
  server.requestTimeout = settings.requestTimeoutMs
  server.keepAliveTimeout = Math.min(5_000, settings.requestTimeoutMs)
  // For HTTPS this is the raw TCP connection, before the TLS handshake.
  server.on("connection", (socket: Socket) => gate.admit(socket))
  server.on("upgrade", onUpgrade)

  const port = await listen(server, settings.listen, settings.backlog)

  // /metrics on its own address, e.g. loopback or an internal network, off the public one.
  let metricsServer: Server | undefined
  let metricsPort: number | undefined
  if (settings.metricsListen !== undefined) {
    metricsServer = createHttpServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://bridge").pathname
      if (path === "/metrics") return reply(res, 200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
      if (path === "/healthz")
        return closing === undefined ? reply(res, 200, "ok\n") : reply(res, 503, "shutting down\n")
      reply(res, 404, "not found\n")
    })
    metricsServer.headersTimeout = settings.requestTimeoutMs
    metricsServer.requestTimeout = settings.requestTimeoutMs
    try {
      metricsPort = await listen(metricsServer, settings.metricsListen, 64)
    } catch (error) {
      server.close()
      throw error
    }
  }

  const close = (deadlineMs = settings.shutdownTimeoutMs): Promise<void> =>
    (closing ??= (async () => {
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const allDone = () => Promise.all([...sessions].map((s) => s.done))
      let deadline: NodeJS.Timeout | undefined
      await Promise.race([allDone(), new Promise((resolve) => (deadline = setTimeout(resolve, deadlineMs)))])
      clearTimeout(deadline)
      for (const session of sessions) session.shutdown()
      await allDone() // each session ends within its close grace period
      server.closeAllConnections()
      gate.closeAll()
      await serverClosed
      if (metricsServer !== undefined) {
        const metricsClosed = new Promise<void>((resolve) => metricsServer.close(() => resolve()))
        metricsServer.closeAllConnections()
        await metricsClosed
      }
    })())

  return {
    port,
    url: `${settings.tls ? "wss" : "ws"}://${urlHost(settings.listen.host)}:${port}`,
    close,
    metrics,
    metricsPort
  }
}
