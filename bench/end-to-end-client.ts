/**
 * What bench/end-to-end-tls.ts times, the same code in Node (the bench's process, Node's
 * WebSocket) and in Chromium (loaded into a page through Vite): one connection's handshake
 * — WebSocket to the bridge, the bridge's TCP (and with TLS at the bridge, its TLS), then
 * with end-to-end TLS the client's own handshake — up to the greeting; and one large RETR.
 * Every figure comes with what it checked (the greeting arrived, the byte count).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { connect } from "../core/index.ts"
import * as WebSocketTransport from "../core/transport/websocket.ts"

export interface Job {
  readonly bridgeUrl: string
  /** `bridge`: tls=implicit, TLS ends at the bridge. `end-to-end`: tls=passthrough, TLS in the client. */
  readonly mode: "bridge" | "end-to-end"
  readonly port: number
  readonly ca: string
  readonly user: string
  readonly password: string
}

const layer = (job: Job) => WebSocketTransport.layerGlobal(job.bridgeUrl, { endToEnd: job.mode === "end-to-end" })
const options = (job: Job, trace?: Parameters<typeof connect>[0]["trace"]) => ({
  host: "localhost",
  port: job.port,
  tls: "implicit" as const,
  // The bridge verifies against its --upstream-ca; end-to-end TLS against this.
  ...(job.mode === "end-to-end" ? { ca: job.ca } : {}),
  timeout: 60_000,
  ...(trace !== undefined ? { trace } : {})
})

/** Milliseconds from asking for a connection to the server's greeting, `handshakes` times in a row. */
export const handshakes = async (job: Job, count: number): Promise<Array<number>> => {
  const times: Array<number> = []
  for (let i = 0; i < count; i++) {
    let greeted = 0
    const started = performance.now()
    const greeting = await Effect.runPromise(
      Effect.gen(function* () {
        const session = yield* connect(
          options(job, (event) => {
            if (event._tag === "Received" && greeted === 0) greeted = performance.now()
          })
        )
        return session.greeting.text
      }).pipe(Effect.scoped, Effect.provide(layer(job)))
    )
    if (greeted === 0 || greeting === "") throw new Error(`${job.mode}: no greeting traced`)
    times.push(greeted - started)
  }
  return times
}

/** One RETR of message `msg`, counted as it streams: the seconds it took and the bytes it delivered. */
export const retrieve = async (job: Job, msg: number): Promise<{ readonly seconds: number; readonly bytes: number }> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const session = yield* connect(options(job))
      const mailbox = yield* session.login({ user: job.user, password: job.password })
      const started = performance.now()
      const bytes = yield* Stream.runFold(
        mailbox.retr(msg),
        () => 0,
        (n, chunk) => n + chunk.length
      )
      return { seconds: (performance.now() - started) / 1000, bytes }
    }).pipe(Effect.scoped, Effect.provide(layer(job)))
  )
