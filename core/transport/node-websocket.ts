/**
 * The WebSocket transport to a pop3-bridge for Node, on the `ws` package, with flow
 * control: the same transport as websocket.ts (bridge URL, encrypted paths, close codes as
 * `BridgeError`, `endToEnd`; bridge-transport.ts), but the socket pauses.
 *
 * Why not Node's global `WebSocket` (undici), as websocket.ts uses it: it cannot pause, so
 * everything the bridge sends is queued in the client until it is read — `pop3 --bridge …
 * retr 1 | (sleep 6; wc -c)` on a 100 MB message grew the client to a 186–190 MB peak RSS
 * (76 MB on this transport), and a hostile or simply fast server could exhaust the
 * client's memory. Here reader.ts pauses the
 * `ws` socket once 64 KiB wait unread (`ws.pause()` stops reading the TCP socket): the
 * kernel buffer fills, TCP pushes back on the bridge, and the bridge (which has
 * backpressure, bridge/relay.ts) stops reading the mail server.
 *
 * What is held at most, then: 64 KiB unread, what `ws` had already read from the socket
 * when it paused (one read, ≤ 1 MiB), and one frame in progress — `maxPayload` bounds
 * that (`MAX_FRAME`; larger frames close the WebSocket with 1009), and `maxFragments` the
 * pieces of one message (`MAX_FRAGMENTS`). Messages under 2 KiB are handed on together,
 * not one chunk each, whatever size the bridge (or the server behind it) frames them in. Over `ws:` the reads go
 * into slabs that are reused (node-websocket-preconnect.ts), so, as with node.ts, a pull's chunks are valid until
 * the next pull; over `wss:` they are Buffers nothing reuses.
 *
 * Node only (the `node-websocket` subpath): browser bundles never see `ws`, which the
 * package names as an optional peer dependency.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { WebSocket } from "ws"
import { bridgeTransport, connectionUrl, type OpenWebSocket, type Options } from "./bridge-transport.ts"
import { MAX_FRAME, type Opening, openWebSocket, preconnect, takePreconnected } from "./node-websocket-preconnect.ts"
import { closeError, makePushReader, openError, quietly, readError } from "./reader.ts"
import { type Connection, makeByteSocket } from "./socket.ts"
import { Transport } from "./transport.ts"

export type { OpenWebSocket, Options }
/**
 * The WebSocket's opening, the read slabs and the early WebSocket (`preconnect`) are in
 * node-websocket-preconnect.ts (`pop3-everywhere/node-websocket-preconnect`), which loads
 * without Effect; they are named here too.
 */
export { connectionUrl, MAX_FRAME, preconnect }

// Codes a client may send in a close frame (RFC 6455 §7.4.2: 1000, or 3000–4999).
const sendable = (code: number): boolean => code === 1000 || (code >= 3000 && code <= 4999)

/** A WebSocket under way with the reader that takes what arrives. */
interface Opened extends Opening {
  readonly input: ReturnType<typeof makePushReader>
}

// The reader on an opening: what came before (an early WebSocket's) first, in order.
const withReader = (opening: Opening): Opened => {
  const { ws } = opening
  const input = makePushReader({
    pause: () => ws.pause(),
    resume: () => quietly(() => ws.resume())
  })
  opening.attach({
    message: (bytes) => input.push(bytes),
    error: (cause, afterOpen) => input.end(afterOpen ? readError(cause) : openError(cause)),
    close: (code, reason) => input.end(closeError(code, reason))
  })
  return { ...opening, input }
}

/**
 * A `Socket` over one `ws` WebSocket to `url`, opened when its reader is acquired (or
 * adopted then, when `preconnect` opened it).
 * @category constructors
 */
export const makeSocket: OpenWebSocket = (url) =>
  Effect.sync(() =>
    makeByteSocket(
      Effect.suspend(() => {
        let opening: Opened
        try {
          opening = withReader(takePreconnected(url) ?? openWebSocket(url, false))
        } catch (cause) {
          return Effect.fail(openError(cause))
        }
        const { ws, input, slabs } = opening
        // The chunks of the previous pull are done with when the next pull starts.
        const pull = Effect.suspend(() => {
          slabs.releaseDelivered()
          return Effect.map(input.pull, (chunks) => {
            slabs.delivered(chunks)
            return chunks
          })
        })

        // Interrupted before it opened (the connect timeout in client/open.ts, a closing
        // scope): the socket goes at once.
        const opened = Effect.callback<void, Socket.SocketError>((resume) => {
          if (opening.isOpen()) return resume(Effect.void)
          // Adopted after it failed: 'error' ended the reader; the close (1006 when it never opened) followed.
          if (ws.readyState === WebSocket.CLOSED) return resume(Effect.fail(input.error() ?? closeError(1006)))
          const onOpen = () => {
            ws.off("close", onClose)
            resume(Effect.void)
          }
          // 'error' comes first and ended the reader; the close (1006 when it never opened) follows.
          const onClose = () => {
            ws.off("open", onOpen)
            resume(Effect.fail(input.error() ?? closeError(1006)))
          }
          ws.once("open", onOpen)
          ws.once("close", onClose)
          return Effect.sync(() => {
            ws.off("open", onOpen)
            ws.off("close", onClose)
            quietly(() => ws.terminate())
          })
        })

        return Effect.as(
          opened,
          ((): Connection => ({
            input: { ...input, pull },
            write: (bytes) =>
              new Promise<void>((resolve, reject) => {
                if (ws.readyState !== WebSocket.OPEN) return reject(new Error("socket closed"))
                ws.send(bytes, { binary: true }, (error) => (error ? reject(error) : resolve()))
              }),
            // A WebSocket has no half-close: the close handshake at the scope's end (dispose)
            // ends both sides, after what was sent.
            end: () => undefined,
            close: (error) => {
              const reason = error.reason
              if (reason._tag === "SocketCloseError" && sendable(reason.code))
                quietly(() => ws.close(reason.code, reason.closeReason))
              else quietly(() => ws.terminate())
            },
            // As the standard WebSocket's release does: a close frame after what was sent.
            dispose: () => quietly(() => ws.close(1000)),
            upgrade: Socket.SocketUpgradeError.unsupported
          }))()
        )
      })
    )
  )

/**
 * The WebSocket transport through the bridge at `url` (ws: or wss:), on `ws`, pausing once
 * 64 KiB wait unread. Node only; needs the `ws` package.
 * @category layers
 */
export const layer = (url: string, options: Options = {}): Layer.Layer<Transport> =>
  Layer.sync(Transport)(() => bridgeTransport(url, options, makeSocket))
