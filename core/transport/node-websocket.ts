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
 * that (`MAX_FRAME`; larger frames close the WebSocket with 1009). Over `ws:` the reads go
 * into slabs that are reused (below), so, as with node.ts, a pull's chunks are valid until
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
import { isIP, connect as netConnect, type NetConnectOpts, type Socket as NetSocket } from "node:net"
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect, TLSSocket } from "node:tls"
import { type RawData, WebSocket } from "ws"
import { bridgeTransport, connectionUrl, type OpenWebSocket, type Options } from "./bridge-transport.ts"
import { closeError, makePushReader, openError, quietly, readError } from "./reader.ts"
import { type Connection, makeByteSocket } from "./socket.ts"
import { Transport } from "./transport.ts"

export type { OpenWebSocket, Options }
/** The URL the transport opens for a target: what `preconnect` must open to be adopted. */
export { connectionUrl }

/**
 * The largest WebSocket message accepted from the bridge (`ws`'s `maxPayload`): a frame is
 * held whole until it is complete, so this bounds what one frame can make the client hold.
 * pop3-bridge sends frames of at most 64 KiB (bridge/relay.ts), websockify one per read
 * from the mail server.
 * @category limits
 */
export const MAX_FRAME = 1024 * 1024

// A Buffer as a plain Uint8Array over the same memory (no copy): `Buffer#slice` is a view,
// not the copy Uint8Array's is, and nothing past the transport should meet that difference.
const bytesOf = (data: RawData): Uint8Array => {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

/**
 * Reads for `ws` over plain TCP into 1 MiB slabs, each read into a slab's free rest (at
 * least 256 KiB) and handed on as a view — no copy, no per-read buffer — and the slabs
 * reused once nothing refers to them any more.
 *
 * Why slabs: `ws` keeps a frame zero-copy only when it lies within one read; a frame
 * across two reads is copied into a fresh buffer. Node reads 64 KiB at a time and
 * pop3-bridge sends frames of up to 64 KiB + header, so nearly every frame straddled two
 * reads and 100 MB were copied into 1,500 fresh 64 KiB buffers (`consume` in `ws`: the
 * heaviest function of a `--cpu-prof`). A read straddles about one frame, so the larger
 * the reads, the fewer copies: 256 KiB slabs (reads of 64–256 KiB) took ~530 reads per
 * 100 MB, 1 MiB slabs ~190 (strace -c). Larger frames from the bridge went the other way
 * (every frame straddles). Why reuse: fresh memory for every read is cold in the caches.
 * Measured, 100 MB through a bridge process, runs alternating, client CPU (user + sys)
 * medians: fresh 64 KiB reads 0.76 s, fresh slabs 0.68–0.70 s, reused 256 KiB slabs
 * 0.52 s (direct TCP, node.ts: 0.48–0.49 s); then 256 KiB against 1 MiB slabs (2026-12-05,
 * 14 and 15 runs at load 3–5): 0.45 against 0.425 s and 0.62 against 0.58 s. Peak RSS
 * unchanged (75–85 MB, also into a reader that starts 6 s late).
 *
 * When a slab is free again: it is no longer the one read into; every message that is a
 * view into it has been pulled, and pulled past (the client's rule, as for node.ts's
 * read pool: a pull's chunks are valid until the next pull; what outlives that is
 * copied); and `ws` holds no view into it — its receiver keeps the unparsed rest of the
 * last read and the fragments of an unfinished message as views (`_buffers`,
 * `_fragments`; messages are emitted synchronously, `allowSynchronousEvents`), and after a
 * close frame its reason. Those are `ws`'s internals: if they are not what is expected,
 * or the WebSocket is not OPEN, no slab is reused and only fresh ones are taken.
 *
 * `onread` (honoured by `net.connect`) delivers no 'data' events, so the callback emits
 * them: that is what `ws` and the HTTP upgrade before it listen to. `pause()` still stops
 * the reads (net.Socket's `pause` applies to `onread` too).
 */
const SLAB = 1024 * 1024
const MIN_READ = 256 * 1024
/** Free slabs kept for reuse; more are left to the GC. */
const SPARE = 2

interface Slab {
  readonly bytes: Buffer
  /** Messages that are views into it, pushed and not yet pulled past. */
  live: number
}

const makeSlabs = (ws: () => WebSocket | undefined) => {
  const fresh = (): Slab => ({ bytes: Buffer.allocUnsafeSlow(SLAB), live: 0 })
  let current = fresh()
  let offset = 0
  let retired: Array<Slab> = []
  const spare: Array<Slab> = []
  let delivered: ReadonlyArray<Uint8Array> = []

  const slabOf = (chunk: Uint8Array): Slab | undefined =>
    chunk.buffer === current.bytes.buffer ? current : retired.find((slab) => chunk.buffer === slab.bytes.buffer)

  // Whether `ws` may still hold a view into `slab` (see above); when unsure, it may.
  const heldByWs = (slab: Slab): boolean => {
    const socket = ws() as
      | (WebSocket & {
          _receiver?: { _buffers?: unknown; _fragments?: unknown; writableLength?: unknown }
        })
      | undefined
    const receiver = socket?._receiver
    if (socket === undefined || socket.readyState !== WebSocket.OPEN || receiver == null) return true
    const { _buffers: buffers, _fragments: fragments, writableLength } = receiver
    if (!Array.isArray(buffers) || !Array.isArray(fragments) || writableLength !== 0) return true
    const inSlab = (view: unknown) => (view as Uint8Array | undefined)?.buffer === slab.bytes.buffer
    return buffers.some(inSlab) || fragments.some(inSlab)
  }

  const next = (): Slab => {
    retired = retired.filter((slab) => {
      if (slab.live > 0 || heldByWs(slab)) return true
      if (spare.length < SPARE) spare.push(slab)
      return false
    })
    return spare.pop() ?? fresh()
  }

  return {
    connect: (options: NetConnectOpts): NetSocket => {
      const socket: NetSocket = netConnect({
        ...options,
        // As `ws`'s own netConnect: `path` holds the HTTP request's path, not a Unix socket.
        path: undefined,
        onread: {
          buffer: () => {
            if (SLAB - offset < MIN_READ) {
              retired.push(current)
              current = next()
              offset = 0
            }
            return current.bytes.subarray(offset)
          },
          callback: (n: number, buffer: Uint8Array) => {
            offset += n
            socket.emit("data", Buffer.from(buffer.buffer, buffer.byteOffset, n))
            return true
          }
        }
      } as NetConnectOpts)
      return socket
    },
    /** A message about to be pushed to the reader. */
    pushed: (chunk: Uint8Array): void => {
      const slab = slabOf(chunk)
      if (slab !== undefined) slab.live++
    },
    /** A pull took these chunks: they are released at the next pull. */
    delivered: (chunks: ReadonlyArray<Uint8Array>): void => {
      delivered = chunks
    },
    /** The next pull starts: what the last one took is done with. */
    releaseDelivered: (): void => {
      for (const chunk of delivered) {
        const slab = slabOf(chunk)
        if (slab !== undefined) slab.live--
      }
      delivered = []
    }
  }
}

// Codes a client may send in a close frame (RFC 6455 §7.4.2: 1000, or 3000–4999).
const sendable = (code: number): boolean => code === 1000 || (code >= 3000 && code <= 4999)

/** A WebSocket under way: its reader already takes what arrives, whether adopted yet or not. */
interface Opening {
  readonly ws: WebSocket
  readonly input: ReturnType<typeof makePushReader>
  readonly slabs: ReturnType<typeof makeSlabs>
  /** Whether 'open' has come (a later close is then the reader's to report). */
  readonly isOpen: () => boolean
  /** The TCP (or TLS) connection under it, once `ws` has asked for it. */
  readonly connection: () => NetSocket | undefined
}

// As `ws`'s own tlsConnect, which a `createConnection` of ours replaces: `path` holds the
// HTTP request's path, and the server name is the host unless that is an address.
const tlsConnectLike = (options: TlsConnectionOptions): TLSSocket =>
  tlsConnect({
    ...options,
    path: undefined,
    servername: options.servername ?? (isIP(options.host ?? "") === 0 ? options.host : "")
  } as TlsConnectionOptions)

// Throws what `new WebSocket` throws for a URL it refuses.
const start = (url: string, held: boolean): Opening => {
  let made: WebSocket | undefined
  let connection: NetSocket | undefined
  const slabs = makeSlabs(() => made)
  const plain = url.startsWith("ws:")
  const ws: WebSocket = (made = new WebSocket(url, ["binary"], {
    // The bridge never compresses; a compressed stream would be inflated unbounded.
    perMessageDeflate: false,
    maxPayload: MAX_FRAME,
    // POP3 is bytes: a text frame is taken as its bytes, never decoded.
    skipUTF8Validation: true,
    // Messages are emitted while the read that completed them is handled (the slabs rely on it).
    allowSynchronousEvents: true,
    // wss: TLS hands over a record (≤ 16 KiB) per read: slabs would not help there.
    createConnection: ((options: NetConnectOpts & TlsConnectionOptions) => {
      connection = plain ? slabs.connect(options) : tlsConnectLike(options)
      // Opened early (preconnect), it keeps nothing alive until it is adopted.
      if (held) connection.unref()
      return connection
    }) as typeof netConnect
  }))
  ws.binaryType = "nodebuffer"
  let open = false
  const input = makePushReader({
    pause: () => ws.pause(),
    resume: () => quietly(() => ws.resume())
  })
  ws.on("message", (data: RawData) => {
    const bytes = bytesOf(data)
    slabs.pushed(bytes)
    input.push(bytes)
  })
  ws.once("open", () => {
    open = true
  })
  ws.on("error", (cause: Error) => input.end(open ? readError(cause) : openError(cause)))
  ws.on("close", (code: number, reason: Buffer) => input.end(closeError(code, reason.toString())))
  return { ws, input, slabs, isOpen: () => open, connection: () => connection }
}

let early: { readonly url: string; readonly opening: Opening } | undefined

/**
 * Opens the WebSocket to `url` now, for the next `makeSocket(url)` (this transport's
 * connection to the same bridge URL) to adopt — as node-preconnect.ts does for TCP: the
 * `pop3` CLI calls it before loading the client, so the bridge's upgrade, its connection to
 * the mail server and the server's greeting travel while the client's code loads. What
 * arrives meanwhile waits in the socket's reader (which pauses it past 64 KiB); never
 * adopted, it keeps nothing alive and goes with the process.
 *
 * Resolves once the opening handshake's request is on its way (`ws:` after the TCP
 * connect, `wss:` after the TLS handshake), or the socket has failed, or after
 * `waitMillis` (50 by default): await it before loading code, which would hold up the
 * event loop that sends it. False when `ws` refuses the URL (then nothing is opened).
 * @category constructors
 */
export const preconnect = (url: string, options?: { readonly waitMillis?: number }): Promise<boolean> => {
  let opening: Opening
  try {
    opening = start(url, true)
  } catch {
    return Promise.resolve(false)
  }
  // One waits at a time: an earlier one nobody took goes now.
  if (early !== undefined) quietly(() => early?.opening.ws.terminate())
  early = { url, opening }
  const { ws } = opening
  return new Promise((resolve) => {
    // `ws` asks for its connection while it is constructed.
    const connection = opening.connection()
    const connected = connection instanceof TLSSocket ? "secureConnect" : "connect"
    const started = () => {
      clearTimeout(timer)
      ws.off("open", started)
      ws.off("close", started)
      connection?.off(connected, afterConnect)
      resolve(true)
    }
    // The request is written from the loop's next turn after the connect.
    const afterConnect = () => setImmediate(started)
    const timer = setTimeout(started, options?.waitMillis ?? 50)
    ws.once("open", started)
    ws.once("close", started)
    connection?.once(connected, afterConnect)
  })
}

// The early WebSocket to `url`, once; undefined for any other URL or a second time.
const takePreconnected = (url: string): Opening | undefined => {
  if (early === undefined || early.url !== url) return undefined
  const { opening } = early
  early = undefined
  opening.connection()?.ref()
  return opening
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
        let opening: Opening
        try {
          opening = takePreconnected(url) ?? start(url, false)
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
