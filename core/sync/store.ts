/**
 * What the sync engine (`engine.ts`) stores messages in: one account's view of a store.
 * Several accounts may share a store (one Maildir, one browser database); each opens its
 * own view, keyed by user, host and port (`accountKey`), and sees only its own UIDs.
 *
 * The one rule a store must keep: a message `put` or `commit`ted must be findable again —
 * by `recorded` or by `findStored` — after a crash at any later instant, and no message is
 * findable before it is complete. The engine sends DELE only for messages that `record`
 * has made durable, so a store that breaks this rule can lose mail.
 *
 * Two ways to keep it: the Maildir (`core/cli/maildir-store.ts`) makes each file durable
 * on its own, with the account and UID hashed into its name (`findStored` reads the names),
 * and records the UIDs in a state file now and then; the browser store (`indexeddb.ts`)
 * writes body and record in one IndexedDB transaction, so `put` is also the record.
 *
 * @module
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"

/**
 * Storing locally failed: the store could not be written or read. Nothing was deleted on
 * the server. CLI exit status 5.
 * @category errors
 */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `local storage failed: cannot ${this.operation} ${this.path}: ${this.reason}; nothing was deleted on the server`
  }
}

/**
 * A message being stored as it arrives: `write` chunks (as sent, CRLF line ends), then
 * `commit` (complete and durable once it resolves) or `abort` (never rejects).
 * @category models
 */
export interface StoreWriter {
  readonly write: (bytes: Uint8Array) => Promise<void>
  readonly commit: () => Promise<void>
  readonly abort: () => Promise<void>
}

/**
 * One account's view of a store. `put`, `begin` and the writer throw or reject with the
 * store's own errors, which the engine turns into a `StorageError` with `describe`.
 * @category models
 */
export interface SyncStore {
  /** Where the store is, for messages (a directory, a database name). */
  readonly location: string
  /** A failure of `put`, `begin` or a writer in words (errno codes, quota). */
  readonly describe: (error: unknown) => string
  /** The UIDs recorded as stored. */
  readonly recorded: Effect.Effect<ReadonlySet<string>, StorageError>
  /** Which of `uids` are stored though not recorded (a run that died before recording them). */
  readonly findStored: (uids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, StorageError>
  /**
   * Stores a whole message (as sent, CRLF line ends): done on return, or when the promise
   * resolves. A store may hold several puts in the air at once.
   */
  readonly put: (uid: string, body: Uint8Array) => void | Promise<void>
  /** Starts storing a message too large to hold in memory. */
  readonly begin: (uid: string) => Promise<StoreWriter>
  /**
   * Makes every message stored so far durable and records `uids` as the account's whole
   * set (UIDs left out are forgotten by the record; their messages stay in the store).
   */
  readonly record: (uids: ReadonlyArray<string>) => Effect.Effect<void, StorageError>
}

/**
 * The account's key in a store: user, host and port — two servers on one host are two
 * mailboxes with their own UIDs (`alice@pop.example.com:995`, `alice@[::1]:110`).
 * @category models
 */
export const accountKey = (user: string, host: string, port: number): string => {
  const name = host.toLowerCase()
  return `${user}@${name.includes(":") ? `[${name}]` : name}:${port}`
}
