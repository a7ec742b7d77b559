/**
 * The Cloudflare Workers transport: TCP from a Worker through the runtime's `connect()`
 * (`cloudflare:sockets`). Implicit TLS is `secureTransport: "on"`; STLS is
 * `secureTransport: "starttls"` plus `socket.startTls()` inside `reader.upgrade`. Web
 * streams only, no Node.
 *
 * What the Workers socket API cannot do, and what this transport does about it:
 * - Certificates are verified against the runtime's own roots only: `connect()` takes no
 *   extra CA and cannot skip verification. A target with `ca` or `insecure` fails with
 *   InvalidArgument where it would matter (before connecting for implicit TLS, before
 *   `startTls()` for STLS). Ignoring `ca` silently would let a caller believe a private CA
 *   was used; ignoring `insecure` would turn into a confusing TLS failure later.
 * - The certificate is checked against the host name given to `connect()`. `startTls()`
 *   has an `expectedServerHostname` option, but workerd logs it as unsupported and the
 *   edge sends no SNI with it (cloudflare/workerd#6903), so a `servername` other than
 *   `host` is refused the same way: connect to the name that should be verified.
 * - With `secureTransport: "on"` a failed handshake (untrusted or wrong certificate) is
 *   reported exactly like a refused connection ("proxy request failed, cannot connect to
 *   the specified address"); the ConnectError says that it may be either.
 * - The socket `startTls()` returns does not report its handshake (`opened` resolves at
 *   once); the handshake runs on first use. So a failure of the first read or write after
 *   the upgrade is reported as a TlsError.
 * - `Target.tls` is "none" both for plain POP3 and for STLS, so whether an upgrade follows
 *   is unknown when the socket opens. Plain connections therefore use
 *   `secureTransport: "starttls"`, which is plain TCP until `startTls()` is called ("off"
 *   would make the upgrade impossible).
 * - Production Workers refuse connections to private and loopback addresses; `wrangler dev`
 *   and miniflare allow them.
 *
 * `cloudflare:sockets` is imported lazily, on the first connection, so this module also
 * loads on other runtimes (a bundle that picks its transport at run time); there, opening
 * a connection fails with a ConnectError saying the module is missing.
 *
 * @module
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Socket from "effect/socket/Socket"
import { ConnectError, InvalidArgument, TlsError } from "../errors.ts"
import { makePushReader, openError, upgradeError } from "./reader.ts"
import { type Connection, makeByteSocket } from "./socket.ts"
import { type Target, Transport, verifyingUpgradeOptions } from "./transport.ts"

/** The part of a Workers socket used here (a structural subset of the runtime's type). */
interface WorkersSocket {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
  readonly opened: Promise<unknown>
  readonly closed: Promise<unknown>
  close(): Promise<unknown>
  startTls(): WorkersSocket
}

type Connect = (
  address: { readonly hostname: string; readonly port: number },
  options: { readonly secureTransport: "on" | "starttls"; readonly allowHalfOpen: boolean }
) => WorkersSocket

/**
 * Why a Workers socket failed, carried as the cause of a `SocketError` so that `classify`
 * can name it precisely (open.ts and connection.ts ask the transport first).
 * @category errors
 */
export class WorkersSocketFailure extends Data.TaggedError("WorkersSocketFailure")<{
  readonly kind: "unsupported" | "connect" | "tls"
  readonly host: string
  readonly port: number
  readonly servername: string
  readonly reason: string
}> {}

let runtimeConnect: Promise<Connect> | undefined
const connectOfRuntime = (): Promise<Connect> =>
  (runtimeConnect ??= import("cloudflare:sockets").then((module) => module.connect))

// workerd takes an IPv6 literal only in brackets; bare, it is looked up as a name and fails.
const hostname = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host)

// How long closing waits for the runtime (a FIN flushed, close() settled) before going on.
// workerd then still holds the TCP connection of an unfinished handshake until the request ends.
const CLOSE_WAIT_MILLIS = 1000
const bounded = (promise: Promise<unknown>): Promise<unknown> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MILLIS)
    promise.then(
      () => {
        clearTimeout(timer)
        resolve(undefined)
      },
      () => {
        clearTimeout(timer)
        resolve(undefined)
      }
    )
  })

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
const ignore = (): void => {}

/** What the Workers runtime cannot honour among these TLS settings, in words; else undefined. */
const unsupportedTls = (
  host: string,
  settings: {
    readonly servername?: string | undefined
    readonly ca?: unknown
    readonly insecure?: boolean
    readonly clientCertificate?: boolean
  }
): string | undefined => {
  if (settings.ca !== undefined) {
    return "extra CA certificates (ca) cannot be used on Cloudflare Workers: connect() trusts only the runtime's roots"
  }
  if (settings.insecure === true) {
    return "insecure (no certificate verification) is not possible on Cloudflare Workers: connect() always verifies"
  }
  if (settings.servername !== undefined && settings.servername !== host) {
    return (
      `servername ${settings.servername} differs from host ${host}: Cloudflare Workers verify the certificate ` +
      `against the host given to connect(), so connect to ${settings.servername} instead`
    )
  }
  if (settings.clientCertificate === true) return "client certificates are not supported by Cloudflare Workers sockets"
  return undefined
}

const makeSocket = (target: Target): Socket.Socket => {
  const failure = (kind: WorkersSocketFailure["kind"], reason: string) =>
    new WorkersSocketFailure({ kind, host: target.host, port: target.port, servername: target.servername, reason })
  const openFailure = (kind: WorkersSocketFailure["kind"], reason: string) => openError(failure(kind, reason))
  const tlsFailure = (reason: string) => upgradeError(failure("tls", reason))
  // workerd says only "internal error; reference = …" (or "Network connection lost.") when the
  // handshake after startTls() fails; the reason stays in the runtime's own log.
  const handshakeFailure = (cause: unknown) =>
    tlsFailure(
      `${messageOf(cause)} (Workers do not say why a TLS handshake failed: e.g. a certificate not for ` +
        `${target.host}, not signed by a trusted CA, or a server that did not start TLS)`
    )

  return makeByteSocket(
    Effect.gen(function* () {
      if (target.tls === "implicit") {
        const problem = unsupportedTls(target.host, target)
        if (problem !== undefined) return yield* Effect.fail(openFailure("unsupported", problem))
      }
      const connect = yield* Effect.tryPromise({
        try: connectOfRuntime,
        catch: (cause) =>
          openFailure(
            "connect",
            `cloudflare:sockets is not available (not on Cloudflare Workers?): ${messageOf(cause)}`
          )
      })
      let socket = yield* Effect.try({
        try: () =>
          connect(
            { hostname: hostname(target.host), port: target.port },
            { secureTransport: target.tls === "implicit" ? "on" : "starttls", allowHalfOpen: false }
          ),
        catch: (cause) => openFailure("connect", messageOf(cause))
      })
      socket.closed.catch(ignore) // a failed connection rejects `closed` too; `opened` reports it
      yield* Effect.tryPromise({
        try: () => socket.opened,
        catch: (cause) =>
          openFailure(
            "connect",
            target.tls === "implicit"
              ? `${messageOf(cause)} (Workers report a failed TLS handshake, e.g. an untrusted certificate, the same way)`
              : messageOf(cause)
          )
        // A failure, a timeout or an interruption still closes it, without waiting: while a
        // handshake (`secureTransport: "on"`) goes unanswered, close() never settles, and
        // waiting for it held the connect timeout, and the caller, forever.
      }).pipe(Effect.onError(() => Effect.sync(() => void socket.close().catch(ignore))))

      // Replaced by startTls()'s on upgrade.
      let reader = socket.readable.getReader()
      let writer = socket.writable.getWriter()
      let upgraded = target.tls === "implicit"
      // TLS was started and nothing has been read or written since: a failure is the handshake's.
      let handshaking = false
      let ending: Promise<unknown> = Promise.resolve()
      // Cancelling the reader ends a read still pending. The wait is bounded: the close() of
      // a socket whose TLS handshake never completed (STLS answered, then silence) never
      // settles, and the scope, and with it the caller's TimeoutError, would wait forever.
      const closeAll = () => bounded(Promise.allSettled([reader.cancel(), socket.close()]))

      // Read only when pulled: the stream's own buffer stays small and TCP pushes back.
      const input = makePushReader({
        read: async () => {
          const { done, value } = await reader.read().catch((cause: unknown) => {
            throw handshaking ? handshakeFailure(cause) : cause
          })
          if (done) {
            if (handshaking) throw tlsFailure("the server closed the connection during the TLS handshake")
            return null
          }
          handshaking = false
          return value
        }
      })

      return {
        input,
        write: async (bytes) => {
          // Resolves when the runtime has taken the bytes: the stream's own backpressure.
          await writer.write(bytes).catch((cause: unknown) => {
            throw handshaking ? handshakeFailure(cause) : cause
          })
          handshaking = false
        },
        // Half-closes (FIN) after what was written is flushed.
        end: () => (ending = writer.close().catch(ignore)),
        close: closeAll,
        dispose: () => bounded(ending).then(closeAll),
        upgrade: (options = {}) => {
          const closed = input.error()
          if (closed !== undefined) return Effect.fail(closed)
          if (upgraded) return Effect.fail(tlsFailure("the connection already speaks TLS"))
          const problem = unsupportedTls(target.host, {
            servername: options.servername,
            ca: options.ca,
            insecure: options.rejectUnauthorized === false,
            clientCertificate: options.cert !== undefined || options.key !== undefined
          })
          return input.upgrade(
            Effect.try({
              try: () => {
                // The old streams are released, never read again: bytes that arrived in
                // plaintext after the STLS answer are dropped with them, so nothing sent
                // before the handshake can pass for protected data (the engine also clears
                // its own buffer at this point). startTls() flushes the old writable first.
                reader.releaseLock()
                writer.releaseLock()
                const tls = socket.startTls()
                tls.closed.catch(ignore)
                socket = tls
                reader = tls.readable.getReader()
                writer = tls.writable.getWriter()
                upgraded = true
                handshaking = true
              },
              catch: (cause) => tlsFailure(messageOf(cause))
            }),
            problem === undefined ? undefined : upgradeError(failure("unsupported", problem))
          )
        }
      } satisfies Connection
    })
  )
}

/**
 * The Cloudflare Workers transport (needs the Workers runtime, or workerd/miniflare).
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "cloudflare",
  startTls: true,
  // Passed on so that `reader.upgrade` can refuse what it cannot honour (see the module comment).
  upgradeOptions: (target) => verifyingUpgradeOptions(target),
  classify: (error) => {
    const cause = "cause" in error.reason ? error.reason.cause : undefined
    if (!(cause instanceof WorkersSocketFailure)) return undefined
    switch (cause.kind) {
      case "unsupported":
        return new InvalidArgument({ reason: cause.reason })
      case "tls":
        return new TlsError({ host: cause.servername, reason: cause.reason })
      case "connect":
        return new ConnectError({ host: cause.host, port: cause.port, reason: cause.reason })
    }
  },
  open: (target) => Effect.sync(() => makeSocket(target))
})
