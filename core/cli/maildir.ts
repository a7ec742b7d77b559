/**
 * Maildir delivery for `pop3 fetch` (https://cr.yp.to/proto/maildir.html), durable:
 * each message is written to `tmp/` under a unique name, fsynced, closed and renamed
 * into `new/`; `sync()` then fsyncs `new/` (and `cur/`) so the renames survive a crash.
 * The caller records a message as fetched only after a `sync()` that follows its rename.
 *
 * File names are `<seconds>.P<pid>Q<counter>U<key>.<hostname>`: time, pid and a
 * per-process counter make them unique (the spec's rule), and `U<key>` carries a hash of
 * account and UID (`messageKey`) so `keys` can tell which messages are already here even
 * when the state file never heard of them (a crash between delivery and recording). Mail
 * readers keep the unique part when they move a file to `cur/` and add `:2,flags`.
 *
 * Line ends: POP3 sends CRLF; the file gets LF, as Unix Maildir readers expect (qmail,
 * Dovecot's default, getmail). Only CRLF pairs change; a lone CR stays.
 *
 * Speed: a whole message (`deliver`) is delivered with synchronous calls (open, write,
 * fsync, close, rename) while fsync returns at once (tmpfs, a disk cache that acknowledges
 * immediately): then the five take 10–30 µs together, far less than five round trips
 * through libuv's thread pool (which cost ~0.1 s per 1000 messages in the profile). Where
 * fsync really waits for a device, deliveries go to the thread pool instead, where several
 * overlap each other and the download rather than blocking it one after the other. The
 * order is the same either way: write, fsync, close, rename — a file appears in `new/`
 * only complete and durable.
 *
 * Node-side (node:fs), which Deno and Bun provide too.
 *
 * @module
 */
import * as crypto from "node:crypto"
import {
  close as closeCallback,
  closeSync,
  constants as fsConstants,
  fsync,
  fsyncSync,
  open as openCallback,
  openSync,
  rename as renameCallback,
  renameSync,
  unlink as unlinkCallback,
  unlinkSync,
  write as writeCallback,
  writeSync
} from "node:fs"
import type { FileHandle } from "node:fs/promises"
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises"
import { hostname } from "node:os"
import { dirname, join, sep } from "node:path"

/**
 * A file being delivered: write chunks (CRLF is turned into LF), then `commit` or `abort`.
 * @category models
 */
export interface Delivery {
  readonly write: (bytes: Uint8Array) => Promise<void>
  /** fsync, close, rename into `new/`; resolves with the path in `new/`. */
  readonly commit: () => Promise<string>
  /** Closes and removes the temporary file. Never rejects. */
  readonly abort: () => Promise<void>
}

/**
 * An opened Maildir.
 * @category models
 */
export interface Maildir {
  readonly root: string
  /** Starts delivering one message; `key` is its `messageKey`. */
  readonly begin: (key: string) => Promise<Delivery>
  /**
   * Delivers a whole message held in memory (tmp/, fsync, rename into new/) and gives its
   * path in `new/`: at once when the delivery is complete on return, or as a promise when
   * the fsync went to the thread pool. Fails (throws or rejects) after removing the
   * temporary file.
   */
  readonly deliver: (key: string, bytes: Uint8Array) => string | Promise<string>
  /** fsyncs `new/` and `cur/`: every rename so far is durable once this resolves. */
  readonly sync: () => Promise<void>
  /** The keys (`messageKey`) of the messages in `new/` and `cur/` that we delivered. */
  readonly keys: () => Promise<Set<string>>
  /**
   * Removes our own files left in `tmp/` by a run that died: at once when the name shows this
   * host and a process that no longer exists, otherwise after 36 hours (the spec's rule).
   * Returns how many.
   */
  readonly cleanTmp: (now?: number) => Promise<number>
}

/** Length of the hex key in file names: 96 bits, so two UIDs never collide in practice. */
const KEY_HEX = 24
const KEY_PATTERN = new RegExp(`U([0-9a-f]{${KEY_HEX}})$`)
const STALE_TMP_MS = 36 * 3600 * 1000
/**
 * Deliveries stay inline while fsync returns at once: tmpfs answers in about a microsecond,
 * a disk that really writes in 0.2–2 ms. After SLOW_FSYNCS fsyncs in a row slower than
 * SLOW_FSYNC_MS, later ones go to the thread pool, until a probe (PROBE_EVERY) finds fsync
 * quick again. In a row: on a busy machine the scheduler now and then delays a call by a
 * time slice, and over 10,000 messages a few such delays sent every later delivery through
 * the thread pool (five libuv round trips per message) though tmpfs never waited; a disk
 * that waits is slow every time.
 */
const SLOW_FSYNC_MS = 0.2
/**
 * Once deliveries went to the thread pool, one in PROBE_EVERY runs inline again, to time its
 * fsync: quick, and deliveries come back inline (what sent them away was a busy moment, or
 * a disk cache that has caught up); slow, and they stay in the pool, having cost one
 * blocking fsync per PROBE_EVERY messages (0.2–2 ms on a disk that waits, ~1–8 µs a
 * message). Timed inline rather than in the pool: a pool fsync's time includes its wait for
 * a thread and for the event loop, which on a busy client is long even on tmpfs.
 */
const PROBE_EVERY = 256
/** "wx" as numbers, so Node need not parse the flag string on every delivery. */
const CREATE_NEW = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_TRUNC
/** Largest message converted into the reused buffer of inline deliveries (bigger ones get their own). */
const SCRATCH_MAX = 1024 * 1024
const SLOW_FSYNCS = 2

/**
 * The key of a message in file names: a hash of the account and the UID, so several
 * accounts can share a Maildir and a UID never needs escaping.
 * @category naming
 */
export const messageKey = (account: string, uid: string): string =>
  // One-shot: a createHash object with three updates cost ~3 times as much (~20 µs per
  // message in a profile of 10,000). Same digest: the UTF-8 of the three parts in a row.
  (typeof crypto.hash === "function"
    ? crypto.hash("sha256", `${account}\0${uid}`, "hex")
    : // Deno and Bun versions without the one-shot.
      crypto.createHash("sha256").update(`${account}\0${uid}`).digest("hex")
  ).slice(0, KEY_HEX)

// The spec: "/" and ":" in the host name become \057 and \072.
const host = (): string => (hostname() || "localhost").replace(/\//g, "\\057").replace(/:/g, "\\072")

/** The key in a file name from `new/` or `cur/`, or undefined for files we did not deliver. */
export const keyOfFileName = (name: string): string | undefined => {
  const unique = name.split(".")[1]
  return unique === undefined ? undefined : KEY_PATTERN.exec(unique)?.[1]
}

/**
 * CRLF → LF across chunk boundaries: a CR at the end of a chunk waits for the next.
 * @category line ends
 */
export const makeCrlfToLf = (): {
  /** The next chunk converted, into `into` when given (at least `bytes.length + 1` long) or a new array. */
  readonly push: (bytes: Uint8Array, into?: Uint8Array) => Uint8Array
  readonly end: () => Uint8Array
} => {
  let pendingCr = false
  return {
    push(bytes, into) {
      const out = into ?? new Uint8Array(bytes.length + 1)
      let o = 0
      if (pendingCr) {
        pendingCr = false
        if (bytes.length === 0) {
          pendingCr = true
          return out.subarray(0, 0)
        }
        if (bytes[0] !== 0x0a) out[o++] = 0x0d
      }
      // A CR at the end waits for the next chunk; the rest converts as a whole message does.
      let whole = bytes
      if (bytes[bytes.length - 1] === 0x0d) {
        pendingCr = true
        whole = bytes.subarray(0, bytes.length - 1)
      }
      o += crlfToLfInto(whole, out.subarray(o))
      return out.subarray(0, o)
    },
    end() {
      const rest = pendingCr ? Uint8Array.of(0x0d) : new Uint8Array(0)
      pendingCr = false
      return rest
    }
  }
}

/** Runs between CRs at least this long are moved whole; shorter ones byte by byte. */
const MOVED_RUN = 32
/** Bytes converted one by one after a short run before the next search for a CR. */
const BYTEWISE_STRETCH = 256

/**
 * CRLF → LF of a whole message into `out` (at least `bytes.length` long); gives the length
 * written. A CR is dropped only before a LF, as `makeCrlfToLf` does across chunks. The
 * first `bytes.length` bytes of `out` are its to use; nothing past them is touched.
 *
 * The message is copied into `out` at once (memcpy) and compacted there: the text between
 * two CRs is found by `indexOf` and moved whole (`copyWithin`, no view allocated per line),
 * which beats a loop over bytes once lines pass ~32 bytes; shorter runs (empty lines, bare
 * CRs, binary) go byte by byte for a stretch, so a search is not paid every few bytes.
 * Measured per 100 MB in 64 KiB chunks (Node 24, 2026-12-05), against the byte loop alone:
 * 64-byte lines 75 against 126 ms, base64's 76-byte lines 73 against 125, 1000-byte lines
 * 41 against 138; empty lines 103 against 124, a CR every few bytes 108 against 131,
 * random bytes 124 against 143 — never slower (reading the source while writing into
 * another array, with a fresh view per line, was up to 1.45× slower on those last cases).
 * @category line ends
 */
export const crlfToLfInto = (bytes: Uint8Array, out: Uint8Array): number => {
  const n = bytes.length
  out.set(bytes)
  const view = n === out.length ? out : out.subarray(0, n)
  // Compacting in place: `w` never passes `r`, so what is still to be read is intact.
  let w = 0
  let r = 0
  while (r < n) {
    const cr = view.indexOf(0x0d, r)
    const end = cr < 0 ? n : cr
    if (end - r < MOVED_RUN) {
      for (const stop = Math.min(n, r + BYTEWISE_STRETCH); r < stop; r++) {
        const b = view[r]!
        if (b === 0x0d && r + 1 < n && view[r + 1] === 0x0a) continue
        view[w++] = b
      }
      continue
    }
    if (w !== r) view.copyWithin(w, r, end)
    w += end - r
    r = end
    if (r === n) break
    // view[r] is a CR: kept unless a LF follows.
    if (r + 1 === n || view[r + 1] !== 0x0a) view[w++] = 0x0d
    r++
  }
  return w
}

/**
 * Makes a rename in `path` durable (fsync of the directory).
 * @category durability
 */
export const fsyncDir = async (path: string): Promise<void> => {
  // Windows cannot open a directory for fsync; its file systems commit renames anyway.
  if (process.platform === "win32") return
  const handle = await open(path, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const writeAll = async (handle: FileHandle, bytes: Uint8Array): Promise<void> => {
  for (let offset = 0; offset < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset)
    offset += bytesWritten
  }
}

let counter = 0

const closeQuietly = (fd: number): void => {
  try {
    closeSync(fd)
  } catch {
    // closed already
  }
}

const unlinkQuietly = (path: string): void => {
  try {
    unlinkSync(path)
  } catch {
    // gone already
  }
}

/**
 * Whether a process with this id exists on this host.
 * @category processes
 */
export const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * `mkdir -p` with mode 0700, level by level. Not Node's `mkdir(…, { recursive: true })`:
 * under a directory that refuses to hold new entries the way /proc does (mkdir answers
 * ENOENT though the parent exists), Node 24's recursive mkdir retries forever at full CPU,
 * so `pop3 fetch --maildir /proc/x` hung. Here each level is tried once, its parent made
 * first when it is missing, and a refusal after that is the error.
 */
const makeDirectory = async (dir: string): Promise<void> => {
  // One mkdir; an existing path is no error here (openMaildir checks it is a directory).
  const once = () =>
    mkdir(dir, { mode: 0o700 }).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => (error.code === "EEXIST" ? undefined : error)
    )
  const error = await once()
  if (error === undefined) return
  const parent = dirname(dir)
  if (error.code !== "ENOENT" || parent === dir) throw error
  await makeDirectory(parent)
  const again = await once()
  if (again !== undefined) throw again
}

/**
 * Opens the Maildir at `root`, creating `root`, `tmp/`, `new/` and `cur/` (mode 0700) when
 * missing.
 * @category constructors
 */
export const openMaildir = async (
  root: string,
  options: {
    /** How `deliver` runs: "auto" (inline while fsync is quick, see the module comment), or always one way (tests). */
    readonly deliveries?: "auto" | "inline" | "thread-pool"
    /** The clock fsyncs are timed with, in milliseconds (tests). */
    readonly now?: () => number
  } = {}
): Promise<Maildir> => {
  const tmpDir = join(root, "tmp")
  const newDir = join(root, "new")
  const curDir = join(root, "cur")
  for (const dir of [root, tmpDir, newDir, curDir]) {
    await makeDirectory(dir)
    // An existing path passes only if it is a directory; make sure.
    if (!(await stat(dir)).isDirectory())
      throw Object.assign(new Error(`${dir} is not a directory`), { code: "ENOTDIR" })
  }
  const hostName = host()
  const uniqueName = (key: string) => `${Math.floor(Date.now() / 1000)}.P${process.pid}Q${++counter}U${key}.${hostName}`

  const begin = async (key: string): Promise<Delivery> => {
    let name = ""
    let handle: FileHandle | undefined
    // "wx": never reuse a name; a clash (clock set back, pid reused) just takes the next counter.
    for (let attempt = 0; handle === undefined; attempt++) {
      name = uniqueName(key)
      try {
        handle = await open(join(tmpDir, name), "wx", 0o600)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 100) throw error
      }
    }
    const file = handle
    const tmpPath = join(tmpDir, name)
    const lf = makeCrlfToLf()
    // Chunks are converted into one buffer, used again once its write is done: a fresh one
    // per 64 KiB chunk was 100 MB of new memory for a 100 MB message (its page faults and
    // zeroing showed as a third of the conversion's time, plus GC). A write that comes while
    // another is under way (the engine awaits each; other callers may not) gets a new one.
    let spare: Uint8Array | undefined
    let closed = false
    return {
      write: async (bytes) => {
        const fits = spare !== undefined && spare.length > bytes.length
        const into = fits ? spare : new Uint8Array(Math.max(bytes.length + 1, 64 * 1024 + 1))
        spare = undefined
        await writeAll(file, lf.push(bytes, into))
        spare = into
      },
      async commit() {
        await writeAll(file, lf.end())
        await file.sync()
        closed = true
        await file.close()
        const target = join(newDir, name)
        await rename(tmpPath, target)
        return target
      },
      async abort() {
        if (!closed) {
          closed = true
          await file.close().catch(() => {})
        }
        await unlink(tmpPath).catch(() => {})
      }
    }
  }

  // Deliveries run inline (synchronous calls) while they are quick; see the module comment.
  const deliveries = options.deliveries ?? "auto"
  const now = options.now ?? (() => performance.now())
  let inline = deliveries !== "thread-pool"
  let slowFsyncs = 0
  let sinceProbe = 0
  // Inline deliveries convert into one reused buffer (written before `deliver` returns), so
  // a small message costs no allocation here; the thread pool needs a buffer of its own.
  let scratch = new Uint8Array(0)
  const deliver = (key: string, bytes: Uint8Array): string | Promise<string> => {
    // In the thread pool, a probe now and then runs inline (PROBE_EVERY).
    const probe = !inline && deliveries === "auto" && ++sinceProbe >= PROBE_EVERY
    if (probe) sinceProbe = 0
    const runsInline = inline || probe
    if (!runsInline || bytes.length > SCRATCH_MAX) {
      const out = new Uint8Array(bytes.length)
      const data = out.subarray(0, crlfToLfInto(bytes, out))
      return runsInline ? deliverInline(key, data) : deliverAsync(key, data)
    }
    if (scratch.length < bytes.length) scratch = new Uint8Array(Math.max(bytes.length, 2 * scratch.length, 64 * 1024))
    return deliverInline(key, scratch.subarray(0, crlfToLfInto(bytes, scratch)))
  }

  const deliverInline = (key: string, data: Uint8Array): string => {
    let name = ""
    let fd = -1
    for (let attempt = 0; fd < 0; attempt++) {
      name = uniqueName(key)
      try {
        fd = openSync(tmpDir + sep + name, CREATE_NEW, 0o600)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 100) throw error
      }
    }
    // Plain concatenation: `name` has no separators, and join's normalizing showed in the profile.
    const tmpPath = tmpDir + sep + name
    const target = newDir + sep + name
    try {
      for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset)
      const started = now()
      fsyncSync(fd)
      if (deliveries === "auto") {
        // Two slow in a row send deliveries to the thread pool; a quick one (a probe's)
        // brings them back.
        slowFsyncs = now() - started > SLOW_FSYNC_MS ? slowFsyncs + 1 : 0
        inline = slowFsyncs < SLOW_FSYNCS
      }
      const opened = fd
      fd = -1
      closeSync(opened)
      renameSync(tmpPath, target)
    } catch (error) {
      if (fd >= 0) closeQuietly(fd)
      unlinkQuietly(tmpPath)
      throw error
    }
    return target
  }

  const deliverAsync = (key: string, data: Uint8Array): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      let name = ""
      let fd = -1
      let attempt = 0
      const fail = (error: unknown) => {
        if (fd >= 0) closeQuietly(fd)
        if (name !== "") unlinkCallback(join(tmpDir, name), () => reject(error))
        else reject(error)
      }
      // Node passes null for "no error"; Deno's node:fs passes undefined. Hence `!= null`.
      const create = () => {
        const candidate = uniqueName(key)
        openCallback(join(tmpDir, candidate), "wx", 0o600, (error, opened) => {
          if (error != null) {
            if (error.code === "EEXIST" && ++attempt < 100) return create()
            return fail(error)
          }
          name = candidate
          fd = opened
          writeFrom(0)
        })
      }
      const writeFrom = (offset: number) => {
        if (offset >= data.length) return sync()
        writeCallback(fd, data, offset, data.length - offset, null, (error, n) =>
          error != null ? fail(error) : writeFrom(offset + n)
        )
      }
      const sync = () =>
        fsync(fd, (error) => {
          if (error != null) return fail(error)
          const opened = fd
          fd = -1
          closeCallback(opened, (error) => {
            if (error != null) return fail(error)
            const target = join(newDir, name)
            renameCallback(join(tmpDir, name), target, (error) => (error != null ? fail(error) : resolve(target)))
          })
        })
      create()
    })

  return {
    root,
    begin,
    deliver,
    async sync() {
      await fsyncDir(newDir)
      await fsyncDir(curDir)
    },
    async keys() {
      const found = new Set<string>()
      for (const dir of [newDir, curDir]) {
        for (const name of await readdir(dir)) {
          const key = keyOfFileName(name)
          if (key !== undefined) found.add(key)
        }
      }
      return found
    },
    async cleanTmp(now = Date.now()) {
      let removed = 0
      for (const name of await readdir(tmpDir)) {
        if (keyOfFileName(name) === undefined) continue
        const path = join(tmpDir, name)
        const writer = /^\d+\.P(\d+)Q\d+U[0-9a-f]+\.(.*)$/.exec(name)
        const orphan =
          writer !== null &&
          writer[2] === hostName &&
          Number(writer[1]) !== process.pid &&
          !processExists(Number(writer[1]))
        try {
          if (orphan || now - (await stat(path)).mtimeMs > STALE_TMP_MS) {
            await unlink(path)
            removed++
          }
        } catch {
          // Gone already, or not ours to remove: leave it.
        }
      }
      return removed
    }
  }
}
