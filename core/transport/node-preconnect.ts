/**
 * A TCP connection opened before the code that uses it has loaded. The `pop3` CLI opens it
 * in its first lines (bin.ts), and the Node transport adopts it for the first connection to
 * the same host and port. Loading the client takes ~50 ms; the connect and the server's
 * greeting travel meanwhile, so at a distance the greeting is already waiting when the
 * client starts instead of a round trip later.
 *
 * Adopted for plain TCP, which STLS may then upgrade (not for implicit TLS). An adopted
 * connection is read through `data` events, not into the transport's reused buffers: for
 * STLS that is only the greeting and one answer (after STLS, Node's TLS reads its own way
 * anyway), which is why the CLI preconnects for STLS and not for `--tls none`, where a
 * 1 GB RETR would be read into fresh buffers.
 *
 * Nothing here may import more than `node:net` (and the runtime check): it runs before
 * anything else has loaded.
 *
 * @module
 */
import { connect, isIP, type Socket } from "node:net"
import { detectRuntime } from "./detect-runtime.ts"

/**
 * A connection opened early, waiting to be adopted.
 * @category models
 */
export interface EarlyConnection {
  readonly socket: Socket
  /** The error it met before it was adopted, if any. */
  readonly error: () => Error | undefined
  /** Hands it over: the adopter's listeners replace the one that kept errors. */
  readonly adopt: () => Socket
}

let early: { readonly host: string; readonly port: number; readonly connection: EarlyConnection } | undefined

/**
 * Starts a TCP connection to `host`:`port` for the next connection the Node transport
 * (`pop3-everywhere/node`, or the automatic one on Node) makes to that pair. It keeps
 * nothing alive on its own: never adopted, it goes with the process. Deno and Bun connect
 * through transports of their own, so there it does nothing and resolves false.
 *
 * Resolves once the connect is under way: for an address after one turn of the event
 * loop, for a name once it is resolved (at most `waitMillis`, 50 by default; a slower
 * lookup goes on meanwhile). Await it before loading code: Node issues the connect from
 * the loop, which loading modules holds up until it has finished.
 * @category constructors
 */
export const preconnect = (
  host: string,
  port: number,
  options?: { readonly waitMillis?: number }
): Promise<boolean> => {
  if (detectRuntime() !== "node") return Promise.resolve(false)
  const socket = connect({ host, port })
  let failure: Error | undefined
  // Until adopted, an error is kept for the adopter: an 'error' with no listener would end
  // the process before the client could report it as it reports any connect failure.
  const keep = (error: Error) => {
    failure ??= error
  }
  socket.on("error", keep)
  socket.unref()
  early = {
    host,
    port,
    connection: {
      socket,
      error: () => failure,
      adopt: () => {
        socket.off("error", keep)
        socket.ref()
        return socket
      }
    }
  }
  return new Promise((resolve) => {
    const started = () => {
      clearTimeout(timer)
      socket.off("lookup", started)
      socket.off("connect", started)
      socket.off("error", started)
      resolve(true)
    }
    const timer = setTimeout(started, options?.waitMillis ?? 50)
    if (isIP(host) !== 0) setImmediate(started)
    else {
      socket.once("lookup", started)
      socket.once("connect", started)
      socket.once("error", started)
    }
  })
}

/**
 * The connection `preconnect` opened to `host`:`port`, once; undefined for any other pair
 * or a second time.
 * @category constructors
 */
export const takePreconnected = (host: string, port: number): EarlyConnection | undefined => {
  if (early === undefined || early.host !== host || early.port !== port) return undefined
  const { connection } = early
  early = undefined
  return connection
}
