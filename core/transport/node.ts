/**
 * The Node transport: TCP and TLS through `node:net` and `node:tls`, STLS through
 * `tls.connect({ socket })`, on the shared reader (reader.ts) and socket (socket.ts).
 *
 * Reads go into a few reused buffers (`onread`, see read-pool.ts) instead of a fresh
 * Buffer per read: on a 1 GB RETR, fresh 64 KiB buffers pile up dead until the GC gets to
 * them (~50 MiB above an idle process), reused ones stay at a few hundred KiB. So the bytes
 * a pull returns are valid only until the next pull — the client copies what it keeps
 * (client/connection.ts says where). Node honours `onread` for `net.connect` and
 * `tls.connect` to a host but drops it for `tls.connect({ socket })`, so after STLS the
 * same reads are set up by hand (`readInto`, below); otherwise the plaintext would come as
 * `data` events in a fresh buffer per TLS record, ~4 MiB of them dead at a time on a
 * large RETR.
 *
 * The socket pushes (reader.ts pauses it once 64 KiB wait unread, and the kernel buffer
 * then fills and TCP pushes back on the server).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Socket from "effect/socket/Socket"
import { connect as netConnect, isIP, Socket as NetSocket } from "node:net"
import {
  type ConnectionOptions,
  createSecureContext,
  getCACertificates,
  type SecureContext,
  connect as tlsConnect,
  type TLSSocket
} from "node:tls"
import { takePreconnected } from "./node-preconnect.ts"
import { makeReadPool } from "./read-pool.ts"
import { closeError, makePushReader, openError, pemList, quietly, readError, upgradeError } from "./reader.ts"
import { type Connection, makeByteSocket } from "./socket.ts"
import { type Target, Transport, verifyingUpgradeOptions } from "./transport.ts"
import { detectRuntime } from "./detect-runtime.ts"
import { installNodeByteSearch } from "./node-byte-search.ts"

// The body decoder's search for dots, by memchr (node-byte-search.ts).
installNodeByteSearch()

// SNI must not carry an IP address (RFC 6066; Node prints DEP0123 to stderr when it does).
// Without `servername` Node checks the certificate against the host, which is the same name.
const sni = (target: Target): { readonly servername?: string } =>
  isIP(target.servername) !== 0 && target.servername === target.host ? {} : { servername: target.servername }

// STLS to an IP address must name it as `servername` (without it, an upgraded socket's
// certificate is NOT checked against the host — a test showed a certificate for 127.0.0.1
// accepted from 127.0.0.2), and Node then prints DEP0123 — two lines on stderr, where the
// CLI promises errors of one line. Node emits it inside `tls.connect`, so that one warning
// is dropped during that call; every other warning passes.
const isDep0123 = (args: ReadonlyArray<unknown>): boolean =>
  args[2] === "DEP0123" ||
  (typeof args[1] === "object" && args[1] !== null && (args[1] as { code?: unknown }).code === "DEP0123")
const withoutDep0123 = <A>(run: () => A): A => {
  const original = process.emitWarning
  process.emitWarning = function (this: unknown, ...args: Array<unknown>) {
    if (isDep0123(args)) return
    return (original as (...args: Array<unknown>) => void).apply(process, args)
  } as typeof process.emitWarning
  try {
    return run()
  } finally {
    process.emitWarning = original
  }
}

const TLS_RECORD = 16 * 1024

// `onread` as Node keeps it: three private fields of net.Socket (lib/net.js reads them in
// `initSocketHandle`, `pause`, `resume`; lib/internal/stream_base_commons.js in
// `onStreamRead`), found by their names on a socket made with `onread` (no connection),
// the first time STLS needs them.
// `tls.connect({ socket })` leaves them unset (lib/internal/tls/wrap.js: `onread: !socket
// ? … : null`) although its handle reads into a given buffer as well as a TCP handle does.
// Undefined if a Node release renames them: STLS then reads through `data` events, and
// test/core/transport/node.test.ts fails on the number of buffers.
type OnRead = { readonly buffer: () => Uint8Array; readonly callback: (nread: number, buffer: Uint8Array) => boolean }
type OnReadFields = { readonly buffer: symbol; readonly callback: symbol; readonly generate: symbol }
let onreadFieldsFound: OnReadFields | undefined | null = null
const onreadFields = (): OnReadFields | undefined => {
  if (onreadFieldsFound !== null) return onreadFieldsFound
  const probe = new NetSocket({ onread: { buffer: () => new Uint8Array(1), callback: () => true } })
  const named = (name: string) => Object.getOwnPropertySymbols(probe).find((key) => key.description === name)
  const buffer = named("kBuffer")
  const callback = named("kBufferCb")
  const generate = named("kBufferGen")
  onreadFieldsFound = buffer && callback && generate ? { buffer, callback, generate } : undefined
  return onreadFieldsFound
}

// Gives an upgraded socket `onread` as `tls.connect` to a host would have it; called in the
// same turn as `tls.connect({ socket })`, before its first read (Node starts reading on the
// next tick). False when it cannot: the caller listens to `data` instead.
const readInto = (tls: TLSSocket, onread: OnRead): boolean => {
  const handle = (tls as unknown as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } })._handle
  const keys = onreadFields()
  if (keys === undefined || typeof handle?.useUserBuffer !== "function") return false
  const first = onread.buffer()
  const fields = tls as unknown as Record<symbol, unknown>
  fields[keys.buffer] = first
  fields[keys.generate] = onread.buffer
  fields[keys.callback] = onread.callback
  handle.useUserBuffer(first)
  return true
}

// Node replaces its default CAs when `ca` is given, so a target's extra CAs are trusted
// beside Node's defaults (its bundled roots, NODE_EXTRA_CA_CERTS, the system's with
// --use-system-ca) as the documented list `[...getCACertificates("default"), ...ca]`.
const withDefaultCas = (ca: ReadonlyArray<string>): Array<string> => [...defaultCas(), ...ca]

// Node's default CAs. Deno's node:tls asks for a permission to list them (`--allow-sys`)
// and throws without it, which here would be a crash rather than a typed failure: this
// transport is Node's (Deno has /deno, which /transport picks), so there the list is
// left empty and `ca` alone is trusted.
const defaultCas = (): ReadonlyArray<string> => {
  try {
    return getCACertificates("default")
  } catch {
    return []
  }
}

// The CAs after Node's default ones at the head of `ca`; undefined when `ca` does not start
// with them. Compared by value, so any list that spells out the defaults qualifies.
const afterDefaults = (ca: ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
  const defaults = defaultCas()
  if (ca.length < defaults.length) return undefined
  for (let i = 0; i < defaults.length; i++) if (ca[i] !== defaults[i]) return undefined
  return ca.slice(defaults.length)
}

// Given `ca`, Node parses every PEM into a new store: with the defaults spelled out, ~120
// to ~270 of them, 7–10 ms (2026-12-05). A default context instead shares the roots Node
// parsed once per process, and the extra CAs go into the context's own store — through the
// same native `addCACert` that `createSecureContext` calls for each `ca`; the store is
// copied first, so nothing is added to the process's default (test/core/transport/node.test.ts):
// ~0.7 ms. Where that native method is missing, the list as Node takes it.
const defaultsAnd = (extra: ReadonlyArray<string>): SecureContext => {
  const context = createSecureContext()
  const native = (context as { context?: { addCACert?: (pem: string) => void } }).context
  if (typeof native?.addCACert !== "function") return createSecureContext({ ca: withDefaultCas(extra) })
  for (const pem of extra) native.addCACert(pem)
  return context
}

// One context per trust list, built once and shared by the connections that trust the same
// list (as https.Agent shares one). Few lists are ever in use; the oldest goes past 8.
const contexts = new Map<string, SecureContext>()
const cached = (key: string, make: () => SecureContext): SecureContext => {
  let context = contexts.get(key)
  if (context === undefined) {
    context = make()
    if (contexts.size >= 8) contexts.delete(contexts.keys().next().value!)
    contexts.set(key, context)
  }
  return context
}
// Node's defaults and `extra`. The defaults are not joined into the key: ~120–270 PEMs,
// ~0.2 ms per connection.
const contextWithDefaults = (extra: ReadonlyArray<string>): SecureContext =>
  cached(`defaults and\n${extra.join("\n")}`, () => defaultsAnd(extra))
// Exactly `ca`, as STLS's upgrade options give it: the defaults and ours when it starts
// with them (the Node layer's `upgradeOptions`).
const contextFor = (ca: ReadonlyArray<string>): SecureContext => {
  const extra = afterDefaults(ca)
  return extra === undefined
    ? cached(ca.join("\n"), () => createSecureContext({ ca: [...ca] }))
    : contextWithDefaults(extra)
}

/**
 * A `Socket` over a Node connection to `target`, made when its reader is acquired; the
 * reader's `upgrade` does STLS.
 * @category constructors
 */
export const makeSocket = (target: Target): Effect.Effect<Socket.Socket> =>
  Effect.sync(() =>
    makeByteSocket(
      Effect.suspend(() => {
        let socket: NetSocket | TLSSocket | undefined
        // TLS hands over one record (at most 16 KiB of plaintext) per read; STLS changes
        // to such a pool (`startTls`).
        let pool = makeReadPool(target.tls === "implicit" ? TLS_RECORD : 64 * 1024)
        const input = makePushReader({
          pause: () => socket?.pause(),
          resume: () => quietly(() => socket?.resume())
        })
        // The chunks of the previous pull are done with when the next pull starts.
        const pull = Effect.suspend(() => {
          pool.releaseDelivered()
          return Effect.map(input.pull, (chunks) => {
            pool.delivered(chunks)
            return chunks
          })
        })
        const onread: OnRead = {
          buffer: () => pool.next(),
          // reader.ts pauses the socket from `push` when it holds enough (net.Socket's
          // `pause` stops `onread` reads too), so the callback never asks for it.
          callback: (nread: number, buffer: Uint8Array) => {
            input.push(buffer.subarray(0, nread))
            return true
          }
        }
        const listen = (s: NetSocket | TLSSocket) => {
          s.on("end", () => {
            if (s === socket) input.end(closeError(1000))
          })
          s.on("error", (cause: Error) => {
            if (s === socket) input.end(readError(cause))
          })
          s.on("close", (hadError: boolean) => {
            if (s === socket) input.end(closeError(hadError ? 1006 : 1000))
          })
        }

        // Resolves once `s` emitted `ready` (connect, or the TLS handshake); the first error
        // before that fails it with `failed`. Interrupted (the connect timeout in
        // client/open.ts, a closing scope): the socket is destroyed. `attach` puts the
        // lasting listeners on in the same turn as `ready`, so no 'error' finds none.
        const opened = <S extends NetSocket | TLSSocket>(
          start: () => S,
          ready: "connect" | "secureConnect",
          failed: (cause: unknown) => Socket.SocketError,
          attach: (s: S) => void
        ) =>
          Effect.callback<S, Socket.SocketError>((resume) => {
            let s: S
            try {
              s = start()
            } catch (cause) {
              resume(Effect.fail(failed(cause)))
              return
            }
            const onReady = () => {
              s.off("error", onError)
              attach(s)
              resume(Effect.succeed(s))
            }
            const onError = (cause: Error) => {
              s.off(ready, onReady)
              s.destroy()
              resume(Effect.fail(failed(cause)))
            }
            s.once(ready, onReady)
            s.once("error", onError)
            // A connection opened early (node-preconnect.ts) may have connected already.
            if (ready === "connect" && !s.connecting && !s.destroyed) {
              s.off(ready, onReady)
              onReady()
            }
            return Effect.sync(() => {
              s.off(ready, onReady)
              s.off("error", onError)
              s.destroy()
            })
          })

        const attachConnected = (s: NetSocket | TLSSocket) => {
          socket = s
          listen(s)
        }
        // The greeting and STLS's answer of an early connection come as `data` events (it
        // was opened without `onread`); the listener goes before STLS takes the socket over.
        const onData = (chunk: Uint8Array) => input.push(chunk)
        const early = target.tls === "implicit" ? undefined : takePreconnected(target.host, target.port)
        // Widened to net.Socket: TypeScript 6 (the API reference's) infers each branch apart.
        const connect: Effect.Effect<NetSocket, Socket.SocketError> =
          target.tls === "implicit"
            ? opened(
                () =>
                  tlsConnect({
                    host: target.host,
                    port: target.port,
                    ...sni(target),
                    rejectUnauthorized: !target.insecure,
                    ...(target.ca !== undefined ? { secureContext: contextWithDefaults(target.ca) } : {}),
                    // Honoured (checked by test/core/transport/node.test.ts), missing from @types/node.
                    ...({ onread } as ConnectionOptions)
                  }),
                "secureConnect",
                openError,
                attachConnected
              )
            : early !== undefined
              ? opened(
                  () => {
                    const failure = early.error()
                    if (failure !== undefined) throw failure
                    return early.adopt()
                  },
                  "connect",
                  openError,
                  (s) => {
                    attachConnected(s)
                    s.on("data", onData)
                  }
                )
              : opened(
                  () => netConnect({ host: target.host, port: target.port, onread }),
                  "connect",
                  openError,
                  attachConnected
                )

        const startTls = (options: Socket.TlsUpgradeOptions) =>
          Effect.suspend(() => {
            // Through Deno's Node compatibility layer tls.connect({ socket }) never finishes
            // the handshake (the caller waited out its whole timeout), and Deno and Bun refuse
            // an IP address as servername: say which transport works instead.
            const runtime = detectRuntime()
            if (runtime === "deno" || (runtime === "bun" && isIP(options.servername ?? target.servername) !== 0))
              return Effect.fail(
                upgradeError(
                  new Error(
                    `STLS through pop3-everywhere/node does not work on ${runtime === "deno" ? "Deno" : "Bun with an IP address"}; use pop3-everywhere/transport (or /${runtime})`
                  )
                )
              )
            const plain = socket!
            plain.off("data", onData)
            return opened(
              () =>
                withoutDep0123(() => {
                  const tls = tlsConnect({
                    socket: plain,
                    servername: options.servername ?? target.servername,
                    rejectUnauthorized: options.rejectUnauthorized ?? true,
                    ...(options.ca !== undefined ? { secureContext: contextFor(pemList(options.ca)) } : {})
                  })
                  // Into reused buffers, as before STLS (Node ignores `onread` with `socket`).
                  // Nothing waits unread now (`input.upgrade` checked), so the old pool's
                  // buffers are only the consumer's last pull: the GC takes them.
                  pool = makeReadPool(TLS_RECORD)
                  if (!readInto(tls, onread)) tls.on("data", (chunk: Uint8Array) => input.push(chunk))
                  return tls
                }),
              "secureConnect",
              upgradeError,
              (tls) => {
                socket = tls
                listen(tls)
              }
            ).pipe(
              Effect.asVoid,
              Effect.tapError(() => Effect.sync(() => plain.destroy()))
            )
          })

        return Effect.map(connect, (): Connection => {
          return {
            input: {
              ...input,
              pull
            },
            write: (bytes) =>
              new Promise<void>((resolve, reject) => {
                const to = socket!
                if (to.destroyed) return reject(new Error("socket closed"))
                to.write(bytes, (error) => (error ? reject(error) : resolve()))
              }),
            end: () => quietly(() => socket?.end()),
            close: () => quietly(() => socket?.destroy()),
            // What was written (QUIT) still leaves; then the socket goes.
            dispose: () => quietly(() => socket?.destroySoon()),
            upgrade: (options = {}) =>
              input.upgrade(
                startTls(options),
                options.key !== undefined || options.cert !== undefined
                  ? upgradeError(new Error("client certificates are not supported by this transport"))
                  : undefined
              )
          }
        })
      })
    )
  )

/**
 * The Node TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "node",
  startTls: true,
  // Always the name here, even an IP (Node's DEP0123 warning is dropped, see above).
  upgradeOptions: (target) => verifyingUpgradeOptions(target, defaultCas()),
  // The context is built while the server answers STLS, not after. A `ca` Node cannot
  // parse fails the upgrade itself, with its error.
  prepareUpgrade: (options) => {
    if (options.ca !== undefined) quietly(() => contextFor(pemList(options.ca!)))
  },
  open: makeSocket
})
