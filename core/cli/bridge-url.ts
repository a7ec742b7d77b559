/**
 * The URLs of `--bridge`: the one the CLI was given, with the token added, and the one its
 * first connection opens — which bin.ts opens early (node-websocket.ts's `preconnect`), so
 * that it must be exactly the URL the transport asks for, or it is not adopted.
 *
 * @module
 */
import { resolveOptions } from "../client/options.ts"
import { connectionUrl } from "../transport/bridge-transport.ts"
import type { CliOptions } from "./argv.ts"

// The bridge URL to use: `--bridge`, with the token from POP3_BRIDGE_TOKEN when set — an
// environment variable, not argv, which every user of the machine can read in `ps`.
// Neither the URL's query nor the token is ever printed.
export const bridgeUrl = (given: string, token: string | undefined): string | { readonly usage: string } => {
  if (!/^wss?:\/\//i.test(given))
    return { usage: `--bridge must be a ws:// or wss:// URL, got ${JSON.stringify(given.split("?")[0])}` }
  let url: URL
  try {
    url = new URL(given)
  } catch {
    return { usage: `--bridge is not a valid URL: ${JSON.stringify(given.split("?")[0])}` }
  }
  if (token === undefined || token === "") return given
  if (url.searchParams.has("token"))
    return {
      usage:
        "the bridge token is given twice: in POP3_BRIDGE_TOKEN and in the --bridge URL; keep only POP3_BRIDGE_TOKEN"
    }
  url.searchParams.set("token", token)
  return url.toString()
}

/**
 * The URL of the CLI's first connection through `--bridge`, as the transport will ask for
 * it (bridge-transport.ts's `connectionUrl` for the client's resolved target); undefined
 * when no connection will be opened: no `--bridge`, a bridge URL main refuses, or STLS
 * without end-to-end TLS (the client refuses that before connecting, establish.ts).
 */
export const firstBridgeUrl = (
  options: CliOptions,
  env: Readonly<Record<string, string | undefined>>
): string | undefined => {
  if (options.bridge === undefined) return undefined
  const base = bridgeUrl(options.bridge, env["POP3_BRIDGE_TOKEN"])
  if (typeof base !== "string") return undefined
  const { tls, target } = resolveOptions({ host: options.host, port: options.port, tls: options.tls })
  if (tls === "starttls" && !options.endToEnd) return undefined
  return connectionUrl(base, { endToEnd: options.endToEnd }, target)
}
