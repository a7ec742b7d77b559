// Runs inside Chromium (bundled by browser-retr.ts): one RETR through pop3-bridge, timed in
// the page. Two readers of the same message, so a slow figure can be placed: `library`
// is what a page using pop3-everywhere gets (the WebSocket transport, the engine, the body
// collected as chunks, as the demo's `collect` does); `websocket` is the browser's own
// WebSocket with nothing behind it (USER/PASS/RETR written by hand, bytes counted to the
// terminator) — the most this browser can do through this bridge. Each returns the body's
// byte count and SHA-256 (taken after the clock stops), for the benchmark to check.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { connect } from "pop3-everywhere"
import * as WebSocketTransport from "pop3-everywhere/websocket"

export interface RetrTarget {
  readonly bridgeUrl: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly msg: number
}

export interface RetrResult {
  /** From writing RETR to the body's last byte, by `performance.now()`. */
  readonly ms: number
  readonly bytes: number
  readonly sha256: string
}

const hex = (digest: ArrayBuffer): string =>
  Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")

const digestOf = async (chunks: ReadonlyArray<Uint8Array>, bytes: number): Promise<string> => {
  const whole = new Uint8Array(bytes)
  let at = 0
  for (const chunk of chunks) {
    whole.set(chunk, at)
    at += chunk.length
  }
  return hex(await crypto.subtle.digest("SHA-256", whole))
}

/** RETR through the library, in the page. */
export const library = async (t: RetrTarget): Promise<RetrResult> => {
  const timed = await Effect.runPromise(
    Effect.gen(function* () {
      const session = yield* connect({ host: "127.0.0.1", port: t.port, tls: "none", timeout: 60_000 })
      const mailbox = yield* session.login({
        user: t.user,
        password: t.password,
        mechanism: "user",
        allowPlaintext: true
      })
      const chunks: Array<Uint8Array> = []
      let bytes = 0
      const started = performance.now()
      yield* Stream.runForEach(mailbox.retr(t.msg), (chunk) =>
        Effect.sync(() => {
          chunks.push(chunk)
          bytes += chunk.length
        })
      )
      return { ms: performance.now() - started, bytes, chunks }
    }).pipe(Effect.scoped, Effect.provide(WebSocketTransport.layerGlobal(t.bridgeUrl)))
  )
  return { ms: timed.ms, bytes: timed.bytes, sha256: await digestOf(timed.chunks, timed.bytes) }
}

const TERMINATOR = [13, 10, 46, 13, 10] // CRLF "." CRLF

/** RETR on a bare WebSocket: the browser's own ceiling. No dot-unstuffing (the bench's message needs none). */
export const websocket = (t: RetrTarget): Promise<RetrResult> =>
  new Promise((resolve, reject) => {
    const url = WebSocketTransport.bridgeUrl(t.bridgeUrl, { host: "127.0.0.1", port: t.port, tls: "none" })
    const ws = new WebSocket(url, ["binary"])
    ws.binaryType = "arraybuffer"
    const send = (line: string) => ws.send(new TextEncoder().encode(`${line}\r\n`))
    // Status lines before the body: greeting, USER, PASS, RETR.
    let lines = 0
    let pending = new Uint8Array(0)
    const chunks: Array<Uint8Array> = []
    let bytes = 0
    let started = 0
    const tail = new Uint8Array(5)
    ws.onerror = () => reject(new Error("WebSocket error"))
    ws.onclose = (e) => reject(new Error(`closed (${e.code}) before the body ended`))
    ws.onmessage = (event) => {
      let data = new Uint8Array(event.data as ArrayBuffer)
      while (lines < 4) {
        const joined = new Uint8Array(pending.length + data.length)
        joined.set(pending)
        joined.set(data, pending.length)
        const end = joined.indexOf(10)
        if (end < 0) {
          pending = joined
          return
        }
        const line = new TextDecoder().decode(joined.subarray(0, end))
        if (!line.startsWith("+OK")) return reject(new Error(`server said ${line}`))
        lines++
        pending = new Uint8Array(0)
        data = joined.subarray(end + 1)
        if (lines === 1) send(`USER ${t.user}`)
        else if (lines === 2) send(`PASS ${t.password}`)
        else if (lines === 3) {
          started = performance.now()
          send(`RETR ${t.msg}`)
        }
      }
      if (data.length === 0) return
      chunks.push(data)
      bytes += data.length
      // The last five bytes seen, across chunk edges.
      const keep = Math.min(5, data.length)
      tail.copyWithin(0, keep)
      tail.set(data.subarray(data.length - keep), 5 - keep)
      if (bytes < 5 || !TERMINATOR.every((b, i) => tail[i] === b)) return
      const ms = performance.now() - started
      ws.onclose = null
      ws.close()
      // The body ends with its own CRLF; the terminator's "." CRLF (3 bytes) is not part of it.
      const body = bytes - 3
      let cut = 3
      while (cut > 0) {
        const last = chunks[chunks.length - 1]!
        if (last.length <= cut) {
          cut -= last.length
          chunks.pop()
        } else {
          chunks[chunks.length - 1] = last.subarray(0, last.length - cut)
          cut = 0
        }
      }
      digestOf(chunks, body).then((sha256) => resolve({ ms, bytes: body, sha256 }), reject)
    }
  })
