/**
 * The browser's `SyncStore`: IndexedDB. Two object stores, `bodies` (the message as sent,
 * CRLF line ends) and `index` (UID, size, when stored), both keyed `[account, uid]` so
 * accounts (user, host, port: `accountKey`) share one database. Each message is written
 * to both in **one** `readwrite` transaction opened with `durability: "strict"`, and `put`
 * resolves only on the transaction's `complete` event: the body and its index entry
 * become durable together or not at all. So `put` is also the record — there is nothing
 * stored-but-unrecorded to recover (`findStored` finds nothing), and `record` has nothing
 * left to do. A kill before `complete` leaves neither; the next sync fetches the message
 * again, and the engine never sent DELE for it (DELE waits for every put of the run).
 *
 * Why IndexedDB and not OPFS for the bodies: OPFS files and an IndexedDB index cannot be
 * written in one transaction, so OPFS would need a recovery rule (UID-keyed file names,
 * a scan on start) to stand where the transaction does; its synchronous, fast access
 * handles exist only in dedicated Workers; and Safari's OPFS arrived late. IndexedDB is
 * in every browser and every Worker, its transactions give the "both or neither" rule
 * directly, and it keeps large values as Blobs outside the database's pages. A message
 * streamed in (`begin`, over STREAM_THRESHOLD) is gathered into a Blob — which the browser
 * may keep on disk rather than in the heap — and committed the same way.
 *
 * Reading back (`messages`, `body`), `forget` and `estimate` serve a page that shows what
 * it kept without a connection. A third object store, `headers`, caches message headers
 * (`TOP n 0`) by UID for a list that shows only some rows of a big mailbox: a cache, so
 * written without `strict` durability and never part of what counts as stored.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { StorageError, type SyncStore } from "./store.ts"

/** The database's schema version (2 added `headers`). */
const VERSION = 2
const BODIES = "bodies"
const INDEX = "index"
const HEADERS = "headers"

/**
 * One kept message, as `messages` lists it.
 * @category models
 */
export interface KeptMessage {
  readonly uid: string
  /** Octets as sent (CRLF line ends). */
  readonly size: number
  /** When it was stored (ms since the epoch). */
  readonly stored: number
}

/** A record of the index store; `seq` is absent in records written before it was added (no new schema version: a record's fields are not part of the schema). */
interface IndexEntry extends KeptMessage {
  readonly account: string
  readonly seq?: number
}

/**
 * One account's view of an IndexedDB database, with what a page needs to read it back.
 * @category models
 */
export interface IndexedDbStore extends SyncStore {
  readonly database: IDBDatabase
  /** Every kept message of the account, in the order they were stored (the server's order). */
  readonly messages: Effect.Effect<ReadonlyArray<KeptMessage>, StorageError>
  /** A kept message as sent, or undefined when it is not kept. */
  readonly body: (uid: string) => Effect.Effect<Uint8Array | undefined, StorageError>
  /** The cached headers of those of `uids` that have one. */
  readonly headers: (uids: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, Uint8Array>, StorageError>
  /** Caches headers (the answer to `TOP n 0`) by UID. */
  readonly putHeaders: (
    headers: ReadonlyArray<{ readonly uid: string; readonly bytes: Uint8Array }>
  ) => Effect.Effect<void, StorageError>
  /** Deletes every kept message of the account, and its cached headers. */
  readonly forget: Effect.Effect<void, StorageError>
  /** Closes the database connection. */
  readonly close: () => void
}

const request = <A>(req: IDBRequest<A>): Promise<A> =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })

/** Resolves when the transaction is committed (durably, with "strict"), rejects when it aborts. */
const committed = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onabort = () => reject(tx.error ?? new DOMException("the transaction was aborted", "AbortError"))
    tx.onerror = () => {}
  })

/**
 * A failure of IndexedDB in words.
 * @category errors
 */
export const describeIndexedDbError = (error: unknown): string => {
  if (error instanceof DOMException) {
    if (error.name === "QuotaExceededError") return `the browser's storage quota is used up (${error.name})`
    return `${error.message} (${error.name})`
  }
  return error instanceof Error ? error.message : String(error)
}

/**
 * Opens (creating when missing) the database `name`.
 * @category constructors
 */
export const openDatabase = (name: string): Promise<IDBDatabase> =>
  new Promise((resolve, reject) => {
    const req = indexedDB.open(name, VERSION)
    let refused = false
    req.onupgradeneeded = () => {
      const db = req.result
      if (!db.objectStoreNames.contains(BODIES)) db.createObjectStore(BODIES)
      if (!db.objectStoreNames.contains(INDEX)) db.createObjectStore(INDEX)
      if (!db.objectStoreNames.contains(HEADERS)) db.createObjectStore(HEADERS)
    }
    req.onsuccess = () => {
      const db = req.result
      // Refused as blocked already: the open went on once the other tab let go, and nobody
      // holds this connection (it would block the next upgrade): close it.
      if (refused) return db.close()
      // A newer version opened elsewhere (a tab of a later deploy) waits until this
      // connection closes: let go at once; later operations here fail as a StorageError.
      db.onversionchange = () => db.close()
      resolve(db)
    }
    req.onerror = () => reject(req.error)
    req.onblocked = () => {
      refused = true
      reject(new DOMException(`database ${name} is held open by an older version`, "InvalidStateError"))
    }
  })

/** Every key of `account`: arrays sort after strings, so `[account, []]` is past every UID. */
const accountRange = (account: string): IDBKeyRange => IDBKeyRange.bound([account], [account, []])

const toBytes = async (value: unknown): Promise<Uint8Array | undefined> => {
  if (value === undefined) return undefined
  if (value instanceof Uint8Array) return value
  if (value instanceof Blob) return new Uint8Array(await value.arrayBuffer())
  throw new DOMException("a kept body is neither bytes nor a Blob", "DataError")
}

/**
 * The account's view of the IndexedDB database `name` (default "pop3-everywhere").
 * @category constructors
 */
export const openIndexedDbStore = (
  account: string,
  name = "pop3-everywhere"
): Effect.Effect<IndexedDbStore, StorageError> =>
  Effect.gen(function* () {
    const location = `IndexedDB database ${JSON.stringify(name)}`
    const storage = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, StorageError> =>
      Effect.tryPromise({
        try: run,
        catch: (error) => new StorageError({ operation, path: location, reason: describeIndexedDbError(error) })
      })
    const db = yield* storage("open", () => openDatabase(name))

    // The order messages are stored in, within one millisecond of `stored`: the engine stores
    // them in the server's order, which `messages` keeps (UIDs sort as text: "10" before "2").
    let seq = 0
    const store = (uid: string, body: Uint8Array | Blob, size: number): Promise<void> => {
      const tx = db.transaction([BODIES, INDEX], "readwrite", { durability: "strict" })
      const done = committed(tx)
      const entry: IndexEntry = { account, uid, size, stored: Date.now(), seq: seq++ }
      tx.objectStore(BODIES).put(body, [account, uid])
      tx.objectStore(INDEX).put(entry, [account, uid])
      tx.commit()
      return done
    }

    return {
      database: db,
      location,
      describe: describeIndexedDbError,
      recorded: storage("read the index of", async () => {
        const keys = await request(
          db.transaction(INDEX, "readonly").objectStore(INDEX).getAllKeys(accountRange(account))
        )
        return new Set(keys.map((key) => (key as [string, string])[1]))
      }),
      // A message is in the index exactly when its body is (one transaction): none is
      // stored without being recorded.
      findStored: () => Effect.succeed(new Set<string>()),
      // A view into a larger buffer (a socket chunk) would clone the whole buffer: copy it.
      put: (uid, body) => store(uid, body.byteLength === body.buffer.byteLength ? body : body.slice(), body.length),
      begin: async (uid) => {
        const parts: Array<Blob> = []
        let size = 0
        return {
          write: async (bytes) => {
            size += bytes.length
            // A copy: the bytes are views into socket chunks.
            parts.push(new Blob([bytes.slice()]))
          },
          commit: () => store(uid, new Blob(parts), size),
          abort: async () => {
            parts.length = 0
          }
        }
      },
      record: () => Effect.void,
      messages: storage("read the index of", async () => {
        const entries = await request(
          db.transaction(INDEX, "readonly").objectStore(INDEX).getAll(accountRange(account))
        )
        // Entries written before `seq` existed have none: among them, UID order decides ties.
        return [...(entries as Array<IndexEntry>)]
          .sort((a, b) => a.stored - b.stored || (a.seq ?? 0) - (b.seq ?? 0))
          .map((e): KeptMessage => ({ uid: e.uid, size: e.size, stored: e.stored }))
      }),
      body: (uid) =>
        storage("read a message from", async () =>
          toBytes(await request(db.transaction(BODIES, "readonly").objectStore(BODIES).get([account, uid])))
        ),
      headers: (uids) =>
        storage("read cached headers from", async () => {
          const store = db.transaction(HEADERS, "readonly").objectStore(HEADERS)
          const found = await Promise.all(uids.map((uid) => request(store.get([account, uid]))))
          const headers = new Map<string, Uint8Array>()
          found.forEach((bytes, i) => {
            if (bytes instanceof Uint8Array) headers.set(uids[i]!, bytes)
          })
          return headers
        }),
      putHeaders: (headers) =>
        storage("cache headers in", async () => {
          const tx = db.transaction(HEADERS, "readwrite")
          const done = committed(tx)
          // Copies: the bytes are views into socket chunks.
          for (const { uid, bytes } of headers) tx.objectStore(HEADERS).put(bytes.slice(), [account, uid])
          tx.commit()
          await done
        }),
      forget: storage("forget the messages in", async () => {
        const tx = db.transaction([BODIES, INDEX, HEADERS], "readwrite", { durability: "strict" })
        const done = committed(tx)
        tx.objectStore(BODIES).delete(accountRange(account))
        tx.objectStore(INDEX).delete(accountRange(account))
        tx.objectStore(HEADERS).delete(accountRange(account))
        tx.commit()
        await done
      }),
      close: () => db.close()
    }
  })

/**
 * How much storage this origin uses and may use, in octets, when the browser says.
 * @category reading
 */
export const estimateStorage = async (): Promise<{ readonly usage: number; readonly quota: number } | undefined> => {
  if (typeof navigator === "undefined" || navigator.storage?.estimate === undefined) return undefined
  const { usage, quota } = await navigator.storage.estimate()
  return usage === undefined || quota === undefined ? undefined : { usage, quota }
}
