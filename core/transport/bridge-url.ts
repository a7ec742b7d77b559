/**
 * The URL the client opens at a pop3-bridge, as pure functions with no imports: the
 * `pop3` CLI computes it in its first lines (node-websocket-preconnect.ts), before Effect
 * or anything else of the client has loaded, and the transports compute it again when they
 * connect — the same function both times, or the early WebSocket is not adopted.
 *
 * @module
 */
import type { Target } from "./transport.ts"

/**
 * What the client asks the bridge to do on its leg to the mail server (the URL's `tls`):
 * `implicit`, the bridge opens TLS (and so reads the session); `none`, plain TCP;
 * `passthrough`, plain TCP carrying the client's own TLS (end-to-end: the bridge relays
 * ciphertext). The bridge's allowlist says which of them each server permits.
 * @category url
 */
export type BridgeTls = Target["tls"] | "passthrough"

/**
 * The bridge URL for a target: `…/pop3?host=H&port=P&tls=implicit|none|passthrough`,
 * keeping any query the base URL already has (e.g. a `token`).
 * @category url
 */
export const bridgeUrl = (
  base: string,
  target: Pick<Target, "host" | "port"> & { readonly tls: BridgeTls }
): string => {
  const url = new URL(base)
  url.searchParams.set("host", target.host)
  url.searchParams.set("port", String(target.port))
  url.searchParams.set("tls", target.tls)
  return url.toString()
}

/**
 * The URL the transport through the bridge at `url` opens for a connection to `target`:
 * the bridge URL with the target, and `tls=passthrough` for end-to-end TLS whatever the
 * target's mode (the client then runs implicit TLS or STLS itself).
 * @category url
 */
export const connectionUrl = (
  url: string,
  options: { readonly endToEnd?: boolean | undefined },
  target: Pick<Target, "host" | "port" | "tls">
): string =>
  bridgeUrl(url, {
    host: target.host,
    port: target.port,
    tls: options.endToEnd === true ? "passthrough" : target.tls
  })
