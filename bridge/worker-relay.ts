/**
 * One session of the Workers bridge (worker.ts): the server end of a `WebSocketPair`,
 * checked against the limits and the shared policy (policy.ts), joined to one `connect()`
 * socket to the mail server, relaying binary frames both ways until either side ends. Then
 * one log line. The same close codes and reasons as the Node bridge's relay.ts.
 *
 * Where Workers differ from Node, and what this does:
 * - The runtime cannot resolve a name for the Worker: `connect()` resolves it itself. With
 *   `RESOLVER` (a DNS-over-HTTPS JSON endpoint) the Worker asks it for A and AAAA records
 *   first and applies the Node bridge's rule (checkAddresses: a name must not lead to a
 *   private address unless that address is listed) before connecting; for `tls=none` and
 *   `tls=passthrough` it then connects to the checked address itself, so DNS cannot change
 *   the answer in between. For `tls=implicit` it must connect to the name (the certificate is verified
 *   against what `connect()` was given, and there is no separate server-name option), so
 *   the runtime resolves again. Without `RESOLVER` nothing is checked before connecting.
 *   In production the Workers runtime refuses connections to private and loopback
 *   addresses itself either way. In addition, every connection is opened as plain TCP first
 *   (`secureTransport: "starttls"`), and when the runtime reports the connected peer as an
 *   IP address (`opened.remoteAddress`), that address goes through the same check as on
 *   Node (checkAddresses) before the TLS handshake and before a single byte is relayed;
 *   miniflare reports the name instead, and then there is nothing to check. IP literals
 *   are connected to as listed. `tls=passthrough` is opened with `secureTransport: "off"`:
 *   the client's TLS runs inside the relayed bytes, and the Worker never starts its own.
 * - With `tls=implicit`, TLS starts (`startTls()`) after that check. The handshake runs on
 *   the first read, which for POP3 is at once (the server greets first): a failure before
 *   the first byte from the server is a TLS failure, 4011, as on Node.
 * - Backpressure, server → client: a chunk is read from the mail server only after the
 *   previous one was handed to `send()`, so the Worker itself holds at most one chunk.
 *   Where the runtime reports `bufferedAmount` (declared in workers-types 2026-11), reading
 *   stops while more than `maxBufferedBytes` wait for the client and resumes below half
 *   (polled: there is no drain event). The workerd of this repository's miniflare
 *   (4.20260730) has no `bufferedAmount` (measured: undefined); there nothing tells the
 *   Worker that a client is slow, and the runtime's send queue can grow to what the server
 *   sends (for POP3, the message being retrieved). The session limits still apply.
 * - Backpressure, client → server: a Worker cannot pause an incoming WebSocket. Messages are
 *   written to the mail server in order; if more than `maxBufferedBytes` wait for it, the
 *   session ends with 4008 (a POP3 client sends a few hundred bytes at a time).
 * - There is no API to send WebSocket pings, so the Node bridge's ping interval has no
 *   equivalent.
 */
import { connect } from "cloudflare:sockets"
import type { Socket as WorkersSocket } from "cloudflare:sockets"
import { clientKey, peerIp } from "./address.ts"
import { CloseCode, closeReason } from "./close-codes.ts"
import type { ConnectionLimiter } from "./limits.ts"
import type { Refusal, Target } from "./policy.ts"
import { admit, checkAddresses, isRefusal } from "./policy.ts"
import type { RateLimiter } from "./rate-limit.ts"
import type { RefusalLog } from "./refusal-log.ts"
import { type ClosedBy, sessionRecord } from "./session-record.ts"
import type { WorkerSettings } from "./worker-config.ts"

/** The parts of the Workers WebSocket (server end of a WebSocketPair) used here. @category worker */
export interface WorkersWebSocket {
  accept(): void
  send(data: ArrayBuffer | ArrayBufferView | string): void
  close(code?: number, reason?: string): void
  readonly readyState: number
  binaryType: string
  /** Missing (undefined) on some runtime versions: see the module comment. */
  readonly bufferedAmount?: number
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void
  addEventListener(type: "close", listener: (event: { readonly code: number; readonly reason: string }) => void): void
  addEventListener(type: "error", listener: (event: unknown) => void): void
}

/** What the Worker knows about the request behind a session. @category worker */
export interface WorkerSessionRequest {
  /** The client's address (`CF-Connecting-IP`, set by Cloudflare's edge). */
  readonly client: string
  readonly origin: string | undefined
  readonly params: URLSearchParams
}

/** The likely cause of a TLS failure at once, for the close reasons of tls=implicit. */
const PLAINTEXT_HINT = "a plaintext port? POP3 on 110 greets in plaintext: use tls=none, or port 995"
const OPEN = 1
/** How long a closing side may take (close handshake, flushing QUIT) before it is cut off. */
const CLOSE_GRACE_MS = 5_000
/** How often to look at `bufferedAmount` while paused (there is no drain event). */
const POLL_MS = 10
/** The least a client message counts against `maxBufferedBytes`, whatever its size (see the message handler). */
export const MESSAGE_COST = 1024

/** Messages one after another in one array (one write to the mail server). */
const joined = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let total = 0
  for (const part of parts) total += part.length
  const out = new Uint8Array(total)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** A and AAAA records of `host` from a DNS-over-HTTPS JSON endpoint (RFC 8484's JSON sibling, as Cloudflare and Google serve it). */
const resolveOverHttps = async (resolver: string, host: string, signal: AbortSignal): Promise<string[]> => {
  const ask = async (type: "A" | "AAAA"): Promise<string[]> => {
    const url = new URL(resolver)
    url.searchParams.set("name", host)
    url.searchParams.set("type", type)
    const response = await fetch(url, { headers: { accept: "application/dns-json" }, signal })
    if (!response.ok) throw new Error(`resolver answered HTTP ${response.status}`)
    const body = (await response.json()) as {
      Status?: number
      Answer?: ReadonlyArray<{ type?: number; data?: unknown }>
    }
    if (body.Status === 3) throw new Error("NXDOMAIN")
    if (body.Status !== 0) throw new Error(`resolver status ${String(body.Status)}`)
    const wanted = type === "A" ? 1 : 28
    return (body.Answer ?? []).filter((a) => a.type === wanted && typeof a.data === "string").map((a) => String(a.data))
  }
  const [v4, v6] = await Promise.all([ask("A"), ask("AAAA")])
  if (v4.length + v6.length === 0) throw new Error("no A or AAAA records")
  return [...v4, ...v6]
}
const ignore = (): void => {}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Run one session on an accepted WebSocket. Resolves when both sides are closed and the
 * log line is written (pass it to `ctx.waitUntil`).
 * @category worker
 */
export const runSession = (
  ws: WorkersWebSocket,
  request: WorkerSessionRequest,
  settings: WorkerSettings,
  limiter: ConnectionLimiter,
  rate?: RateLimiter,
  logRefusal?: RefusalLog
): Promise<void> => {
  const started = Date.now()
  const key = clientKey(request.client)
  let target: Target | undefined
  let upstream: WorkersSocket | undefined
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined
  let address: string | undefined
  let holdsSlot = false
  let refused = false
  let handshaking = false // tls=implicit: no byte from the server yet
  let handshakeTimer: ReturnType<typeof setTimeout> | undefined // the connect timeout, until TLS is through
  let settled = false
  let wsClosed = false
  let upstreamClosed = true // no upstream yet counts as closed
  let bytesUp = 0
  let bytesDown = 0
  let ended: { code: number; reason: string; by: ClosedBy } | undefined
  let markDone: () => void = ignore
  const done = new Promise<void>((resolve) => {
    markDone = resolve
  })

  // Writes to the mail server, chained so they stay in order; they start once connected.
  let connected: (writer: WritableStreamDefaultWriter<Uint8Array>) => void = ignore
  const ready = new Promise<WritableStreamDefaultWriter<Uint8Array>>((resolve) => {
    connected = resolve
  })
  // Settles when the write loop below is idle (the close waits for it).
  let writes: Promise<void> = Promise.resolve()
  let queuedUp = 0
  // Client messages waiting for the mail server, what they were charged, and whether the
  // write loop runs: whatever waits goes out in one write, so a burst of small messages is
  // one write (and one promise), not one each.
  let pendingUp: Array<Uint8Array> = []
  let pendingCost = 0
  let writingUp = false
  const writeUp = (): void => {
    writingUp = true
    writes = (async () => {
      const open = await ready
      while (pendingUp.length > 0) {
        const batch = pendingUp
        const cost = pendingCost
        pendingUp = []
        pendingCost = 0
        await open.write(batch.length === 1 ? batch[0]! : joined(batch))
        queuedUp -= cost
      }
    })()
      .catch((error: unknown) =>
        finish(CloseCode.UpstreamConnectFailed, `upstream connection lost: ${messageOf(error)}`, "upstream")
      )
      .finally(() => {
        writingUp = false
      })
  }

  const timers: Array<ReturnType<typeof setTimeout>> = []
  let lastActivity = Date.now()
  const touch = (): void => {
    lastActivity = Date.now()
  }
  const watchIdle = (): void => {
    const left = lastActivity + settings.idleTimeoutMs - Date.now()
    if (left <= 0) return finish(CloseCode.Limit, "idle timeout", "bridge")
    timers.push(setTimeout(watchIdle, left))
  }
  timers.push(setTimeout(watchIdle, settings.idleTimeoutMs))
  timers.push(
    setTimeout(() => finish(CloseCode.Limit, "maximum session duration reached", "bridge"), settings.maxSessionMs)
  )

  /** Record how the session ends (first cause wins) and start closing both sides. */
  const finish = (code: number, reason: string, by: ClosedBy): void => {
    if (ended !== undefined) return
    ended = { code, reason, by }
    for (const t of timers) clearTimeout(t)
    if (ws.readyState === OPEN) {
      try {
        ws.close(code, closeReason(reason))
      } catch {
        // already closing
      }
    }
    // The client may never answer the close frame.
    setTimeout(() => {
      wsClosed = true
      settle()
    }, CLOSE_GRACE_MS)
    const socket = upstream
    if (socket !== undefined && !upstreamClosed) {
      const open = writer
      if (open === undefined) {
        void socket.close().catch(ignore) // never relayed: nothing to flush
      } else {
        // Close the write side after what the client sent, so a QUIT sent just before the
        // client left still reaches the server (RFC 1939: deletions happen on QUIT).
        void writes.then(() => open.close()).catch(ignore)
        setTimeout(() => void socket.close().catch(ignore), CLOSE_GRACE_MS)
      }
    }
    settle()
  }

  const refuse = (r: Refusal): void => {
    refused = true
    finish(r.code, r.reason, "bridge")
  }

  /** When both sides are closed: give back the slot and log once. */
  const settle = (): void => {
    if (!wsClosed || !upstreamClosed || ended === undefined || settled) return
    settled = true
    if (holdsSlot) limiter.release(key)
    holdsSlot = false
    if (settings.log) {
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
      if (refused && logRefusal !== undefined) logRefusal(record)
      else console.log(JSON.stringify(record))
    }
    markDone()
  }

  ws.addEventListener("message", (event) => {
    if (ended !== undefined) return
    const data = event.data
    if (typeof data === "string")
      return finish(CloseCode.TextFrame, "text frames are not supported; send binary frames", "bridge")
    if (!(data instanceof ArrayBuffer))
      return finish(CloseCode.InternalError, "internal error: a message was not an ArrayBuffer", "bridge")
    if (data.byteLength > settings.maxMessageBytes) return finish(CloseCode.TooBig, "message too big", "bridge")
    const bytes = new Uint8Array(data)
    touch()
    bytesUp += bytes.length
    // Each message costs at least MESSAGE_COST against the buffer limit: the runtime's own
    // handling of a message is far more than its payload — a million 1-byte messages (7 MB
    // on the wire) grew the isolate by ~500 MB while their payload counted 1 MB.
    const cost = Math.max(bytes.length, MESSAGE_COST)
    queuedUp += cost
    if (queuedUp > settings.maxBufferedBytes) {
      return finish(CloseCode.Limit, "the client sends faster than the mail server reads", "bridge")
    }
    pendingUp.push(bytes)
    pendingCost += cost
    if (!writingUp) writeUp()
  })
  ws.addEventListener("close", (event) => {
    wsClosed = true
    // Answer the client's close frame (the runtime does not always do it by itself).
    // 1005/1006/1015 describe a missing or broken close and cannot be sent.
    try {
      ws.close([1005, 1006, 1015].includes(event.code) ? 1000 : event.code, closeReason(event.reason))
    } catch {
      // already closed
    }
    finish(event.code, event.reason || "client closed", "client")
    settle()
  })
  ws.addEventListener("error", () => {
    wsClosed = true
    finish(CloseCode.ProtocolError, "websocket error", "client")
    settle()
  })

  /** Wait while more than `maxBufferedBytes` wait for the client, where the runtime says so. */
  const clientKeepsUp = async (): Promise<void> => {
    if (typeof ws.bufferedAmount !== "number" || ws.bufferedAmount <= settings.maxBufferedBytes) return
    while (ended === undefined && (ws.bufferedAmount ?? 0) > settings.maxBufferedBytes / 2) await sleep(POLL_MS)
  }

  const pumpDown = async (socket: WorkersSocket): Promise<void> => {
    const reader = socket.readable.getReader()
    try {
      for (;;) {
        await clientKeepsUp()
        if (ended !== undefined) return
        const { done, value } = await reader.read()
        // Also what a plaintext greeting that arrived after startTls() looks like (workerd's
        // TLS takes it for a broken record and ends the stream): which of the two a server on
        // port 110 gets depends on the timing, so both name the likely cause.
        if (done && handshaking)
          return finish(
            CloseCode.UpstreamTlsFailed,
            `upstream TLS failed: the server closed the connection during the handshake (${PLAINTEXT_HINT})`,
            "bridge"
          )
        if (done) return finish(CloseCode.Normal, "upstream closed", "upstream")
        handshaking = false
        clearTimeout(handshakeTimer)
        if (ended !== undefined) return
        bytesDown += value.byteLength
        touch()
        ws.send(value)
      }
    } catch (error) {
      if (handshaking) finish(CloseCode.UpstreamTlsFailed, `upstream TLS failed: ${messageOf(error)}`, "bridge")
      else finish(CloseCode.UpstreamConnectFailed, `upstream connection lost: ${messageOf(error)}`, "upstream")
    }
  }

  const run = async (): Promise<void> => {
    const admission = admit(limiter, key, settings.allow, request.params, rate)
    holdsSlot = admission.holdsSlot
    target = admission.target
    if (!admission.ok) return refuse(admission.refusal)
    const parsed = admission.target
    const connectTimer = setTimeout(
      () =>
        // Connected, and no TLS answer: a server that greets in plaintext (tls=implicit to a
        // port like 110) — its greeting reached the plain socket before startTls, so the
        // handshake waits for a ServerHello that never comes. A TLS failure, as Node's
        // bridge reports it at once (WRONG_VERSION_NUMBER); here it shows only now.
        handshaking
          ? finish(
              CloseCode.UpstreamTlsFailed,
              `upstream TLS failed: no TLS answer in time (${PLAINTEXT_HINT})`,
              "bridge"
            )
          : finish(CloseCode.UpstreamTimeout, "upstream connect timed out", "bridge"),
      settings.connectTimeoutMs
    )
    timers.push(connectTimer)
    // With a resolver: the name's addresses are checked before anything is connected.
    let hostname = parsed.host
    if (!parsed.isIp && settings.resolver !== undefined) {
      let addresses: string[]
      const abort = new AbortController()
      const stop = (): void => abort.abort()
      timers.push(setTimeout(stop, settings.connectTimeoutMs))
      try {
        addresses = await resolveOverHttps(settings.resolver, parsed.host, abort.signal)
      } catch (error) {
        clearTimeout(connectTimer)
        return finish(CloseCode.UpstreamConnectFailed, `cannot resolve ${parsed.host}: ${messageOf(error)}`, "bridge")
      }
      if (ended !== undefined) return
      const checked = checkAddresses(settings.allow, parsed, addresses)
      if (isRefusal(checked)) {
        clearTimeout(connectTimer)
        return refuse(checked)
      }
      // Plain TCP: connect to the checked address itself. TLS: to the name (see above).
      if (parsed.tls !== "implicit") hostname = checked[0] ?? parsed.host
    }
    let socket: WorkersSocket
    try {
      socket = connect(
        // workerd takes an IPv6 literal only in brackets.
        { hostname: hostname.includes(":") ? `[${hostname}]` : hostname, port: parsed.port },
        // Plain TCP first, also for tls=implicit: the peer is checked before TLS starts.
        // Passthrough: TLS is the client's, never the Worker's.
        { secureTransport: parsed.tls === "passthrough" ? "off" : "starttls", allowHalfOpen: false }
      )
    } catch (error) {
      return finish(CloseCode.UpstreamConnectFailed, `upstream connect failed: ${messageOf(error)}`, "bridge")
    }
    const watch = (s: WorkersSocket): void => {
      const onClosed = (): void => {
        if (upstream !== s) return // replaced by the TLS socket over it
        upstreamClosed = true
        settle()
      }
      s.closed.then(onClosed, onClosed)
    }
    upstream = socket
    upstreamClosed = false
    watch(socket)
    let info: { readonly remoteAddress?: string }
    try {
      info = await socket.opened
    } catch (error) {
      clearTimeout(connectTimer)
      return finish(CloseCode.UpstreamConnectFailed, `upstream connect failed: ${messageOf(error)}`, "bridge")
    }
    // With TLS the connect timeout also covers the handshake (done at the first byte).
    if (parsed.tls === "implicit") handshakeTimer = connectTimer
    else clearTimeout(connectTimer)
    if (ended !== undefined) return // the client left, or time ran out, while connecting
    address = info.remoteAddress
    const peer = peerIp(info.remoteAddress)
    if (peer !== undefined) {
      const checked = checkAddresses(settings.allow, parsed, [peer])
      if (isRefusal(checked)) return refuse(checked)
    }
    if (parsed.tls === "implicit") {
      try {
        // Verified against the name given to connect(); the handshake runs on the first read.
        const secure = socket.startTls()
        upstream = secure
        watch(secure)
        socket = secure
        handshaking = true
      } catch (error) {
        return finish(CloseCode.UpstreamTlsFailed, `upstream TLS failed: ${messageOf(error)}`, "bridge")
      }
    }
    const open = socket.writable.getWriter()
    writer = open
    connected(open)
    void pumpDown(socket)
  }
  run().catch((error: unknown) => finish(CloseCode.InternalError, `internal error: ${messageOf(error)}`, "bridge"))
  return done
}
