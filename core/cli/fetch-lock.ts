/**
 * One `pop3 fetch` at a time per account and state file: a lock file beside the state
 * file, held from before the state is read until the run has ended.
 *
 * Why: two runs of the same account at once (a cron job whose last run is still going)
 * each saw the same messages as new and stored each of them twice — two runs over a
 * 3,000-message mailbox left 5,963 files in `new/`. mpop and fetchmail lock too. Runs of
 * different accounts sharing a state file (the default one in a shared Maildir) still run
 * side by side: the lock is per account, and the state file keeps their entries apart on
 * its own (fetch-state.ts).
 *
 * The lock is a file created exclusively (`wx`) holding `<pid> <host>`. A run that finds
 * it waits (LOCK_WAIT_MS, polling) for it to go, then fails with a `StorageError` naming
 * the holder and the file — exit 5, before the login, nothing deleted. A lock left by a
 * run that died (killed, the machine down) is taken over: its process no longer exists on
 * this host. A lock from another host (a state file on a network file system) is never
 * taken over, as that process cannot be checked from here.
 *
 * @module
 */
import * as crypto from "node:crypto"
import { open, readFile, stat, unlink } from "node:fs/promises"
import { hostname } from "node:os"
import { processExists } from "./maildir.ts"

/** How long a run waits for another run's lock before it gives up. */
export const LOCK_WAIT_MS = 10_000
/** How often it looks again meanwhile. */
const POLL_MS = 100
/**
 * A lock file still empty or unreadable this long after it was made is a run that died
 * between creating and writing it; younger, a run that is writing it now.
 */
const UNWRITTEN_MS = 10_000

/**
 * Where the lock of `account` on the state file `statePath` is: beside it, named for a
 * hash of the account (its name may hold any character).
 * @category locking
 */
export const lockPath = (statePath: string, account: string): string =>
  `${statePath}.${crypto.createHash("sha256").update(account).digest("hex").slice(0, 16)}.lock`

/** Who holds a lock, as its file says; undefined when it says nothing readable. */
const holderOf = (text: string): { readonly pid: number; readonly host: string } | undefined => {
  const match = /^(\d+) (.+)\n$/.exec(text)
  return match === null ? undefined : { pid: Number(match[1]), host: match[2]! }
}

/** Removes a dead run's lock; gone already is as good. */
const removeStale = (path: string) =>
  unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error
  })

/**
 * Another run holds the lock (see the module comment).
 * @category errors
 */
export class LockHeld extends Error {}

/**
 * Takes the lock of `account` on `statePath` (see the module comment); resolves with its
 * release, or rejects with `LockHeld` when another run held it for longer than `waitMs`,
 * or with the file system's error.
 * @category locking
 */
export const acquireFetchLock = async (
  statePath: string,
  account: string,
  options: { readonly waitMs?: number | undefined } = {}
): Promise<() => Promise<void>> => {
  const path = lockPath(statePath, account)
  const host = hostname()
  const mine = `${process.pid} ${host}\n`
  // Released only while it is still ours (a lock taken over by mistake is not removed twice).
  const release = async () => {
    const text = await readFile(path, "utf8").catch(() => undefined)
    if (text === mine) await unlink(path).catch(() => {})
  }
  const waitMs = options.waitMs ?? LOCK_WAIT_MS
  const started = Date.now()
  for (;;) {
    try {
      const file = await open(path, "wx", 0o600)
      try {
        await file.writeFile(mine)
        await file.sync()
      } finally {
        await file.close()
      }
      return release
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    // Gone meanwhile: try again at once. Unreadable: a holder that says nothing (below).
    const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) =>
      error.code === "ENOENT" ? undefined : ""
    )
    if (text === undefined) continue
    const holder = holderOf(text)
    if (holder === undefined) {
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0
      )
      if (age > UNWRITTEN_MS) {
        await removeStale(path)
        continue
      }
    } else if (holder.host === host && holder.pid !== process.pid && !processExists(holder.pid)) {
      await removeStale(path)
      continue
    }
    if (Date.now() - started >= waitMs) {
      const who = holder === undefined ? "another run" : `another pop3 fetch (pid ${holder.pid} on ${holder.host})`
      throw new LockHeld(
        `${who} is fetching this account with it (waited ${waitMs / 1000} s; if none is running, remove ${path})`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}
