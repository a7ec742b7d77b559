/**
 * The in-memory transport: the client talks to a server function through a pair of web
 * `TransformStream`s, in the same process. For tests, and for running the dev server
 * inside a browser page. Works on every runtime (web-standard APIs only).
 *
 * Built like the byte-stream transports (socket.ts, reader.ts), not on effect's
 * `Socket.fromTransformStream`: there an interrupted pull (a command under
 * `Effect.timeout`, a fiber interrupted) loses the chunk its read was waiting for, and so
 * the answer the connection still owes; here a read runs only while a pull waits, and what
 * it brings is kept for the next pull whether or not the one that started it is still there.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { makePushReader } from "./reader.ts"
import { makeByteSocket } from "./socket.ts"
import { Transport } from "./transport.ts"

/**
 * The server side of an in-memory connection.
 * @category models
 */
export interface ServerEnd {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
}

const ignore = () => {}

/**
 * A transport whose every connection is handed to `serve`. The target is ignored except
 * that `tls: "implicit"` counts as encrypted (nothing leaves the process).
 * @category layers
 */
export const layer = (serve: (server: ServerEnd) => void): Layer.Layer<Transport> =>
  Layer.succeed(Transport)({
    name: "memory",
    startTls: false,
    upgradeOptions: () => ({}),
    open: () =>
      Effect.sync(() =>
        makeByteSocket(
          Effect.sync(() => {
            // 64 KiB of buffer each way, like a socket's: a side that writes a little ahead
            // of the other's reads (pipelining) must not block until the other reads.
            const buffer = () => new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 })
            const toServer = new TransformStream<Uint8Array, Uint8Array>({}, buffer(), buffer())
            const toClient = new TransformStream<Uint8Array, Uint8Array>({}, buffer(), buffer())
            serve({ readable: toServer.readable, writable: toClient.writable })
            const reader = toClient.readable.getReader()
            const writer = toServer.writable.getWriter()
            let ending: Promise<unknown> = Promise.resolve()
            // Cancelling the reader ends a read still pending; the server's reads end too.
            const closeAll = () => Promise.allSettled([reader.cancel(), writer.abort()])
            return {
              // Read only when pulled, as a socket: the server's writes wait on its buffer.
              input: makePushReader({
                read: async () => {
                  const { done, value } = await reader.read()
                  return done ? null : value
                }
              }),
              // Resolves when the stream took the bytes (its backpressure).
              write: (bytes) => writer.write(bytes),
              // The server reads the end (a FIN) after what was written.
              end: () => (ending = writer.close().catch(ignore)),
              close: closeAll,
              dispose: () => ending.then(closeAll),
              upgrade: Socket.SocketUpgradeError.unsupported
            }
          })
        )
      )
  })
