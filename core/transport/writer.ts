/**
 * The write half that every byte-stream transport (Deno, Bun, Workers) shares: strings go
 * out as UTF-8, a `CloseEvent` goes to the transport's own close, and a pipelined batch
 * leaves as one buffer — one write, so it can go out in one TCP segment.
 *
 * @module
 */
import type * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"
import { concatBytes } from "../protocol/bytes.ts"

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
