/**
 * The WebSocket to a pop3-bridge on `WebSocketStream`, where the platform has it
 * (Chromium ≥ 124): the same transport as websocket.ts, but with flow control. The standard
 * `WebSocket` hands over every message as it arrives, so whatever the bridge sends is
 * queued in the page until the client reads it: a fast server and a slow reader (a large
 * message written to IndexedDB, a page busy parsing MIME) grow the page's memory by the
 * whole message. A `WebSocketStream`'s messages come from a `ReadableStream` that the
 * browser stops filling, and stops reading the network for, while nothing reads it — then
 * TCP pushes back on the bridge, which stops reading the mail server (bridge/relay.ts).
 *
 * Read on demand through reader.ts (a read only while a pull waits, its result kept for the
 * next pull if that one was interrupted), as the Deno and Workers transports are. Close
 * codes come from `closed`, so a bridge's 4000–4999 refusal is its `BridgeError` as over the
 * standard WebSocket.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"
import type { OpenWebSocket } from "./bridge-transport.ts"
import { closeError, makePushReader, openError, quietly } from "./reader.ts"
import { makeByteSocket } from "./socket.ts"

/**
 * What a `WebSocketStream` message is: text as a string, binary as an ArrayBuffer (or a view).
 * @category models
 */
export type WebSocketStreamMessage = string | ArrayBuffer | ArrayBufferView

/**
 * A closing handshake's code and reason (`WebSocketCloseInfo`; a failure's `WebSocketError` has them too).
 * @category models
 */
export interface WebSocketCloseInfo {
  readonly closeCode?: number
  readonly reason?: string
}

/**
 * The part of `WebSocketStream` used here (no TypeScript lib declares it yet).
 * @category models
 */
export interface WebSocketStreamLike {
  readonly opened: Promise<{
    readonly readable: ReadableStream<WebSocketStreamMessage>
    readonly writable: WritableStream<Uint8Array>
    readonly protocol: string
  }>
  readonly closed: Promise<WebSocketCloseInfo>
  close(info?: WebSocketCloseInfo): void
}

/**
 * The `WebSocketStream` constructor.
 * @category models
 */
export type WebSocketStreamConstructor = new (
  url: string,
  options?: { readonly protocols?: ReadonlyArray<string>; readonly signal?: AbortSignal }
) => WebSocketStreamLike

/**
 * The platform's `WebSocketStream`, if it has one.
 * @category constructors
 */
export const globalWebSocketStream = (): WebSocketStreamConstructor | undefined => {
  const candidate = (globalThis as { readonly WebSocketStream?: unknown }).WebSocketStream
  return typeof candidate === "function" ? (candidate as WebSocketStreamConstructor) : undefined
}

// Codes a client may send in a close frame (RFC 6455 §7.4.2: 1000, or 3000–4999).
const sendable = (code: number): boolean => code === 1000 || (code >= 3000 && code <= 4999)

const bytesOf = (message: WebSocketStreamMessage): Uint8Array =>
  typeof message === "string"
    ? new TextEncoder().encode(message)
    : message instanceof ArrayBuffer
      ? new Uint8Array(message)
      : new Uint8Array(message.buffer, message.byteOffset, message.byteLength)

/**
 * Opens each connection as a `WebSocketStream` (offering the `binary` subprotocol, as
 * websocket.ts does); an interruption before it opened (the connect timeout) aborts it.
 * @category constructors
 */
export const openWebSocketStream =
  (WebSocketStream: WebSocketStreamConstructor): OpenWebSocket =>
  (url) =>
    Effect.sync(() =>
      makeByteSocket(
        Effect.suspend(() => {
          const abort = new AbortController()
          let stream: WebSocketStreamLike
          try {
            stream = new WebSocketStream(url, { protocols: ["binary"], signal: abort.signal })
          } catch (cause) {
            return Effect.fail(openError(cause))
          }
          // How it closed: `closed` resolves on a clean close and rejects (a WebSocketError
          // with the code, or 1006's none) otherwise.
          const closing: Promise<Socket.SocketError> = stream.closed.then(
            (info) => closeError(info.closeCode ?? 1005, info.reason),
            (error: unknown) => {
              const info = (error ?? {}) as WebSocketCloseInfo
              return closeError(typeof info.closeCode === "number" ? info.closeCode : 1006, info.reason)
            }
          )
          const opened = Effect.callback<Awaited<WebSocketStreamLike["opened"]>, Socket.SocketError>((resume) => {
            stream.opened.then(
              (connection) => resume(Effect.succeed(connection)),
              (cause: unknown) => resume(Effect.fail(openError(cause)))
            )
            return Effect.sync(() => abort.abort())
          })
          return Effect.map(opened, ({ readable, writable }) => {
            const reader = readable.getReader()
            const writer = writable.getWriter()
            // The end of the messages, or a failure to read them: the close says which.
            const ended = (): Promise<never> =>
              closing.then((error) => {
                throw error
              })
            const input = makePushReader({
              read: () =>
                reader.read().then(
                  (result) => (result.done ? ended() : bytesOf(result.value)),
                  () => ended()
                )
            })
            const close = (code: number, reason?: string) =>
              quietly(() => stream.close(sendable(code) ? { closeCode: code, reason: reason ?? "" } : {}))
            return {
              input,
              // Resolves once the stream has taken the message (its own backpressure).
              write: (bytes: Uint8Array) => writer.write(bytes),
              // A WebSocket has no half-close: the close handshake at the scope's end ends both sides.
              end: () => undefined,
              close: (error: Socket.SocketError) => {
                const reason = error.reason
                if (reason._tag === "SocketCloseError") close(reason.code, reason.closeReason)
                else close(1000)
              },
              // A close frame after what was sent, as the standard WebSocket's release does.
              dispose: () => close(1000),
              upgrade: Socket.SocketUpgradeError.unsupported
            }
          })
        })
      )
    )
