/**
 * What `pop3-everywhere/transport` exports on every runtime, whichever file the runtime's
 * export condition picks (`node.ts`, `deno.ts`, `bun.ts`, `cloudflare.ts`, `browser.ts`,
 * or `auto.ts` elsewhere): the transport layer for the runtime the code runs on. Type
 * checkers read this declaration; no runtime loads it.
 *
 * @module
 */
import type * as Layer from "effect/Layer"
import type { Transport } from "./transport.ts"

/**
 * The transport for this runtime. In a browser, connecting fails with a `ConnectError`
 * that says to use `pop3-everywhere/websocket` with a pop3-bridge URL (a browser has no TCP).
 * @category layers
 */
export declare const layer: Layer.Layer<Transport>
