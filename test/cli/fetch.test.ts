// `pop3 fetch` against the dev server over TCP, run in-process through `main(argv, io)`:
// delivery into a Maildir, the state file, --delete, and every way a run can fail without
// losing or duplicating mail (no UIDL, a connection lost mid-message, a server that commits
// deletions on disconnect, local storage failures).
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterEach, describe, expect, it } from "vitest"
import { connect } from "../../core/client/client.ts"
import { fetchMail, openFetchStore } from "../../core/cli/fetch.ts"
import { memoryServer } from "../core/client/harness.ts"
import { main } from "../../core/cli/main.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import { accountKey, legacyAccountKey, readState } from "../../core/cli/fetch-state.ts"
import { makeCrlfToLf, messageKey } from "../../core/cli/maildir.ts"
import type { FetchOptions, FetchStore, FetchSummary } from "../../core/cli/fetch.ts"
import type { ConnectOptions } from "../../core/client/options.ts"
import type { Behaviour } from "../../dev-server/behaviour.ts"
import { defaultCommands, makeMailStore, toCrlf } from "../../dev-server/server.ts"
import type { CommandTable, MailStore } from "../../dev-server/server.ts"
import { listenTcp } from "../../dev-server/tcp.ts"
import type { TcpListener } from "../../dev-server/tcp.ts"

const USER = "alice"
const PASSWORD = "pw"
/** The account's key in the state file for a server of these tests. */
const accountOf = (server: { readonly port: number }): string => accountKey(USER, "127.0.0.1", server.port)

const listeners: Array<TcpListener> = []
const dirs: Array<string> = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "pop3-fetch-"))
  dirs.push(dir)
  return dir
}

/** A message with a unique Message-ID; LF line ends (the dev server sends CRLF). */
const message = (i: number, extra = ""): string =>
  `Message-ID: <${i}.fetch-test@pop3>\nSubject: message ${i}\n\nbody of ${i}\n${extra}`

/** What the Maildir file must hold for what the server sends: its CRLFs as LFs. */
const expectedFile = (m: string): string => {
  const lf = makeCrlfToLf()
  const head = lf.push(toCrlf(m))
  const tail = lf.end()
  return Buffer.concat([head, tail]).toString("latin1")
}

interface Server {
  readonly store: MailStore
  readonly port: number
  /** Every command line the server received, in order, over all sessions. */
  readonly commands: Array<string>
}

const serve = async (store: MailStore, behaviour: Behaviour = {}, commands?: CommandTable): Promise<Server> => {
  const seen: Array<string> = []
  const listener = await listenTcp(store, {
    behaviour: { ...behaviour, onCommand: (line) => void seen.push(line) },
    ...(commands !== undefined ? { commands } : {})
  })
  listeners.push(listener)
  return { store, port: listener.port, commands: seen }
}

const storeOf = (messages: ReadonlyArray<string>): MailStore =>
  makeMailStore({ [USER]: { password: PASSWORD, messages } })

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: ReadonlyArray<string>
  readonly progress: string
  readonly summary: FetchSummary | undefined
}

const fetch = async (
  server: { readonly port: number },
  maildir: string,
  extra: ReadonlyArray<string> = [],
  options: { tty?: boolean; json?: boolean } = {}
): Promise<Run> => {
  const out: Array<string> = []
  const err: Array<string> = []
  let progress = ""
  const json = options.json ?? true
  const code = await main(
    [
      "--host",
      "127.0.0.1",
      "--port",
      String(server.port),
      "--tls",
      "none",
      "--user",
      USER,
      "fetch",
      "--maildir",
      maildir,
      ...(json ? ["--json"] : []),
      ...extra
    ],
    {
      stdout: async (bytes) => void out.push(typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8")),
      stderr: (text) => void err.push(text),
      env: { POP3_PASSWORD: PASSWORD },
      readFile: (path) => readFileSync(path, "utf8"),
      ...(options.tty === true ? { progress: (text: string) => void (progress += text) } : {})
    }
  )
  const stdout = out.join("")
  const summary = code === 0 && json ? (JSON.parse(stdout) as FetchSummary) : undefined
  return { code, stdout, stderr: err, progress, summary }
}

/** The contents of the files in DIR/sub, sorted. */
const filesIn = (maildir: string, sub = "new"): Array<string> =>
  readdirSync(join(maildir, sub))
    .map((name) => readFileSync(join(maildir, sub, name), "latin1"))
    .sort()

/** The UIDs recorded for `account`, or for the one account of the file. */
const recordedUids = async (stateFile: string, account?: string): Promise<ReadonlyArray<string>> => {
  const { accounts } = await readState(stateFile)
  if (account !== undefined) return accounts[account]?.uids ?? []
  const entries = Object.values(accounts)
  expect(entries.length).toBeLessThanOrEqual(1)
  return entries[0]?.uids ?? []
}

const stateOf = (maildir: string) => join(maildir, ".pop3-state.json")

/**
 * A RETR that sends the "+OK" and two lines of message `breakAt`, then hangs up; a function
 * decides per command, so one server (one port, one state file entry) can break and recover.
 */
const retrBreakingAt = (breakAt: number | (() => number | undefined)): CommandTable => ({
  RETR: {
    states: ["TRANSACTION"],
    async run(s, c) {
      const at = typeof breakAt === "number" ? breakAt : breakAt()
      if (at === undefined || c.args[0] !== String(at)) return defaultCommands["RETR"]!.run(s, c)
      s.ok("octets follow")
      s.line("Message-ID: <partial@pop3>")
      s.line("Subject: cut short")
      s.close()
    }
  }
})

const sorted = (xs: ReadonlyArray<string>) => [...xs].sort()

/** fetchMail on a session logged in as main would, for what main has no flag for (a low
 * stream threshold, a store opened beforehand); output goes nowhere. */
const fetchOn = (at: ConnectOptions, options: FetchOptions, store?: FetchStore) =>
  Effect.gen(function* () {
    const session = yield* connect(at)
    const mailbox = yield* session.login({ user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true })
    return yield* fetchMail(mailbox, options, { stdout: async () => {}, stderr: () => {} }, store)
  }).pipe(Effect.scoped)

describe("pop3 fetch", () => {
  it("stores every message in new/ (LF line ends), records the UIDs and deletes nothing", async () => {
    const messages = [
      message(1),
      message(2, "..a line starting with a dot\n"),
      message(3, "a lone\rCR stays\n"),
      message(4),
      message(5)
    ]
    const server = await serve(storeOf(messages))
    const dir = join(tempDir(), "Maildir")
    const run = await fetch(server, dir)
    expect(run.code).toBe(0)
    expect(run.summary).toMatchObject({
      fetched: 5,
      skipped: 0,
      recovered: 0,
      deleted: 0,
      messages: 5,
      duplicateUids: 0,
      refused: 0,
      state: stateOf(dir)
    })
    expect(run.summary!.bytes).toBe(messages.reduce((n, m) => n + toCrlf(m).length, 0))
    expect(filesIn(dir)).toEqual(sorted(messages.map(expectedFile)))
    // The dev server stuffed "..a line" to "...a line" on the wire; the file has it as stored.
    expect(filesIn(dir)).toContain(message(2, "..a line starting with a dot\n"))
    expect(readdirSync(join(dir, "tmp"))).toEqual([])
    expect(readdirSync(join(dir, "cur"))).toEqual([])
    expect(statSync(join(dir, "new")).mode & 0o777).toBe(0o700)
    for (const name of readdirSync(join(dir, "new"))) {
      // time.unique.host, the unique part naming this process and a per-account UID key.
      expect(name).toMatch(new RegExp(`^\\d+\\.P${process.pid}Q\\d+U[0-9a-f]{24}\\.[^/:]+$`))
      expect(statSync(join(dir, "new", name)).mode & 0o777).toBe(0o600)
    }
    expect(sorted(await recordedUids(stateOf(dir)))).toEqual(sorted(server.store.messages(USER).map((m) => m.uid)))
    expect(server.store.messages(USER)).toHaveLength(5)
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    expect(server.commands.at(-1)).toBe("QUIT")
  })

  it("fetches nothing on a second run, and only a message delivered later on a third", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const dir = tempDir()
    expect((await fetch(server, dir)).summary).toMatchObject({ fetched: 3, skipped: 0 })
    const retrs = server.commands.filter((c) => c.startsWith("RETR")).length
    expect((await fetch(server, dir)).summary).toMatchObject({ fetched: 0, skipped: 3, bytes: 0 })
    expect(server.commands.filter((c) => c.startsWith("RETR"))).toHaveLength(retrs)
    server.store.deliver(USER, message(4))
    expect((await fetch(server, dir)).summary).toMatchObject({ fetched: 1, skipped: 3 })
    expect(server.commands.filter((c) => c.startsWith("RETR")).slice(retrs)).toEqual(["RETR 4"])
    expect(filesIn(dir)).toEqual(sorted([1, 2, 3, 4].map((i) => expectedFile(message(i)))))
  })

  it("two runs of one account at once: the second waits for the first and stores nothing twice", async () => {
    const messages = Array.from({ length: 50 }, (_, i) => message(i + 1))
    const server = await serve(storeOf(messages))
    const dir = tempDir()
    // Both start in the same turn; whichever takes the lock first fetches everything.
    const runs = await Promise.all([fetch(server, dir, ["--delete"]), fetch(server, dir, ["--delete"])])
    expect(runs.map((r) => r.code)).toEqual([0, 0])
    const summaries = runs.map((r) => r.summary as FetchSummary).sort((a, b) => b.fetched - a.fetched)
    expect(summaries.map((s) => [s.fetched, s.deleted, s.messages])).toEqual([
      [50, 50, 50],
      [0, 0, 0]
    ])
    expect(filesIn(dir)).toEqual(sorted(messages.map(expectedFile)))
    // The lock is gone with the runs.
    expect(readdirSync(dir).filter((name) => name.endsWith(".lock"))).toEqual([])
  })

  it("--delete deletes the stored messages — only after all are stored — then QUITs", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const dir = tempDir()
    expect((await fetch(server, dir)).summary).toMatchObject({ fetched: 3, deleted: 0 })
    server.store.deliver(USER, message(4))
    server.store.deliver(USER, message(5))
    const from = server.commands.length
    const run = await fetch(server, dir, ["--delete"])
    expect(run.summary).toMatchObject({ fetched: 2, skipped: 3, deleted: 5 })
    expect(server.store.messages(USER)).toEqual([])
    expect(filesIn(dir)).toEqual(sorted([1, 2, 3, 4, 5].map((i) => expectedFile(message(i)))))
    const session = server.commands.slice(from)
    const lastRetr = session.findLastIndex((c) => c.startsWith("RETR"))
    const firstDele = session.findIndex((c) => c.startsWith("DELE"))
    expect(lastRetr).toBeGreaterThanOrEqual(0)
    expect(firstDele).toBeGreaterThan(lastRetr)
    expect(sorted(session.filter((c) => c.startsWith("DELE")))).toEqual([
      "DELE 1",
      "DELE 2",
      "DELE 3",
      "DELE 4",
      "DELE 5"
    ])
    expect(session.at(-1)).toBe("QUIT")
    // The next run finds an empty mailbox and forgets the UIDs of the deleted messages.
    expect((await fetch(server, dir, ["--delete"])).summary).toMatchObject({
      fetched: 0,
      skipped: 0,
      deleted: 0,
      messages: 0
    })
    expect(await recordedUids(stateOf(dir))).toEqual([])
  })

  it("without --delete never sends DELE, whatever is recorded", async () => {
    const server = await serve(storeOf([message(1), message(2)]))
    const dir = tempDir()
    await fetch(server, dir)
    await fetch(server, dir)
    expect(server.commands.some((c) => /^DELE/i.test(c))).toBe(false)
    expect(server.store.messages(USER)).toHaveLength(2)
  })

  it("leaves messages whose UID repeats an earlier one's alone, and says so", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3), message(4)]), { duplicateUids: true })
    const dir = tempDir()
    const run = await fetch(server, dir, ["--delete"])
    expect(run.summary).toMatchObject({ fetched: 2, deleted: 2, duplicateUids: 2, messages: 4 })
    expect(run.stderr.join("\n")).toMatch(/2 messages have the same UID as an earlier message; left on the server/)
    expect(filesIn(dir)).toEqual(sorted([expectedFile(message(1)), expectedFile(message(3))]))
    expect(server.store.messages(USER).map((m) => new TextDecoder().decode(m.data))).toEqual(
      [toCrlf(message(2)), toCrlf(message(4))].map((b) => new TextDecoder().decode(b))
    )
  })

  it("replaces the state file atomically, keeps other accounts' entries and stays small", async () => {
    const messages = Array.from({ length: 40 }, (_, i) => message(i + 1))
    const server = await serve(storeOf(messages))
    const dir = tempDir()
    const state = stateOf(dir)
    mkdirSync(dir, { recursive: true })
    const other = { uids: ["bob-uid-1", "bob-uid-2"] }
    const before = JSON.stringify({ version: 1, accounts: { "bob@mail.example.org": other } }) + "\n"
    writeFileSync(state, before)
    // A second name for the old file: written in place, it would change too; replaced by
    // rename, it keeps the old content.
    linkSync(state, join(dir, "old-state-link"))
    const run = await fetch(server, dir)
    expect(run.summary).toMatchObject({ fetched: 40 })
    expect(readFileSync(join(dir, "old-state-link"), "utf8")).toBe(before)
    const after = await readState(state)
    expect(after.accounts["bob@mail.example.org"]).toEqual(other)
    expect(after.accounts[accountOf(server)]?.uids).toHaveLength(40)
    expect(readdirSync(dir).filter((n) => n.includes(".tmp"))).toEqual([])
    expect(statSync(state).mode & 0o777).toBe(0o600)
    // One UID and its quotes per message (the dev server's UIDs are 15 octets).
    expect(statSync(state).size).toBeLessThan(before.length + 100 + 40 * 20)
  })

  it("--state puts the state file elsewhere", async () => {
    const server = await serve(storeOf([message(1)]))
    const dir = tempDir()
    const state = join(tempDir(), "fetch-state.json")
    const run = await fetch(server, dir, ["--state", state])
    expect(run.summary).toMatchObject({ fetched: 1, state })
    expect(await recordedUids(state)).toHaveLength(1)
    expect(readdirSync(dir)).not.toContain(".pop3-state.json")
    expect((await fetch(server, dir, ["--state", state])).summary).toMatchObject({ fetched: 0, skipped: 1 })
  })

  it("refuses a server without UIDL: exit 1, says why, fetches and deletes nothing", async () => {
    const server = await serve(
      storeOf([message(1), message(2)]),
      { capa: ["TOP", "USER", "PIPELINING"] },
      {
        UIDL: { states: ["TRANSACTION"], run: (s) => s.err("Unknown command") }
      }
    )
    const dir = tempDir()
    const run = await fetch(server, dir, ["--delete"], { json: false })
    expect(run.code).toBe(1)
    expect(run.stderr).toHaveLength(1)
    expect(run.stderr[0]).toMatch(
      /^pop3: the server does not support UIDL .*fetch requires UIDL so messages are not fetched twice/
    )
    expect(server.commands.filter((c) => /^(RETR|DELE)/.test(c))).toEqual([])
    expect(filesIn(dir)).toEqual([])
    expect(server.store.messages(USER)).toHaveLength(2)
  })

  it("with PIPELINING the RETRs go out together; QUIT only once the last body is read (Dovecot drops unsent output at QUIT), with --delete after the DELEs are answered", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const dir = tempDir()
    const run = await fetch(server, dir, ["--trace"])
    expect(run.summary).toMatchObject({ fetched: 3 })
    const lines = run.stderr.map((l) => l.replace(/^\s*[\d.]+s /, "")).filter((l) => /^[CS]: /.test(l))
    // The RETRs written in one batch, before any answer; QUIT after the last body.
    const first = lines.indexOf("C: RETR 1")
    expect(lines.slice(first, first + 4)).toEqual([
      "C: RETR 1",
      "C: RETR 2",
      "C: RETR 3",
      expect.stringMatching(/^S: \+OK/)
    ])
    const bodies = lines.flatMap((l, i) => (/^S: <\d+ octets of RETR body/.test(l) ? [i] : []))
    expect(bodies).toHaveLength(3)
    expect(lines.indexOf("C: QUIT")).toBeGreaterThan(bodies[2]!)
    expect(server.commands.slice(-4)).toEqual(["RETR 1", "RETR 2", "RETR 3", "QUIT"])
    expect(filesIn(dir)).toEqual(sorted([1, 2, 3].map((i) => expectedFile(message(i)))))

    server.store.deliver(USER, message(4))
    const deleting = await fetch(server, dir, ["--delete", "--trace"])
    expect(deleting.summary).toMatchObject({ fetched: 1, deleted: 4 })
    const after = deleting.stderr.map((l) => l.replace(/^\s*[\d.]+s /, "")).filter((l) => /^[CS]: /.test(l))
    const retr = after.indexOf("C: RETR 4")
    expect(after[retr + 1]).toMatch(/^S: \+OK/)
    const quit = after.indexOf("C: QUIT")
    expect(quit).toBeGreaterThan(after.lastIndexOf("C: DELE 4"))
    expect(after.slice(after.lastIndexOf("C: DELE 4") + 1, quit).filter((l) => l.startsWith("S: "))).toHaveLength(4)
  })

  it("with PIPELINING, UIDL and LIST go out together (one round trip); a refused LIST still fetches", async () => {
    const messages = [message(1), message(2), message(3)]
    const piped = await serve(storeOf(messages))
    const dir = tempDir()
    const run = await fetch(piped, dir, ["--trace"])
    expect(run.summary).toMatchObject({ fetched: 3 })
    // The trace (stderr) shows both commands sent before the first answer came back.
    const lines = run.stderr.map((l) => l.replace(/^\s*[\d.]+s /, ""))
    const uidl = lines.indexOf("C: UIDL")
    expect(uidl).toBeGreaterThanOrEqual(0)
    expect(lines[uidl + 1]).toBe("C: LIST")

    const refusing = await serve(
      storeOf(messages),
      {},
      { LIST: { states: ["TRANSACTION"], run: (s) => s.err("no listing today") } }
    )
    const other = tempDir()
    expect((await fetch(refusing, other)).summary).toMatchObject({ fetched: 3 })
    expect(filesIn(other)).toEqual(sorted(messages.map(expectedFile)))
    expect(refusing.commands.slice(-5, -4)).toEqual(["LIST"])
  })

  it("without PIPELINING, UIDL and LIST go one after the other, and no LIST after a refused UIDL", async () => {
    const server = await serve(storeOf([message(1), message(2)]), { capa: ["TOP", "UIDL", "USER"] })
    const dir = tempDir()
    const run = await fetch(server, dir, ["--trace"])
    expect(run.summary).toMatchObject({ fetched: 2 })
    const lines = run.stderr.map((l) => l.replace(/^\s*[\d.]+s /, ""))
    expect(lines[lines.indexOf("C: UIDL") + 1]).toMatch(/^S: \+OK/)

    const refusing = await serve(
      storeOf([message(1)]),
      { capa: ["TOP", "USER"] },
      {
        UIDL: { states: ["TRANSACTION"], run: (s) => s.err("Unknown command") }
      }
    )
    expect((await fetch(refusing, tempDir(), [], { json: false })).code).toBe(1)
    expect(refusing.commands.filter((c) => /^(LIST|RETR)/.test(c))).toEqual([])
  })

  it("a server closing mid-body (closeMidBody): nothing stored or recorded for that message, nothing deleted", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]), { closeMidBody: true })
    const dir = tempDir()
    const run = await fetch(server, dir, ["--delete"])
    expect(run.code).toBe(3)
    expect(run.stderr.join("\n")).toMatch(/connection closed/)
    expect(filesIn(dir)).toEqual([])
    expect(readdirSync(join(dir, "tmp"))).toEqual([])
    expect(await recordedUids(stateOf(dir))).toEqual([])
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    expect(server.store.messages(USER)).toHaveLength(3)
  })

  it("a connection lost at message 3 keeps 1 and 2 (recorded), deletes nothing; the next run finishes", async () => {
    const store = storeOf([message(1), message(2), message(3), message(4), message(5)])
    let breakAt: number | undefined = 3
    const breaking = await serve(
      store,
      {},
      retrBreakingAt(() => breakAt)
    )
    const dir = tempDir()
    const run = await fetch(breaking, dir, ["--delete"])
    expect(run.code).toBe(3)
    expect(filesIn(dir)).toEqual(sorted([expectedFile(message(1)), expectedFile(message(2))]))
    expect(readdirSync(join(dir, "tmp"))).toEqual([])
    const uids = store.messages(USER).map((m) => m.uid)
    expect(sorted(await recordedUids(stateOf(dir)))).toEqual(sorted(uids.slice(0, 2)))
    expect(breaking.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    expect(store.messages(USER)).toHaveLength(5)

    breakAt = undefined
    expect((await fetch(breaking, dir, ["--delete"])).summary).toMatchObject({ fetched: 3, skipped: 2, deleted: 5 })
    expect(filesIn(dir)).toEqual(sorted([1, 2, 3, 4, 5].map((i) => expectedFile(message(i)))))
    expect(store.messages(USER)).toEqual([])
  })

  it("a server that commits deletions on disconnect (commitOnDisconnect) loses nothing when a run fails", async () => {
    const store = storeOf([message(1), message(2)])
    const dir = tempDir()
    let breakAt: number | undefined
    const eudora = await serve(
      store,
      { commitOnDisconnect: true },
      retrBreakingAt(() => breakAt)
    )
    expect((await fetch(eudora, dir)).summary).toMatchObject({ fetched: 2 })
    store.deliver(USER, message(3))
    store.deliver(USER, message(4))
    store.deliver(USER, message(5))
    // Messages 1 and 2 are recorded, so --delete may delete them — but only at the end;
    // the run breaks at message 4 and the server commits whatever was marked.
    breakAt = 4
    const run = await fetch(eudora, dir, ["--delete"])
    expect(run.code).toBe(3)
    expect(eudora.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    expect(store.messages(USER)).toHaveLength(5)
    expect(filesIn(dir)).toEqual(sorted([1, 2, 3].map((i) => expectedFile(message(i)))))
  })

  it("recognises messages already in the Maildir that the state file lacks (new/ or cur/ with flags)", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const dir = tempDir()
    await fetch(server, dir)
    // As after a kill between delivery and recording; and a mail reader moved one to cur/.
    unlinkSync(stateOf(dir))
    const [first] = readdirSync(join(dir, "new"))
    renameSync(join(dir, "new", first!), join(dir, "cur", `${first!}:2,S`))
    const from = server.commands.length
    const run = await fetch(server, dir, ["--delete"])
    expect(run.summary).toMatchObject({ fetched: 0, recovered: 3, deleted: 3 })
    expect(server.commands.slice(from).filter((c) => c.startsWith("RETR"))).toEqual([])
    expect(filesIn(dir)).toHaveLength(2)
    expect(filesIn(dir, "cur")).toHaveLength(1)
    expect(server.store.messages(USER)).toEqual([])
  })

  it("recognises messages an earlier version delivered under its account key (user@host) when the state file lacks them", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const dir = tempDir()
    await fetch(server, dir)
    unlinkSync(stateOf(dir))
    // The files as that version named them: the same UIDs hashed with the old account key.
    const renamed = new Map(
      server.store
        .messages(USER)
        .map((m) => [messageKey(accountOf(server), m.uid), messageKey(legacyAccountKey(USER, "127.0.0.1"), m.uid)])
    )
    for (const name of readdirSync(join(dir, "new"))) {
      const key = /U([0-9a-f]+)\./.exec(name)![1]!
      renameSync(join(dir, "new", name), join(dir, "new", name.replace(`U${key}.`, `U${renamed.get(key)!}.`)))
    }
    const from = server.commands.length
    const run = await fetch(server, dir, ["--delete"])
    expect(run.summary).toMatchObject({ fetched: 0, recovered: 3, deleted: 3 })
    expect(server.commands.slice(from).filter((c) => c.startsWith("RETR"))).toEqual([])
    expect(filesIn(dir)).toHaveLength(3)
  })

  it("a Maildir that cannot be created: exit 5, one clear line, no login, nothing fetched", async () => {
    const server = await serve(storeOf([message(1)]))
    const dir = tempDir()
    writeFileSync(join(dir, "tmp"), "a file where tmp/ should be")
    const run = await fetch(server, dir, ["--delete"], { json: false })
    expect(run.code).toBe(5)
    expect(run.stderr).toHaveLength(1)
    expect(run.stderr[0]).toMatch(
      /^pop3: local storage failed: cannot create the Maildir .*\(EEXIST|ENOTDIR\).*nothing was deleted on the server$/
    )
    // Found before the login: no password tried on the server for a run that cannot store.
    expect(server.commands.filter((c) => /^(USER|PASS|APOP|AUTH|RETR|DELE)/i.test(c))).toEqual([])
    expect(server.store.messages(USER)).toHaveLength(1)
  })

  it("a state file that cannot be written: exit 5, messages stored, nothing deleted; a later run recovers them", async () => {
    const dir = tempDir()
    // The state file's directory goes away while the messages are fetched.
    const stateDir = join(tempDir(), "state-dir")
    mkdirSync(stateDir)
    const server = await serve(
      storeOf([message(1), message(2)]),
      {},
      {
        RETR: {
          states: ["TRANSACTION"],
          run(s, c) {
            if (c.args[0] === "2") rmSync(stateDir, { recursive: true })
            return defaultCommands["RETR"]!.run(s, c)
          }
        }
      }
    )
    const run = await fetch(server, dir, ["--delete", "--state", join(stateDir, "state.json")], { json: false })
    expect(run.code).toBe(5)
    expect(run.stderr).toEqual([
      expect.stringMatching(
        /^pop3: local storage failed: cannot write the state file .*state-dir.*no such file or directory \(ENOENT\); nothing was deleted on the server$/
      )
    ])
    expect(filesIn(dir)).toHaveLength(2)
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    expect(server.store.messages(USER)).toHaveLength(2)
    expect((await fetch(server, dir, ["--delete"])).summary).toMatchObject({ fetched: 0, recovered: 2, deleted: 2 })
    expect(filesIn(dir)).toHaveLength(2)
  })

  it("a Maildir failing mid-run: exit 5, what was stored is recorded, nothing deleted; the next run completes", async () => {
    const store = storeOf([1, 2, 3, 4, 5, 6].map((i) => message(i)))
    const dir = tempDir()
    // When the server gets to RETR 4, new/ turns into a file: later renames fail (ENOTDIR).
    const server = await serve(
      store,
      {},
      {
        RETR: {
          states: ["TRANSACTION"],
          run(s, c) {
            if (c.args[0] === "4") {
              renameSync(join(dir, "new"), join(dir, "new.moved"))
              writeFileSync(join(dir, "new"), "not a directory")
            }
            return defaultCommands["RETR"]!.run(s, c)
          }
        }
      }
    )
    const run = await fetch(server, dir, ["--delete"], { json: false })
    expect(run.code).toBe(5)
    expect(run.stderr).toEqual([
      expect.stringMatching(
        /^pop3: local storage failed: cannot store message \d in .*: not a directory \(ENOTDIR\); nothing was deleted on the server$/
      )
    ])
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual([])
    expect(store.messages(USER)).toHaveLength(6)
    const before = filesIn(dir, "new.moved")
    const recorded = await recordedUids(stateOf(dir))
    // Whatever reached new/ in time is recorded — and only that.
    expect(recorded).toHaveLength(before.length)
    expect(readdirSync(join(dir, "tmp"))).toEqual([])

    unlinkSync(join(dir, "new"))
    renameSync(join(dir, "new.moved"), join(dir, "new"))
    const good = await serve(store)
    const again = await fetch(good, dir, ["--delete"])
    expect(again.summary).toMatchObject({
      fetched: 6 - before.length,
      skipped: before.length,
      recovered: 0,
      deleted: 6
    })
    expect(filesIn(dir)).toEqual(sorted([1, 2, 3, 4, 5, 6].map((i) => expectedFile(message(i)))))
    expect(store.messages(USER)).toEqual([])
  })

  it("a stray line after the LIST answer (same read): exit 4 before any RETR, nothing stored, nothing deleted", async () => {
    // Taken for RETR 1's answer, the stray "+OK" made RETR's real status line the first
    // line of the stored message, which --delete then removed from the server.
    const server = await serve(
      storeOf([message(1), message(2)]),
      {},
      {
        LIST: {
          states: ["TRANSACTION"],
          async run(s, c) {
            await defaultCommands["LIST"]!.run(s, c)
            s.line("+OK")
          }
        }
      }
    )
    const dir = tempDir()
    const run = await fetch(server, dir, ["--delete"], { json: false })
    expect(run.code).toBe(4)
    expect(run.stderr).toEqual([
      'pop3: the server broke the POP3 protocol: the server sent data nobody asked for (before RETR): "+OK"'
    ])
    expect(server.commands.filter((c) => /^(RETR|DELE)/.test(c))).toEqual([])
    expect(filesIn(dir)).toEqual([])
    expect(server.store.messages(USER)).toHaveLength(2)
  })

  describe("a message the server refuses (-ERR to its RETR) does not stop the others", () => {
    // Refuses one message, known by its UID (its number changes once others are deleted).
    const refusing = (store: MailStore, nth: number): CommandTable => {
      const uid = store.messages(USER)[nth - 1]!.uid
      return {
        RETR: {
          states: ["TRANSACTION"],
          async run(s, c) {
            if (s.reportedUid(Number(c.args[0])) === uid) return s.err("message damaged", "SYS/PERM")
            return defaultCommands["RETR"]!.run(s, c)
          }
        }
      }
    }
    for (const pipelining of [true, false]) {
      it(`${pipelining ? "pipelined" : "one at a time"}: the others stored and deleted, it stays, exit 1 every run until it is fetched`, async () => {
        const messages = [1, 2, 3, 4].map((i) => message(i))
        const store = storeOf(messages)
        const server = await serve(store, pipelining ? {} : { capa: ["USER", "UIDL", "TOP"] }, refusing(store, 2))
        const dir = tempDir()
        const run = await fetch(server, dir, ["--delete"], { json: false })
        expect(run.code).toBe(1)
        expect(run.stderr).toEqual([
          expect.stringMatching(
            /^pop3: warning: message 2 \(UID .+\) was refused by the server \(RETR 2 refused: -ERR \[SYS\/PERM\] message damaged\); left there and not stored/
          ),
          "pop3: RETR 2 refused: -ERR [SYS/PERM] message damaged"
        ])
        expect(filesIn(dir)).toEqual(sorted([1, 3, 4].map((i) => expectedFile(message(i)))))
        // Stored ones deleted; the refused one never.
        expect(server.commands.filter((c) => /^DELE/.test(c))).toEqual(["DELE 1", "DELE 3", "DELE 4"])
        expect(server.store.messages(USER).map((m) => m.data)).toEqual([toCrlf(messages[1]!)])
        expect(await recordedUids(stateOf(dir))).toHaveLength(3)
        // The next run asks for it again (and is refused again).
        const retrs = server.commands.filter((c) => /^RETR/.test(c)).length
        const again = await fetch(server, dir, [], { json: false })
        expect(again.code).toBe(1)
        expect(again.stderr.at(-1)).toBe("pop3: RETR 1 refused: -ERR [SYS/PERM] message damaged")
        expect(server.commands.filter((c) => /^RETR/.test(c)).slice(retrs)).toEqual(["RETR 1"])
        expect(filesIn(dir)).toHaveLength(3)
      })
    }

    it("a server that answers -ERR and hangs up: its -ERR is reported (not the close), what came before is kept", async () => {
      const store = storeOf([1, 2, 3].map((i) => message(i)))
      const uid = store.messages(USER)[1]!.uid
      const damaged: CommandTable = {
        RETR: {
          states: ["TRANSACTION"],
          async run(s, c) {
            if (s.reportedUid(Number(c.args[0])) !== uid) return defaultCommands["RETR"]!.run(s, c)
            s.err("Message 2 is damaged", "SYS/PERM")
            s.close()
          }
        }
      }
      const server = await serve(store, {}, damaged)
      const dir = tempDir()
      const run = await fetch(server, dir, ["--delete"], { json: false })
      expect(run.code).toBe(3)
      expect(run.stderr[1]).toBe("pop3: the connection closed during sending RETR: the server closed the connection")
      expect(run.stderr[0]).toMatch(
        /^pop3: warning: message 2 \(UID .+\) was refused by the server \(RETR 2 refused: -ERR \[SYS\/PERM\] Message 2 is damaged\)/
      )
      expect(filesIn(dir)).toEqual([expectedFile(message(1))])
      expect(await recordedUids(stateOf(dir))).toHaveLength(1)
      // No QUIT after the hang-up: nothing deleted.
      expect(server.store.messages(USER)).toHaveLength(3)
    })

    it("the server's text in the warning reaches the terminal escaped (no control characters)", async () => {
      const store = storeOf([message(1), message(2)])
      const uid = store.messages(USER)[0]!.uid
      const hostile: CommandTable = {
        RETR: {
          states: ["TRANSACTION"],
          async run(s, c) {
            if (s.reportedUid(Number(c.args[0])) === uid) return s.err("\x1b]0;pwned\x07\x1b[2Jgone")
            return defaultCommands["RETR"]!.run(s, c)
          }
        }
      }
      const server = await serve(store, {}, hostile)
      const run = await fetch(server, tempDir(), [], { json: false })
      expect(run.code).toBe(1)
      expect(run.stderr[0]).toMatch(/^pop3: warning: message 1 .*\\x1b\]0;pwned\\x07\\x1b\[2Jgone/)
      // eslint-disable-next-line no-control-regex
      for (const line of run.stderr) expect(line).not.toMatch(/[\x00-\x1f\x7f]/)
    })

    it("--json: the summary counts it, then the error", async () => {
      const store = storeOf([message(1), message(2)])
      const server = await serve(store, {}, refusing(store, 1))
      const run = await fetch(server, tempDir(), [], { json: true })
      expect(run.code).toBe(1)
      expect(JSON.parse(run.stdout)).toMatchObject({ fetched: 1, refused: 1, messages: 2 })
      // stderr holds JSON lines only: the warning, then the error.
      expect(run.stderr.map((line) => JSON.parse(line))).toEqual([
        { warning: expect.stringMatching(/^message 1 \(UID .+\) was refused by the server/) },
        { error: "ServerError", message: "RETR 1 refused: -ERR [SYS/PERM] message damaged" }
      ])
    })

    it("streamed into the store (over the threshold): the refused one leaves no tmp/ file, the next is stored", async () => {
      const store = storeOf([message(1), message(2), message(3)])
      const server = await serve(store, {}, refusing(store, 2))
      const dir = tempDir()
      const exit = await Effect.runPromiseExit(
        fetchOn(
          { host: "127.0.0.1", port: server.port, tls: "none" },
          { maildir: dir, state: undefined, delete: false, json: false, account: accountOf(server), streamThreshold: 1 }
        ).pipe(Effect.provide(NodeTransport.layer))
      )
      expect(exit._tag).toBe("Failure")
      expect(String(exit)).toContain("RETR 2 refused")
      expect(filesIn(dir)).toEqual(sorted([1, 3].map((i) => expectedFile(message(i)))))
      expect(readdirSync(join(dir, "tmp"))).toEqual([])
    })
  })

  it("a state file in a directory that does not exist: exit 5 before the login (its lock cannot be made), nothing fetched", async () => {
    const server = await serve(storeOf([message(1)]))
    const dir = tempDir()
    const run = await fetch(server, dir, ["--state", join(dir, "no-such-dir", "state.json")], { json: false })
    expect(run.code).toBe(5)
    expect(run.stderr).toEqual([
      expect.stringMatching(
        /^pop3: local storage failed: cannot lock .*no-such-dir.*no such file or directory \(ENOENT\); nothing was deleted on the server$/
      )
    ])
    expect(server.commands.filter((c) => /^(USER|PASS|APOP|AUTH|RETR|DELE)/i.test(c))).toEqual([])
  })

  it("a damaged state file: exit 5, no login, nothing fetched", async () => {
    const server = await serve(storeOf([message(1)]))
    const dir = tempDir()
    writeFileSync(stateOf(dir), "{ not json")
    const run = await fetch(server, dir, [], { json: false })
    expect(run.code).toBe(5)
    expect(run.stderr[0]).toMatch(/not a valid pop3 state file \(not JSON\)/)
    expect(filesIn(dir)).toEqual([])
    expect(server.commands.filter((c) => /^(USER|PASS|APOP|AUTH|RETR|DELE)/i.test(c))).toEqual([])
  })

  it("a store read at open is read again by a second sync (what the first recorded counts)", async () => {
    const server = await serve(storeOf([message(1), message(2)]))
    const dir = tempDir()
    const options = { maildir: dir, state: undefined, delete: false, json: false, account: accountOf(server) }
    const scope = Effect.runSync(Scope.make())
    const store = await Effect.runPromise(Scope.provide(openFetchStore(options), scope))
    const once = () =>
      Effect.runPromise(
        fetchOn({ host: "127.0.0.1", port: server.port, tls: "none" }, options, store).pipe(
          Effect.provide(NodeTransport.layer)
        )
      )
    expect((await once()).fetched).toBe(2)
    const again = await once()
    expect([again.fetched, again.skipped]).toEqual([0, 2])
    expect(filesIn(dir)).toHaveLength(2)
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("streams a message LIST reports as over 16 MiB to its file", async () => {
    const line = "0123456789".repeat(7) + "\n"
    const big = message(2, line.repeat(Math.ceil((17 * 1024 * 1024) / line.length)))
    const server = await serve(storeOf([message(1), big, message(3)]))
    const dir = tempDir()
    const run = await fetch(server, dir)
    expect(run.summary).toMatchObject({ fetched: 3 })
    expect(filesIn(dir)).toEqual(sorted([message(1), big, message(3)].map(expectedFile)))
    // Messages 1 and 3 pipelined; 2 on its own.
    expect(server.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR 1", "RETR 2", "RETR 3"])
  }, 30_000)

  it("draws progress on a terminal and prints one summary line; quiet otherwise", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const tty = await fetch(server, tempDir(), [], { tty: true, json: false })
    expect(tty.code).toBe(0)
    expect(tty.stdout).toBe("")
    expect(tty.progress).toMatch(/^\r\[-{20}\] 0\/3 messages/)
    expect(tty.progress).toMatch(/\r\[#{20}\] 3\/3 messages .* ETA 0:00\x1b\[K\n$/)
    expect(tty.stderr).toEqual([expect.stringMatching(/^fetched 3 messages \(.*\) in \d+\.\d s$/)])
    const quiet = await fetch(server, tempDir(), [], { json: false })
    expect(quiet).toMatchObject({ code: 0, stdout: "", stderr: [], progress: "" })
  })

  it("usage errors: fetch without --maildir, fetch options on other commands", async () => {
    const server = await serve(storeOf([]))
    const cli = async (argv: ReadonlyArray<string>) => {
      const err: Array<string> = []
      const code = await main(
        ["--host", "127.0.0.1", "--port", String(server.port), "--tls", "none", "--user", USER, ...argv],
        {
          stdout: async () => {},
          stderr: (t) => void err.push(t),
          env: { POP3_PASSWORD: PASSWORD },
          readFile: () => ""
        }
      )
      return { code, err: err.join("\n") }
    }
    expect(await cli(["fetch"])).toMatchObject({ code: 2, err: expect.stringMatching(/fetch needs --maildir DIR/) })
    expect(await cli(["fetch", "extra", "--maildir", "x"])).toMatchObject({ code: 2 })
    expect(await cli(["stat", "--delete"])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--delete is an option of fetch, not of stat/)
    })
    expect(await cli(["dele", "1", "--maildir", "x"])).toMatchObject({ code: 2 })
    expect(server.commands).toEqual([])
  })
})

describe("the state file is keyed by host, port and user (issue 12, item 8)", () => {
  it("two servers on one host (different ports) keep their own UIDs: nothing fetched twice", async () => {
    const a = await serve(storeOf([message(1), message(2)]))
    const b = await serve(storeOf([message(3), message(4), message(5)]))
    const dir = tempDir()
    expect((await fetch(a, dir)).summary).toMatchObject({ fetched: 2 })
    expect((await fetch(b, dir)).summary).toMatchObject({ fetched: 3 })
    // Keyed by user@host alone, b's run replaced a's entry and this run fetched a's mail again.
    expect((await fetch(a, dir)).summary).toMatchObject({ fetched: 0, skipped: 2 })
    expect((await fetch(b, dir)).summary).toMatchObject({ fetched: 0, skipped: 3 })
    expect(filesIn(dir)).toHaveLength(5)
    const { accounts } = await readState(stateOf(dir))
    expect(Object.keys(accounts).sort()).toEqual([accountOf(a), accountOf(b)].sort())
    expect(accountOf(a)).toBe(`alice@127.0.0.1:${a.port}`)
  })

  it("migrates a state file keyed user@host: its UIDs count as fetched and are recorded under the new key", async () => {
    const server = await serve(storeOf([message(1), message(2), message(3)]))
    const dir = tempDir()
    mkdirSync(dir, { recursive: true })
    const uids = server.store.messages(USER).map((m) => m.uid)
    writeFileSync(
      stateOf(dir),
      JSON.stringify({ version: 1, accounts: { [legacyAccountKey(USER, "127.0.0.1")]: { uids: uids.slice(0, 2) } } }) +
        "\n"
    )
    expect((await fetch(server, dir)).summary).toMatchObject({ fetched: 1, skipped: 2 })
    expect((await readState(stateOf(dir))).accounts[accountOf(server)]?.uids.slice().sort()).toEqual(
      uids.slice().sort()
    )
    expect((await fetch(server, dir)).summary).toMatchObject({ fetched: 0, skipped: 3 })
  })

  it("accountKey puts an IPv6 address in brackets and lower-cases the host", () => {
    expect(accountKey("Alice", "POP.Example.COM", 995)).toBe("Alice@pop.example.com:995")
    expect(accountKey("alice", "::1", 110)).toBe("alice@[::1]:110")
  })
})

describe("memory is bounded whatever the server announces (issue 12, item 9)", () => {
  it("a message LIST announces as 10 octets but that keeps coming goes to its tmp/ file as it arrives", async () => {
    const THRESHOLD = 64 * 1024
    const LINE = "x".repeat(1000)
    const HALF = 400 // lines of 1002 octets: ~400 KB before the pause, well past the threshold
    let release = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    let paused = () => {}
    const pausing = new Promise<void>((resolve) => (paused = resolve))
    const store = storeOf([message(1), message(2)])
    const commands: CommandTable = {
      RETR: {
        states: ["TRANSACTION"],
        async run(s, c) {
          if (c.args[0] !== "2") return defaultCommands["RETR"]!.run(s, c)
          s.ok("10 octets")
          s.line("Subject: endless")
          s.line("")
          for (let i = 0; i < HALF; i++) s.line(LINE)
          await s.flush()
          paused()
          await gate
          for (let i = 0; i < HALF; i++) s.line(LINE)
          s.end()
        }
      }
    }
    const server = memoryServer({
      store,
      behaviour: { reportedSize: 10, capa: ["USER", "UIDL", "PIPELINING"] },
      hooks: { commands }
    })
    const dir = tempDir()
    const fetching = Effect.runPromiseExit(
      fetchOn(
        { host: "memory.test", tls: "none", timeout: 5000 },
        {
          maildir: dir,
          state: undefined,
          delete: false,
          json: false,
          account: "alice@memory.test:110",
          streamThreshold: THRESHOLD
        }
      ).pipe(Effect.provide(server.layer))
    )
    try {
      await pausing
      // The server has sent ~400 KB of message 2 and waits. Collected in memory, nothing would
      // be in tmp/ yet; streamed, the file there grows past the threshold.
      const tmpSize = async (): Promise<number> => {
        for (let tries = 0; tries < 400; tries++) {
          const names = readdirSync(join(dir, "tmp"))
          const size = names.reduce((n, name) => n + statSync(join(dir, "tmp", name)).size, 0)
          if (size > 2 * THRESHOLD) return size
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
        return 0
      }
      expect(await tmpSize()).toBeGreaterThan(2 * THRESHOLD)
      expect(readdirSync(join(dir, "new"))).toHaveLength(1) // message 1, collected as usual
    } finally {
      release()
    }
    const exit = await fetching
    expect(exit._tag).toBe("Success")
    expect(readdirSync(join(dir, "tmp"))).toEqual([])
    const files = filesIn(dir)
    expect(files).toHaveLength(2)
    expect(files).toContain(`Subject: endless\n\n${`${LINE}\n`.repeat(2 * HALF)}`)
    expect(sorted(await recordedUids(stateOf(dir)))).toEqual(sorted(store.messages(USER).map((m) => m.uid)))
  })
})

describe("CRLF to LF", () => {
  it("converts CRLF pairs split across chunks and keeps lone CRs", () => {
    const input = "a\r\nb\rc\r\n\r\nd\r"
    for (let cut = 0; cut <= input.length; cut++) {
      const lf = makeCrlfToLf()
      const enc = (s: string) => new TextEncoder().encode(s)
      const out = Buffer.concat([
        lf.push(enc(input.slice(0, cut))),
        lf.push(new Uint8Array(0)),
        lf.push(enc(input.slice(cut))),
        lf.end()
      ]).toString("latin1")
      expect(out).toBe("a\nb\rc\n\nd\r")
    }
  })
})
