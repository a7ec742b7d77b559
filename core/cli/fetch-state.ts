/**
 * The state file of `pop3 fetch`: per account, the UIDs of the messages already stored.
 *
 * ```json
 * {"version":1,"accounts":{"alice@pop.example.com:995":{"uids":["1.9f2c…","2.77ab…"]}}}
 * ```
 *
 * One file can serve several accounts (the default lives in the Maildir, which accounts
 * may share); each run replaces only its own entry. It stays small: one UID (≤ 70 octets,
 * RFC 1939) per message still on the server — UIDs the server no longer lists are dropped
 * when the entry is rewritten.
 *
 * Updates are atomic: the whole file is written to `<file>.<random>.tmp`, created
 * exclusively (`wx`: a name planted in advance, a symlink say, fails the write instead of
 * being followed), fsynced, renamed over the old one, and the directory fsynced — a crash
 * leaves the old file or the new one, never a mix. Before writing, the file is read again so another account's entry
 * written meanwhile by a concurrent run is kept.
 *
 * @module
 */
import { randomBytes } from "node:crypto"
import { open, readFile, rename, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { fsyncDir } from "./maildir.ts"

/**
 * The file's content.
 * @category models
 */
export interface FetchState {
  readonly version: 1
  readonly accounts: Readonly<Record<string, { readonly uids: ReadonlyArray<string> }>>
}

/**
 * The state file was there but is not one of ours (or is damaged).
 * @category errors
 */
export class StateFileInvalid extends Error {
  readonly path: string
  constructor(path: string, reason: string) {
    super(
      `not a valid pop3 state file (${reason}); move it away to start afresh — messages already in the Maildir are still recognised`
    )
    this.name = "StateFileInvalid"
    this.path = path
  }
}

/** The account's key in the file (and in Maildir file names): user, host and port. */
export { accountKey } from "../sync/index.ts"

/**
 * The key earlier versions used (`user@host`, no port). A state file that has it and not
 * the new key is migrated: the old entry seeds the account's first run on each port (it
 * may be any of them), and is left in place for the others.
 * @category models
 */
export const legacyAccountKey = (user: string, host: string): string => `${user}@${host.toLowerCase()}`

/**
 * Where the state lives when `--state` is not given.
 * @category models
 */
export const defaultStatePath = (maildir: string): string => join(maildir, ".pop3-state.json")

const empty: FetchState = { version: 1, accounts: {} }

/**
 * Reads the whole file; a missing file is an empty state.
 * @category reading
 */
export const readState = async (path: string): Promise<FetchState> => {
  let text: string
  try {
    text = await readFile(path, "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return empty
    throw error
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new StateFileInvalid(path, "not JSON")
  }
  if (typeof value !== "object" || value === null || (value as { version?: unknown }).version !== 1) {
    throw new StateFileInvalid(path, 'no "version": 1')
  }
  const accounts = (value as { accounts?: unknown }).accounts
  if (typeof accounts !== "object" || accounts === null || Array.isArray(accounts))
    throw new StateFileInvalid(path, 'no "accounts" object')
  for (const [key, entry] of Object.entries(accounts)) {
    const uids = (entry as { uids?: unknown } | null)?.uids
    if (!Array.isArray(uids) || !uids.every((u) => typeof u === "string"))
      throw new StateFileInvalid(path, `account ${JSON.stringify(key)} has no "uids" list of strings`)
  }
  return value as FetchState
}

/**
 * The UIDs recorded for one account; when it has no entry yet, those of its `legacy` key
 * (see `legacyAccountKey`).
 * @category reading
 */
export const loadUids = async (path: string, account: string, legacy?: string): Promise<Set<string>> => {
  const { accounts } = await readState(path)
  return new Set(accounts[account]?.uids ?? (legacy !== undefined ? accounts[legacy]?.uids : undefined) ?? [])
}

/**
 * Replaces the account's UIDs, atomically (see the module comment).
 * @category writing
 */
export const saveUids = async (path: string, account: string, uids: Iterable<string>): Promise<void> => {
  const current = await readState(path)
  const next: FetchState = { version: 1, accounts: { ...current.accounts, [account]: { uids: [...uids] } } }
  const dir = dirname(path)
  const tmp = join(dir, `${basename(path)}.${randomBytes(8).toString("hex")}.tmp`)
  const handle = await open(tmp, "wx", 0o600)
  try {
    try {
      await handle.writeFile(JSON.stringify(next) + "\n")
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
  } catch (error) {
    await unlink(tmp).catch(() => {})
    throw error
  }
  await fsyncDir(dir)
}
