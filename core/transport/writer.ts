/**
 * The write half that every byte-stream transport (Deno, Bun, Workers) shares: strings go
 * out as UTF-8, a `CloseEvent` goes to the transport's own close, and a pipelined batch
 * leaves as one buffer — one write, so it can go out in one TCP segment.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type * as Latch from "effect/Latch"
import * as Socket from "effect/socket/Socket"
import { concatBytes } from "../protocol/bytes.ts"
import { writeError } from "./reader.ts"

const encoder = new TextEncoder()
const bytesOf = (chunk: Uint8Array | string): Uint8Array => (typeof chunk === "string" ? encoder.encode(chunk) : chunk)

/**
 * `write` and `writeAll` over a transport's `send` (one buffer, in order) and `close`.
 * @category constructors
 */
export const byteWriter = (
  send: (bytes: Uint8Array) => Effect.Effect<void, Socket.SocketError>,
  close: (event: Socket.CloseEvent) => Effect.Effect<void, Socket.SocketError>
): Socket.Writer => ({
  write: (chunk) => (Socket.isCloseEvent(chunk) ? close(chunk) : send(bytesOf(chunk))),
  writeAll: (chunks) => send(chunks.length === 1 ? bytesOf(chunks[0]) : concatBytes(chunks.map(bytesOf)))
})

/**
 * A socket's writer over a runtime whose writes are promises (Deno, Bun, Workers): writes leave one
 * at a time in call order (a later write never overtakes an earlier partial one), none
 * before the connection is open (`latch`), and releasing the writer ends the sending side
 * only after the queued writes are out.
 * @category constructors
 */
export const queuedWriter = (options: {
  readonly latch: Latch.Latch
  /** Writes all of `bytes`; rejects when the socket is gone. */
  readonly write: (bytes: Uint8Array) => Promise<unknown>
  /** Closes at once; a promise returned is waited for. */
  readonly close: (event: Socket.CloseEvent) => unknown
  /** Called at release: what ends the sending side once the queue is empty (none if closed). */
  readonly end: () => (() => unknown) | undefined
}): Socket.Socket["writer"] => {
  let writing: Promise<unknown> = Promise.resolve()
  const ignore = () => undefined
  const send = (bytes: Uint8Array): Effect.Effect<void, Socket.SocketError> =>
    options.latch.whenOpen(
      Effect.suspend(() => {
        const run = writing.then(() => options.write(bytes))
        writing = run.catch(ignore)
        return Effect.tryPromise({
          try: () => run,
          catch: (cause) => (cause instanceof Socket.SocketError ? cause : writeError(cause))
        })
      })
    )
  const writer = byteWriter(send, (event) =>
    options.latch.whenOpen(
      Effect.suspend(() => {
        const closing = options.close(event)
        return closing instanceof Promise ? Effect.promise(() => closing) : Effect.void
      })
    )
  )
  return Effect.acquireRelease(Effect.succeed(writer), () =>
    Effect.sync(() => {
      const end = options.end()
      if (end !== undefined) writing = writing.then(end).catch(ignore)
    })
  )
}
