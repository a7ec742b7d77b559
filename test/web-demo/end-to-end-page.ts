// Loaded into a page by end-to-end-dovecot.test.ts (through Vite, as /@fs/…): the library's
// end-to-end TLS in Chromium — WebCrypto, the browser's WebSocket — through a pop3-bridge in
// tls=passthrough mode. What a page that asks its users to trust no bridge runs.
import * as Effect from "effect/Effect"
import { collect, connect } from "pop3-everywhere"
import * as WebSocketTransport from "pop3-everywhere/websocket"

export interface Job {
  readonly bridgeUrl: string
  readonly port: number
  readonly tls: "implicit" | "starttls"
  readonly ca: string | undefined
  readonly user: string
  readonly password: string
  readonly msg: number
}

export type Outcome =
  | { readonly ok: true; readonly secure: boolean; readonly body: string }
  | { readonly ok: false; readonly tag: string; readonly problem: string | undefined; readonly message: string }

/** Logs in with USER/PASS (the password itself, inside TLS) and retrieves one message, as base64. */
export const retrieve = async (job: Job): Promise<Outcome> => {
  const exit = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const session = yield* connect({
        host: "localhost",
        port: job.port,
        tls: job.tls,
        ...(job.ca !== undefined ? { ca: job.ca } : {}),
        timeout: 20_000
      })
      const mailbox = yield* session.login({ user: job.user, password: job.password, mechanism: "user" })
      const body = yield* collect(mailbox.retr(job.msg))
      return { secure: session.secure, body }
    }).pipe(Effect.scoped, Effect.provide(WebSocketTransport.layerGlobal(job.bridgeUrl, { endToEnd: true })))
  )
  if (exit._tag === "Success") {
    let binary = ""
    for (const byte of exit.value.body) binary += String.fromCharCode(byte)
    return { ok: true, secure: exit.value.secure, body: btoa(binary) }
  }
  const error = exit.cause.reasons[0]
  const failure = error !== undefined && "error" in error ? (error.error as { _tag?: string; problem?: string }) : {}
  return { ok: false, tag: failure._tag ?? "defect", problem: failure.problem, message: String(exit.cause) }
}
