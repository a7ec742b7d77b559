/**
 * The sync engine: downloads the messages of a mailbox not stored before into a
 * `SyncStore` and, when asked, deletes them on the server once they are safely stored.
 * `pop3 fetch` is this engine over a Maildir; a web page runs it over IndexedDB. It does
 * no I/O of its own (the mailbox and the store do), so it runs on every runtime.
 *
 * Why a crash, even a kill at any instant, neither loses nor duplicates mail:
 *
 * 1. A message is known by its UID (UIDL). Without UIDL there is no safe way to tell a new
 *    message from one fetched before, so the engine refuses (`UidlRequired`) instead of
 *    guessing by message number, size or Message-ID.
 * 2. Order for each message: RETR → store (`put`, or `begin`/`write`/`commit`) → record
 *    (`record`, which first makes every stored message durable). DELE comes only after
 *    *every* message of the run went through all of that, followed by QUIT. So no DELE
 *    ever precedes the durable storage and recording of its message, and a run that fails
 *    or is killed before its end has sent no DELE at all — which matters for servers that
 *    apply deletions on any disconnect (Eudora QPOP). The next run deletes what was left
 *    (recorded UIDs still on the server).
 * 3. A kill between "stored" and "recorded" cannot cause a duplicate: before downloading,
 *    each run asks the store for the UIDs it holds but has not recorded (`findStored`).
 *    Those found are recorded ("recovered") instead of fetched again.
 * 4. Because of 3, the record need not be rewritten per message (which costs O(messages)
 *    each time for a state file, quadratic in all): `record` runs about once a second
 *    while fetching, at the end, and best-effort when the run fails. It holds only UIDs the
 *    server still lists, so it stays proportional to the mailbox.
 * 5. Speed: RETR is pipelined (`retrManyInto`) over batches of not-yet-seen messages (at
 *    most 1000 messages or 64 MiB by LIST size each). Each message is collected in memory
 *    and `put`; a store may finish a put later (a Maildir's fsync in the thread pool, an
 *    IndexedDB transaction): up to 32 such messages (32 MiB) are in the air at once so
 *    they overlap each other and the download, and the next answer is not read while that
 *    budget is used up — memory is bounded by it, never by the mailbox. A message LIST
 *    reports as larger than 16 MiB is streamed into the store with a plain RETR instead;
 *    and since LIST sizes are only hints (a hostile server can announce 10 octets and send
 *    without end), a pipelined message that grows past 16 MiB while it arrives goes on into
 *    the store as it comes too: no message is held in memory beyond that.
 * 6. A message the server refuses (`-ERR` to its RETR: damaged, `[SYS/PERM]`, gone since
 *    UIDL) is skipped: not stored, not recorded, never deleted. The run goes on with the
 *    others and lists it in `refused`, so one bad message does not stop every later run at
 *    the same place; the next run asks for it again.
 *
 * @module
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Mailbox } from "../client/mailbox.ts"
import type { BodySink } from "../client/pipeline.ts"
import { type Pop3Error, ServerError } from "../errors.ts"
import { makeBodyArena } from "./body-arena.ts"
import { StorageError, type StoreWriter, type SyncStore } from "./store.ts"

/**
 * The server has no UIDL, so the engine cannot know which messages it already has. CLI exit 1.
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
 * Failures of a sync beyond the client's.
 * @category errors
 */
export type SyncError = StorageError | UidlRequired

/**
 * What a sync is asked to do, and whom it tells how it goes.
 * @category models
 */
export interface SyncOptions {
  /** DELE every recorded message still on the server (committed by QUIT). */
  readonly delete: boolean
  /** Messages larger than this are stored as they arrive (default STREAM_THRESHOLD; tests lower it). */
  readonly streamThreshold?: number | undefined
  /** Before downloading: how many messages, and how many octets by LIST. */
  readonly onStart?: ((messages: number, bytes: number) => void) | undefined
  /** Octets received and messages stored since the last call. */
  readonly onProgress?: ((bytes: number, messages: number) => void) | undefined
  /** A warning in words (messages sharing a UID). */
  readonly onWarning?: ((text: string) => void) | undefined
}

/**
 * What a sync did.
 * @category models
 */
export interface SyncResult {
  /** Messages downloaded and stored by this run. */
  readonly fetched: number
  /** Messages on the server recorded as stored by an earlier run. */
  readonly skipped: number
  /** Messages found stored but not yet recorded (an earlier run was interrupted). */
  readonly recovered: number
  /** Messages deleted on the server (with `delete`; committed by QUIT). */
  readonly deleted: number
  /** Octets downloaded (as sent by the server, CRLF line ends). */
  readonly bytes: number
  /** Messages the server listed. */
  readonly messages: number
  /** Messages whose UID repeats an earlier one's; left alone (neither fetched nor deleted). */
  readonly duplicateUids: number
  /** Messages whose RETR the server refused; left on the server, not stored (see 6 above). */
  readonly refused: ReadonlyArray<RefusedMessage>
}

/**
 * A message the server would not send, and its answer.
 * @category models
 */
export interface RefusedMessage {
  readonly msg: number
  readonly uid: string
  readonly error: ServerError
}

/** Messages larger than this (by LIST) are streamed into the store rather than collected. */
export const STREAM_THRESHOLD = 16 * 1024 * 1024
/** Most messages per pipelined RETR batch. */
export const BATCH_MESSAGES = 1000
/** Most octets (by LIST) per pipelined RETR batch. */
export const BATCH_BYTES = 64 * 1024 * 1024
/** Most messages being stored at once (their writes overlap each other and the download). */
export const WRITE_CONCURRENCY = 32
/** Most octets of collected messages waiting for their writes to finish. */
export const WRITE_BUDGET = 32 * 1024 * 1024
/** Least time between two records while fetching. */
const SAVE_INTERVAL_MS = 1000

interface Wanted {
  readonly msg: number
  readonly uid: string
}

/**
 * Syncs a logged-in mailbox into `store` and ends the session with QUIT.
 * @category sync
 */
export const syncMailbox = (
  mailbox: Mailbox,
  store: SyncStore,
  options: SyncOptions
): Effect.Effect<SyncResult, Pop3Error | SyncError> =>
  Effect.gen(function* () {
    const location = store.location
    const storage = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, StorageError> =>
      Effect.tryPromise({
        try: run,
        catch: (error) => new StorageError({ operation, path: location, reason: store.describe(error) })
      })
    const onProgress = options.onProgress ?? (() => {})
    const known = yield* store.recorded

    // UIDL and LIST in one round trip when the server pipelines.
    const answers = yield* mailbox.listings
    if (Result.isFailure(answers.uidl)) {
      const error = answers.uidl.failure
      return yield* error._tag === "ServerError"
        ? Effect.fail(new UidlRequired({ text: error.text }))
        : Effect.fail(error)
    }
    const listing = answers.uidl.success
    // Sizes only guide batching and progress; a server without LIST sizes still works.
    const sizes = new Map<number, number>()
    if (answers.list !== undefined && Result.isSuccess(answers.list))
      for (const entry of answers.list.success) sizes.set(entry.msg, entry.size)

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
      else wanted.push({ msg: entry.msg, uid: entry.uid })
    }
    if (duplicateUids > 0) {
      options.onWarning?.(
        `${duplicateUids} message${duplicateUids === 1 ? " has" : "s have"} the same UID as an earlier message; left on the server, neither fetched nor deleted`
      )
    }

    // What the record will hold: known UIDs the server still lists, plus what this run stores.
    const recorded = new Set<string>()
    for (const uid of known) if (onServer.has(uid)) recorded.add(uid)
    let dirty = recorded.size !== known.size

    // Stored by a run that did not live to record them (see 3 in the module comment). Not
    // asked when nothing is wanted: a Maildir store lists new/ and cur/ to answer.
    const found = wanted.length === 0 ? new Set<string>() : yield* store.findStored(wanted.map((w) => w.uid))
    let recovered = 0
    const toFetch: Array<Wanted> = []
    for (const w of wanted) {
      if (found.has(w.uid)) {
        recorded.add(w.uid)
        recovered++
        dirty = true
      } else {
        toFetch.push(w)
      }
    }

    // Stored but not yet recorded.
    let unrecorded: Array<string> = []
    let lastSave = performance.now()
    let saveMillis = 0
    const save = Effect.gen(function* () {
      const t0 = performance.now()
      const batch = unrecorded
      yield* store.record([...recorded, ...batch])
      for (const uid of batch) recorded.add(uid)
      unrecorded = []
      dirty = false
      lastSave = performance.now()
      saveMillis = lastSave - t0
    })
    // Rewriting the record may cost O(mailbox): keep it to a small share of the time.
    const maybeSave = Effect.suspend(() =>
      unrecorded.length > 0 && performance.now() - lastSave >= Math.max(SAVE_INTERVAL_MS, 20 * saveMillis)
        ? save
        : Effect.void
    )

    let fetched = 0
    let bytes = 0
    let totalBytes = 0
    for (const w of toFetch) totalBytes += sizes.get(w.msg) ?? 0

    // A message streamed into the store (its octets were reported as they came).
    const streamedIn = (w: Wanted, size: number) => {
      unrecorded.push(w.uid)
      fetched++
      bytes += size
      onProgress(0, 1)
    }
    const stored = (w: Wanted, size: number) =>
      Effect.suspend(() => {
        streamedIn(w, size)
        return maybeSave
      })

    // Collected messages are put as they come: done at once when the store is quick, or
    // later, several at a time, so one message's write overlaps the download of the next.
    // At most WRITE_CONCURRENCY messages and WRITE_BUDGET bytes are in the air; the sync
    // fiber waits for room before taking the next message, which holds back the socket.
    // Finished puts are recorded by the sync fiber itself, so records stay sequential.
    const writing = new Set<Promise<void>>()
    let writingBytes = 0
    let writeFailure: StorageError | undefined
    const written: Array<{ readonly w: Wanted; readonly size: number }> = []
    const record = (w: Wanted, size: number) => {
      unrecorded.push(w.uid)
      fetched++
      bytes += size
      onProgress(size, 1)
    }
    const takeWritten = () => {
      if (written.length === 0) return
      for (const { w, size } of written.splice(0)) record(w, size)
    }
    const recordWritten = Effect.suspend(() => {
      takeWritten()
      return writeFailure !== undefined ? Effect.fail(writeFailure) : maybeSave
    })
    const settleWrites = Effect.promise(() => Promise.all(writing))
    const storeFailure = (w: Wanted, error: unknown) =>
      new StorageError({ operation: `store message ${w.msg} in`, path: location, reason: store.describe(error) })
    const full = (size: number) =>
      writeFailure === undefined &&
      writing.size > 0 &&
      (writing.size >= WRITE_CONCURRENCY || writingBytes + size > WRITE_BUDGET)
    const waitForRoom = (size: number) =>
      Effect.promise(async () => {
        while (full(size)) await Promise.race(writing)
      })
    // Puts one collected message; the failure, if it failed at once.
    const deliver = (w: Wanted, body: Uint8Array): StorageError | undefined => {
      takeWritten()
      if (writeFailure !== undefined) return writeFailure
      let put: void | Promise<void>
      try {
        put = store.put(w.uid, body)
      } catch (error) {
        return storeFailure(w, error)
      }
      if (put === undefined) {
        record(w, body.length)
        return undefined
      }
      writingBytes += body.length
      const task: Promise<void> = put
        .then(
          () => void written.push({ w, size: body.length }),
          (error: unknown) => void (writeFailure ??= storeFailure(w, error))
        )
        .finally(() => {
          writing.delete(task)
          writingBytes -= body.length
        })
      writing.add(task)
      return undefined
    }

    // A message LIST announces as large goes into the store as it arrives, through a sink:
    // the socket's own bytes, each written before the next read reuses them — not `retr`'s
    // stream, which copies every chunk (a 100 MB message took 0.89–0.96 s to fetch into a
    // Maildir that way; mpop 0.30 s).
    const streamed = (w: Wanted) =>
      Effect.gen(function* () {
        const operation = `store message ${w.msg} in`
        const writer = yield* storage(operation, () => store.begin(w.uid))
        let size = 0
        yield* Effect.gen(function* () {
          yield* Stream.runDrain(
            mailbox.retrManyInto([w.msg], () => ({
              push: (bytes) => {
                size += bytes.length
                onProgress(bytes.length, 0)
                return storage(operation, () => writer.write(bytes))
              },
              end: () => Effect.void
            }))
          )
          yield* storage(operation, () => writer.commit())
        }).pipe(Effect.onError(() => Effect.promise(() => writer.abort())))
        yield* stored(w, size)
      })

    // A pipelined message is collected in memory up to the threshold; past it, what came so
    // far and the rest go straight into the store (LIST sizes are hints, see 5 above).
    const threshold = options.streamThreshold ?? STREAM_THRESHOLD
    let spilling: StoreWriter | undefined
    type Received =
      | { readonly _tag: "Collected"; readonly bytes: Uint8Array }
      | { readonly _tag: "Streamed"; readonly size: number }
    // Collected bodies are copied (the pushed views are valid only until the next read) into
    // shared slabs, one message after another (body-arena.ts).
    const arena = makeBodyArena()
    const sinkFor = (w: Wanted): BodySink<Received, StorageError> => {
      const operation = `store message ${w.msg} in`
      let size = 0
      let writer: StoreWriter | undefined
      const write = (bytes: Uint8Array) => storage(operation, () => writer!.write(bytes))
      arena.begin(sizes.get(w.msg))
      return {
        push: (bytes) => {
          size += bytes.length
          if (writer === undefined && size <= threshold) {
            arena.append(bytes)
            return
          }
          onProgress(bytes.length, 0)
          return Effect.gen(function* () {
            if (writer === undefined) {
              writer = spilling = yield* storage(operation, () => store.begin(w.uid))
              // What came so far; the arena leaves it behind (its slab is never rewritten).
              const head = arena.current()
              arena.begin()
              onProgress(head.length, 0)
              yield* write(head)
            }
            yield* write(bytes)
          })
        },
        end: () => {
          if (writer === undefined) return Effect.succeed({ _tag: "Collected", bytes: arena.finish() })
          const committed = writer
          return Effect.map(
            storage(operation, () => committed.commit()),
            (): Received => {
              spilling = undefined
              return { _tag: "Streamed", size }
            }
          )
        }
      }
    }

    // A -ERR to one RETR (6 above): which message, or undefined for any other failure. The
    // pipeline has read and dropped the answers in flight behind it, so the connection is
    // usable and the messages after it are asked for again.
    const refused: Array<RefusedMessage> = []
    const refusedMsg = (error: unknown): number | undefined => {
      if (!(error instanceof ServerError)) return undefined
      const retr = /^RETR (\d+)$/.exec(error.command)
      return retr === null ? undefined : Number(retr[1])
    }
    const refuse = (w: Wanted, error: ServerError) => {
      refused.push({ msg: w.msg, uid: w.uid, error })
      onProgress(0, 1)
      options.onWarning?.(
        `message ${w.msg} (UID ${w.uid}) was refused by the server (${error.message}); left there and not stored, the next run asks for it again`
      )
    }

    const download = Effect.gen(function* () {
      options.onStart?.(toFetch.length, totalBytes)
      let i = 0
      while (i < toFetch.length) {
        const first = toFetch[i]!
        if ((sizes.get(first.msg) ?? 0) > threshold) {
          yield* streamed(first).pipe(
            Effect.catchIf(
              (error): error is ServerError => refusedMsg(error) === first.msg,
              (error) => Effect.sync(() => refuse(first, error))
            )
          )
          i++
          continue
        }
        const start = i
        const batch = new Map<number, Wanted>()
        let batchBytes = 0
        for (; i < toFetch.length && batch.size < BATCH_MESSAGES; i++) {
          const w = toFetch[i]!
          const size = sizes.get(w.msg) ?? 0
          if (size > threshold || (batch.size > 0 && batchBytes + size > BATCH_BYTES)) break
          batch.set(w.msg, w)
          batchBytes += size
        }
        // The answers one pull hands on (every one already received), stored in order
        // without an Effect each while there is room.
        const storeAll = (
          answers: ReadonlyArray<{ readonly msg: number; readonly body: Received }>,
          from: number
        ): Effect.Effect<void, StorageError> => {
          for (let k = from; k < answers.length; k++) {
            const { msg, body } = answers[k]!
            const w = batch.get(msg)!
            if (body._tag === "Streamed") {
              streamedIn(w, body.size)
              continue
            }
            if (full(body.bytes.length))
              return Effect.andThen(
                waitForRoom(body.bytes.length),
                Effect.suspend(() => storeAll(answers, k))
              )
            const failed = deliver(w, body.bytes)
            if (failed !== undefined) return Effect.fail(failed)
          }
          return maybeSave
        }
        const refusal = yield* Stream.runForEachArray(
          mailbox.retrManyInto([...batch.keys()], (msg) => sinkFor(batch.get(msg)!)),
          (answers) => storeAll(answers, 0)
        ).pipe(
          Effect.as(undefined),
          Effect.catchIf(
            (error): error is ServerError => batch.has(refusedMsg(error) ?? 0),
            (error) => Effect.succeed(error)
          )
        )
        if (refusal !== undefined) {
          // Stored up to it; the rest of the batch is asked for again.
          const msg = refusedMsg(refusal)!
          refuse(batch.get(msg)!, refusal)
          i = start + [...batch.keys()].indexOf(msg) + 1
        }
      }
      // Without `delete` nothing waits on the record being durable, so QUIT leaves now (once
      // the last answer has been read: see retrManyInto's `quit`) and its round trip overlaps
      // the last fsyncs and the state file.
      const quitting =
        options.delete || mailbox.state() === "CLOSED" ? undefined : yield* Effect.forkChild(mailbox.quit)
      yield* settleWrites
      yield* recordWritten
      if (unrecorded.length > 0 || dirty) yield* save
      if (quitting !== undefined) yield* Fiber.join(quitting)
    }).pipe(
      // Keep what was stored: the next run then need not even look for it. A message that was
      // being streamed into the store when the run failed is removed.
      Effect.onError(() =>
        Effect.andThen(
          Effect.promise(() => spilling?.abort() ?? Promise.resolve()),
          settleWrites
        ).pipe(
          Effect.andThen(
            Effect.suspend(() => {
              takeWritten()
              return unrecorded.length > 0 || dirty ? Effect.ignore(save) : Effect.void
            })
          )
        )
      )
    )
    yield* download

    // Everything this run stored is recorded now; only recorded messages are deleted — and
    // only those the store still holds: another user of it (a second tab's `forget`) may
    // have removed some while this run fetched, and a message must not be deleted on the
    // server once it is gone from the store.
    let deleted = 0
    if (options.delete) {
      const held = yield* store.recorded
      const msgs = firsts.filter((f) => recorded.has(f.uid) && held.has(f.uid)).map((f) => f.msg)
      if (msgs.length > 0) yield* mailbox.deleMany(msgs)
      deleted = msgs.length
    }
    if (mailbox.state() !== "CLOSED") yield* mailbox.quit

    return { fetched, skipped, recovered, deleted, bytes, messages: listing.length, duplicateUids, refused }
  })
