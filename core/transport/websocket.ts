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
import { bridgeTransport, type Options } from "./bridge-transport.ts"
import { type BridgeTls, bridgeUrl } from "./bridge-rules.ts"
import { Transport } from "./transport.ts"
import {
  globalWebSocketStream,
  openWebSocketStream,
  type WebSocketCloseInfo,
  type WebSocketStreamConstructor,
  type WebSocketStreamLike,
  type WebSocketStreamMessage
} from "./websocket-stream.ts"

export {
  type BridgeTls,
  bridgeUrl,
  type Options,
  type WebSocketCloseInfo,
  type WebSocketStreamConstructor,
  type WebSocketStreamLike,
  type WebSocketStreamMessage
}

/**
 * A WebSocket transport through the bridge at `url` (ws: or wss:). Needs a
 * `WebSocketConstructor` (`Socket.layerWebSocketConstructorGlobal` in browsers and Node ≥ 22).
 *
 * The standard `WebSocket` cannot pause: whatever the bridge sends is queued in the client
 * until it is read. `layerGlobal` uses `WebSocketStream` instead where the platform has it;
 * in Node, `pop3-everywhere/node-websocket` (on `ws`) pushes back.
 * @category layers
 */
export const layer = (url: string, options: Options = {}): Layer.Layer<Transport, never, Socket.WebSocketConstructor> =>
  Layer.effect(Transport)(
    Effect.gen(function* () {
      const makeWebSocket = yield* Socket.WebSocketConstructor
      return bridgeTransport(
        url,
        options,
        (address, target) =>
          Socket.makeWebSocket(address, {
            openTimeout: target.connectTimeoutMillis,
            // websockify-compatible clients offer "binary"; the bridge selects it.
            protocols: ["binary"]
          }).pipe(Effect.provideService(Socket.WebSocketConstructor, makeWebSocket)),
        // Each message is an ArrayBuffer of its own.
        true
      )
    })
  )

/**
 * The WebSocket transport on the platform's own WebSocket: `WebSocketStream` where there is
 * one (Chromium), whose reads push back on the bridge when the client does not keep up
 * (websocket-stream.ts), else the global `WebSocket`.
 * @category layers
 */
export const layerGlobal = (url: string, options: Options = {}): Layer.Layer<Transport> => {
  const WebSocketStream = globalWebSocketStream()
  return WebSocketStream === undefined
    ? layer(url, options).pipe(Layer.provide(Socket.layerWebSocketConstructorGlobal))
    : layerStream(url, options, WebSocketStream)
}

/**
 * The WebSocket transport on `WebSocketStream` (`layerGlobal` picks it where the platform
 * has one): reads push back on the bridge when the client does not keep up. Given a
 * constructor of the same shape, a page can observe the frames (the demo's "What the
 * bridge sees" does).
 * @category layers
 */
export const layerStream = (
  url: string,
  options: Options,
  WebSocketStream: WebSocketStreamConstructor
): Layer.Layer<Transport> =>
  Layer.succeed(Transport)(bridgeTransport(url, options, openWebSocketStream(WebSocketStream), true))
