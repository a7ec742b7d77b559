/**
 * The Maildir as a `SyncStore` for the sync engine (`pop3-everywhere/sync`): messages in
 * the Maildir (maildir.ts: tmp/, fsync, rename into new/), the record in the state file
 * (fetch-state.ts, written atomically). Several accounts share a Maildir and a state file:
 * file names carry a hash of account and UID (`messageKey`), which is how `findStored`
 * recognises a message delivered by a run that died before recording it.
 *
 * Node-side (node:fs), which Deno and Bun provide too.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { StorageError, type SyncStore } from "../sync/index.ts"
import { acquireFetchLock } from "./fetch-lock.ts"
import { loadUids, saveUids, StateFileInvalid } from "./fetch-state.ts"
import { type Maildir, messageKey, openMaildir } from "./maildir.ts"

const ERRNO: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ENOENT: "no such file or directory",
  EIO: "input/output error",
  EMFILE: "too many open files",
  ENAMETOOLONG: "file name too long",
  // Only mkdir lets EEXIST through (delivery retries with the next name).
  EEXIST: "exists and is not a directory"
}

/**
 * A local I/O failure in words, with its errno code.
 * @category errors
 */
export const describe = (error: unknown): string => {
  if (error instanceof StateFileInvalid) return error.message
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === "string") return `${ERRNO[code] ?? (error as Error).message} (${code})`
  return error instanceof Error ? error.message : String(error)
}

const storage = <A>(operation: string, path: string, run: () => Promise<A>): Effect.Effect<A, StorageError> =>
  Effect.tryPromise({ try: run, catch: (error) => new StorageError({ operation, path, reason: describe(error) }) })

/**
 * Where one account's messages go.
 * @category models
 */
export interface MaildirStoreOptions {
  readonly maildir: string
  readonly state: string
  /** The account's key (`accountKey(user, host, port)`). */
  readonly account: string
  /** The key an earlier version used for it (`legacyAccountKey`), to recover and migrate from. */
  readonly legacyAccount?: string | undefined
  /** How long to wait for another run's lock on the account (fetch-lock.ts; default LOCK_WAIT_MS). */
  readonly lockWaitMs?: number | undefined
}

/**
 * Opens (creating when missing) the Maildir, takes the account's lock on the state file
 * for the scope (fetch-lock.ts: one run per account at a time), clears what a dead run left
 * in `tmp/`, reads the state file, and gives the account's view of them. All of it is
 * local: `pop3 fetch` runs it before logging in, so a Maildir it cannot create, a run of
 * the same account still going or a damaged state file fails the run before the server has
 * seen a password (a login attempt that counts against the account's rate limits and
 * lockouts).
 * @category constructors
 */
export const openMaildirStore = (
  options: MaildirStoreOptions
): Effect.Effect<SyncStore & { readonly maildir: Maildir }, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const root = options.maildir
    const statePath = options.state
    const maildir = yield* storage("create the Maildir", root, () => openMaildir(root))
    // Before the state is read: a run that waited reads what the one before it recorded.
    yield* Effect.acquireRelease(
      storage("lock", statePath, () => acquireFetchLock(statePath, options.account, { waitMs: options.lockWaitMs })),
      (release) => Effect.promise(release)
    )
    yield* Effect.promise(() => maildir.cleanTmp().catch(() => 0))
    const readState = storage("read the state file", statePath, () =>
      loadUids(statePath, options.account, options.legacyAccount)
    )
    // Read now (see above) and handed to the first sync; a later one reads the file again.
    let readAtOpen: ReadonlySet<string> | undefined = yield* readState
    // A UID's key hashed by findStored is kept for put; put hashes the others itself.
    const hashed = new Map<string, string>()
    const key = (uid: string) => hashed.get(uid) ?? messageKey(options.account, uid)
    const keyKept = (uid: string) => {
      const k = messageKey(options.account, uid)
      hashed.set(uid, k)
      return k
    }
    const legacyKey = (uid: string) =>
      options.legacyAccount === undefined ? undefined : messageKey(options.legacyAccount, uid)
    return {
      maildir,
      location: root,
      describe,
      recorded: Effect.suspend(() => {
        const first = readAtOpen
        readAtOpen = undefined
        return first === undefined ? readState : Effect.succeed(first)
      }),
      findStored: (uids) =>
        Effect.map(
          storage("look into the Maildir", root, () => maildir.keys()),
          (inMaildir) => {
            // What the Maildir holds is read first: when it holds nothing of ours (a first
            // fetch) no UID is hashed here. Hashing every UID with both keys up front (two
            // SHA-256 each, and a set of them) took ~5 µs per message of a 10,000-message
            // first fetch (profile, 2026-12-05); `put` hashes each UID once as it stores it.
            if (inMaildir.size === 0) return new Set<string>()
            return new Set(
              uids.filter((uid) => {
                if (inMaildir.has(keyKept(uid))) return true
                const legacy = legacyKey(uid)
                return legacy !== undefined && inMaildir.has(legacy)
              })
            )
          }
        ),
      put: (uid, body) => {
        const delivered = maildir.deliver(key(uid), body)
        return typeof delivered === "string" ? undefined : delivered.then(() => {})
      },
      begin: async (uid) => {
        const delivery = await maildir.begin(key(uid))
        return { write: delivery.write, commit: async () => void (await delivery.commit()), abort: delivery.abort }
      },
      // The renames must be durable before the state file claims the messages.
      record: (uids) =>
        Effect.andThen(
          storage("sync the Maildir", root, () => maildir.sync()),
          storage("write the state file", statePath, () => saveUids(statePath, options.account, uids))
        )
    }
  })
