/**
 * The WebSocket transport: POP3 bytes as binary WebSocket messages to a pop3-bridge, which
 * relays them to the mail server. The standard `WebSocket` API, so the identical client
 * runs in browsers, Deno, Bun, Workers and Node (whose global `WebSocket` is standard).
 *
 * STLS cannot pass through: the bridge would have to be the TLS endpoint. Use
 * `tls: "implicit"` (the bridge opens TLS to the server and verifies it) and a `wss:`
 * bridge URL so the browser↔bridge leg is encrypted too.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { BridgeError, ConnectError } from "../errors.ts"
import { type Target, Transport } from "./transport.ts"

/**
 * The bridge URL for a target: `…/pop3?host=H&port=P&tls=implicit|none`, keeping any
 * query the base URL already has (e.g. a `token`).
 * @category url
 */
export const bridgeUrl = (base: string, target: Pick<Target, "host" | "port" | "tls">): string => {
  const url = new URL(base)
  url.searchParams.set("host", target.host)
  url.searchParams.set("port", String(target.port))
  url.searchParams.set("tls", target.tls)
  return url.toString()
}

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/**
 * A WebSocket transport through the bridge at `url` (ws: or wss:). Needs a
 * `WebSocketConstructor` (`Socket.layerWebSocketConstructorGlobal` in browsers and Node ≥ 22).
 * @category layers
 */
export const layer = (url: string): Layer.Layer<Transport, never, Socket.WebSocketConstructor> =>
  Layer.effect(Transport)(Effect.gen(function*() {
    const constructor = yield* Socket.WebSocketConstructor
    const bridge = new URL(url)
    // For messages: never the query, which may hold the bridge's token.
    const where = `${bridge.protocol}//${bridge.host}${bridge.pathname}`
    return {
      name: "websocket",
      // The password crosses two legs: browser→bridge and bridge→server. Both must be
      // encrypted, unless the bridge is on this machine (loopback).
      secure: (target) => target.tls === "implicit" && (bridge.protocol === "wss:" || isLoopback(bridge.hostname)),
      startTls: false,
      upgradeOptions: () => ({}),
      classify: (error) => {
        const reason = error.reason
        // The bridge reports refusals and upstream failures as close codes 4000–4999.
        if (reason._tag === "SocketCloseError" && reason.code >= 4000 && reason.code <= 4999) {
          return new BridgeError({ code: reason.code, reason: reason.closeReason ?? "" })
        }
        // No WebSocket at all: the failure is the bridge's, not the mail server's, and the
        // platform's cause is a bare Event that says nothing. (A browser cannot tell "down"
        // from an HTTP refusal of the upgrade: both are just an error event.)
        if (reason._tag === "SocketOpenError" && reason.kind !== "Timeout") {
          return new ConnectError({
            host: bridge.hostname,
            port: Number(bridge.port || (bridge.protocol === "wss:" ? 443 : 80)),
            reason: `no WebSocket to the pop3-bridge at ${where} (is it running? a bridge also refuses a request whose origin, token or connection count it does not accept)`
          })
        }
        return undefined
      },
      open: (target) =>
        Socket.makeWebSocket(bridgeUrl(url, target), {
          openTimeout: target.connectTimeoutMillis,
          // websockify-compatible clients offer "binary"; the bridge selects it.
          protocols: ["binary"]
        }).pipe(Effect.provideService(Socket.WebSocketConstructor, constructor))
    }
  }))

/**
 * The WebSocket transport using the platform's global `WebSocket`.
 * @category layers
 */
export const layerGlobal = (url: string): Layer.Layer<Transport> =>
  layer(url).pipe(Layer.provide(Socket.layerWebSocketConstructorGlobal))
