// Loaded into the demo's page by sync-kill.test.ts (through Vite, as /@fs/…): the library's
// sync engine over its IndexedDB store, through the bridge — what a page that keeps mail runs.
import * as Effect from "effect/Effect"
import { connect } from "pop3-everywhere"
import { accountKey, openIndexedDbStore, type SyncStore, syncMailbox } from "pop3-everywhere/sync"
import * as WebSocketTransport from "pop3-everywhere/websocket"

export interface Target {
  readonly bridgeUrl: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

const store = (t: Target) => openIndexedDbStore(accountKey(t.user, "localhost", t.port), t.database)

/**
 * UIDs whose store operation the engine saw finish in this page (for IndexedDB: the one
 * `strict` transaction of body and index entry completed). The test's server asks at each
 * DELE, without a transaction of its own, which would wait for a write in progress.
 */
const durable = new Set<string>()

/** Which of `uids` are not (yet) durable in this page's store. */
export const notDurable = (uids: ReadonlyArray<string>): Array<string> => uids.filter((uid) => !durable.has(uid))

/** The store, noting each message whose put (or streamed commit) finished. */
const noting = (kept: SyncStore): SyncStore => ({
  ...kept,
  put: (uid, body) => {
    const put = kept.put(uid, body)
    if (put === undefined) {
      durable.add(uid)
      return undefined
    }
    return put.then(() => void durable.add(uid))
  },
  begin: async (uid) => {
    const writer = await kept.begin(uid)
    return { ...writer, commit: () => writer.commit().then(() => void durable.add(uid)) }
  }
})

/** One sync with delete; the result, or the failure in words. */
export const sync = async (t: Target): Promise<string> => {
  const exit = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const opened = yield* store(t)
      // What earlier runs stored is durable already (it survived their kill).
      for (const uid of yield* opened.recorded) durable.add(uid)
      const kept = noting(opened)
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
