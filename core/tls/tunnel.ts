/**
 * A TLS 1.3 client over any byte `Socket`: the client does TLS itself, so whatever carries
 * the bytes (a WebSocket bridge in `tls=passthrough` mode, an in-memory pipe, a plain TCP
 * relay) sees only ciphertext. Implicit TLS wraps the socket from its first byte; STLS
 * speaks plaintext until the client's `reader.upgrade` after `+OK` to STLS, then wraps it.
 *
 * The TLS itself is subtls (see docs/end-to-end-tls.md for why): TLS 1.3 only, on
 * WebCrypto, verifying the chain to the roots of `trust.ts` and the host name. This file
 * only joins its promise-based read and write to the socket: the raw side is pulled and
 * written through Effect, the TLS side is read by the shared `PushReader` on demand, one
 * record at a time, so a slow consumer holds the raw socket back.
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import { TlsError } from "../errors.ts"
import { concatBytes } from "../protocol/bytes.ts"
import { makePushReader, openError, readError, upgradeError } from "../transport/reader.ts"
import { makeByteSocket } from "../transport/socket.ts"
import { handshakeClosed, tlsFailure } from "./failure.ts"
import { loadSubtls, trustDatabase } from "./trust.ts"

/**
 * Whom to talk TLS with, and when.
 * @category models
 */
export interface TunnelOptions {
  /** The name the server's certificate must carry (and the SNI sent). */
  readonly servername: string
  /** Extra trusted CA certificates (PEM), added to Mozilla's roots. */
  readonly ca: ReadonlyArray<string> | undefined
  /** `implicit`: TLS from the first byte. `starttls`: plaintext until `reader.upgrade`. */
  readonly mode: "implicit" | "starttls"
}

interface Session {
  readonly read: () => Promise<Uint8Array | undefined>
  readonly write: (data: Uint8Array) => Promise<void>
}

/**
 * The `TlsError` a socket failure carries, if it carries one (what a transport's
 * `classify` returns for the failures of this layer).
 * @category errors
 */
export const tlsErrorOf = (error: Socket.SocketError): TlsError | undefined => {
  const reason = error.reason
  return "cause" in reason && reason.cause instanceof TlsError ? reason.cause : undefined
}

// A close below the bridge's own codes (4000–4999) during the handshake: the server hung up.
const isPlainClose = (error: unknown): boolean =>
  error instanceof Socket.SocketError &&
  (error.reason._tag === "SocketCloseError" ? error.reason.code < 4000 : error.reason._tag === "SocketReadError")

/**
 * `raw`, with TLS to `options.servername` on top: implicit from the first byte, or after
 * `reader.upgrade` (STLS). Handshake and record failures are `SocketError`s whose cause
 * is a `TlsError` (`tlsErrorOf`); failures of `raw` itself pass as they are.
 * @category constructors
 */
export const tlsSocket = (raw: Socket.Socket, options: TunnelOptions): Socket.Socket =>
  makeByteSocket(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const [pull, writer] = yield* Effect.all([Socket.readerBytes(raw), raw.writer]).pipe(
        Scope.provide(scope),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      // Promise-side access to the raw socket, stopped when the connection is closed.
      const stop = new AbortController()
      const run = <A>(effect: Effect.Effect<A, Socket.SocketError>): Promise<A> =>
        Effect.runPromiseExit(effect, { signal: stop.signal }).then((exit) =>
          Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
        )
      const rawRead = (): Promise<Uint8Array> =>
        run(pull).then((chunks) => (chunks.length === 1 ? chunks[0] : concatBytes(chunks)))
      // Raw writes leave in order; `written` settles when all so far are out.
      let written: Promise<void> = Promise.resolve()
      const rawWrite = (bytes: Uint8Array): Promise<void> => {
        written = written.then(() => run(writer.write(bytes)))
        return written
      }

      const handshake = async (): Promise<Session> => {
        // The first bytes the server sends, to tell a plaintext alert (a TLS 1.2 server's
        // protocol_version) from the rest, even when the handshake fails on something else first.
        let head: Uint8Array = new Uint8Array(0)
        const observe = (chunk: Uint8Array) => {
          if (head.length < 7) head = concatBytes([head, chunk.subarray(0, 7 - head.length)])
          return chunk
        }
        const alert = () => (head.length >= 7 && head[0] === 0x15 ? head[6] : undefined)
        try {
          const [{ LazyReadFunctionReadQueue, startTls }, trust] = await Promise.all([
            loadSubtls(),
            trustDatabase(options.ca)
          ])
          const queue = new LazyReadFunctionReadQueue(() => rawRead().then(observe))
          const session = await startTls(
            options.servername.toLowerCase(),
            trust,
            queue.read.bind(queue),
            (data) => void rawWrite(data).catch(() => undefined)
          )
          return { read: session.read, write: (data) => session.write(data).then(() => written) }
        } catch (cause) {
          if (isPlainClose(cause) && alert() === undefined) throw handshakeClosed(options.servername)
          if (cause instanceof Socket.SocketError) throw cause
          throw tlsFailure(options.servername, cause, alert())
        }
      }

      // What `input` reads: the raw socket before TLS, the TLS session after.
      let session: Session | undefined
      const input = makePushReader({
        read: () =>
          session === undefined
            ? rawRead()
            : session.read().then(
                (data) => data ?? null,
                (cause: unknown) => {
                  throw cause instanceof Socket.SocketError ? cause : readError(tlsFailure(options.servername, cause))
                }
              )
      })
      const close = () =>
        Effect.runPromise(
          Effect.suspend(() => {
            stop.abort()
            return Scope.close(scope, Exit.void)
          })
        )

      if (options.mode === "implicit") {
        session = yield* Effect.tryPromise({
          try: handshake,
          catch: (cause) => (cause instanceof Socket.SocketError ? cause : openError(cause))
        }).pipe(Effect.onError(() => Effect.promise(close)))
      }

      return {
        input,
        write: (bytes) => (session === undefined ? rawWrite(bytes) : session.write(bytes)),
        // No close_notify (subtls cannot send alerts): QUIT has ended the POP3 session.
        end: () => undefined,
        close: (_: Socket.SocketError) => close(),
        upgrade: () =>
          input.upgrade(
            Effect.tryPromise({
              try: async () => {
                session = await handshake()
              },
              catch: (cause) => (cause instanceof Socket.SocketError ? cause : upgradeError(cause))
            }),
            session !== undefined || options.mode === "implicit"
              ? upgradeError(new TlsError({ host: options.servername, reason: "TLS is already on" }))
              : undefined
          )
      }
    })
  )
