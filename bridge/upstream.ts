/**
 * Opening the connection to the mail server: resolve, check every address against the
 * policy, connect to a checked address (never to the name again), and for `tls=implicit`
 * verify the server's certificate against the host *name* via SNI/`servername`. For
 * `tls=none` and `tls=passthrough` the socket is plain TCP (with passthrough the client's
 * own TLS runs inside it).
 */
import { lookup } from "node:dns/promises"
import { connect as netConnect, type Socket } from "node:net"
import {
  connect as tlsConnect,
  createSecureContext,
  getCACertificates,
  type ConnectionOptions,
  type SecureContext
} from "node:tls"
import { CloseCode } from "./close-codes.ts"
import type { UpstreamFailure } from "./metrics.ts"
import type { AllowEntry, Refusal, Target } from "./policy.ts"
import { checkAddresses, isRefusal } from "./policy.ts"

/** DNS resolution: every address of a host name. @category upstream */
export type Resolver = (host: string) => Promise<ReadonlyArray<{ readonly address: string }>>

/** The system resolver (getaddrinfo, so /etc/hosts applies). @category upstream */
export const systemResolver: Resolver = (host) => lookup(host, { all: true })

/** A failed connection attempt, with the close code to send. @category upstream */
export interface UpstreamError {
  readonly refused: false
  readonly code: CloseCode
  readonly reason: string
  readonly kind: UpstreamFailure
}

/** A connected (and, for tls=implicit, verified) socket to the mail server. @category upstream */
export interface Upstream {
  readonly refused: false
  readonly socket: Socket
  readonly address: string
}

/** What `connectUpstream` needs. @category upstream */
export interface ConnectOptions {
  readonly target: Target
  readonly allow: readonly AllowEntry[]
  readonly resolve: Resolver
  /** Extra CAs: added to Node's default trust store, not replacing it. */
  readonly upstreamCa: readonly (string | Buffer)[] | undefined
  /** Aborted on connect timeout or when the client goes away. */
  readonly signal: AbortSignal
  /** For targets with `--proxy-protocol`: the PROXY v2 header for a connection to this address, written first. */
  readonly proxyHeader?: ((address: string) => Uint8Array) | undefined
  /** Reads of a plain TCP connection (no TLS, no PROXY header) into these buffers (net's `onread`). */
  readonly onread?: OnRead | undefined
}

/** net's `onread` option: reads into buffers the caller gives, no 'data' events. @category upstream */
export interface OnRead {
  readonly buffer: () => Uint8Array
  readonly callback: (bytes: number, buffer: Uint8Array) => boolean
}

/**
 * One TLS context per `upstreamCa` list, built on first use: parsing Node's ~270 default
 * roots with the extra CAs took ~46 ms per upstream connection when built every time.
 */
const contexts = new WeakMap<readonly (string | Buffer)[], SecureContext>()
const contextFor = (ca: readonly (string | Buffer)[]): SecureContext => {
  let context = contexts.get(ca)
  if (context === undefined) {
    context = createSecureContext({ ca: [...getCACertificates("default"), ...ca] })
    contexts.set(ca, context)
  }
  return context
}

/** At most this many checked addresses are tried (e.g. IPv6 then IPv4). */
const MAX_ATTEMPTS = 4

const errorCode = (error: unknown): string => {
  const e = error as { code?: unknown; message?: unknown }
  return typeof e.code === "string" ? e.code : String(e.message ?? error)
}

/** One attempt at one address. Resolves with the socket, or rejects with an UpstreamError. */
const attempt = (options: ConnectOptions, address: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const { target, signal } = options
    let socket: Socket | undefined
    let tcpConnected = false
    let settled = false
    const fail = (error: unknown): void => {
      if (settled) return
      settled = true
      signal.removeEventListener("abort", onAbort)
      socket?.destroy()
      const tls = target.tls === "implicit" && tcpConnected
      reject({
        refused: false,
        code: tls ? CloseCode.UpstreamTlsFailed : CloseCode.UpstreamConnectFailed,
        reason: `upstream ${tls ? "TLS" : "connect"} failed: ${errorCode(error)}`,
        kind: tls ? "tls" : "connect"
      } satisfies UpstreamError)
    }
    const onAbort = (): void => fail(new Error("aborted"))
    const ready = (): void => {
      if (settled || socket === undefined) return
      settled = true
      signal.removeEventListener("abort", onAbort)
      resolve(socket)
    }
    const tlsOptions: ConnectionOptions = {}
    // Verify against the name the client asked for, while connecting to the checked address.
    // SNI may not carry an IP literal (RFC 6066); Node then checks the certificate's IP SANs.
    if (!target.isIp) tlsOptions.servername = target.host
    if (options.upstreamCa !== undefined) tlsOptions.secureContext = contextFor(options.upstreamCa)
    const header = options.proxyHeader?.(address)
    if (header === undefined) {
      socket =
        target.tls === "implicit"
          ? tlsConnect({ ...tlsOptions, host: address, port: target.port }, ready)
          : netConnect(
              { host: address, port: target.port, ...(options.onread !== undefined ? { onread: options.onread } : {}) },
              ready
            )
      // For TLS, 'connect' is the TCP step: an error after it is a TLS failure.
      socket.once("connect", () => {
        tcpConnected = true
      })
    } else {
      // The PROXY header goes first on the TCP connection, before any TLS byte.
      const tcp = netConnect({ host: address, port: target.port }, () => {
        tcpConnected = true
        tcp.write(header)
        if (target.tls !== "implicit") return ready()
        const secure = tlsConnect({ ...tlsOptions, host: address, socket: tcp }, ready)
        secure.on("error", fail)
        socket = secure
      })
      socket = tcp
    }
    // Stays attached after success (as a no-op), so an error emitted before the relay adds
    // its own listener cannot become an uncaught exception.
    socket.on("error", fail)
    signal.addEventListener("abort", onAbort, { once: true })
  })

/**
 * Resolve the target, refuse it if no address passes the policy, else connect to the first
 * checked address that answers. The mail server is contacted only after every check passed.
 * @category upstream
 */
export const connectUpstream = async (options: ConnectOptions): Promise<Upstream | Refusal | UpstreamError> => {
  const { target } = options
  let addresses: readonly string[]
  if (target.isIp) {
    addresses = [target.host]
  } else {
    try {
      addresses = (await options.resolve(target.host)).map((a) => a.address)
    } catch (error) {
      return {
        refused: false,
        code: CloseCode.UpstreamConnectFailed,
        reason: `cannot resolve ${target.host}: ${errorCode(error)}`,
        kind: "connect"
      }
    }
  }
  if (options.signal.aborted) {
    return { refused: false, code: CloseCode.UpstreamTimeout, reason: "upstream connect timed out", kind: "timeout" }
  }
  const checked = checkAddresses(options.allow, target, addresses)
  if (isRefusal(checked)) return checked
  let last: UpstreamError | undefined
  for (const address of checked.slice(0, MAX_ATTEMPTS)) {
    try {
      const socket = await attempt(options, address)
      return { refused: false, socket, address }
    } catch (error) {
      last = error as UpstreamError
      // A TLS failure would repeat on the next address (same name, same certificate).
      if (last.kind === "tls" || options.signal.aborted) break
    }
  }
  if (options.signal.aborted) {
    return { refused: false, code: CloseCode.UpstreamTimeout, reason: "upstream connect timed out", kind: "timeout" }
  }
  return last ?? { refused: false, code: CloseCode.UpstreamConnectFailed, reason: "no address", kind: "connect" }
}
