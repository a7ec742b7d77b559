// Loaded into a page by end-to-end-dovecot.test.ts and end-to-end-failures.test.ts (through
// Vite, as /@fs/…): the library's
// end-to-end TLS in Chromium — WebCrypto, the browser's WebSocket — through a pop3-bridge in
// tls=passthrough mode. What a page that asks its users to trust no bridge runs.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { connect } from "pop3-everywhere"
import * as WebSocketTransport from "pop3-everywhere/websocket"

export interface Job {
  readonly bridgeUrl: string
  readonly port: number
  readonly tls: "implicit" | "starttls"
  readonly ca: string | undefined
  /** The name the certificate is checked against; default the host, "localhost". */
  readonly servername?: string | undefined
  readonly user: string
  readonly password: string
  readonly msg: number
}

export type Outcome =
  | { readonly ok: true; readonly secure: boolean; readonly body: string }
  | {
      readonly ok: false
      readonly tag: string
      readonly problem: string | undefined
      readonly message: string
      /** The bytes of the message the page was handed before the failure, as base64. */
      readonly delivered: string
    }

const base64 = (chunks: ReadonlyArray<Uint8Array>): string => {
  let binary = ""
  for (const chunk of chunks) for (const byte of chunk) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/**
 * Logs in with USER/PASS (the password itself, inside TLS) and retrieves one message, as
 * base64; on a failure, with what of the message had been delivered until then.
 */
export const retrieve = async (job: Job): Promise<Outcome> => {
  const delivered: Array<Uint8Array> = []
  const exit = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const session = yield* connect({
        host: "localhost",
        port: job.port,
        tls: job.tls,
        ...(job.ca !== undefined ? { ca: job.ca } : {}),
        ...(job.servername !== undefined ? { servername: job.servername } : {}),
        timeout: 20_000
      })
      const mailbox = yield* session.login({ user: job.user, password: job.password, mechanism: "user" })
      // Chunk by chunk as the page is handed them (a copy: a chunk's buffer may be reused).
      yield* Stream.runForEach(mailbox.retr(job.msg), (chunk) => Effect.sync(() => void delivered.push(chunk.slice())))
      return { secure: session.secure }
    }).pipe(Effect.scoped, Effect.provide(WebSocketTransport.layerGlobal(job.bridgeUrl, { endToEnd: true })))
  )
  if (exit._tag === "Success") return { ok: true, secure: exit.value.secure, body: base64(delivered) }
  const error = exit.cause.reasons[0]
  const failure = error !== undefined && "error" in error ? (error.error as { _tag?: string; problem?: string }) : {}
  return {
    ok: false,
    tag: failure._tag ?? "defect",
    problem: failure.problem,
    message: String(exit.cause),
    delivered: base64(delivered)
  }
}
