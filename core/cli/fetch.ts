/**
 * `pop3 fetch`: download the messages not fetched before into a Maildir and, with
 * `--delete`, remove them from the server once they are safely stored.
 *
 * A thin command over the sync engine (`pop3-everywhere/sync`, core/sync/engine.ts, whose
 * design comment explains why a crash, even SIGKILL at any instant, neither loses nor
 * duplicates mail) and the Maildir store (maildir-store.ts): a message is RETRieved,
 * written to `tmp/`, fsynced and renamed into `new/` (maildir.ts); `new/` is fsynced before
 * the state file (fetch-state.ts, written atomically) records its UID; DELE only after the
 * whole run is stored and recorded. Maildir file names carry a hash of account and UID, so
 * a message delivered by a run killed before recording it is recognised ("recovered")
 * rather than fetched again. A collected message's fsync, when fsync really waits for a
 * device, goes to the thread pool, so up to 32 overlap each other and the download.
 *
 * Progress: on a terminal, one line on stderr, redrawn at most 10 times a second. `--json`
 * prints one summary object on stdout at the end. Local I/O failures (disk full,
 * permissions, a damaged state file, a run of the account still going) fail with
 * `StorageError`, exit status 5.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Mailbox, Pop3Error } from "../index.ts"
import { StorageError, type SyncError, syncMailbox, UidlRequired } from "../sync/index.ts"
import { defaultStatePath } from "./fetch-state.ts"
import { openMaildirStore } from "./maildir-store.ts"
import { jsonLine, printable } from "./printable.ts"

export { BATCH_BYTES, BATCH_MESSAGES, STREAM_THRESHOLD, WRITE_BUDGET, WRITE_CONCURRENCY } from "../sync/index.ts"
export { StorageError, UidlRequired }

/**
 * Failures of fetch beyond the client's.
 * @category errors
 */
export type FetchError = SyncError

/**
 * What fetch was asked to do.
 * @category models
 */
export interface FetchOptions {
  readonly maildir: string
  /** The state file; default `<maildir>/.pop3-state.json`. */
  readonly state: string | undefined
  readonly delete: boolean
  readonly json: boolean
  /** The account's key in the state file (`accountKey(user, host, port)`). */
  readonly account: string
  /** The key an earlier version used for it (`legacyAccountKey`), to migrate from. */
  readonly legacyAccount?: string | undefined
  /** Messages larger than this go to disk as they arrive (default STREAM_THRESHOLD; tests lower it). */
  readonly streamThreshold?: number | undefined
  /** How long to wait for another run of the account to end (default LOCK_WAIT_MS; tests lower it). */
  readonly lockWaitMs?: number | undefined
}

/**
 * What fetch writes to.
 * @category models
 */
export interface FetchIo {
  readonly stdout: (text: string) => Promise<void>
  /** One line (the newline is added). */
  readonly stderr: (text: string) => void
  /** Raw text to a terminal's stderr; absent when stderr is not a terminal (no progress). */
  readonly progress?: ((text: string) => void) | undefined
}

/**
 * The result, printed as JSON with `--json`.
 * @category models
 */
export interface FetchSummary {
  /** Messages downloaded and stored by this run. */
  readonly fetched: number
  /** Messages on the server recorded as stored by an earlier run. */
  readonly skipped: number
  /** Messages found in the Maildir but not yet recorded (an earlier run was interrupted). */
  readonly recovered: number
  /** Messages deleted on the server (with --delete; committed by QUIT). */
  readonly deleted: number
  /** Octets downloaded (as sent by the server, CRLF line ends). */
  readonly bytes: number
  readonly seconds: number
  /** Messages the server listed. */
  readonly messages: number
  /** Messages whose UID repeats an earlier one's; left alone (neither fetched nor deleted). */
  readonly duplicateUids: number
  /** Messages whose RETR the server refused: left there, not stored; the run ends with exit 1. */
  readonly refused: number
  readonly maildir: string
  readonly state: string
}

/** Least time between two progress redraws. */
const PROGRESS_INTERVAL_MS = 100

const formatBytes = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1024 ** 3
        ? `${(n / 1024 ** 2).toFixed(1)} MiB`
        : `${(n / 1024 ** 3).toFixed(2)} GiB`

const formatSeconds = (s: number): string => {
  if (!Number.isFinite(s)) return "--:--"
  const t = Math.round(s)
  const h = Math.floor(t / 3600)
  const m = Math.floor((t % 3600) / 60)
  const sec = String(t % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`
}

interface Progress {
  readonly start: (messages: number, bytes: number) => void
  readonly add: (bytes: number, messages: number) => void
  readonly finish: () => void
}

const makeProgress = (write: ((text: string) => void) | undefined): Progress => {
  if (write === undefined) return { start: () => {}, add: () => {}, finish: () => {} }
  let total = 0
  let totalBytes = 0
  let done = 0
  let bytes = 0
  let started = 0
  let drawn = -Infinity
  let active = false
  const draw = (now: number) => {
    drawn = now
    const seconds = (now - started) / 1000
    const rate = seconds > 0 ? bytes / seconds : 0
    const fraction = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : total > 0 ? done / total : 1
    const eta =
      done >= total
        ? 0
        : totalBytes > 0
          ? rate > 0
            ? (totalBytes - bytes) / rate
            : Infinity
          : done > 0
            ? ((total - done) * seconds) / done
            : Infinity
    const width = 20
    const filled = Math.round(fraction * width)
    write(
      `\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} messages  ${formatBytes(bytes)}${totalBytes > 0 ? ` / ${formatBytes(totalBytes)}` : ""}  ${formatBytes(Math.round(rate))}/s  ETA ${formatSeconds(eta)}\x1b[K`
    )
  }
  return {
    start(messages, size) {
      total = messages
      totalBytes = size
      started = performance.now()
      active = messages > 0
      if (active) draw(started)
    },
    add(n, messages) {
      bytes += n
      done += messages
      const now = performance.now()
      if (active && now - drawn >= PROGRESS_INTERVAL_MS) draw(now)
    },
    finish() {
      if (!active) return
      active = false
      draw(performance.now())
      write("\n")
    }
  }
}

/**
 * The Maildir and state file fetch works on, opened and read, the account's lock held for
 * the scope: what can fail locally fails here. main.ts opens it while the connection is
 * made and waits for it before logging in.
 * @category commands
 */
export const openFetchStore = (options: FetchOptions): Effect.Effect<FetchStore, StorageError, Scope.Scope> =>
  openMaildirStore({
    maildir: options.maildir,
    state: options.state ?? defaultStatePath(options.maildir),
    account: options.account,
    legacyAccount: options.legacyAccount,
    lockWaitMs: options.lockWaitMs
  })

/**
 * An opened fetch store (`openFetchStore`).
 * @category models
 */
export type FetchStore = Effect.Success<ReturnType<typeof openMaildirStore>>

/**
 * Runs `fetch` on a logged-in mailbox and ends the session with QUIT, into `store` when
 * given (opened with the same options, its lock held by the caller), else opening it first
 * (and holding its lock until the end).
 * @category commands
 */
export const fetchMail = (
  mailbox: Mailbox,
  options: FetchOptions,
  io: FetchIo,
  opened?: FetchStore
): Effect.Effect<FetchSummary, Pop3Error | FetchError> =>
  opened !== undefined
    ? fetchInto(mailbox, options, io, opened)
    : Effect.scoped(Effect.flatMap(openFetchStore(options), (store) => fetchInto(mailbox, options, io, store)))

const fetchInto = (
  mailbox: Mailbox,
  options: FetchOptions,
  io: FetchIo,
  store: FetchStore
): Effect.Effect<FetchSummary, Pop3Error | FetchError> =>
  Effect.gen(function* () {
    const started = performance.now()
    const root = options.maildir
    const statePath = options.state ?? defaultStatePath(root)
    const progress = makeProgress(io.progress)
    const result = yield* syncMailbox(mailbox, store, {
      delete: options.delete,
      streamThreshold: options.streamThreshold,
      onStart: progress.start,
      onProgress: progress.add,
      // With --json, stderr carries JSON lines (errors are `{"error","message"}`), warnings too.
      onWarning: (text) => io.stderr(options.json ? jsonLine({ warning: text }) : `pop3: warning: ${printable(text)}`)
    }).pipe(Effect.ensuring(Effect.sync(() => progress.finish())))
    const { fetched, skipped, recovered, deleted, bytes } = result
    const summary: FetchSummary = {
      fetched,
      skipped,
      recovered,
      deleted,
      bytes,
      seconds: Math.round(performance.now() - started) / 1000,
      messages: result.messages,
      duplicateUids: result.duplicateUids,
      refused: result.refused.length,
      maildir: root,
      state: statePath
    }
    if (options.json) {
      yield* Effect.promise(() => io.stdout(JSON.stringify(summary) + "\n"))
    } else if (io.progress !== undefined) {
      io.stderr(
        `fetched ${fetched} message${fetched === 1 ? "" : "s"} (${formatBytes(bytes)}) in ${summary.seconds.toFixed(1)} s` +
          `${skipped > 0 ? `, ${skipped} already stored` : ""}${recovered > 0 ? `, ${recovered} recovered` : ""}${options.delete ? `, ${deleted} deleted` : ""}${summary.refused > 0 ? `, ${summary.refused} refused by the server` : ""}`
      )
    }
    // The others are stored (and deleted with --delete); the run still fails, so a cron job
    // hears of the messages it could not get (each was warned about above).
    const [firstRefused] = result.refused
    if (firstRefused !== undefined) return yield* firstRefused.error
    return summary
  })
