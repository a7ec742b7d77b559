/**
 * The door before the WebSocket: every TCP connection the bridge accepts is "pending"
 * until it has delivered a complete upgrade request. Pending connections are capped in
 * total and per client address, and each must finish its TLS handshake (with `--cert`) and
 * its request within `requestTimeoutMs`, or it is destroyed. So silent or slow sockets cost
 * at most a bounded number of file descriptors for a bounded time, and hundreds of them
 * from one address cannot crowd out another address.
 *
 * A connection that stays HTTP (`/healthz`, `/metrics`) stays pending: between keep-alive
 * requests the same time limit applies. A connection that becomes a WebSocket leaves the
 * gate; from then on the session limits (relay.ts) apply.
 *
 * When the total cap is reached, a newcomer from an address that holds fewer pending
 * connections than the busiest address takes the place of that address's oldest one
 * (which is closed): a flood from a few addresses cannot keep everyone else out, only
 * churn its own connections. A newcomer whose address already holds as many as any other
 * is closed instead.
 *
 * The per-address cap counts the socket's peer: before a request there is no
 * X-Forwarded-For to read. Behind a reverse proxy (`trustProxy`) every connection comes
 * from the proxy, so only the total cap applies, and the proxy must time out slow clients.
 */
import type { Socket } from "node:net"
import { clientKey, unmapIpv4 } from "./address.ts"
import type { DropReason } from "./metrics.ts"

/** What the gate needs to know. @category server */
export interface GateOptions {
  readonly requestTimeoutMs: number
  readonly maxPending: number
  readonly maxPendingPerClient: number
  /** No per-address cap (the peer is a reverse proxy). */
  readonly trustProxy: boolean
  readonly onDrop: (reason: DropReason) => void
}

/** The gate: `admit` on each new connection; `requestDone`/`responseDone`/`upgraded` as it goes. @category server */
export interface Gate {
  /** A new TCP connection: counted, timed, or destroyed at once when a cap is reached. */
  readonly admit: (socket: Socket) => void
  /** A complete request arrived on this connection (for HTTPS, the TLS socket): stop its timer. */
  readonly requestDone: (socket: Socket) => void
  /** Its response was sent and it stays open (keep-alive): the next request has the same time limit. */
  readonly responseDone: (socket: Socket) => void
  /** It became a WebSocket: no longer pending. */
  readonly upgraded: (socket: Socket) => void
  readonly pending: () => number
  /** Destroy every pending connection (shutdown). */
  readonly closeAll: () => void
}

interface Entry {
  readonly socket: Socket
  readonly key: string
  timer: ReturnType<typeof setTimeout> | undefined
}

/** A gate with the given caps and time limit. @category server */
export const makeGate = (options: GateOptions): Gate => {
  const perClient = new Map<string, number>()
  // By "address|port" of the peer: the same for the TCP socket and the TLS socket over it.
  const entries = new Map<string, Entry>()
  const id = (socket: Socket): string => `${socket.remoteAddress ?? ""}|${socket.remotePort ?? ""}`

  const arm = (entry: Entry): void => {
    clearTimeout(entry.timer)
    entry.timer = setTimeout(() => {
      options.onDrop("request_timeout")
      entry.socket.destroy()
    }, options.requestTimeoutMs)
  }
  const release = (socketId: string): void => {
    const entry = entries.get(socketId)
    if (entry === undefined) return
    entries.delete(socketId)
    clearTimeout(entry.timer)
    const mine = (perClient.get(entry.key) ?? 1) - 1
    if (mine <= 0) perClient.delete(entry.key)
    else perClient.set(entry.key, mine)
  }

  /** Close the oldest pending connection of the busiest address if it holds more than the newcomer's would. */
  const evictForNewcomer = (key: string, mine: number): boolean => {
    let busiest: string | undefined
    let most = 0
    for (const [k, n] of perClient) {
      if (n > most) {
        busiest = k
        most = n
      }
    }
    if (busiest === undefined || busiest === key || most <= mine + 1) return false
    for (const [socketId, entry] of entries) {
      if (entry.key !== busiest) continue
      release(socketId)
      options.onDrop("pending_evicted")
      entry.socket.destroy()
      return true
    }
    return false
  }

  return {
    admit: (socket) => {
      const key = options.trustProxy ? "" : clientKey(unmapIpv4(socket.remoteAddress ?? ""))
      let mine = perClient.get(key) ?? 0
      if (!options.trustProxy && mine >= options.maxPendingPerClient) {
        options.onDrop("pending_per_client")
        socket.destroy()
        return
      }
      if (entries.size >= options.maxPending) {
        if (!evictForNewcomer(key, mine)) {
          options.onDrop("pending_total")
          socket.destroy()
          return
        }
        mine = perClient.get(key) ?? 0
      }
      const socketId = id(socket)
      const entry: Entry = { socket, key, timer: undefined }
      entries.set(socketId, entry)
      perClient.set(key, mine + 1)
      arm(entry)
      socket.once("close", () => {
        if (entries.get(socketId) === entry) release(socketId)
      })
    },
    requestDone: (socket) => {
      const entry = entries.get(id(socket))
      if (entry !== undefined) {
        clearTimeout(entry.timer)
        entry.timer = undefined
      }
    },
    responseDone: (socket) => {
      const entry = entries.get(id(socket))
      if (entry !== undefined && !socket.destroyed) arm(entry)
    },
    upgraded: (socket) => release(id(socket)),
    pending: () => entries.size,
    closeAll: () => {
      for (const entry of [...entries.values()]) entry.socket.destroy()
    }
  }
}
