/**
 * The WebSocket transport to a pop3-bridge apart from how one WebSocket is opened:
 * websocket.ts opens the platform's standard `WebSocket` (browsers, Deno, Bun, Workers),
 * node-websocket.ts a `ws` socket that can pause. Both share this, so the bridge URL, which
 * paths count as encrypted, the close codes as `BridgeError` and `endToEnd` cannot drift
 * apart.
 *
 * @module
 */
import type * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"
import { endToEndTransport } from "../tls/end-to-end.ts"
import { classifyBridgeFailure, pathEncrypted } from "./bridge-rules.ts"
import { connectionUrl } from "./bridge-url.ts"
import type { Target, Transport } from "./transport.ts"

export { connectionUrl }

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
 * Opens one WebSocket to `url` (the bridge URL for the target), offering the `binary`
 * subprotocol; `target.connectTimeoutMillis` bounds the opening handshake.
 * @category models
 */
export type OpenWebSocket = (
  url: string,
  target: Pick<Target, "host" | "port" | "connectTimeoutMillis">
) => Effect.Effect<Socket.Socket>

/**
 * The transport through the bridge at `url`, opening each connection with `openWebSocket`.
 * @category constructors
 */
export const bridgeTransport = (
  url: string,
  options: Options,
  openWebSocket: OpenWebSocket,
  freshChunks = false
): Transport["Service"] => {
  const bridge = new URL(url)
  const open = (target: Pick<Target, "host" | "port" | "tls" | "connectTimeoutMillis">) =>
    openWebSocket(connectionUrl(url, options, target), target)
  const service: Transport["Service"] = {
    name: "websocket",
    secure: (target) => pathEncrypted(bridge, target),
    startTls: false,
    upgradeOptions: () => ({}),
    classify: (error) => classifyBridgeFailure(bridge, error),
    freshChunks,
    open
  }
  return options.endToEnd === true ? endToEndTransport(service, open) : service
}
