/**
 * A `Socket` over a connection that a runtime's transport opens, built the way effect's
 * Socket contract asks, once for the runtimes whose writes are promises (Deno, Bun,
 * Workers): the writer is detached from any one connection and waits until a reader has
 * connected; the end of the reader's scope fails a pull suspended in another fiber, then
 * closes.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import { closeError, type PushReader } from "./reader.ts"
import { queuedWriter } from "./writer.ts"

/**
 * An open connection, as the runtime's transport gives it.
 * @category models
 */
export interface Connection {
  /** What arrives, fed by the runtime. */
  readonly input: PushReader
  /** Writes all of `bytes`; rejects when the socket is gone (a `SocketError` passes as it is). */
  readonly write: (bytes: Uint8Array) => Promise<unknown>
  /** Ends the sending side; called at the writer's release, after the queued writes. */
  readonly end: () => unknown
  /** Closes at once (a `CloseEvent` written to the socket); `input` has ended with `error`. */
  readonly close: (error: Socket.SocketError) => unknown
  /** What the end of the reader's scope does (default: `close`); `input` has ended with `error`. */
  readonly dispose?: (error: Socket.SocketError) => unknown
  /** STLS: usually `input.upgrade` around the runtime's own call. */
  readonly upgrade: Socket.Reader["upgrade"]
}

/**
 * A `Socket` that opens its connection with `connect` when its reader is acquired.
 * @category constructors
 */
export const makeByteSocket = (connect: Effect.Effect<Connection, Socket.SocketError>): Socket.Socket => {
  const latch = Latch.makeUnsafe(false)
  let current: Connection | undefined

  const reader: Socket.Socket["reader"] = Effect.gen(function* () {
    const scope = yield* Effect.scope
    const connection = yield* connect
    yield* Scope.addFinalizer(
      scope,
      Effect.suspend(() => {
        const error = closeError(1006)
        connection.input.abort(error)
        latch.closeUnsafe()
        current = undefined
        const closing = (connection.dispose ?? connection.close)(error)
        return closing instanceof Promise ? Effect.promise(() => closing) : Effect.void
      })
    )
    current = connection
    latch.openUnsafe()
    // expire beside effect's Reader: a connection that knows it (isExpiringReader) times its reads with it.
    return { pull: connection.input.pull, expire: connection.input.expire, upgrade: connection.upgrade }
  })

  const writer = queuedWriter({
    latch,
    write: (bytes) => (current === undefined ? Promise.reject(new Error("socket closed")) : current.write(bytes)),
    close: (event) => {
      const error = closeError(event.code, event.reason)
      current?.input.abort(error)
      return current?.close(error)
    },
    end: () => {
      const connection = current
      return connection === undefined ? undefined : () => connection.end()
    }
  })

  return Socket.make({ reader, writer })
}
