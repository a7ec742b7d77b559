/**
 * The Bun transport: TCP and TLS through Bun's own `Bun.connect`, STLS through
 * `socket.upgradeTLS`.
 *
 * Bun's sockets push: a `data` handler receives what arrives. The client pulls, so the
 * handler only queues, and once 64 KiB wait unread the socket is paused (`pause()`: Bun
 * stops reading, the kernel buffer fills and TCP pushes back on the server) until a pull
 * takes them. Bun does not queue writes: `write` returns how many bytes it took, and the
 * rest goes after the `drain` handler fires.
 *
 * @module
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import { type Target, Transport } from "./transport.ts"
import { queuedWriter } from "./writer.ts"

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

const bunNet = (): BunNet => {
  const bun = (globalThis as { Bun?: BunNet }).Bun
  if (bun === undefined) throw new Error("the Bun transport needs the Bun runtime (globalThis.Bun is missing)")
  return bun
}

/** Unread bytes above which the socket stops reading. */
const HIGH_WATER_MARK = 64 * 1024

const closeError = (code: number, closeReason?: string) =>
  new Socket.SocketError({ reason: new Socket.SocketCloseError({ code, closeReason }) })
const openError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })
const upgradeError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketUpgradeError({ cause }) })
const readError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })

const quietly = (action: () => void): void => {
  try {
    action()
  } catch {
    // the socket is already gone
  }
}

const pemList = (ca: NonNullable<Socket.TlsUpgradeOptions["ca"]>): Array<string> =>
  (typeof ca === "string" || ca instanceof Uint8Array ? [ca] : [...ca]).map((pem) =>
    typeof pem === "string" ? pem : new TextDecoder().decode(pem)
  )

// The TLS handshake result as an error, or undefined when it may go on. Bun reports a
// failed verification as `authorizationError` and leaves the decision to us.
const handshakeFailure = (success: boolean, authorizationError: Error | null, rejectUnauthorized: boolean): Error | undefined => {
  if (authorizationError !== null && rejectUnauthorized) return authorizationError
  return success ? undefined : authorizationError ?? new Error("TLS handshake failed")
}

/**
 * A `Socket` over a Bun connection to `target`, made when its reader is acquired; the
 * reader's `upgrade` does STLS with `upgradeTLS`. `roots` are Bun's default trusted CAs,
 * kept when extra ones are given (Bun's `ca` replaces them, like Node's).
 * @category constructors
 */
export const makeSocket = (target: Target, roots: ReadonlyArray<string>): Effect.Effect<Socket.Socket> =>
  Effect.sync(() => {
    // The writer is detached from any one connection (effect's Socket contract): it
    // waits on the latch until a reader has connected.
    const latch = Latch.makeUnsafe(false)
    let current: { readonly write: (bytes: Uint8Array) => Promise<void>; readonly close: (error: Socket.SocketError) => void; readonly end: () => void } | undefined
    // Writes run one after another even when an interrupted write is still waiting for
    // `drain`, so their bytes never interleave.

    const reader: Socket.Socket["reader"] = Effect.gen(function*() {
      const scope = yield* Effect.scope
      type Resume = (effect: Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>) => void

      let socket: BunSocket | undefined
      // Bumped by the TLS upgrade: the plain socket's handlers keep being called (with the
      // encrypted bytes, and its close) and must be ignored from then on.
      let generation = 0
      let chunks: Array<Uint8Array> = []
      let buffered = 0
      let paused = false
      let error: Socket.SocketError | undefined
      let waiter: Resume | undefined
      // Waits for the connection or the TLS handshake; gets every failure meanwhile.
      let opening: { readonly tls: boolean; readonly rejectUnauthorized: boolean; readonly settle: (failure: Error | undefined) => void } | undefined
      let drained: { readonly resolve: () => void; readonly reject: (error: unknown) => void } | undefined

      const take = (): NonEmptyReadonlyArray<Uint8Array> => {
        const batch = chunks as unknown as NonEmptyReadonlyArray<Uint8Array>
        chunks = []
        buffered = 0
        if (paused && error === undefined && socket !== undefined) {
          paused = false
          quietly(() => socket!.resume())
        }
        return batch
      }
      // Queued bytes go first, then the error.
      const deliver = () => {
        if (waiter === undefined) return
        const resume = waiter
        if (chunks.length > 0) {
          waiter = undefined
          resume(Effect.succeed(take()))
        } else if (error !== undefined) {
          waiter = undefined
          resume(Effect.fail(error))
        }
      }
      const fail = (err: Socket.SocketError, cause?: unknown) => {
        error ??= err
        opening?.settle(cause instanceof Error ? cause : new Error(err.message))
        drained?.reject(cause ?? err)
        drained = undefined
        deliver()
      }

      const handlers = (gen: number): Handlers => ({
        binaryType: "uint8array",
        open: () => {},
        data: (s, data) => {
          if (gen !== generation || data.length === 0) return
          chunks.push(data)
          buffered += data.length
          deliver()
          if (!paused && buffered >= HIGH_WATER_MARK) {
            paused = true
            s.pause()
          }
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
          if (gen === generation) fail(cause === undefined ? closeError(1000) : readError(cause), cause ?? new Error("the connection closed"))
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

      // Resolves when the connection (and for implicit TLS its handshake) is done. A socket
      // that arrives after an interruption is closed.
      // No timer here: openSocket (client/open.ts) bounds acquiring the reader by the
      // connect timeout, and its interruption runs this callback's cleanup.
      const connect = Effect.callback<void, Socket.SocketError>((resume) => {
        let done = false
        let connected = false
        let handshaken = target.tls !== "implicit"
        const finish = (failure: Error | undefined) => {
          if (done) return
          if (failure === undefined && !(connected && handshaken)) return
          done = true
          opening = undefined
          resume(failure === undefined ? Effect.void : Effect.fail(openError(failure)))
        }
        opening = {
          tls: target.tls === "implicit",
          rejectUnauthorized: !target.insecure,
          settle: (failure) => {
            if (failure === undefined) handshaken = true
            finish(failure)
          }
        }
        const tls: BunTls | undefined = target.tls === "implicit"
          ? {
            serverName: target.servername,
            rejectUnauthorized: !target.insecure,
            ...(target.ca !== undefined ? { ca: [...roots, ...target.ca] } : {})
          }
          : undefined
        try {
          bunNet().connect({ hostname: target.host, port: target.port, ...(tls !== undefined ? { tls } : {}), socket: handlers(0) }).then(
            (s) => {
              socket = s
              // Failed or interrupted meanwhile: nobody will use or close this socket.
              if (done) return quietly(() => s.terminate())
              connected = true
              finish(undefined)
            },
            (cause: unknown) => finish(cause instanceof Error ? cause : new Error(String(cause)))
          )
        } catch (cause) {
          finish(cause instanceof Error ? cause : new Error(String(cause)))
        }
        return Effect.sync(() => {
          done = true
          opening = undefined
          // A socket still on its way is terminated when it arrives (see above).
          if (socket !== undefined) quietly(() => socket!.terminate())
        })
      })

      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          // Fails a pull suspended in another fiber (the Socket contract), then closes.
          chunks = []
          fail(closeError(1006))
          latch.closeUnsafe()
          current = undefined
          generation++
          if (socket !== undefined) quietly(() => socket!.end())
        })
      )
      // A server that greets and hangs up at once: the greeting is still read, then the end.
      yield* connect

      // Writes what Bun accepts, then waits for `drain` to write the rest.
      const writeFully = async (bytes: Uint8Array): Promise<void> => {
        let offset = 0
        while (offset < bytes.length) {
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
      }
      current = {
        write: writeFully,
        close: (err) => {
          chunks = []
          fail(err)
          quietly(() => socket!.terminate())
        },
        end: () => quietly(() => socket!.end())
      }
      latch.openUnsafe()

      const pull = Effect.callback<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>((resume) => {
        waiter = resume
        deliver()
        if (waiter !== resume) return
        return Effect.sync(() => {
          if (waiter === resume) waiter = undefined
        })
      })

      let upgraded = false
      const upgrade = (options: Socket.TlsUpgradeOptions = {}): Effect.Effect<void, Socket.SocketError> =>
        Effect.suspend(() => {
          if (upgraded || error !== undefined || socket === undefined) {
            return Effect.fail(upgradeError(new Error("socket is already upgraded or closed")))
          }
          // Bytes that came after the server's go-ahead but before TLS were not protected
          // (plaintext injection, CVE-2011-0411): the upgrade must not go on.
          if (chunks.length > 0) return Effect.fail(upgradeError(new Error("data arrived before the TLS handshake started")))
          if (options.key !== undefined || options.cert !== undefined) {
            return Effect.fail(upgradeError(new Error("client certificates are not supported by this transport")))
          }
          const rejectUnauthorized = options.rejectUnauthorized ?? true
          const tls: BunTls = {
            serverName: options.servername ?? target.servername,
            rejectUnauthorized,
            ...(options.ca !== undefined ? { ca: pemList(options.ca) } : {})
          }
          return Effect.callback<void, Socket.SocketError>((resume) => {
            let done = false
            opening = {
              tls: true,
              rejectUnauthorized,
              settle: (failure) => {
                if (done) return
                done = true
                opening = undefined
                if (failure === undefined) {
                  upgraded = true
                  return resume(Effect.void)
                }
                const err = upgradeError(failure)
                // Half-done TLS leaves nothing usable; later pulls fail too.
                fail(err, failure)
                quietly(() => socket!.terminate())
                resume(Effect.fail(err))
              }
            }
            const plain = socket!
            generation++
            try {
              const [, secure] = plain.upgradeTLS({ tls, socket: handlers(generation) })
              socket = secure
            } catch (cause) {
              opening.settle(cause instanceof Error ? cause : new Error(String(cause)))
            }
            return Effect.sync(() => {
              if (done) return
              done = true
              opening = undefined
              fail(upgradeError(new Error("TLS upgrade interrupted")))
              quietly(() => socket!.terminate())
            })
          })
        })

      return { pull, upgrade }
    })

    const writer = queuedWriter({
      latch,
      write: (bytes) => {
        if (current === undefined) return Promise.reject(new Error("socket closed"))
        return current.write(bytes)
      },
      close: (event) => current?.close(closeError(event.code, event.reason)),
      // Bun's sockets are not half-open by default: `end` closes both ways.
      end: () => {
        const target = current
        return target === undefined ? undefined : () => target.end()
      }
    })

    return Socket.make({ reader, writer })
  })

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
        upgradeOptions: (target) => ({
          servername: target.servername,
          rejectUnauthorized: !target.insecure,
          ...(target.ca !== undefined ? { ca: [...roots, ...target.ca] } : {})
        }),
        open: (target) => makeSocket(target, roots)
      })
    }
  )
)
