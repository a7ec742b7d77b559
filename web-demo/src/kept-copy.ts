// A copy of the mailbox kept in this browser: the library's sync engine (the one `pop3
// fetch` runs) over its IndexedDB store, so a later visit reads the kept messages with no
// connection at all. Which account was kept is remembered in localStorage; the messages
// themselves are in IndexedDB (`pop3-everywhere/sync`).
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Mailbox } from "pop3-everywhere"
import {
  accountKey,
  estimateStorage,
  type IndexedDbStore,
  openIndexedDbStore,
  syncMailbox,
  type SyncResult
} from "pop3-everywhere/sync"

import type { HeaderCache } from "./mailbox-load.ts"

const REMEMBERED = "pop3-demo-kept-copy"

/** The account whose copy this browser keeps. */
export interface KeptAccount {
  readonly account: string
  readonly user: string
  readonly host: string
  readonly port: number
}

const run = async <A>(effect: Effect.Effect<A, unknown>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  throw failure !== undefined ? failure.error : Cause.squash(exit.cause)
}

/** The kept account, if this browser keeps one. */
export const keptAccount = (): KeptAccount | undefined => {
  try {
    const value = JSON.parse(localStorage.getItem(REMEMBERED) ?? "null") as KeptAccount | null
    return value !== null && typeof value.account === "string" ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Downloads every message not kept yet (no DELE) and ends the session with QUIT, as the
 * engine does; `progress` hears octets and messages as they are stored.
 */
export const keepCopy = async (
  mailbox: Mailbox,
  who: { readonly user: string; readonly host: string; readonly port: number },
  progress: { readonly start: (messages: number) => void; readonly stored: (messages: number) => void }
): Promise<SyncResult> => {
  const account = accountKey(who.user, who.host, who.port)
  const store = await run(openIndexedDbStore(account))
  // Remembered once the copy holds something: a sync that stored nothing (the storage
  // full at the first message, say) must not leave the page offering an empty copy.
  let remembered = false
  const remember = () => {
    if (remembered) return
    remembered = true
    localStorage.setItem(
      REMEMBERED,
      JSON.stringify({ account, user: who.user, host: who.host, port: who.port } satisfies KeptAccount)
    )
  }
  try {
    const result = await run(
      syncMailbox(mailbox, store, {
        delete: false,
        onStart: (messages) => progress.start(messages),
        onProgress: (_, messages) => {
          if (messages > 0) {
            remember()
            progress.stored(messages)
          }
        }
      })
    )
    if (result.fetched + result.skipped + result.recovered > 0) remember()
    return result
  } finally {
    store.close()
  }
}

/** Opens the kept copy (no connection). */
export const openKept = (kept: KeptAccount): Promise<IndexedDbStore> => run(openIndexedDbStore(kept.account))

export const readKept = <A>(effect: Effect.Effect<A, unknown>): Promise<A> => run(effect)

/** Deletes the kept copy and forgets the account. */
export const forgetCopy = async (store: IndexedDbStore): Promise<void> => {
  await run(store.forget)
  localStorage.removeItem(REMEMBERED)
}

/** The origin's storage use, in words, when the browser says. */
export const storageUsed = async (): Promise<string | undefined> => {
  const estimate = await estimateStorage().catch(() => undefined)
  if (estimate === undefined) return undefined
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
  return `${mb(estimate.usage)} of ${mb(estimate.quota)}`
}

/**
 * The kept copy's header cache, when this browser keeps this account (else undefined): the
 * list then reads each header once across sessions. The database stays open for the page.
 */
export const keptHeaderCache = async (who: {
  readonly user: string
  readonly host: string
  readonly port: number
}): Promise<HeaderCache | undefined> => {
  const kept = keptAccount()
  if (kept === undefined || kept.account !== accountKey(who.user, who.host, who.port)) return undefined
  const store = await run(openIndexedDbStore(kept.account)).catch(() => undefined)
  if (store === undefined) return undefined
  return { get: (uids) => run(store.headers(uids)), put: (headers) => run(store.putHeaders(headers)) }
}
