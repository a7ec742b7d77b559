/**
 * The in-memory transport: the client talks to a server function through a pair of web
 * `TransformStream`s, in the same process. For tests, and for running the dev server
 * inside a browser page. Works on every runtime (web-standard APIs only).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { Transport } from "./transport.ts"

/**
 * The server side of an in-memory connection.
 * @category models
 */
export interface ServerEnd {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
}

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
      Socket.fromTransformStream(
        Effect.sync(() => {
          // 64 KiB of buffer each way, like a socket's: a side that writes a little ahead
          // of the other's reads (pipelining) must not block until the other reads.
          const buffer = () => new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 })
          const toServer = new TransformStream<Uint8Array, Uint8Array>({}, buffer(), buffer())
          const toClient = new TransformStream<Uint8Array, Uint8Array>({}, buffer(), buffer())
          serve({ readable: toServer.readable, writable: toClient.writable })
          return { readable: toClient.readable, writable: toServer.writable }
        })
      )
  })
