// The sync engine (core/sync/engine.ts) over a store kept in memory — a real SyncStore, the
// smallest one — against the dev server over the memory transport: what the engine does
// when a store fails, and what it recovers.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { connect } from "../../../core/index.ts"
import { StorageError, syncMailbox, type SyncStore } from "../../../core/sync/index.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import { makeMailStore, type MailStore, serveConnection } from "../../../dev-server/server.ts"

const seed = Array.from({ length: 12 }, (_, i) => `Subject: ${i + 1}\r\n\r\nbody ${i + 1}\r\n`)

/** Messages in a Map; `record` keeps the UIDs; `failOn` makes one put reject (later, as a slow disk would). */
const memoryStore = (options: { readonly failOn?: string; readonly stored?: ReadonlyArray<string> } = {}) => {
  const bodies = new Map<string, Uint8Array>(options.stored?.map((uid) => [uid, new Uint8Array()]))
  let recorded = new Set<string>()
  const store: SyncStore = {
    location: "memory",
    describe: (error) => String(error),
    recorded: Effect.sync(() => new Set(recorded)),
    findStored: (uids) => Effect.sync(() => new Set(uids.filter((uid) => bodies.has(uid)))),
    put: (uid, body) =>
      uid === options.failOn
        ? new Promise((_, reject) => setTimeout(() => reject(new Error("disk full")), 5))
        : void bodies.set(uid, body.slice()),
    begin: () => Promise.reject(new Error("not used here")),
    record: (uids) => Effect.sync(() => void (recorded = new Set(uids)))
  }
  return { store, bodies, recorded: () => recorded }
}

const run = (server: MailStore, store: SyncStore, received: Array<string>, del = true) =>
  Effect.runPromiseExit(
    Effect.gen(function* () {
      const session = yield* connect({ host: "dev", tls: "none", timeout: 5000 })
      const mailbox = yield* session.login({ user: "alice", password: "pw", mechanism: "user", allowPlaintext: true })
      return yield* syncMailbox(mailbox, store, { delete: del })
    }).pipe(
      Effect.scoped,
      Effect.provide(
        MemoryTransport.layer((conn) => void serveConnection(server, conn, { onCommand: (l) => received.push(l) }))
      )
    )
  )

describe("the sync engine", () => {
  it("fails with StorageError when a put fails, sends no DELE, and records what was stored before", async () => {
    const server = makeMailStore({ alice: { password: "pw", messages: seed } })
    const uids = server.messages("alice").map((m) => m.uid)
    const memory = memoryStore({ failOn: uids[7]! })
    const received: Array<string> = []
    const exit = await run(server, memory.store, received)
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    expect(error !== undefined && "error" in error ? error.error : undefined).toBeInstanceOf(StorageError)
    expect(received.filter((l) => l.startsWith("DELE"))).toEqual([])
    expect(server.messages("alice")).toHaveLength(12)
    // What was stored is recorded (the next run skips it); the failed one is not.
    expect([...memory.recorded()].sort()).toEqual([...memory.bodies.keys()].sort())
    expect(memory.bodies.size).toBeGreaterThanOrEqual(7)
    expect(memory.recorded().has(uids[7]!)).toBe(false)

    const again: Array<string> = []
    const retry = memoryStore({ stored: [...memory.bodies.keys()] })
    const done = await run(server, retry.store, again)
    const stored = memory.bodies.size
    expect(Exit.isSuccess(done) ? done.value : undefined).toMatchObject({
      fetched: 12 - stored,
      recovered: stored,
      deleted: 12
    })
    expect(again.filter((l) => l.startsWith("RETR"))).toHaveLength(12 - stored)
    expect(server.messages("alice")).toHaveLength(0)
  })

  it("deletes on the server only what the store still holds: messages forgotten during the run (another tab) stay", async () => {
    // A store whose record is what it holds (as the browser's: body and index together),
    // emptied by another user of it just before message 6 is put.
    const server = makeMailStore({ alice: { password: "pw", messages: seed } })
    const uids = server.messages("alice").map((m) => m.uid)
    const bodies = new Map<string, Uint8Array>(uids.slice(0, 3).map((uid) => [uid, new Uint8Array()]))
    const store: SyncStore = {
      location: "memory",
      describe: String,
      recorded: Effect.sync(() => new Set(bodies.keys())),
      findStored: () => Effect.succeed(new Set()),
      put: (uid, body) => {
        if (uid === uids[5]) bodies.clear()
        bodies.set(uid, body.slice())
      },
      begin: () => Promise.reject(new Error("not used here")),
      record: () => Effect.void
    }
    const received: Array<string> = []
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const session = yield* connect({ host: "dev", tls: "none", timeout: 5000 })
        const mailbox = yield* session.login({ user: "alice", password: "pw", mechanism: "user", allowPlaintext: true })
        return yield* syncMailbox(mailbox, store, { delete: true })
      }).pipe(
        Effect.scoped,
        Effect.provide(
          MemoryTransport.layer(
            (conn) => void serveConnection(server, conn, { onCommand: (line) => void received.push(line) })
          )
        )
      )
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    // 1-3 were held before, 4 and 5 stored before the forget: all gone from the store, so
    // all kept on the server; 6-12 stored after it, and deleted.
    const deletedUids = received.filter((l) => l.startsWith("DELE ")).map((l) => uids[Number(l.slice(5)) - 1])
    expect([...bodies.keys()].sort()).toEqual(uids.slice(5).sort())
    expect(deletedUids.sort()).toEqual(uids.slice(5).sort())
    expect(server.messages("alice").map((m) => m.uid)).toEqual(uids.slice(0, 5))
  })

  it("asks the store what it holds only when the server has messages it has not recorded", async () => {
    const server = makeMailStore({ alice: { password: "pw", messages: seed } })
    const memory = memoryStore()
    const asked: Array<number> = []
    const store: SyncStore = {
      ...memory.store,
      findStored: (uids) => {
        asked.push(uids.length)
        return memory.store.findStored(uids)
      }
    }
    const first = await run(server, store, [], false)
    expect(Exit.isSuccess(first) ? first.value : undefined).toMatchObject({ fetched: 12, skipped: 0 })
    expect(asked).toEqual([12])
    // Nothing new: a Maildir of thousands of files is not listed for nothing.
    const second = await run(server, store, [], false)
    expect(Exit.isSuccess(second) ? second.value : undefined).toMatchObject({ fetched: 0, skipped: 12 })
    expect(asked).toEqual([12])
  })
})
