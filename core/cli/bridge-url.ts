/**
 * The URLs of `--bridge`: the one the CLI was given, with the token added, and what its
 * first connection opens — which bin.ts opens early (node-websocket-preconnect.ts's `preconnect`), so
 * that it must be exactly the URL the transport asks for, or it is not adopted.
 *
 * @module
 */
import type { CliOptions } from "./argv.ts"

// The bridge URL to use: `--bridge`, with the token from POP3_BRIDGE_TOKEN when set — an
// environment variable, not argv, which every user of the machine can read in `ps`.
// Neither the URL's query nor the token is ever printed.
export const bridgeUrlWithToken = (given: string, token: string | undefined): string | { readonly usage: string } => {
  if (!/^wss?:\/\//i.test(given))
    return { usage: `--bridge must be a ws:// or wss:// URL, got ${JSON.stringify(given.split("?")[0])}` }
  let url: URL
  try {
    url = new URL(given)
  } catch {
    return { usage: `--bridge is not a valid URL: ${JSON.stringify(given.split("?")[0])}` }
  }
  // A token in the URL would be on the command line, which `ps` shows every user: refused,
  // as --password is. Not echoed.
  if (url.searchParams.has("token"))
    return {
      usage:
        token === undefined || token === ""
          ? "the bridge token may not be in the --bridge URL (every user of this machine can read the command line): set POP3_BRIDGE_TOKEN instead"
          : "the bridge token is given twice: in POP3_BRIDGE_TOKEN and in the --bridge URL; keep only POP3_BRIDGE_TOKEN"
    }
  if (token === undefined || token === "") return given
  url.searchParams.set("token", token)
  return url.toString()
}

/**
 * The CLI's first connection through `--bridge` as the transport will open it — the bridge
 * URL, end-to-end TLS or not, the client's target — for node-websocket-preconnect.ts's
 * `connectionUrl`, whose URL bin.ts opens early. Undefined when no connection will be
 * opened: no `--bridge`, a bridge URL main refuses, or STLS without end-to-end TLS (the
 * client refuses that before connecting, establish.ts). No `ws` here: main imports
 * `bridgeUrlWithToken` for every command.
 */
export const firstBridgeConnection = (
  options: CliOptions,
  env: Readonly<Record<string, string | undefined>>
):
  | {
      readonly bridge: string
      readonly endToEnd: boolean
      readonly target: { readonly host: string; readonly port: number; readonly tls: "implicit" | "none" }
    }
  | undefined => {
  if (options.bridge === undefined) return undefined
  const bridge = bridgeUrlWithToken(options.bridge, env["POP3_BRIDGE_TOKEN"])
  if (typeof bridge !== "string") return undefined
  if (options.tls === "starttls" && !options.endToEnd) return undefined
  // The client's target (client/options.ts): STLS starts as plain TCP.
  const tls = options.tls === "implicit" ? "implicit" : "none"
  return { bridge, endToEnd: options.endToEnd, target: { host: options.host, port: options.port, tls } }
}
