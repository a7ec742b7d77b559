/**
 * `pop3-everywhere/sync`: download a mailbox into a store and keep it — the engine, the
 * storage interface it needs, and the browser's store (IndexedDB). The Maildir store of
 * `pop3 fetch` lives with the CLI (it needs `node:fs`).
 *
 * @module
 */
export {
  BATCH_BYTES,
  BATCH_MESSAGES,
  type RefusedMessage,
  STREAM_THRESHOLD,
  type SyncError,
  syncMailbox,
  type SyncOptions,
  type SyncResult,
  UidlRequired,
  WRITE_BUDGET,
  WRITE_CONCURRENCY
} from "./engine.ts"
export { accountKey, StorageError, type StoreWriter, type SyncStore } from "./store.ts"
export {
  describeIndexedDbError,
  estimateStorage,
  type IndexedDbStore,
  type KeptMessage,
  openDatabase,
  openIndexedDbStore
} from "./indexeddb.ts"
