/**
 * `pop3 fetch`: download the messages not fetched before into a Maildir and, with
 * `--delete`, remove them from the server once they are safely stored.
 *
 * Design — why a crash, even SIGKILL at any instant, neither loses nor duplicates mail:
 *
 * 1. A message is known by its UID (UIDL). Without UIDL there is no safe way to tell a new
 *    message from one fetched before, so fetch refuses (`UidlRequired`, exit 1) instead of
 *    guessing by message number, size or Message-ID.
 * 2. Order for each message: RETR → write to `tmp/` → fsync → rename into `new/`
 *    (maildir.ts) → fsync `new/` → record the UID in the state file, written atomically
 *    (fetch-state.ts). DELE comes only after *every* message of the run went through all of
 *    that, followed by QUIT. So no DELE ever precedes the durable storage and recording of
 *    its message, and a run that fails or is killed before its end has sent no DELE at
 *    all — which matters for servers that apply deletions on any disconnect (Eudora QPOP).
 *    The next run deletes what was left (recorded UIDs still on the server).
 * 3. A kill between "renamed into new/" and "recorded" cannot cause a duplicate: the
 *    Maildir file name carries a hash of account and UID, and before downloading, each run
 *    looks in `new/` and `cur/` for the UIDs the state file does not have. Those found are
 *    recorded ("recovered") instead of fetched again.
 * 4. Because of 3, the state file need not be rewritten per message (which would cost
 *    O(messages) each time, quadratic in all): it is written about once a second while
 *    fetching, at the end, and best-effort when the run fails. It keeps only UIDs the
 *    server still lists, so it stays proportional to the mailbox.
 * 5. Speed: RETR is pipelined (`retrMany`) over batches of not-yet-seen messages (at most
 *    1000 messages or 64 MiB by LIST size each). `retrMany` collects each message in
 *    memory; it is written with synchronous calls (cheaper than thread-pool round trips for
 *    small files) and its fsync, when fsync really waits for a device, goes to the thread
 *    pool: up to 32 such messages (32 MiB) are in the air at once so their fsyncs overlap
 *    each other and the download, and the next answer is not read while that budget is
 *    used up — memory is bounded by it, never by the mailbox. A message LIST
 *    reports as larger than 16 MiB is streamed to its `tmp/` file with a plain RETR
 *    instead; and since LIST sizes are only hints (a hostile server can announce 10 octets
 *    and send without end), a pipelined message that grows past 16 MiB while it arrives
 *    goes on into its `tmp/` file too: no message is held in memory beyond that.
 *
 * Progress: on a terminal, one line on stderr, redrawn at most 10 times a second. `--json`
 * prints one summary object on stdout at the end. Local I/O failures (disk full,
 * permissions, a damaged state file) fail with `StorageError`, exit status 5.
 *
 * @module
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { BodySink, Mailbox, Pop3Error } from "../index.ts"
import { concatBytes } from "../protocol/index.ts"
import { defaultStatePath, loadUids, saveUids, StateFileInvalid } from "./fetch-state.ts"
import { type Delivery, messageKey, openMaildir } from "./maildir.ts"

/**
 * Storing locally failed: the Maildir or the state file could not be written or read.
 * Nothing was deleted on the server. CLI exit status 5.
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
 * The server has no UIDL, so fetch cannot know which messages it already has. CLI exit 1.
 * @category errors
 */
export class UidlRequired extends Data.TaggedError("UidlRequired")<{
  readonly text: string
}> {
  override get message() {
    return `the server does not support UIDL (-ERR${this.text === "" ? "" : ` ${this.text}`}); fetch requires UIDL so messages are not fetched twice — nothing was fetched`
  }
}

/**
 * Failures of fetch beyond the client's.
 * @category errors
 */
export type FetchError = StorageError | UidlRequired

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
  readonly maildir: string
  readonly state: string
}

/** Messages larger than this (by LIST) are streamed to disk rather than collected. */
export const STREAM_THRESHOLD = 16 * 1024 * 1024
/** Most messages per pipelined RETR batch. */
export const BATCH_MESSAGES = 1000
/** Most octets (by LIST) per pipelined RETR batch. */
export const BATCH_BYTES = 64 * 1024 * 1024
/** Most messages being written to disk at once (fsyncs overlap each other and the download). */
export const WRITE_CONCURRENCY = 32
/** Most octets of collected messages waiting for their writes to finish. */
export const WRITE_BUDGET = 32 * 1024 * 1024
/** Least time between two state file writes while fetching. */
const SAVE_INTERVAL_MS = 1000
/** Least time between two progress redraws. */
const PROGRESS_INTERVAL_MS = 100

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

const describe = (error: unknown): string => {
  if (error instanceof StateFileInvalid) return error.message
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === "string") return `${ERRNO[code] ?? (error as Error).message} (${code})`
  return error instanceof Error ? error.message : String(error)
}

const storage = <A>(operation: string, path: string, run: () => Promise<A>): Effect.Effect<A, StorageError> =>
  Effect.tryPromise({ try: run, catch: (error) => new StorageError({ operation, path, reason: describe(error) }) })

const formatBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`

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
    const eta = done >= total ? 0 : totalBytes > 0 ? (rate > 0 ? (totalBytes - bytes) / rate : Infinity) : done > 0 ? ((total - done) * seconds) / done : Infinity
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

interface Wanted {
  readonly msg: number
  readonly uid: string
  readonly key: string
}

/**
 * Runs `fetch` on a logged-in mailbox and ends the session with QUIT.
 * @category commands
 */
export const fetchMail = (mailbox: Mailbox, options: FetchOptions, io: FetchIo): Effect.Effect<FetchSummary, Pop3Error | FetchError> =>
  Effect.gen(function*() {
    const started = performance.now()
    const root = options.maildir
    const statePath = options.state ?? defaultStatePath(root)
    const maildir = yield* storage("create the Maildir", root, () => openMaildir(root))
    yield* Effect.promise(() => maildir.cleanTmp().catch(() => 0))
    const known = yield* storage("read the state file", statePath, () => loadUids(statePath, options.account, options.legacyAccount))

    // UIDL and LIST in one round trip when the server pipelines.
    const answers = yield* mailbox.listings
    if (Result.isFailure(answers.uidl)) {
      const error = answers.uidl.failure
      return yield* (error._tag === "ServerError" ? Effect.fail(new UidlRequired({ text: error.text })) : Effect.fail(error))
    }
    const listing = answers.uidl.success
    // Sizes only guide batching and progress; a server without LIST sizes still works.
    const sizes = new Map<number, number>()
    if (answers.list !== undefined && Result.isSuccess(answers.list)) for (const entry of answers.list.success) sizes.set(entry.msg, entry.size)

    const onServer = new Set<string>()
    const firsts: Array<{ readonly msg: number; readonly uid: string }> = []
    const wanted: Array<Wanted> = []
    let duplicateUids = 0
    let skipped = 0
    for (const entry of listing) {
      if (onServer.has(entry.uid)) {
        duplicateUids++
        continue
      }
      onServer.add(entry.uid)
      firsts.push(entry)
      if (known.has(entry.uid)) skipped++
      else wanted.push({ msg: entry.msg, uid: entry.uid, key: messageKey(options.account, entry.uid) })
    }
    if (duplicateUids > 0) {
      io.stderr(`pop3: warning: ${duplicateUids} message${duplicateUids === 1 ? " has" : "s have"} the same UID as an earlier message; left on the server, neither fetched nor deleted`)
    }

    // What the state will hold: known UIDs the server still lists, plus what this run stores.
    const recorded = new Set<string>()
    for (const uid of known) if (onServer.has(uid)) recorded.add(uid)
    let dirty = recorded.size !== known.size

    // Delivered by a run that did not live to record them (see 3 in the module comment) —
    // under the key of an earlier version too.
    const legacyKey = (w: Wanted) => (options.legacyAccount === undefined ? undefined : messageKey(options.legacyAccount, w.uid))
    const keys = new Set(wanted.flatMap((w) => [w.key, legacyKey(w) ?? w.key]))
    const inMaildir = yield* storage("look into the Maildir", root, () => maildir.find(keys))
    let recovered = 0
    const toFetch: Array<Wanted> = []
    for (const w of wanted) {
      if (inMaildir.has(w.key) || inMaildir.has(legacyKey(w) ?? w.key)) {
        recorded.add(w.uid)
        recovered++
        dirty = true
      } else {
        toFetch.push(w)
      }
    }

    // Stored (renamed into new/) but not yet in the state file.
    let unrecorded: Array<string> = []
    let lastSave = performance.now()
    let saveMillis = 0
    const save = Effect.gen(function*() {
      const t0 = performance.now()
      const batch = unrecorded
      // The renames must be durable before the state file claims the messages.
      yield* storage("sync the Maildir", root, () => maildir.sync())
      yield* storage("write the state file", statePath, () => saveUids(statePath, options.account, [...recorded, ...batch]))
      for (const uid of batch) recorded.add(uid)
      unrecorded = []
      dirty = false
      lastSave = performance.now()
      saveMillis = lastSave - t0
    })
    // Rewriting the file costs O(mailbox): keep it to a small share of the time.
    const maybeSave = Effect.suspend(() =>
      unrecorded.length > 0 && performance.now() - lastSave >= Math.max(SAVE_INTERVAL_MS, 20 * saveMillis) ? save : Effect.void
    )

    let fetched = 0
    let bytes = 0
    const progress = makeProgress(io.progress)
    let totalBytes = 0
    for (const w of toFetch) totalBytes += sizes.get(w.msg) ?? 0

    const stored = (w: Wanted, size: number) =>
      Effect.suspend(() => {
        unrecorded.push(w.uid)
        fetched++
        bytes += size
        progress.add(0, 1)
        return maybeSave
      })

    // Collected messages are delivered as they come (maildir.ts): on this thread when that
    // is quick, or with their fsyncs in the thread pool, several at a time, so one message's
    // fsync overlaps the download of the next (fsync dominates otherwise). At most
    // WRITE_CONCURRENCY files and WRITE_BUDGET bytes are in the air; the fetch fiber waits
    // for room before taking the next message, which holds back the socket. Finished writes
    // are recorded by the fetch fiber itself, so state file writes stay sequential.
    const writing = new Set<Promise<void>>()
    let writingBytes = 0
    let writeFailure: StorageError | undefined
    const written: Array<{ readonly w: Wanted; readonly size: number }> = []
    const record = (w: Wanted, size: number) => {
      unrecorded.push(w.uid)
      fetched++
      bytes += size
      progress.add(size, 1)
    }
    const takeWritten = () => {
      for (const { w, size } of written.splice(0)) record(w, size)
    }
    const recordWritten = Effect.suspend(() => {
      takeWritten()
      return writeFailure !== undefined ? Effect.fail(writeFailure) : maybeSave
    })
    const settleWrites = Effect.promise(() => Promise.all(writing))
    const storeFailure = (w: Wanted, error: unknown) =>
      new StorageError({ operation: `store message ${w.msg} in`, path: root, reason: describe(error) })
    const full = (size: number) =>
      writeFailure === undefined && writing.size > 0 && (writing.size >= WRITE_CONCURRENCY || writingBytes + size > WRITE_BUDGET)
    const waitForRoom = (size: number) =>
      Effect.promise(async () => {
        while (full(size)) await Promise.race(writing)
      })
    const deliver = (w: Wanted, body: Uint8Array): Effect.Effect<void, StorageError> =>
      Effect.suspend(() => {
        takeWritten()
        if (writeFailure !== undefined) return Effect.fail(writeFailure)
        let delivered: string | Promise<string>
        try {
          delivered = maildir.deliver(w.key, body)
        } catch (error) {
          return Effect.fail(storeFailure(w, error))
        }
        if (typeof delivered === "string") {
          record(w, body.length)
          return maybeSave
        }
        writingBytes += body.length
        const task: Promise<void> = delivered.then(
          () => void written.push({ w, size: body.length }),
          (error: unknown) => void (writeFailure ??= storeFailure(w, error))
        ).finally(() => {
          writing.delete(task)
          writingBytes -= body.length
        })
        writing.add(task)
        return maybeSave
      })
    const write = (w: Wanted, body: Uint8Array) =>
      Effect.suspend(() => (full(body.length) ? Effect.andThen(waitForRoom(body.length), deliver(w, body)) : deliver(w, body)))

    const streamed = (w: Wanted) =>
      Effect.gen(function*() {
        const delivery = yield* storage(`store message ${w.msg} in`, root, () => maildir.begin(w.key))
        let size = 0
        yield* Effect.gen(function*() {
          yield* Stream.runForEach(mailbox.retr(w.msg), (chunk) => {
            size += chunk.length
            progress.add(chunk.length, 0)
            return storage(`store message ${w.msg} in`, root, () => delivery.write(chunk))
          })
          yield* storage(`store message ${w.msg} in`, root, () => delivery.commit())
        }).pipe(Effect.onError(() => Effect.promise(() => delivery.abort())))
        yield* stored(w, size)
      })

    // A pipelined message is collected in memory up to the threshold; past it, what came so
    // far and the rest go straight into its tmp/ file (LIST sizes are hints, see 5 above).
    const threshold = options.streamThreshold ?? STREAM_THRESHOLD
    let spilling: Delivery | undefined
    type Received = { readonly _tag: "Collected"; readonly bytes: Uint8Array } | { readonly _tag: "Streamed"; readonly size: number }
    const sinkFor = (w: Wanted): BodySink<Received, StorageError> => {
      const parts: Array<Uint8Array> = []
      let size = 0
      let delivery: Delivery | undefined
      const write = (bytes: Uint8Array) => storage(`store message ${w.msg} in`, root, () => delivery!.write(bytes))
      return {
        push: (bytes) => {
          size += bytes.length
          if (delivery === undefined && size <= threshold) {
            // Views into socket chunks: copied once, at the end.
            parts.push(bytes)
            return
          }
          progress.add(bytes.length, 0)
          return Effect.gen(function*() {
            if (delivery === undefined) {
              delivery = spilling = yield* storage(`store message ${w.msg} in`, root, () => maildir.begin(w.key))
              const head = concatBytes(parts)
              parts.length = 0
              progress.add(head.length, 0)
              yield* write(head)
            }
            yield* write(bytes)
          })
        },
        end: () => {
          if (delivery === undefined) return Effect.succeed({ _tag: "Collected", bytes: concatBytes(parts, size) })
          const committed = delivery
          return Effect.map(storage(`store message ${w.msg} in`, root, () => committed.commit()), (): Received => {
            spilling = undefined
            return { _tag: "Streamed", size }
          })
        }
      }
    }

    const download = Effect.gen(function*() {
      progress.start(toFetch.length, totalBytes)
      let i = 0
      while (i < toFetch.length) {
        const first = toFetch[i]!
        if ((sizes.get(first.msg) ?? 0) > threshold) {
          yield* streamed(first)
          i++
          continue
        }
        const batch = new Map<number, Wanted>()
        let batchBytes = 0
        for (; i < toFetch.length && batch.size < BATCH_MESSAGES; i++) {
          const w = toFetch[i]!
          const size = sizes.get(w.msg) ?? 0
          if (size > threshold || (batch.size > 0 && batchBytes + size > BATCH_BYTES)) break
          batch.set(w.msg, w)
          batchBytes += size
        }
        yield* Stream.runForEach(
          // Without --delete nothing is deleted, so QUIT may ride behind the last RETR.
          mailbox.retrManyInto([...batch.keys()], (msg) => sinkFor(batch.get(msg)!), { quit: !options.delete && i >= toFetch.length }),
          ({ msg, body }) => (body._tag === "Collected" ? write(batch.get(msg)!, body.bytes) : stored(batch.get(msg)!, body.size))
        )
      }
      yield* settleWrites
      yield* recordWritten
      if (unrecorded.length > 0 || dirty) yield* save
    }).pipe(
      // Keep what was stored: the next run then need not even look for it. A message that was
      // going to its tmp/ file when the run failed is removed.
      Effect.onError(() =>
        Effect.andThen(Effect.promise(() => spilling?.abort() ?? Promise.resolve()), settleWrites).pipe(
          Effect.andThen(Effect.suspend(() => {
            takeWritten()
            return unrecorded.length > 0 || dirty ? Effect.ignore(save) : Effect.void
          }))
        )
      ),
      Effect.ensuring(Effect.sync(() => progress.finish()))
    )
    yield* download

    // Everything this run stored is recorded now; only recorded messages are deleted.
    let deleted = 0
    if (options.delete) {
      const msgs = firsts.filter((f) => recorded.has(f.uid)).map((f) => f.msg)
      if (msgs.length > 0) yield* mailbox.deleMany(msgs)
      deleted = msgs.length
    }
    if (mailbox.state() !== "CLOSED") yield* mailbox.quit

    const summary: FetchSummary = {
      fetched,
      skipped,
      recovered,
      deleted,
      bytes,
      seconds: Math.round(performance.now() - started) / 1000,
      messages: listing.length,
      duplicateUids,
      maildir: root,
      state: statePath
    }
    if (options.json) {
      yield* Effect.promise(() => io.stdout(JSON.stringify(summary) + "\n"))
    } else if (io.progress !== undefined) {
      io.stderr(
        `fetched ${fetched} message${fetched === 1 ? "" : "s"} (${formatBytes(bytes)}) in ${summary.seconds.toFixed(1)} s` +
          `${skipped > 0 ? `, ${skipped} already stored` : ""}${recovered > 0 ? `, ${recovered} recovered` : ""}${options.delete ? `, ${deleted} deleted` : ""}`
      )
    }
    return summary
  })
