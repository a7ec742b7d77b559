/**
 * `pop3-everywhere/transport` in a browser build. A browser has no TCP, so POP3 reaches a
 * mail server only through a pop3-bridge, whose URL only the application knows: this
 * layer's connections fail with a `ConnectError` that says so, and the application
 * provides `pop3-everywhere/websocket`'s `layerGlobal(bridgeUrl)` instead. Nothing here
 * imports Node, Deno or Bun code, so a browser bundle stays free of it.
 *
 * @module
 */
import type * as Layer from "effect/Layer"
import type { Transport } from "./transport.ts"
import { unsupported } from "./unsupported.ts"

/**
 * Advice for a browser without a bridge.
 * @category layers
 */
export const advice =
  'a browser has no TCP: provide the layer of pop3-everywhere/websocket with a pop3-bridge URL (WebSocketTransport.layerGlobal("wss://bridge.example/pop3"))'

/**
 * Fails every connection with `advice`.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = unsupported("browser (no TCP: use a pop3-bridge)", advice)
