/**
 * The bridge's HTTP(S) server: `/pop3` WebSocket upgrades (checked for Origin and token
 * before the WebSocket exists), `/healthz`, `/metrics`, and graceful shutdown.
 */
import { createServer as createHttpServer, STATUS_CODES } from "node:http"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import { WebSocketServer } from "ws"
import { ipFamily, unmapIpv4 } from "./address.ts"
import type { BridgeOptions, BridgeSettings } from "./config.ts"
import { settingsFrom } from "./config.ts"
import { makeLimiter } from "./limits.ts"
import type { Metrics } from "./metrics.ts"
import { increment, makeMetrics } from "./metrics.ts"
import type { RefusalReason } from "./policy.ts"
import { isOriginAllowed, presentedToken, tokenMatches } from "./policy.ts"
import type { Session } from "./relay.ts"
import { startSession } from "./relay.ts"

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

/** Start a bridge. Rejects if the options are invalid or the address is taken. @category server */
export const startBridge = async (options: BridgeOptions = {}): Promise<RunningBridge> => {
  const settings = settingsFrom(options)
  const metrics = makeMetrics()
  const limiter = makeLimiter(settings.maxConnections, settings.maxConnectionsPerClient)
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

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? "/", "http://bridge").pathname
    if (path !== "/healthz" && path !== "/metrics") {
      if (path === "/pop3") return reply(res, 426, "connect with a WebSocket\n")
      return reply(res, 404, "not found\n")
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD")
      return reply(res, 405, "method not allowed\n")
    }
    if (path === "/healthz") return closing === undefined ? reply(res, 200, "ok\n") : reply(res, 503, "shutting down\n")
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
    settings.log({
      time: new Date().toISOString(),
      event: "refused",
      client: clientAddress(req, settings),
      origin: req.headers.origin,
      status,
      reason: text
    })
    rejectUpgrade(socket, status, text, headers)
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
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
      !tokenMatches(presentedToken(req.headers.authorization, url.searchParams), settings.token)
    ) {
      return refuseUpgrade(req, socket, 401, "token", "missing or wrong token", "WWW-Authenticate: Bearer\r\n")
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const request = { client: clientAddress(req, settings), origin, params: url.searchParams }
      const session = startSession(ws, request, settings, limiter, metrics)
      sessions.add(session)
      void session.done.then(() => sessions.delete(session))
    })
  }

  const server: Server = settings.tls
    ? createHttpsServer({ cert: settings.tls.cert, key: settings.tls.key }, onRequest)
    : createHttpServer(onRequest)
  // Slow or silent clients must not hold sockets open before they even send a request.
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.on("upgrade", onUpgrade)

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(settings.listen.port, settings.listen.host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port

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
      await serverClosed
    })())

  return { port, url: `${settings.tls ? "wss" : "ws"}://${urlHost(settings.listen.host)}:${port}`, close, metrics }
}
