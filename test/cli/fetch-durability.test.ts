// The durability order of `pop3 fetch`, seen in the file-system calls themselves (issue 13,
// item 8): node:fs and node:fs/promises are wrapped so every open, write, fsync, close and
// rename under the test's directory lands in one log, and the dev server adds the DELEs it
// receives to the same log. A kill test cannot see a missing fsync; this log can — deleting
// any fsync call in maildir.ts or fetch-state.ts makes this test fail.
//
// All three ways a message reaches new/ are covered: a small message delivered inline
// (sync calls), one delivered through the thread pool (callbacks; the wrapped fsyncSync is
// made slow so the Maildir switches to it), and one written to its tmp/ file as it arrives
// (FileHandle) — both because LIST announced it as large and because it grew past the
// threshold although LIST announced it as small.
import * as Effect from "effect/Effect"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import { connect } from "../../core/client/client.ts"
import { fetchMail } from "../../core/cli/fetch.ts"
import { messageKey } from "../../core/cli/maildir.ts"
import { defaultCommands, makeMailStore } from "../../dev-server/server.ts"
import type { CommandTable } from "../../dev-server/server.ts"
import { memoryServer } from "../core/client/harness.ts"

interface Event {
  readonly op: "open" | "write" | "fsync" | "close" | "rename" | "DELE" | "QUIT"
  readonly path: string
  readonly to?: string
  /** For a state file write: the UIDs it records. */
  readonly uids?: ReadonlyArray<string>
  /** Which API wrote: synchronous calls, callbacks (thread pool) or a FileHandle. */
  readonly via?: "sync" | "callback" | "handle"
}

const log = vi.hoisted(() => ({ root: "", events: [] as Array<Event> }))

const record = (event: Event) => {
  if (log.root !== "" && (event.path.startsWith(log.root) || event.op === "DELE" || event.op === "QUIT"))
    log.events.push(event)
}

// The state file's content: which UIDs a write records.
const uidsIn = (data: unknown): ReadonlyArray<string> | undefined => {
  try {
    const state = JSON.parse(String(data)) as { accounts: Record<string, { uids: Array<string> }> }
    return Object.values(state.accounts).flatMap((a) => a.uids)
  } catch {
    return undefined
  }
}

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>()
  const paths = new Map<number, string>()
  const at = (fd: number) => paths.get(fd) ?? `fd ${fd}`
  type Callback = (...args: Array<any>) => void
  return {
    ...fs,
    openSync: (path: string, flags: string, mode?: number) => {
      const fd = fs.openSync(path, flags, mode)
      paths.set(fd, String(path))
      record({ op: "open", path: String(path) })
      return fd
    },
    writeSync: (fd: number, ...rest: Array<any>) => {
      const n = (fs.writeSync as (...args: Array<any>) => number)(fd, ...rest)
      record({ op: "write", path: at(fd), via: "sync" })
      return n
    },
    fsyncSync: (fd: number) => {
      fs.fsyncSync(fd)
      // Slow on purpose (> 0.2 ms): after two of these the Maildir delivers through the
      // thread pool, so both delivery paths show up in one run.
      const until = performance.now() + 1
      while (performance.now() < until);
      record({ op: "fsync", path: at(fd) })
    },
    closeSync: (fd: number) => {
      fs.closeSync(fd)
      record({ op: "close", path: at(fd) })
    },
    renameSync: (from: string, to: string) => {
      fs.renameSync(from, to)
      record({ op: "rename", path: String(from), to: String(to) })
    },
    open: (path: string, flags: string, mode: number, callback: Callback) =>
      fs.open(path, flags, mode, (error, fd) => {
        if (error === null) {
          paths.set(fd, String(path))
          record({ op: "open", path: String(path) })
        }
        callback(error, fd)
      }),
    write: (
      fd: number,
      buffer: Uint8Array,
      offset: number,
      length: number,
      position: number | null,
      callback: Callback
    ) =>
      fs.write(fd, buffer, offset, length, position, (error, n, b) => {
        if (error === null) record({ op: "write", path: at(fd), via: "callback" })
        callback(error, n, b)
      }),
    fsync: (fd: number, callback: Callback) =>
      fs.fsync(fd, (error) => {
        if (error === null) record({ op: "fsync", path: at(fd) })
        callback(error)
      }),
    close: (fd: number, callback: Callback) =>
      fs.close(fd, (error) => {
        if (error === null || error === undefined) record({ op: "close", path: at(fd) })
        callback(error)
      }),
    rename: (from: string, to: string, callback: Callback) =>
      fs.rename(from, to, (error) => {
        if (error === null) record({ op: "rename", path: String(from), to: String(to) })
        callback(error)
      })
  }
})

vi.mock("node:fs/promises", async (importOriginal) => {
  const fsp = await importOriginal<typeof import("node:fs/promises")>()
  const wrap = (handle: import("node:fs/promises").FileHandle, path: string) =>
    new Proxy(handle, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown
        if (typeof value !== "function") return value
        const call = (args: Array<unknown>) =>
          (value as (...args: Array<unknown>) => Promise<unknown>).apply(target, args)
        switch (property) {
          case "write":
            return async (...args: Array<unknown>) => {
              const result = await call(args)
              record({ op: "write", path, via: "handle" })
              return result
            }
          case "writeFile":
            return async (...args: Array<unknown>) => {
              const result = await call(args)
              const uids = uidsIn(args[0])
              record({ op: "write", path, ...(uids !== undefined ? { uids } : {}) })
              return result
            }
          case "sync":
            return async () => {
              await call([])
              record({ op: "fsync", path })
            }
          case "close":
            return async () => {
              await call([])
              record({ op: "close", path })
            }
          default:
            return (value as (...args: Array<unknown>) => unknown).bind(target)
        }
      }
    })
  return {
    ...fsp,
    open: async (path: string, flags?: string, mode?: number) => {
      const handle = await fsp.open(path, flags, mode)
      record({ op: "open", path: String(path) })
      return wrap(handle, String(path))
    },
    rename: async (from: string, to: string) => {
      await fsp.rename(from, to)
      record({ op: "rename", path: String(from), to: String(to) })
    }
  }
})

const dirs: Array<string> = []
afterEach(() => {
  log.root = ""
  log.events.length = 0
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const USER = "alice"
const PASSWORD = "pw"
const ACCOUNT = "alice@memory.test:110"
const THRESHOLD = 64 * 1024
const small = (i: number) => `Subject: message ${i}\r\n\r\nbody of ${i}\r\n`
const large = (i: number) => `Subject: large ${i}\r\n\r\n${`${"y".repeat(999)}\r\n`.repeat(200)}`

describe("pop3 fetch: write → fsync → rename → fsync new/ → state written and fsynced → DELE last", () => {
  it("holds for every message, whichever way it was delivered", async () => {
    // 1, 2: inline; 3: LIST says 10 octets, 200 KB arrive (goes to tmp/ as it arrives);
    // 4, 6: thread pool; 5: LIST says it is large (streamed with a plain RETR).
    const store = makeMailStore({
      [USER]: { password: PASSWORD, messages: [small(1), small(2), large(3), small(4), large(5), small(6)] }
    })
    const lyingList: CommandTable = {
      LIST: {
        states: ["TRANSACTION"],
        async run(s, c) {
          if (c.args.length > 0) return defaultCommands["LIST"]!.run(s, c)
          s.ok("scan listing follows")
          s.messages.forEach((m, i) => s.line(`${i + 1} ${i === 2 ? 10 : m.data.length}`))
          s.end()
        }
      }
    }
    const server = memoryServer({
      store,
      behaviour: {
        capa: ["USER", "UIDL", "PIPELINING"],
        onCommand: (line) => {
          if (/^DELE /.test(line)) record({ op: "DELE", path: line })
          if (line === "QUIT") record({ op: "QUIT", path: line })
        }
      },
      hooks: { commands: lyingList }
    })
    const root = mkdtempSync(join(tmpdir(), "pop3-durability-"))
    dirs.push(root)
    const maildir = join(root, "Maildir")
    log.root = root
    const uids = store.messages(USER).map((m) => m.uid)

    const summary = await Effect.runPromise(
      Effect.gen(function* () {
        const session = yield* connect({ host: "memory.test", tls: "none", timeout: 5000 })
        const mailbox = yield* session.login({
          user: USER,
          password: PASSWORD,
          mechanism: "user",
          allowPlaintext: true
        })
        return yield* fetchMail(
          mailbox,
          { maildir, state: undefined, delete: true, json: false, account: ACCOUNT, streamThreshold: THRESHOLD },
          {
            stdout: async () => {},
            stderr: () => {}
          }
        )
      }).pipe(Effect.scoped, Effect.provide(server.layer))
    )
    expect(summary).toMatchObject({ fetched: 6, deleted: 6 })
    const events = log.events
    const newDir = join(maildir, "new")
    const curDir = join(maildir, "cur")
    const statePath = join(maildir, ".pop3-state.json")
    const names = readdirSync(newDir)
    expect(names).toHaveLength(6)

    // The state file commits: written, fsynced, renamed over the state file, directory fsynced.
    const commits = events.flatMap((e, i) => {
      if (e.op !== "rename" || e.to !== statePath) return []
      const tmp = e.path
      const write = events.findLastIndex((x, j) => j < i && x.op === "write" && x.path === tmp)
      const sync = events.findLastIndex((x, j) => j < i && x.op === "fsync" && x.path === tmp)
      const dirSync = events.findIndex((x, j) => j > i && x.op === "fsync" && x.path === maildir)
      return [{ write, sync, rename: i, dirSync, uids: write >= 0 ? (events[write]!.uids ?? []) : [] }]
    })
    expect(commits.length).toBeGreaterThan(0)
    for (const c of commits) {
      expect(c.write, "the state file is written").toBeGreaterThanOrEqual(0)
      expect(c.sync, "the state file is fsynced after it is written").toBeGreaterThan(c.write)
      expect(c.rename, "and only then renamed over the old one").toBeGreaterThan(c.sync)
      expect(c.dirSync, "and its directory fsynced after the rename").toBeGreaterThan(c.rename)
    }
    const firstDele = events.findIndex((e) => e.op === "DELE")
    expect(firstDele).toBeGreaterThan(0)

    const vias = new Set<string | undefined>()
    for (const [n, uid] of uids.entries()) {
      const name = names.find((x) => x.includes(`U${messageKey(ACCOUNT, uid)}`))
      expect(name, `message ${n + 1} is in new/`).toBeDefined()
      const tmp = join(maildir, "tmp", name!)
      const renamed = events.findIndex((e) => e.op === "rename" && e.path === tmp && e.to === join(newDir, name!))
      const lastWrite = events.findLastIndex((e) => e.op === "write" && e.path === tmp)
      const fsync = events.findLastIndex((e) => e.op === "fsync" && e.path === tmp)
      const where = `message ${n + 1}`
      expect(lastWrite, `${where}: written to tmp/`).toBeGreaterThanOrEqual(0)
      expect(fsync, `${where}: fsynced after its last write`).toBeGreaterThan(lastWrite)
      expect(renamed, `${where}: renamed into new/ after the fsync`).toBeGreaterThan(fsync)
      // new/ (and cur/) fsynced after the rename, before the state file records the UID.
      const recorded = commits.find((c) => c.uids.includes(uid))
      expect(recorded, `${where}: recorded in the state file`).toBeDefined()
      for (const dir of [newDir, curDir]) {
        const dirSync = events.findIndex((e, i) => i > renamed && e.op === "fsync" && e.path === dir)
        expect(dirSync, `${where}: ${dir} fsynced after the rename`).toBeGreaterThan(renamed)
        expect(dirSync, `${where}: ${dir} fsynced before the state file claims the message`).toBeLessThan(
          recorded!.write
        )
      }
      // DELE for this message only after the state that records it is durable; DELE last.
      const dele = events.findIndex((e) => e.op === "DELE" && e.path === `DELE ${n + 1}`)
      expect(dele, `${where}: DELE after its UID is durably recorded`).toBeGreaterThan(recorded!.dirSync)
      vias.add(events[lastWrite]!.via)
    }
    // Every delivery path was taken: sync calls, callbacks, and FileHandle writes.
    expect(vias).toEqual(new Set(["sync", "callback", "handle"]))
    // Nothing touches the Maildir or the state file after the first DELE; QUIT ends it.
    expect(events.slice(firstDele).filter((e) => e.op !== "DELE" && e.op !== "QUIT")).toEqual([])
    expect(events.at(-1)?.op).toBe("QUIT")
  })
})
