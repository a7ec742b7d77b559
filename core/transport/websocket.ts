/**
 * The WebSocket transport: POP3 bytes as binary WebSocket messages to a pop3-bridge, which
 * relays them to the mail server. The standard `WebSocket` API, so the identical client
 * runs in browsers, Deno, Bun, Workers and Node (whose global `WebSocket` is standard).
 *
 * By default the bridge is the TLS endpoint: use `tls: "implicit"` (the bridge opens TLS
 * to the server and verifies it) and a `wss:` bridge URL so the browser↔bridge leg is
 * encrypted too; STLS cannot pass through. With `endToEnd: true` (experimental) the bridge
 * relays raw bytes (`tls=passthrough`) and the client does TLS itself, implicit or STLS,
 * so the bridge sees only ciphertext (`pop3-everywhere/tls`).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { endToEndTransport } from "../tls/end-to-end.ts"
import { type BridgeTls, bridgeUrl, classifyBridgeFailure, pathEncrypted } from "./bridge-rules.ts"
import { type Target, Transport } from "./transport.ts"

export { bridgeUrl }

/**
 * How the WebSocket transport uses the bridge.
 * @category models
 */
export interface Options {
  /**
   * End-to-end TLS (experimental): ask the bridge for `tls=passthrough` and do TLS 1.3 in
   * the client, verified against Mozilla's roots and `ca`; the bridge sees only ciphertext.
   * The bridge's allowlist must permit `passthrough` for the server.
   */
  readonly endToEnd?: boolean | undefined
}

/**
 * A WebSocket transport through the bridge at `url` (ws: or wss:). Needs a
 * `WebSocketConstructor` (`Socket.layerWebSocketConstructorGlobal` in browsers and Node ≥ 22).
 * @category layers
 */
export const layer = (url: string, options: Options = {}): Layer.Layer<Transport, never, Socket.WebSocketConstructor> =>
  Layer.effect(Transport)(
    Effect.gen(function* () {
      const makeWebSocket = yield* Socket.WebSocketConstructor
      const bridge = new URL(url)
      const open = (target: Pick<Target, "host" | "port" | "connectTimeoutMillis">, tls: BridgeTls) =>
        Socket.makeWebSocket(bridgeUrl(url, { host: target.host, port: target.port, tls }), {
          openTimeout: target.connectTimeoutMillis,
          // websockify-compatible clients offer "binary"; the bridge selects it.
          protocols: ["binary"]
        }).pipe(Effect.provideService(Socket.WebSocketConstructor, makeWebSocket))
      const service: Transport["Service"] = {
        name: "websocket",
        secure: (target) => pathEncrypted(bridge, target),
        startTls: false,
        upgradeOptions: () => ({}),
        classify: (error) => classifyBridgeFailure(bridge, error),
        open: (target) => open(target, target.tls)
      }
      return options.endToEnd === true ? endToEndTransport(service, (target) => open(target, "passthrough")) : service
    })
  )

/**
 * The WebSocket transport using the platform's global `WebSocket`.
 * @category layers
 */
export const layerGlobal = (url: string, options: Options = {}): Layer.Layer<Transport> =>
  layer(url, options).pipe(Layer.provide(Socket.layerWebSocketConstructorGlobal))
