// Filling the list of a mailbox of any size: STAT (the count: every row exists at once), then
// the headers of the rows on screen (TOP n 0, pipelined), then LIST and UIDL as streams
// (sizes and UIDs fill in as they arrive, nothing held but the rows). After that, headers
// are read only for rows the list shows, and each message's header once: a mailbox of
// 100,000 messages costs one STAT, one LIST, one UIDL and one TOP per row actually shown —
// not 100,000 TOPs up front, and no LIST before the first screen.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Pop3Error } from "pop3-everywhere"
import PostalMime from "postal-mime"
import { who } from "./format.ts"
import { type Entry, type MailboxList, unloadedEntry } from "./mailbox-list.ts"
import type { Session } from "./session.ts"

export interface MailboxView {
  readonly list: MailboxList
  /** Every row, in order; filled here. */
  readonly entries: Array<Entry>
  readonly byMsg: Map<number, Entry>
  /** STAT answered: the number of messages and their total size, for the bar above the list. */
  readonly counted: (count: number, octets: number) => void
  /** The count or the marks changed: redraw the bar above the list. */
  readonly refresh: () => void
  /** A progress line, or undefined to hide it. */
  readonly progress: (text: string | undefined) => void
}

/** Headers kept by UID (the kept copy's IndexedDB store, when this browser keeps this account). */
export interface HeaderCache {
  readonly get: (uids: ReadonlyArray<string>) => Promise<ReadonlyMap<string, Uint8Array>>
  readonly put: (headers: ReadonlyArray<{ readonly uid: string; readonly bytes: Uint8Array }>) => Promise<void>
}

/**
 * Fills a row from its header (the bytes up to the empty line) and redraws it; undefined
 * when the header could not be read (a kept body missing from the browser's storage).
 */
export const showHeader = async (entry: Entry, list: MailboxList, header: Uint8Array | undefined): Promise<void> => {
  const email = header === undefined ? undefined : await PostalMime.parse(header).catch(() => undefined)
  entry.from = who(email?.from)
  entry.fromAddress = email?.from?.address
  entry.subject = header === undefined ? "(not readable in this browser's storage)" : email?.subject
  entry.date = email?.date
  entry.loaded = true
  list.update(entry)
}

/** Reads headers for the rows the list shows: `want` on every change, `start` once the connection is free. */
export interface HeaderLoader {
  readonly want: (msgs: ReadonlyArray<number>) => void
  /** Starts sending; resolves once the rows wanted by then have their headers. */
  readonly start: () => Promise<void>
  /** The cache, if any: with one, UIDL is read before the first headers (the cache is keyed by UID). */
  readonly cache: Promise<HeaderCache | undefined>
  /** UIDL has been read: headers read before it go into the cache now. */
  readonly uidsKnown: () => void
}

export const makeHeaderLoader = (
  current: Session,
  view: Pick<MailboxView, "list" | "byMsg">,
  failed: (error: unknown) => void,
  cache: Promise<HeaderCache | undefined> = Promise.resolve(undefined)
): HeaderLoader => {
  let wanted: ReadonlyArray<number> = []
  const asked = new Set<number>()
  // Headers read before their UID was known, to cache once it is.
  const unkeyed = new Map<number, Uint8Array>()
  const keep = async (headers: ReadonlyArray<{ readonly uid: string; readonly bytes: Uint8Array }>) => {
    if (headers.length > 0) await (await cache)?.put(headers).catch(() => {})
  }
  let started = false
  let running: Promise<void> | undefined
  let stopped = false

  const show = async (msg: number, bytes: Uint8Array) => {
    const entry = view.byMsg.get(msg)
    if (entry !== undefined) await showHeader(entry, view.list, bytes)
  }

  // One batch at a time: the rows wanted when it ends make the next, so rows scrolled past
  // meanwhile are never asked for.
  const pump = async () => {
    for (;;) {
      const batch = wanted.filter((msg) => !asked.has(msg) && view.byMsg.get(msg)?.loaded === false)
      if (batch.length === 0 || stopped || current.closed()) return
      for (const msg of batch) asked.add(msg)
      const parsing: Array<Promise<void>> = []
      const uidOf = (msg: number) => view.byMsg.get(msg)?.uid
      const store = await cache
      const found =
        store === undefined
          ? new Map<string, Uint8Array>()
          : await store.get(batch.flatMap((msg) => uidOf(msg) ?? [])).catch(() => new Map<string, Uint8Array>())
      const missing = batch.filter((msg) => {
        const bytes = found.get(uidOf(msg) ?? "")
        if (bytes !== undefined) parsing.push(show(msg, bytes))
        return bytes === undefined
      })
      const fresh: Array<{ uid: string; bytes: Uint8Array }> = []
      if (missing.length > 0)
        await current.headers(missing, (m) => {
          parsing.push(show(m.msg, m.bytes))
          const uid = uidOf(m.msg)
          if (store === undefined) return
          if (uid === undefined) unkeyed.set(m.msg, m.bytes)
          else fresh.push({ uid, bytes: m.bytes })
        })
      await Promise.all([...parsing, keep(fresh)])
    }
  }
  const run = () => {
    if (!started || running !== undefined) return running
    running = pump()
      .catch((error: unknown) => {
        stopped = true
        // TOP is optional in RFC 1939: without headers the list still works by number and size.
        for (const msg of asked) {
          const entry = view.byMsg.get(msg)
          if (entry === undefined || entry.loaded) continue
          entry.loaded = true
          entry.subject = "(header not read)"
          view.list.update(entry)
        }
        if (!current.closed()) failed(error)
      })
      .finally(() => {
        running = undefined
      })
    return running
  }
  return {
    want: (msgs) => {
      wanted = msgs
      void run()
    },
    start: async () => {
      started = true
      await run()
    },
    cache,
    uidsKnown: () => {
      const headers = [...unkeyed].flatMap(([msg, bytes]) => {
        const uid = view.byMsg.get(msg)?.uid
        return uid === undefined ? [] : [{ uid, bytes }]
      })
      unkeyed.clear()
      void keep(headers)
    }
  }
}

/** Milliseconds between progress lines while LIST and UIDL stream in. */
const TELL_EVERY = 500

/** What `loadMailbox` leaves running once the first screen is shown. */
export interface Loading {
  /** LIST, then UIDL (UIDL first with a header cache): rejects when LIST fails. */
  readonly rest: Promise<void>
}

/**
 * STAT, then the first screen's headers, then LIST and UIDL (streamed). STAT's count is all
 * the list needs: messages are numbered 1 to count (RFC 1939 §5), so the rows exist and
 * their headers can be read before LIST has said one size — a LIST of 100,000 lines
 * (~1 MB) no longer stands between the login and the first screen, since the connection
 * answers one command at a time. Resolves once the first screen is shown (rejects when STAT
 * fails); `rest` fills in sizes and UIDs. A missing UIDL (optional in RFC 1939) leaves the
 * UID column empty.
 */
export const loadMailbox = async (current: Session, view: MailboxView, headers: HeaderLoader): Promise<Loading> => {
  const { list, entries, byMsg } = view
  view.progress("Counting the messages (STAT)…")
  const stat = await current.run(current.mailbox.stat)
  for (let msg = 1; msg <= stat.count; msg++) {
    const entry = unloadedEntry(msg)
    entries.push(entry)
    byMsg.set(msg, entry)
  }
  view.counted(stat.count, stat.size)
  // Drawn now, so the loader knows every row of the first screen before it sends a TOP.
  list.set(entries)
  view.refresh()
  if (entries.length === 0) {
    view.progress(undefined)
    return { rest: Promise.resolve() }
  }
  let told = -Infinity
  const tell = (what: string, done: number) => {
    if (performance.now() - told < TELL_EVERY) return
    told = performance.now()
    view.progress(`${what}: ${done.toLocaleString("en")} of ${entries.length.toLocaleString("en")}…`)
  }
  // Reads a streamed listing into the rows, telling how far it got.
  const listInto = <L extends { readonly msg: number }>(
    label: string,
    listing: Stream.Stream<L, Pop3Error>,
    apply: (entry: Entry, line: L) => void
  ) => {
    let done = 0
    told = -Infinity
    tell(label, 0)
    return current.run(
      Stream.runForEachArray(listing, (chunk) =>
        Effect.sync(() => {
          for (const line of chunk) {
            const entry = byMsg.get(line.msg)
            if (entry === undefined) continue
            apply(entry, line)
            list.update(entry)
          }
          done += chunk.length
          tell(label, done)
        })
      )
    )
  }
  const sizes = () =>
    listInto("Reading the sizes (LIST, streamed)", current.mailbox.listStream, (entry, l) => {
      entry.size = l.size
    })
  const uids = () =>
    listInto("Reading the UIDs (UIDL, streamed)", current.mailbox.uidlStream, (entry, u) => {
      entry.uid = u.uid
    }).then(headers.uidsKnown, () => {})
  // The rest needs no lock on the page: the library serializes it with whatever the user does.
  // With a header cache, UIDL before the first headers: the cache is keyed by UID, and the
  // rows it holds need no TOP at all. Without one, the first screen's TOPs go right after STAT.
  let rest: Promise<void>
  if ((await headers.cache) !== undefined) {
    await uids()
    view.progress(undefined)
    await headers.start()
    rest = sizes()
  } else {
    view.progress(undefined)
    await headers.start()
    rest = sizes().then(uids)
  }
  return {
    rest: rest.then(
      () => {
        view.refresh()
        view.progress(undefined)
      },
      (error: unknown) => {
        view.progress(undefined)
        throw error
      }
    )
  }
}
