/**
 * One session: an accepted WebSocket, checked against the limits and the policy, joined to
 * one TCP/TLS connection to the mail server, relaying bytes both ways until either side
 * ends. Then exactly one log line.
 *
 * Backpressure, so a fast server and a slow browser (or the reverse) cannot grow memory:
 * - down: after each send, if the WebSocket's `bufferedAmount` exceeds `maxBufferedBytes`,
 *   stop reading the mail server's socket; each send's completion callback checks again
 *   and resumes below half of it. TCP flow control then slows the server.
 * - up: when `socket.write()` returns false, pause the WebSocket (stops reading the client's
 *   socket) until the mail server's socket emits 'drain'.
 */
import type { Socket } from "node:net"
import type { RawData, WebSocket } from "ws"
import { clientKey } from "./address.ts"
import { CloseCode, closeReason } from "./close-codes.ts"
import type { BridgeSettings } from "./config.ts"
import type { ConnectionLimiter } from "./limits.ts"
import type { Metrics } from "./metrics.ts"
import { increment } from "./metrics.ts"
import type { Refusal, Target } from "./policy.ts"
import { admit } from "./policy.ts"
import { proxyV2Header } from "./proxy-protocol.ts"
import type { RateLimiter } from "./rate-limit.ts"
import type { RefusalLog } from "./refusal-log.ts"
import { type ClosedBy, sessionRecord } from "./session-record.ts"
import { connectUpstream, systemResolver } from "./upstream.ts"

/** What the server knows about the request behind a session. @category relay */
export interface SessionRequest {
  /** The client's address (from the socket, or X-Forwarded-For with trustProxy). */
  readonly client: string
  /** The client's port, for a PROXY header (0 when unknown, behind a reverse proxy). */
  readonly clientPort?: number
  readonly origin: string | undefined
  /** The upgrade request's query parameters (host, port, tls). */
  readonly params: URLSearchParams
  /** The client's socket under the WebSocket: corked while one upstream read leaves as several frames. */
  readonly socket?: { readonly cork: () => void; readonly uncork: () => void }
}

/** A live session as the server sees it. @category relay */
export interface Session {
  /** Bytes held in this session's buffers right now (both directions). */
  readonly buffered: () => number
  /** Close now with 1001 (after the shutdown deadline). */
  readonly shutdown: () => void
  /** Resolves when both sides are closed and the log line is written. */
  readonly done: Promise<void>
}

/** How long a closing side may take (close handshake, flushing QUIT) before it is cut off. */
const CLOSE_GRACE_MS = 5_000

/** Close codes `ws` uses when it rejects a client's frame. */
const WS_ERROR_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.TooBig,
  WS_ERR_INVALID_UTF8: CloseCode.InvalidData
}

const errorCode = (error: Error): string => (error as { code?: string }).code ?? error.message

/**
 * The largest frame sent to the client: one upstream read goes out as frames of at most
 * 64 KiB (Chromium spends the least CPU on 16–64 KiB frames, bench/README.md scenario 4b;
 * a client's `maxPayload` need not be larger).
 */
export const FRAME_BYTES = 64 * 1024
/** A read buffer from a plain TCP mail server while bytes stream (see `upstreamReads`). */
const READ_BUFFER = 4 * FRAME_BYTES
/** A read buffer while they do not: what a quiet session holds between reads. */
const QUIET_READ = 2 * 1024
/** Sent read buffers kept for the next reads; the rest go to the GC. */
const SPARE_READS = 2

/**
 * Reads from a plain TCP mail server (net's `onread`) into 256 KiB buffers that are used
 * again once `ws` has sent them — the send's callback, when the bytes are in the kernel
 * and nothing refers to the buffer — instead of a fresh buffer per read, which is cold in
 * the caches (and garbage). Measured, 8 × 100 MB RETR through the bundled bridge (two
 * rounds): bridge CPU 1.54 and 1.67 s with Node's fresh 64 KiB buffers, 1.01 and 1.06 s
 * with reused ones. Why 256 KiB rather than Node's 64 KiB: a read takes what has arrived,
 * and once the bridge lags behind the server that is more than 64 KiB; a read's frames
 * leave in one write (see `onUpstreamData`). Measured on a 100 MB RETR from Dovecot (which
 * writes 4 KiB at a time): 500–1,500 reads and as many writes to the client instead of
 * 1,550 of each; bridge CPU (user + sys) median 0.12 → 0.11 s, 16 runs alternating, at
 * load 4–5 (2026-12-05). A quiet session holds one 2 KiB
 * buffer (and no spares); after a read that filled its buffer or passed 2 KiB the next
 * read gets 256 KiB; at most 2 sent ones wait as spares, beside what is in flight
 * (bounded by `maxBufferedBytes` as before). TLS and PROXY-header connections keep Node's
 * own reads ('data').
 */
const upstreamReads = (deliver: (chunk: Buffer) => void) => {
  const ours = new WeakSet<ArrayBufferLike>()
  const spare: Buffer[] = []
  let streaming = false
  const large = (): Buffer => {
    const buffer = spare.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER)
    ours.add(buffer.buffer)
    return buffer
  }
  return {
    onread: {
      // Node asks for the next buffer after each read (after `callback`) and once at the start.
      buffer: (): Uint8Array => {
        // Gone quiet: the spares go too, so a quiet session holds 2 KiB, not 256.
        if (!streaming) spare.length = 0
        return streaming ? large() : Buffer.allocUnsafe(QUIET_READ)
      },
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        streaming = bytes === buffer.length || bytes > QUIET_READ
        deliver(Buffer.from(buffer.buffer, buffer.byteOffset, bytes))
        return true
      }
    },
    /** `chunk` was sent: its buffer, if it is one of ours, may be read into again. */
    sent: (chunk: Buffer): void => {
      if (ours.has(chunk.buffer) && spare.length < SPARE_READS) spare.push(Buffer.from(chunk.buffer))
    }
  }
}

/** Run one session on an accepted WebSocket. @category relay */
export const startSession = (
  ws: WebSocket,
  request: SessionRequest,
  settings: BridgeSettings,
  limiter: ConnectionLimiter,
  metrics: Metrics,
  rate?: RateLimiter,
  logRefusal?: RefusalLog
): Session => {
  const started = Date.now()
  const key = clientKey(request.client)
  const abort = new AbortController()
  let target: Target | undefined
  let upstream: Socket | undefined
  let address: string | undefined
  let upstreamError: Error | undefined
  let holdsSlot = false
  let refused = false
  let wsClosed = false
  let upstreamClosed = true // no upstream yet counts as closed
  let upstreamPaused = false
  let clientPaused = false
  let bytesUp = 0
  let bytesDown = 0
  // Client bytes that arrive before the mail server is connected (the WebSocket is paused).
  const pending: Buffer[] = []
  let pendingBytes = 0
  let ended: { code: number; reason: string; by: ClosedBy } | undefined
  let markDone: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    markDone = resolve
  })

  metrics.sessionsActive += 1
  metrics.sessionsTotal += 1

  const timers: NodeJS.Timeout[] = [] // cleared when the session ends (clearTimeout also clears intervals)
  // Cut-offs for a side that does not finish closing; cleared as soon as it does, so an
  // ended session leaves no timer (and nothing it would keep alive) behind.
  let wsGrace: NodeJS.Timeout | undefined
  let upstreamGrace: NodeJS.Timeout | undefined
  const timer = (ms: number, run: () => void): NodeJS.Timeout => {
    const t = setTimeout(run, ms)
    timers.push(t)
    return t
  }
  const idle = timer(settings.idleTimeoutMs, () => finish(CloseCode.Limit, "idle timeout", "bridge"))
  timer(settings.maxSessionMs, () => finish(CloseCode.Limit, "maximum session duration reached", "bridge"))
  // Pings keep reverse proxies from dropping a quiet WebSocket; pongs are not required (the
  // idle timeout and TCP keepalive deal with clients that vanish).
  timers.push(setInterval(() => ws.ping(), settings.pingIntervalMs))
  const touch = (): void => {
    idle.refresh()
  }

  /** Record how the session ends (first cause wins) and start closing both sides. */
  const finish = (code: number, reason: string, by: ClosedBy): void => {
    if (ended !== undefined) return
    ended = { code, reason, by }
    abort.abort()
    for (const t of timers) clearTimeout(t)
    if (ws.readyState === ws.OPEN) ws.close(code, closeReason(reason))
    // The client may never answer the close frame; ws would wait 30 s.
    if (!wsClosed) wsGrace = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref()
    if (upstream !== undefined && !upstreamClosed) {
      // end(), not destroy(): a QUIT the client sent just before closing must still reach
      // the server, or its deletions are not committed (RFC 1939 UPDATE state).
      const socket = upstream
      socket.end()
      upstreamGrace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref()
    }
    settle()
  }

  const refuse = (r: Refusal): void => {
    increment(metrics.refusals, r.metric)
    if (r.metric === "rate_limited") metrics.rateLimited += 1
    refused = true
    finish(r.code, r.reason, "bridge")
  }

  /** When both sides are closed: give back the slot, count, and log once. */
  const settle = (): void => {
    if (!wsClosed || !upstreamClosed || ended === undefined) return
    clearTimeout(wsGrace)
    clearTimeout(upstreamGrace)
    if (holdsSlot) limiter.release(key)
    holdsSlot = false
    metrics.sessionsActive -= 1
    const record = sessionRecord({
      client: request.client,
      origin: request.origin,
      target,
      address,
      bytesUp,
      bytesDown,
      started,
      ended
    })
    // A refused session is a refusal line: rate-limited like the HTTP ones.
    if (refused && logRefusal !== undefined) logRefusal(record)
    else settings.log(record)
    markDone()
  }

  // Node calls write callbacks with `null` on success, so test for an error, not undefined.
  const onSent = (error?: Error | null): void => {
    if (error) return // the WebSocket is closing; its 'close' handler finishes
    touch()
    if (upstreamPaused && ws.bufferedAmount < settings.maxBufferedBytes / 2) {
      upstreamPaused = false
      upstream?.resume()
    }
  }

  // One upstream read as frames of at most FRAME_BYTES (views, no copy), written to the
  // client's socket in one go: corked, `ws`'s header and payload writes for all of them
  // leave in one writev. The last frame's callback comes after all the others': then the
  // read buffer is free.
  const onUpstreamData = (chunk: Buffer): void => {
    bytesDown += chunk.length
    metrics.bytesDown += chunk.length
    touch()
    const several = chunk.length > FRAME_BYTES
    if (several) request.socket?.cork()
    for (let at = 0; at < chunk.length; at += FRAME_BYTES) {
      const end = at + FRAME_BYTES
      if (end < chunk.length) ws.send(chunk.subarray(at, end), { binary: true })
      else
        ws.send(chunk.subarray(at), { binary: true }, (error) => {
          reads.sent(chunk)
          onSent(error)
        })
    }
    if (several) request.socket?.uncork()
    if (!upstreamPaused && ws.bufferedAmount > settings.maxBufferedBytes) {
      upstreamPaused = true
      upstream?.pause()
    }
  }

  const writeUp = (socket: Socket, chunk: Buffer): void => {
    bytesUp += chunk.length
    metrics.bytesUp += chunk.length
    if (socket.write(chunk) || clientPaused) return
    clientPaused = true
    ws.pause()
    socket.once("drain", () => {
      clientPaused = false
      if (ended === undefined) ws.resume()
    })
  }

  // Plain TCP reads before the relay is attached (onConnected) wait here.
  const early: Buffer[] = []
  const reads = upstreamReads((chunk) => (upstream === undefined ? early.push(chunk) : onUpstreamData(chunk)))

  ws.binaryType = "nodebuffer"
  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (ended !== undefined) return
    if (!isBinary) return finish(CloseCode.TextFrame, "text frames are not supported; send binary frames", "bridge")
    const chunk = data as Buffer // binaryType "nodebuffer": always one Buffer
    touch()
    if (upstream !== undefined) return writeUp(upstream, chunk)
    pending.push(chunk)
    pendingBytes += chunk.length
    ws.pause()
  })
  ws.on("error", (error: Error) => {
    const code = (error as { code?: string }).code ?? ""
    finish(WS_ERROR_CODES[code] ?? CloseCode.ProtocolError, error.message, "client")
  })
  ws.on("close", (code: number, reason: Buffer) => {
    wsClosed = true
    finish(code, reason.toString() || "client closed", "client")
    settle()
  })

  const onConnected = (socket: Socket, checkedAddress: string): void => {
    upstream = socket
    address = checkedAddress
    upstreamClosed = false
    socket.setNoDelay(true) // POP3 commands are small and latency-bound
    socket.setKeepAlive(true, 60_000)
    // TLS and PROXY-header connections emit 'data'; plain ones read through `reads`.
    socket.on("data", onUpstreamData)
    for (const chunk of early.splice(0)) onUpstreamData(chunk)
    socket.on("error", (error: Error) => {
      upstreamError = error
    })
    socket.on("close", () => {
      upstreamClosed = true
      if (upstreamError === undefined) finish(CloseCode.Normal, "upstream closed", "upstream")
      else finish(CloseCode.UpstreamConnectFailed, `upstream connection lost: ${errorCode(upstreamError)}`, "upstream")
      settle()
    })
    for (const chunk of pending.splice(0)) writeUp(socket, chunk)
    pendingBytes = 0
    if (!clientPaused) ws.resume()
  }

  const run = async (): Promise<void> => {
    const admission = admit(limiter, key, settings.allow, request.params, rate)
    holdsSlot = admission.holdsSlot
    target = admission.target
    if (!admission.ok) return refuse(admission.refusal)
    const parsed = admission.target
    const connectTimer = timer(settings.connectTimeoutMs, () => {
      increment(metrics.upstreamFailures, "timeout")
      finish(CloseCode.UpstreamTimeout, "upstream connect timed out", "bridge")
    })
    const result = await connectUpstream({
      target: parsed,
      allow: settings.allow,
      resolve: settings.resolve ?? systemResolver,
      upstreamCa: settings.upstreamCa,
      signal: abort.signal,
      onread: reads.onread,
      proxyHeader: settings.proxyProtocol.some((p) => p.host === parsed.host && p.port === parsed.port)
        ? (destination) =>
            proxyV2Header({
              source: request.client,
              sourcePort: request.clientPort ?? 0,
              destination,
              destinationPort: parsed.port
            })
        : undefined
    })
    if (ended !== undefined) {
      // The client left (or time ran out) while we were connecting: that was the cause.
      if ("socket" in result) result.socket.destroy()
      return
    }
    clearTimeout(connectTimer)
    if (result.refused) return refuse(result)
    if (!("socket" in result)) {
      increment(metrics.upstreamFailures, result.kind)
      return finish(result.code, result.reason, "bridge")
    }
    onConnected(result.socket, result.address)
  }
  run().catch((error: unknown) => finish(CloseCode.InternalError, `internal error: ${String(error)}`, "bridge"))

  return {
    buffered: () =>
      pendingBytes +
      ws.bufferedAmount +
      (upstream === undefined ? 0 : upstream.writableLength + upstream.readableLength),
    shutdown: () => finish(CloseCode.GoingAway, "bridge shutting down", "bridge"),
    done
  }
}
