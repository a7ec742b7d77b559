/**
 * A `Socket` over a connection that a runtime's transport opens, built the way effect's
 * Socket contract asks, once for every runtime whose writes are promises (Deno, Bun): the
 * writer is detached from any one connection and waits until a reader has connected; the
 * end of the reader's scope fails a pull suspended in another fiber, then closes.
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
  /** Writes all of `bytes`; rejects when the socket is gone. */
  readonly write: (bytes: Uint8Array) => Promise<unknown>
  /** Ends the sending side; called at the writer's release, after the queued writes. */
  readonly end: () => unknown
  /** Closes at once (a `CloseEvent` written to the socket); `input` has ended with `error`. */
  readonly close: (error: Socket.SocketError) => void
  /** What the end of the reader's scope does (default: `close`); `input` has ended with `error`. */
  readonly dispose?: (error: Socket.SocketError) => void
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

  const reader: Socket.Socket["reader"] = Effect.gen(function*() {
    const scope = yield* Effect.scope
    const connection = yield* connect
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        const error = closeError(1006)
        connection.input.abort(error)
        latch.closeUnsafe()
        current = undefined
        ;(connection.dispose ?? connection.close)(error)
      })
    )
    current = connection
    latch.openUnsafe()
    return { pull: connection.input.pull, upgrade: connection.upgrade }
  })

  const writer = queuedWriter({
    latch,
    write: (bytes) => (current === undefined ? Promise.reject(new Error("socket closed")) : current.write(bytes)),
    close: (event) => {
      const error = closeError(event.code, event.reason)
      current?.input.abort(error)
      current?.close(error)
    },
    end: () => {
      const connection = current
      return connection === undefined ? undefined : () => connection.end()
    }
  })

  return Socket.make({ reader, writer })
}
