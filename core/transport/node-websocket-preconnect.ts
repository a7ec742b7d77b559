/**
 * The `ws` WebSocket to a pop3-bridge as node-websocket.ts opens it, and opening it early:
 * the `pop3` CLI calls `preconnect` in its first lines with `--bridge`, so the bridge's
 * upgrade, its connection to the mail server and the server's greeting travel while the
 * client's code loads; the transport's first connection to the same URL adopts it.
 *
 * Nothing here may import more than `ws`, `node:net` and `node:tls` (and bridge-url.ts and
 * node-byte-search.ts, which import nothing else): it runs before anything else has
 * loaded. When `preconnect` was node-websocket.ts's, which needs Effect, bin.ts's import
 * of it took ~43 ms (`ws` 16, then node-websocket.ts and what it imports 27; compile cache
 * on, 2026-12-05), so the early WebSocket left about when the client itself was ready to
 * connect; this module's import takes ~23 ms.
 *
 * Until a reader is attached (`Opening.attach`), what arrives waits here, in order, and the
 * WebSocket pauses once 64 KiB wait (the reader's own mark): TCP then pushes back on the
 * bridge, which stops reading the mail server. So a server that floods before the client
 * has loaded costs it 64 KiB, one read and one frame in progress, as afterwards.
 *
 * @module
 */
import { isIP, connect as netConnect, type NetConnectOpts, type Socket as NetSocket } from "node:net"
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect, TLSSocket } from "node:tls"
import { type RawData, WebSocket } from "ws"
import { installNodeByteSearch } from "./node-byte-search.ts"

/** The URL the transport opens for a target: what `preconnect` must open to be adopted. */
export { connectionUrl } from "./bridge-url.ts"

// The body decoder's search for dots, by memchr (node-byte-search.ts).
installNodeByteSearch()

/**
 * The largest WebSocket message accepted from the bridge (`ws`'s `maxPayload`): a frame is
 * held whole until it is complete, so this bounds what one frame can make the client hold.
 * pop3-bridge sends frames of at most 64 KiB (bridge/relay.ts), websockify one per read
 * from the mail server.
 * @category limits
 */
export const MAX_FRAME = 1024 * 1024

/**
 * The most fragments of one WebSocket message accepted from the bridge (`ws`'s
 * `maxFragments`); more close the WebSocket (1009). See `openWebSocket`.
 * @category limits
 */
export const MAX_FRAGMENTS = 8

/**
 * Messages shorter than this are copied into a shared buffer of STAGED_BYTES and handed on
 * together (at the end of the read that brought them, or when it is full), not one chunk
 * each: a bridge sending a body one byte per frame made every byte a chunk of its own —
 * hundreds of thousands from one read before the pause took effect — and 3 MB cost the
 * client 0.6–1 GB (hostile-bridge review).
 */
const SMALL_MESSAGE = 2048
const STAGED_BYTES = 64 * 1024

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

/**
 * The read slabs of one WebSocket (see above), and what its reader tells them.
 * @category models
 */
export interface Slabs {
  /** `ws`'s connection over plain TCP, reading into the slabs. */
  readonly connect: (options: NetConnectOpts) => NetSocket
  /** A message about to be pushed to the reader. */
  readonly pushed: (chunk: Uint8Array) => void
  /** A pull took these chunks: they are released at the next pull. */
  readonly delivered: (chunks: ReadonlyArray<Uint8Array>) => void
  /** The next pull starts: what the last one took is done with. */
  readonly releaseDelivered: () => void
}

const makeSlabs = (ws: () => WebSocket | undefined): Slabs => {
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
    connect: (options) => {
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
    pushed: (chunk: Uint8Array): void => {
      const slab = slabOf(chunk)
      if (slab !== undefined) slab.live++
    },
    delivered: (chunks: ReadonlyArray<Uint8Array>): void => {
      delivered = chunks
    },
    releaseDelivered: (): void => {
      for (const chunk of delivered) {
        const slab = slabOf(chunk)
        if (slab !== undefined) slab.live--
      }
      delivered = []
    }
  }
}

/**
 * What happens on an opening WebSocket, in order, for the reader that adopts it.
 * @category models
 */
export interface OpeningEvents {
  /** A message's bytes (a view into a slab over `ws:`; see `Opening.slabs`). */
  readonly message: (bytes: Uint8Array) => void
  /** The socket failed; `afterOpen` tells a read error from a failed opening. */
  readonly error: (cause: Error, afterOpen: boolean) => void
  readonly close: (code: number, reason: string) => void
}

/**
 * A WebSocket under way: what arrives is kept for the reader that `attach`es to it.
 * @category models
 */
export interface Opening {
  readonly ws: WebSocket
  /** The read slabs (`ws:` only use them): the adopter releases what its pulls took. */
  readonly slabs: Slabs
  /** Whether 'open' has come (a later close is then the reader's to report). */
  readonly isOpen: () => boolean
  /** The TCP (or TLS) connection under it, once `ws` has asked for it. */
  readonly connection: () => NetSocket | undefined
  /** Hands over what came so far, in order, then what comes next. Once. */
  readonly attach: (events: OpeningEvents) => void
}

/** Unread bytes at which an opening nobody has attached to pauses (the reader's default mark). */
const EARLY_MARK = 64 * 1024

// As `ws`'s own tlsConnect, which a `createConnection` of ours replaces: `path` holds the
// HTTP request's path, and the server name is the host unless that is an address.
const tlsConnectLike = (options: TlsConnectionOptions): TLSSocket =>
  tlsConnect({
    ...options,
    path: undefined,
    servername: options.servername ?? (isIP(options.host ?? "") === 0 ? options.host : "")
  } as TlsConnectionOptions)

/**
 * Opens a `ws` WebSocket to `url` as the transport uses it; `held`, it keeps nothing alive
 * until `takePreconnected` hands it over. Throws what `new WebSocket` throws for a URL it
 * refuses. For node-websocket.ts (and `preconnect`).
 * @category constructors
 */
export const openWebSocket = (url: string, held: boolean): Opening => {
  let made: WebSocket | undefined
  let connection: NetSocket | undefined
  const slabs = makeSlabs(() => made)
  const plain = url.startsWith("ws:")
  const ws: WebSocket = (made = new WebSocket(url, ["binary"], {
    // The bridge never compresses; a compressed stream would be inflated unbounded.
    perMessageDeflate: false,
    maxPayload: MAX_FRAME,
    // ws keeps an unfinished message's fragments as views into the read they came in, so
    // each pins its 1 MiB slab: a bridge sending 1-byte fragments among pongs made the
    // client hold 0.7–1.5 GB (hostile-bridge review). pop3-bridge and websockify never
    // fragment; a few fragments pin a few slabs at most.
    maxFragments: MAX_FRAGMENTS,
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
  // Before `attach`: what came, in order, and how many bytes of it.
  let waiting: Array<(events: OpeningEvents) => void> | undefined = []
  let waitingBytes = 0
  let paused = false
  let events: OpeningEvents | undefined
  const emit = (event: (events: OpeningEvents) => void) => {
    if (events !== undefined) event(events)
    else waiting?.push(event)
  }
  const deliver = (bytes: Uint8Array) => {
    slabs.pushed(bytes)
    if (events !== undefined) return events.message(bytes)
    waiting?.push((e) => e.message(bytes))
    waitingBytes += bytes.length
    if (!paused && waitingBytes >= EARLY_MARK) {
      paused = true
      ws.pause()
    }
  }
  // Small messages, copied together (see SMALL_MESSAGE); always handed on before anything
  // that comes after them. A read with one small message (a status line, the usual case)
  // hands it on as it is: the copy starts at the second.
  let lone: Uint8Array | undefined
  let staged: Uint8Array | undefined
  let stagedLength = 0
  const flushStaged = () => {
    if (lone !== undefined) {
      const bytes = lone
      lone = undefined
      return deliver(bytes)
    }
    if (staged === undefined) return
    const bytes = staged.subarray(0, stagedLength)
    staged = undefined
    stagedLength = 0
    deliver(bytes)
  }
  ws.on("message", (data: RawData) => {
    const bytes = bytesOf(data)
    if (bytes.length >= SMALL_MESSAGE) {
      flushStaged()
      return deliver(bytes)
    }
    if (bytes.length === 0) return
    if (lone === undefined && staged === undefined) {
      lone = bytes
      // Messages are emitted synchronously while a read is parsed: the end of this turn is
      // the end of the read (and before the next read reuses a slab).
      queueMicrotask(flushStaged)
      return
    }
    if (staged === undefined) {
      staged = new Uint8Array(STAGED_BYTES)
      staged.set(lone!)
      stagedLength = lone!.length
      lone = undefined
    }
    staged.set(bytes, stagedLength)
    stagedLength += bytes.length
    if (stagedLength > STAGED_BYTES - SMALL_MESSAGE) flushStaged()
  })
  ws.once("open", () => {
    open = true
  })
  ws.on("error", (cause: Error) => {
    flushStaged()
    const afterOpen = open
    emit((e) => e.error(cause, afterOpen))
  })
  ws.on("close", (code: number, reason: Buffer) => {
    flushStaged()
    const text = reason.toString()
    emit((e) => e.close(code, text))
  })
  return {
    ws,
    slabs,
    isOpen: () => open,
    connection: () => connection,
    attach: (to) => {
      if (events !== undefined || waiting === undefined) throw new Error("already attached")
      const replay = waiting
      waiting = undefined
      events = to
      // Resumed before the replay: the socket reads again only from a later turn of the
      // loop, and by then the reader has had what waited here and paused again if it must.
      if (paused && ws.readyState === WebSocket.OPEN) ws.resume()
      for (const event of replay) event(to)
    }
  }
}

let early: { readonly url: string; readonly opening: Opening } | undefined

/**
 * Opens the WebSocket to `url` now, for the next connection of the `node-websocket`
 * transport to the same URL to adopt (as `pop3-everywhere/node-preconnect` does for TCP).
 * What arrives meanwhile waits (pausing the socket past 64 KiB); never adopted, it keeps
 * nothing alive and goes with the process. One waits at a time: a second call closes the
 * first.
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
    opening = openWebSocket(url, true)
  } catch {
    return Promise.resolve(false)
  }
  // One waits at a time: an earlier one nobody took goes now. (A try of its own: reader.ts's
  // `quietly` would bring Effect in.)
  if (early !== undefined) {
    const earlier = early.opening.ws
    try {
      earlier.terminate()
    } catch {
      // already closed
    }
  }
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

/**
 * The WebSocket `preconnect` opened to `url`, once, now keeping the process alive; undefined
 * for any other URL, or a second time. For node-websocket.ts.
 * @category constructors
 */
export const takePreconnected = (url: string): Opening | undefined => {
  if (early === undefined || early.url !== url) return undefined
  const { opening } = early
  early = undefined
  opening.connection()?.ref()
  return opening
}
