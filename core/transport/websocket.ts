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
import { bridgeUrl, classifyBridgeFailure, pathEncrypted } from "./bridge-rules.ts"
import { Transport } from "./transport.ts"

export { bridgeUrl }

/**
 * A WebSocket transport through the bridge at `url` (ws: or wss:). Needs a
 * `WebSocketConstructor` (`Socket.layerWebSocketConstructorGlobal` in browsers and Node ≥ 22).
 * @category layers
 */
export const layer = (url: string): Layer.Layer<Transport, never, Socket.WebSocketConstructor> =>
  Layer.effect(Transport)(
    Effect.gen(function* () {
      const makeWebSocket = yield* Socket.WebSocketConstructor
      const bridge = new URL(url)
      return {
        name: "websocket",
        secure: (target) => pathEncrypted(bridge, target),
        startTls: false,
        upgradeOptions: () => ({}),
        classify: (error) => classifyBridgeFailure(bridge, error),
        open: (target) =>
          Socket.makeWebSocket(bridgeUrl(url, target), {
            openTimeout: target.connectTimeoutMillis,
            // websockify-compatible clients offer "binary"; the bridge selects it.
            protocols: ["binary"]
          }).pipe(Effect.provideService(Socket.WebSocketConstructor, makeWebSocket))
      }
    })
  )

/**
 * The WebSocket transport using the platform's global `WebSocket`.
 * @category layers
 */
export const layerGlobal = (url: string): Layer.Layer<Transport> =>
  layer(url).pipe(Layer.provide(Socket.layerWebSocketConstructorGlobal))
