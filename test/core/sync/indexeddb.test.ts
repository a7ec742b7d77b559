// The browser's sync store (core/sync/indexeddb.ts) under the sync engine, in Chromium,
// against the dev server over the memory transport: real IndexedDB, real POP3 sessions.
import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import { connect } from "../../../core/index.ts"
import {
  type IndexedDbStore,
  openDatabase,
  openIndexedDbStore,
  syncMailbox,
  type SyncResult
} from "../../../core/sync/index.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import type { Behaviour, MailStore } from "../../../dev-server/server.ts"
import { makeMailStore, serveConnection } from "../../../dev-server/server.ts"

const ACCOUNT = "alice@dev:110"
/** Low, so some messages take the streamed path (`begin`) and the rest the pipelined `put`. */
const THRESHOLD = 4096
const COUNT = 30
// Every fifth message is over the threshold; one has lines starting with "." (unstuffing).
const seed = Array.from(
  { length: COUNT },
  (_, i) =>
    `Subject: message ${i + 1}\r\n\r\n${i === 3 ? ".dot line\r\n..two dots\r\n" : ""}${(i % 5 === 4 ? "y" : "x").repeat(i % 5 === 4 ? 9000 + i : 10 + i)}\r\n`
)

const databases: Array<string> = []
const opened: Array<IndexedDbStore> = []
afterEach(async () => {
  for (const store of opened.splice(0)) store.close()
  for (const name of databases.splice(0))
    await new Promise((resolve) => {
      const r = indexedDB.deleteDatabase(name)
      r.onsuccess = r.onerror = resolve
    })
})

const freshDatabase = () => {
  const name = `pop3-sync-test-${crypto.randomUUID()}`
  databases.push(name)
  return name
}

const open = async (database: string, account = ACCOUNT) => {
  const store = await Effect.runPromise(openIndexedDbStore(account, database))
  opened.push(store)
  return store
}

/** One sync session against `server`; every command line the server received is in `received`. */
const sync = (
  server: MailStore,
  store: IndexedDbStore,
  options: {
    readonly delete: boolean
    readonly user?: string
    readonly behaviour?: Behaviour
    readonly onCommand?: (line: string) => void
  }
) => {
  const received: Array<string> = []
  const layer = MemoryTransport.layer(
    (conn) =>
      void serveConnection(server, conn, {
        ...options.behaviour,
        onCommand: (line) => {
          received.push(line)
          options.onCommand?.(line)
        }
      })
  )
  const run = Effect.gen(function* () {
    const session = yield* connect({ host: "dev", tls: "none", timeout: 1000 })
    const mailbox = yield* session.login({
      user: options.user ?? "alice",
      password: "pw",
      mechanism: "user",
      allowPlaintext: true
    })
    return yield* syncMailbox(mailbox, store, { delete: options.delete, streamThreshold: THRESHOLD })
  }).pipe(Effect.scoped, Effect.provide(layer))
  return { received, result: Effect.runPromiseExit(run) }
}

const decode = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes))
const count = (lines: ReadonlyArray<string>, command: string) => lines.filter((l) => l.startsWith(`${command} `)).length

describe("the IndexedDB sync store", () => {
  it("stores every message once, byte for byte; a second sync downloads nothing", async () => {
    const server = makeMailStore({ alice: { password: "pw", messages: seed } })
    const uids = server.messages("alice").map((m) => m.uid)
    const store = await open(freshDatabase())

    const first = sync(server, store, { delete: false })
    const exit = await first.result
    expect(exit._tag).toBe("Success")
    expect((exit as { value: SyncResult }).value).toMatchObject({
      fetched: COUNT,
      skipped: 0,
      deleted: 0,
      messages: COUNT
    })
    const kept = await Effect.runPromise(store.messages)
    // In the server's order, not the UIDs' text order (which differs here: "10…" before "2…").
    expect([...uids].sort()).not.toEqual(uids)
    expect(kept.map((m) => m.uid)).toEqual(uids)
    for (const [i, uid] of uids.entries()) expect(decode(await Effect.runPromise(store.body(uid)))).toBe(seed[i])

    // A new connection to the database, as after a reload: nothing is downloaded again.
    const again = sync(server, await open(store.database.name), { delete: false })
    const second = await again.result
    expect((second as { value: SyncResult }).value).toMatchObject({ fetched: 0, skipped: COUNT, recovered: 0 })
    expect(count(again.received, "RETR")).toBe(0)
  })

  it("after an interrupted sync, stores the rest once and sends DELE only for messages already in the database", async () => {
    const server = makeMailStore({ alice: { password: "pw", messages: seed } })
    const uids = server.messages("alice").map((m) => m.uid)
    const database = freshDatabase()
    const store = await open(database)

    // The server stops answering part-way through the RETRs (CAPA, USER, PASS, UIDL, LIST, then
    // 12 RETRs); the client's time limit ends the session: the run fails.
    const interrupted = sync(server, store, { delete: true, behaviour: { stallAfterCommands: 17 } })
    const failed = await interrupted.result
    expect(failed._tag).toBe("Failure")
    expect(count(interrupted.received, "DELE")).toBe(0)
    const afterFailure = (await Effect.runPromise(store.messages)).length
    expect(afterFailure).toBeGreaterThan(0)
    expect(afterFailure).toBeLessThan(COUNT)
    expect(server.messages("alice")).toHaveLength(COUNT)

    // At each DELE, what the database holds — read through a connection of its own.
    const checker = await openDatabase(database)
    const atDele: Array<Promise<{ readonly uid: string; readonly held: boolean }>> = []
    const resumed = sync(server, store, {
      delete: true,
      onCommand: (line) => {
        const match = /^DELE (\d+)$/.exec(line)
        if (match === null) return
        const uid = uids[Number(match[1]) - 1]!
        const req = checker.transaction("index", "readonly").objectStore("index").getKey([ACCOUNT, uid])
        atDele.push(
          new Promise((resolve) => {
            req.onsuccess = () => resolve({ uid, held: req.result !== undefined })
          })
        )
      }
    })
    const done = await resumed.result
    expect(done._tag).toBe("Success")
    expect((done as { value: SyncResult }).value).toMatchObject({
      fetched: COUNT - afterFailure,
      skipped: afterFailure,
      deleted: COUNT
    })
    // Every message downloaded exactly once over both runs.
    expect(count(resumed.received, "RETR")).toBe(COUNT - afterFailure)
    const held = await Promise.all(atDele)
    checker.close()
    expect(held).toHaveLength(COUNT)
    expect(held.filter((h) => !h.held)).toEqual([])
    expect(server.messages("alice")).toHaveLength(0)
    const kept = await Effect.runPromise(store.messages)
    // In the server's order, not the UIDs' text order (which differs here: "10…" before "2…").
    expect([...uids].sort()).not.toEqual(uids)
    expect(kept.map((m) => m.uid)).toEqual(uids)
    for (const [i, uid] of uids.entries()) expect(decode(await Effect.runPromise(store.body(uid)))).toBe(seed[i])
  })

  it("keeps accounts apart in one database, and forgets one without the other", async () => {
    const server = makeMailStore({
      alice: { password: "pw", messages: seed.slice(0, 3) },
      bob: { password: "pw", messages: ["Subject: bob\r\n\r\nhi\r\n"] }
    })
    const database = freshDatabase()
    const alice = await open(database)
    const bob = await open(database, "bob@dev:110")
    expect((await sync(server, alice, { delete: false }).result)._tag).toBe("Success")
    expect((await sync(server, bob, { delete: false, user: "bob" }).result)._tag).toBe("Success")
    expect(await Effect.runPromise(alice.messages)).toHaveLength(3)
    expect((await Effect.runPromise(bob.messages)).map((m) => m.uid)).toEqual([server.messages("bob")[0]!.uid])
    await Effect.runPromise(alice.forget)
    expect(await Effect.runPromise(alice.messages)).toHaveLength(0)
    expect(await Effect.runPromise(bob.messages)).toHaveLength(1)
  })

  it("caches headers by UID per account, copied from their buffer, and forgets them with the copy", async () => {
    const database = freshDatabase()
    const alice = await open(database)
    const bob = await open(database, "bob@dev:110")
    const chunk = new TextEncoder().encode("xxSubject: one\r\n\r\nSubject: two\r\n\r\n")
    await Effect.runPromise(
      alice.putHeaders([
        { uid: "u1", bytes: chunk.subarray(2, 18) },
        { uid: "u2", bytes: chunk.subarray(18) }
      ])
    )
    await Effect.runPromise(bob.putHeaders([{ uid: "u1", bytes: new TextEncoder().encode("Subject: bob\r\n\r\n") }]))
    const found = await Effect.runPromise(alice.headers(["u1", "u2", "u3"]))
    expect([...found.keys()]).toEqual(["u1", "u2"])
    expect(decode(found.get("u1"))).toBe("Subject: one\r\n\r\n")
    expect(found.get("u1")!.buffer.byteLength).toBe(16)
    expect(decode((await Effect.runPromise(bob.headers(["u1"]))).get("u1"))).toBe("Subject: bob\r\n\r\n")
    await Effect.runPromise(alice.forget)
    expect((await Effect.runPromise(alice.headers(["u1", "u2"]))).size).toBe(0)
    expect((await Effect.runPromise(bob.headers(["u1"]))).size).toBe(1)
  })

  /** Opens `name` at `version` as another tab would; resolves with the connection, or "blocked". */
  const openRaw = (name: string, version: number, onVersionChange?: (db: IDBDatabase) => void) =>
    new Promise<IDBDatabase | "blocked">((resolve, reject) => {
      const req = indexedDB.open(name, version)
      req.onsuccess = () => {
        if (onVersionChange !== undefined) req.result.onversionchange = () => onVersionChange(req.result)
        resolve(req.result)
      }
      req.onerror = () => reject(req.error)
      req.onblocked = () => resolve("blocked")
    })

  it("an open store gives way to a newer version opened elsewhere (a later deploy's tab); then fails as a StorageError", async () => {
    const database = freshDatabase()
    const store = await open(database)
    const newer = await openRaw(database, 3)
    expect(newer).not.toBe("blocked")
    ;(newer as IDBDatabase).close()
    const after = await Effect.runPromiseExit(store.messages)
    expect(after._tag).toBe("Failure")
    expect(JSON.stringify(after)).toContain("StorageError")
  })

  it("an open refused as blocked leaves no connection behind once the older one lets go", async () => {
    const database = freshDatabase()
    // An older tab at version 1 that closes 200 ms after it is asked to.
    const older = await openRaw(database, 1, (db) => setTimeout(() => db.close(), 200))
    expect(older).not.toBe("blocked")
    const refused = await Effect.runPromiseExit(openIndexedDbStore(ACCOUNT, database))
    expect(refused._tag).toBe("Failure")
    expect(JSON.stringify(refused)).toContain("held open by an older version")
    // The refused open goes on once the older tab lets go (the delete waits behind it); its
    // connection was closed, not leaked: the delete is not blocked.
    const deleted = await new Promise<string>((resolve) => {
      const req = indexedDB.deleteDatabase(database)
      req.onsuccess = () => resolve("deleted")
      req.onerror = () => resolve("error")
      req.onblocked = () => resolve("blocked")
    })
    expect(deleted).toBe("deleted")
  })
})
