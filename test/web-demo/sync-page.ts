// Loaded into the demo's page by sync-kill.test.ts (through Vite, as /@fs/…): the library's
// sync engine over its IndexedDB store, through the bridge — what a page that keeps mail runs.
import * as Effect from "effect/Effect"
import { connect } from "pop3-everywhere"
import { accountKey, openIndexedDbStore, syncMailbox } from "pop3-everywhere/sync"
import * as WebSocketTransport from "pop3-everywhere/websocket"

export interface Target {
  readonly bridgeUrl: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

const store = (t: Target) => openIndexedDbStore(accountKey(t.user, "localhost", t.port), t.database)

/** One sync with delete; the result, or the failure in words. */
export const sync = async (t: Target): Promise<string> => {
  const exit = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const kept = yield* store(t)
      const session = yield* connect({ host: "localhost", port: t.port, tls: "none", timeout: 10_000 })
      const mailbox = yield* session.login({
        user: t.user,
        password: t.password,
        mechanism: "user",
        allowPlaintext: true
      })
      return yield* syncMailbox(mailbox, kept, { delete: true })
    }).pipe(Effect.scoped, Effect.provide(WebSocketTransport.layerGlobal(t.bridgeUrl)))
  )
  return exit._tag === "Success" ? JSON.stringify(exit.value) : `failed: ${String(exit.cause)}`
}

/** Every kept message of the account: UID and text. */
export const kept = async (t: Target): Promise<Array<{ readonly uid: string; readonly text: string }>> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const s = yield* store(t)
      const out: Array<{ readonly uid: string; readonly text: string }> = []
      for (const m of yield* s.messages)
        out.push({ uid: m.uid, text: new TextDecoder().decode((yield* s.body(m.uid)) ?? new Uint8Array()) })
      s.close()
      return out
    })
  )
