/**
 * The Bun transport: TCP and TLS through Bun's own `Bun.connect`, STLS through
 * `socket.upgradeTLS`.
 *
 * Bun's sockets push: the `data` handler pushes into the shared reader (reader.ts), which
 * pauses the socket once 64 KiB wait unread (`pause()`: Bun stops reading, the kernel
 * buffer fills and TCP pushes back on the server) until a pull takes them. Bun does not queue writes: `write` returns how many bytes it took, and the
 * rest goes after the `drain` handler fires.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Socket from "effect/socket/Socket"
import { closeError, makePushReader, openError, pemList, quietly, readError, upgradeError } from "./reader.ts"
import { makeByteSocket } from "./socket.ts"
import { type Target, Transport, verifyingUpgradeOptions } from "./transport.ts"

// The part of Bun's API used here, declared locally: core/ type-checks without Bun's types.
interface BunSocket {
  /** Bytes accepted (maybe fewer than given); negative when the socket is closed. */
  write(data: Uint8Array): number
  end(): void
  terminate(): void
  pause(): void
  resume(): void
  upgradeTLS(options: { readonly tls: BunTls; readonly socket: Handlers }): [raw: BunSocket, tls: BunSocket]
}
interface BunTls {
  readonly serverName: string
  readonly rejectUnauthorized: boolean
  readonly ca?: Array<string>
}
interface Handlers {
  readonly binaryType: "uint8array"
  open(socket: BunSocket): void
  data(socket: BunSocket, data: Uint8Array): void
  drain(socket: BunSocket): void
  end(socket: BunSocket): void
  close(socket: BunSocket, error?: Error): void
  error(socket: BunSocket, error: Error): void
  connectError(socket: BunSocket, error: Error): void
  handshake(socket: BunSocket, success: boolean, authorizationError: Error | null): void
}
interface BunNet {
  connect(options: { hostname: string; port: number; tls?: BunTls; socket: Handlers }): Promise<BunSocket>
}

const asError = (cause: unknown): Error => (cause instanceof Error ? cause : new Error(String(cause)))

const bunNet = (): BunNet => {
  const bun = (globalThis as { Bun?: BunNet }).Bun
  if (bun === undefined) throw new Error("the Bun transport needs the Bun runtime (globalThis.Bun is missing)")
  return bun
}

// The TLS handshake result as an error, or undefined when it may go on. Bun reports a
// failed verification as `authorizationError` and leaves the decision to us.
const handshakeFailure = (
  success: boolean,
  authorizationError: Error | null,
  rejectUnauthorized: boolean
): Error | undefined => {
  if (authorizationError !== null && rejectUnauthorized) return authorizationError
  return success ? undefined : (authorizationError ?? new Error("TLS handshake failed"))
}

/**
 * A `Socket` over a Bun connection to `target`, made when its reader is acquired; the
 * reader's `upgrade` does STLS with `upgradeTLS`. `roots` are Bun's default trusted CAs,
 * kept when extra ones are given (Bun's `ca` replaces them, like Node's).
 * @category constructors
 */
export const makeSocket = (target: Target, roots: ReadonlyArray<string>): Effect.Effect<Socket.Socket> =>
  Effect.sync(() =>
    makeByteSocket(
      Effect.suspend(() => {
        let socket: BunSocket | undefined
        let receiving: BunSocket | undefined
        // Bumped by the TLS upgrade: the plain socket's handlers keep being called (with the
        // encrypted bytes, and its close) and must be ignored from then on.
        let generation = 0
        // Waits for the connection or the TLS handshake; gets every failure meanwhile.
        let opening:
          | {
              readonly tls: boolean
              readonly rejectUnauthorized: boolean
              readonly settle: (failure: Error | undefined) => void
            }
          | undefined
        let drained: { readonly resolve: () => void; readonly reject: (error: unknown) => void } | undefined
        const input = makePushReader({ pause: () => receiving?.pause(), resume: () => quietly(() => socket?.resume()) })
        const fail = (err: Socket.SocketError, cause?: unknown) => {
          input.end(err)
          opening?.settle(cause instanceof Error ? cause : new Error(err.message))
          drained?.reject(cause ?? err)
          drained = undefined
        }
        const terminate = () => quietly(() => socket?.terminate())

        const handlers = (gen: number): Handlers => ({
          binaryType: "uint8array",
          open: () => {},
          data: (s, data) => {
            if (gen !== generation) return
            receiving = s
            input.push(data)
          },
          drain: () => {
            if (gen !== generation) return
            const d = drained
            drained = undefined
            d?.resolve()
          },
          // The server closed its side (FIN): what was queued is still read, then the end.
          end: () => {
            if (gen === generation) fail(closeError(1000), new Error("the server closed the connection"))
          },
          close: (_s, cause) => {
            if (gen === generation)
              fail(
                cause === undefined ? closeError(1000) : readError(cause),
                cause ?? new Error("the connection closed")
              )
          },
          error: (_s, cause) => {
            if (gen === generation) fail(readError(cause), cause)
          },
          connectError: (_s, cause) => {
            if (gen === generation) fail(openError(cause), cause)
          },
          handshake: (s, success, authorizationError) => {
            if (gen !== generation || opening === undefined || !opening.tls) return
            socket = s
            opening.settle(handshakeFailure(success, authorizationError, opening.rejectUnauthorized))
          }
        })

        // Resumes once `steps` succeeded (the connection, a TLS handshake) or at the first
        // failure, which `failed` turns into the error. `begin` starts them; its `settle`
        // says whether anyone still waits. Interrupted: `abandon`.
        const opened = (
          steps: number,
          tls: { readonly rejectUnauthorized: boolean } | undefined,
          begin: (settle: (failure: Error | undefined) => boolean) => void,
          failed: (failure: Error) => Socket.SocketError,
          abandon: () => void
        ) =>
          Effect.callback<void, Socket.SocketError>((resume) => {
            let done = false
            let left = steps
            const settle = (failure: Error | undefined) => {
              if (done) return false
              if (failure === undefined && --left > 0) return true
              done = true
              opening = undefined
              resume(failure === undefined ? Effect.void : Effect.fail(failed(failure)))
              return true
            }
            opening = {
              tls: tls !== undefined,
              rejectUnauthorized: tls?.rejectUnauthorized ?? true,
              settle: (failure) => void settle(failure)
            }
            try {
              begin(settle)
            } catch (cause) {
              settle(asError(cause))
            }
            return Effect.sync(() => {
              if (done) return
              done = true
              opening = undefined
              abandon()
            })
          })

        // The connection and, for implicit TLS, its handshake. A socket that arrives after a
        // failure or an interruption is terminated. A server that greets and hangs up at once:
        // the handlers queue the greeting, which is still read, then the end.
        // No timer here: openSocket (client/open.ts) bounds acquiring the reader by the
        // connect timeout, and its interruption abandons this.
        const tls: BunTls | undefined =
          target.tls === "implicit"
            ? {
                serverName: target.servername,
                rejectUnauthorized: !target.insecure,
                ...(target.ca !== undefined ? { ca: [...roots, ...target.ca] } : {})
              }
            : undefined
        const connect = opened(
          tls === undefined ? 1 : 2,
          tls,
          (settle) =>
            bunNet()
              .connect({
                hostname: target.host,
                port: target.port,
                ...(tls !== undefined ? { tls } : {}),
                socket: handlers(0)
              })
              .then(
                (s) => {
                  socket = s
                  if (!settle(undefined)) terminate()
                },
                (cause: unknown) => void settle(asError(cause))
              ),
          openError,
          terminate
        )

        // STLS: the new generation's handshake handler settles it. Half-done TLS leaves
        // nothing usable; later pulls fail too.
        const startTls = (tls: BunTls) =>
          opened(
            1,
            tls,
            () => {
              const plain = socket!
              generation++
              socket = plain.upgradeTLS({ tls, socket: handlers(generation) })[1]
            },
            (failure) => {
              const err = upgradeError(failure)
              fail(err, failure)
              terminate()
              return err
            },
            () => {
              fail(upgradeError(new Error("TLS upgrade interrupted")))
              terminate()
            }
          )

        return Effect.as(connect, {
          input,
          // Writes what Bun accepts, then waits for `drain` to write the rest.
          write: async (bytes: Uint8Array): Promise<void> => {
            let offset = 0
            while (offset < bytes.length) {
              const error = input.error()
              if (error !== undefined) throw new Error(`socket closed (${error.message})`)
              const n = socket!.write(offset === 0 ? bytes : bytes.subarray(offset))
              if (n < 0) throw new Error("socket closed")
              offset += n
              if (offset < bytes.length) {
                await new Promise<void>((resolve, reject) => {
                  drained = { resolve, reject }
                })
              }
            }
          },
          // Bun's sockets are not half-open by default: `end` closes both ways.
          end: () => quietly(() => socket!.end()),
          close: (err: Socket.SocketError) => {
            fail(err)
            terminate()
          },
          dispose: (err: Socket.SocketError) => {
            fail(err)
            generation++
            quietly(() => socket?.end())
          },
          upgrade: (options: Socket.TlsUpgradeOptions = {}) =>
            input.upgrade(
              Effect.suspend(() =>
                startTls({
                  serverName: options.servername ?? target.servername,
                  rejectUnauthorized: options.rejectUnauthorized ?? true,
                  ...(options.ca !== undefined ? { ca: pemList(options.ca) } : {})
                })
              ),
              options.key !== undefined || options.cert !== undefined
                ? upgradeError(new Error("client certificates are not supported by this transport"))
                : undefined
            )
        })
      })
    )
  )

/**
 * The Bun TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.effect(Transport)(
  Effect.map(
    // Bun's default roots, to keep them when extra CAs are given. `as string` keeps the
    // Node module out of core/'s type-check (it has no Node types); Bun provides it.
    Effect.promise(() => import("node:tls" as string) as Promise<{ readonly rootCertificates: ReadonlyArray<string> }>),
    (tls) => {
      const roots = tls.rootCertificates
      return Transport.of({
        name: "bun",
        startTls: true,
        upgradeOptions: (target) => verifyingUpgradeOptions(target, roots),
        open: (target) => makeSocket(target, roots)
      })
    }
  )
)
