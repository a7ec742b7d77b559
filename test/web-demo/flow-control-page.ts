// Loaded into a page by flow-control.test.ts (through Vite, as /@fs/…): a large RETR through
// pop3-bridge with the library's WebSocket transport in Chromium, read slowly — the first
// chunk, then nothing until the test says `go()` — to see whether the bridge (and the mail
// server behind it) keep sending while the page does not read.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import { connect } from "pop3-everywhere"
import * as WebSocketTransport from "pop3-everywhere/websocket"

export interface Job {
  readonly bridgeUrl: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly msg: number
  /** "global": `layerGlobal` as a page uses it; "websocket": the standard WebSocket, forced. */
  readonly transport: "global" | "websocket"
}

export interface Outcome {
  readonly bytes: number
  /** SHA-256 of the body, hex. */
  readonly sha256: string
  /** Whether this page has WebSocketStream at all. */
  readonly webSocketStream: boolean
}

let go: () => void = () => {}
/** Lets the paused read go on. */
export const resume = (): void => go()
/** Resolves once the first chunk has been read (the read then waits for `resume`). */
export let firstChunk: Promise<void> = Promise.resolve()

export const retrieve = (job: Job): Promise<Outcome> => {
  const resumed = new Promise<void>((resolve) => {
    go = resolve
  })
  let started: () => void = () => {}
  firstChunk = new Promise<void>((resolve) => {
    started = resolve
  })
  const chunks: Array<Uint8Array> = []
  const layer =
    job.transport === "global"
      ? WebSocketTransport.layerGlobal(job.bridgeUrl)
      : WebSocketTransport.layer(job.bridgeUrl).pipe(Layer.provide(Socket.layerWebSocketConstructorGlobal))
  const program = Effect.gen(function* () {
    const session = yield* connect({ host: "127.0.0.1", port: job.port, tls: "none", timeout: 30_000 })
    const mailbox = yield* session.login({
      user: job.user,
      password: job.password,
      mechanism: "user",
      allowPlaintext: true
    })
    yield* Stream.runForEach(mailbox.retr(job.msg), (chunk) =>
      Effect.promise(async () => {
        chunks.push(chunk.slice())
        if (chunks.length === 1) {
          started()
          await resumed
        }
      })
    )
    yield* mailbox.quit
  }).pipe(Effect.scoped, Effect.provide(layer))
  return Effect.runPromise(program).then(async () => {
    const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
    let at = 0
    for (const chunk of chunks) {
      body.set(chunk, at)
      at += chunk.length
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body))
    return {
      bytes: body.length,
      sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
      webSocketStream: typeof (globalThis as { WebSocketStream?: unknown }).WebSocketStream === "function"
    }
  })
}
