// The kill test: the real `pop3 fetch --delete` as a child process, SIGKILLed again and
// again at seeded-random points (while downloading, while writing, between DELEs, at
// QUIT), then run until a run completes. Afterwards every message must be in new/ exactly
// once, byte for byte, and the server must never have seen a DELE for a message that was
// not already stored (in new/) and recorded (in the state file) at that moment.
//
// The server commits deletions on any disconnect (commitOnDisconnect, like Eudora QPOP),
// so a DELE that reaches it before a kill counts: there is no QUIT to hide a bad order.
//
// It runs over plain TCP and over implicit TLS. No assertion depends on timing: the loop is
// bounded by a number of runs, and some kills are aimed at the dangerous window (stored in
// new/, not yet recorded) by holding a RETR answer until the run sits in that window.
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { accountKey, readState } from "../../core/cli/fetch-state.ts"
import type { FetchSummary } from "../../core/cli/fetch.ts"
import { makeCrlfToLf } from "../../core/cli/maildir.ts"
import { defaultCommands, makeMailStore } from "../../dev-server/server.ts"
import type { CommandTable, Session } from "../../dev-server/server.ts"
import { listenTcp } from "../../dev-server/tcp.ts"
import { testCert, testTls } from "../../dev-server/tls-fixture.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const NODE = join(ROOT, "node_modules", ".bin", "node")
const BIN = join(ROOT, "core", "cli", "bin.ts")
const USER = "alice"
const PASSWORD = "kill-test-pw"
const SEED = 0x5eed_f37c
const KILLS = 14
const MESSAGES = 300
/** Delivered after the 5th kill: new mail arriving between interrupted runs. */
const LATE_MESSAGES = 12
/** Delivered whenever the server's mailbox is empty before a run, so every run has work. */
const REFILL = 60
/** A run that never converges fails here, by count, not by the clock. */
const MAX_RUNS = 200
/** Kills aimed at the window between "stored in new/" and "recorded in the state file". */
const GAP_KILLS = new Set([2, 6, 10])

// mulberry32: small, seedable, good enough to pick kill points reproducibly.
const makeRng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sha = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex")

/** What the Maildir file holds for a message as the server sends it (CRLF → LF). */
const fileHash = (data: Uint8Array) => {
  const lf = makeCrlfToLf()
  return sha(Buffer.concat([lf.push(data), lf.end()]))
}

const makeMessage = (rng: () => number, i: number): string => {
  // Mostly small, every 25th large-ish (256 KiB–1 MiB), so kills land mid-body too.
  const large = i % 25 === 0
  const size = large ? 256 * 1024 + Math.floor(rng() * 768 * 1024) : 200 + Math.floor(rng() * 6000)
  const line = `line of message ${i} `.padEnd(75, "x") + "\n"
  return `Message-ID: <${i}.kill@pop3-test>\nSubject: kill test ${i}\n\n${line.repeat(Math.ceil(size / line.length))}.a dot line\n`
}

/** When to kill a run. */
type Trigger =
  | { readonly kind: "after-ms"; readonly ms: number } // after the session's first command
  | { readonly kind: "retr"; readonly nth: number; readonly delayMs: number } // when the server starts sending the nth RETR answer
  | { readonly kind: "stored"; readonly nth: number } // once the run put its nth file in new/ (polled every ms)
  | { readonly kind: "dele"; readonly nth: number } // at the nth DELE, before answering it
  | { readonly kind: "quit" } // at QUIT, before answering it
  // Holds the answer to the nth RETR (and later ones) until every message answered so far is
  // in new/: if some are not yet in the state file, kills there (the run cannot save while
  // it waits for that answer); if all are recorded, lets it go and holds the next one.
  | { readonly kind: "gap"; readonly nth: number }

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe.each(["none", "implicit"] as const)("pop3 fetch --delete under SIGKILL, --tls %s", (tls) => {
  it(`stores every message exactly once and never DELEs one before it is stored (${KILLS} kills, seed ${SEED.toString(16)})`, async () => {
    const started = performance.now()
    const rng = makeRng(SEED)
    const store = makeMailStore({
      [USER]: { password: PASSWORD, messages: Array.from({ length: MESSAGES }, (_, i) => makeMessage(rng, i + 1)) }
    })
    // uid → hash of the file content it must become
    const expected = new Map<string, string>()
    for (const m of store.messages(USER)) expected.set(m.uid, fileHash(m.data))

    const dir = mkdtempSync(join(tmpdir(), "pop3-fetch-kill-"))
    dirs.push(dir)
    const caFile = join(dir, "ca.pem")
    writeFileSync(caFile, testCert)
    const maildir = join(dir, "Maildir")
    const statePath = join(dir, "state.json")
    // Set once the server listens: the key includes its port.
    let account = ""

    // Contents of new/ by file name; files there are never rewritten, so each is read once.
    const seen = new Map<string, string>()
    const storedHashes = (): Set<string> => {
      let names: Array<string> = []
      try {
        names = readdirSync(join(maildir, "new"))
      } catch {
        return new Set()
      }
      for (const name of names) if (!seen.has(name)) seen.set(name, sha(readFileSync(join(maildir, "new", name))))
      return new Set(names.map((n) => seen.get(n)!))
    }

    const violations: Array<string> = []
    const deleted = new Set<string>()
    let child: ChildProcess | undefined
    let trigger: Trigger | undefined
    let firstCommandAt: number | undefined
    let retrs = 0
    let deles = 0
    // UIDs this run was sent with RETR, in order.
    let answered: Array<string> = []
    let gapKills = 0
    // Kills the run that was current when the kill was decided, never a later one.
    const kill = (target = child) => {
      if (target !== undefined && target === child && target.exitCode === null && target.signalCode === null)
        target.kill("SIGKILL")
    }
    const killLater = (ms: number) => {
      const target = child
      setTimeout(() => kill(target), ms)
    }
    const instrumented: CommandTable = {
      RETR: {
        states: ["TRANSACTION"],
        async run(s, c) {
          retrs++
          if (trigger?.kind === "retr" && retrs === trigger.nth) killLater(trigger.delayMs)
          if (trigger?.kind === "gap" && retrs >= trigger.nth && gapKills < kills + 1) {
            const target = child
            // The answers before this one may still sit in the server's output buffer.
            await s.flush()
            for (;;) {
              const stored = storedHashes()
              if (answered.every((uid) => stored.has(expected.get(uid)!))) {
                if ((await unrecorded()) > 0) {
                  gapKills = kills + 1
                  kill(target)
                }
                break
              }
              if (target !== child || target?.exitCode !== null) break
              await new Promise((r) => setTimeout(r, 2))
            }
          }
          const message = s.messages[Number(c.args[0]) - 1]
          if (message !== undefined) answered.push(message.uid)
          return defaultCommands["RETR"]!.run(s, c)
        }
      },
      DELE: {
        states: ["TRANSACTION"],
        async run(s: Session, c) {
          const n = Number(c.args[0])
          const message = s.messages[n - 1]
          if (message !== undefined && !s.isDeleted(n)) {
            // The moment of truth: is it in new/ and recorded, before the server marks it?
            if (!storedHashes().has(expected.get(message.uid)!))
              violations.push(`DELE ${n} (${message.uid}) arrived before the message was in new/`)
            const state = await readState(statePath)
            if (!(state.accounts[account]?.uids ?? []).includes(message.uid))
              violations.push(`DELE ${n} (${message.uid}) arrived before its UID was recorded`)
            deleted.add(message.uid)
          }
          deles++
          if (trigger?.kind === "dele" && deles === trigger.nth) kill()
          return defaultCommands["DELE"]!.run(s, c)
        }
      },
      QUIT: {
        states: ["AUTHORIZATION", "TRANSACTION"],
        run(s, c) {
          if (trigger?.kind === "quit") kill()
          return defaultCommands["QUIT"]!.run(s, c)
        }
      }
    }
    const listener = await listenTcp(store, {
      ...(tls === "implicit" ? { tls: testTls, implicitTls: true } : {}),
      behaviour: {
        commitOnDisconnect: true,
        onCommand: () => {
          if (firstCommandAt !== undefined) return
          firstCommandAt = performance.now()
          if (trigger?.kind === "after-ms") killLater(trigger.ms)
        }
      },
      commands: instrumented
    })
    account = accountKey(USER, "127.0.0.1", listener.port)

    const runOnce = (
      t: Trigger | undefined
    ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> => {
      trigger = t
      firstCommandAt = undefined
      retrs = 0
      deles = 0
      answered = []
      return new Promise((resolve, reject) => {
        const proc = spawn(
          NODE,
          [
            BIN,
            "--host",
            "127.0.0.1",
            "--port",
            String(listener.port),
            "--tls",
            tls,
            ...(tls === "none" ? [] : ["--ca", caFile]),
            "--user",
            USER,
            "--timeout",
            "10",
            "fetch",
            "--maildir",
            maildir,
            "--delete",
            "--state",
            statePath,
            "--json"
          ],
          {
            cwd: ROOT,
            env: { PATH: process.env["PATH"] ?? "", POP3_PASSWORD: PASSWORD },
            stdio: ["ignore", "pipe", "pipe"]
          }
        )
        child = proc
        if (t?.kind === "stored") {
          const newDir = join(maildir, "new")
          const count = () => {
            try {
              return readdirSync(newDir).length
            } catch {
              return 0
            }
          }
          const target = count() + t.nth
          const poll = setInterval(() => {
            if (count() >= target) kill()
          }, 1)
          proc.once("close", () => clearInterval(poll))
        }
        const out: Array<Buffer> = []
        const err: Array<Buffer> = []
        proc.stdout!.on("data", (b: Buffer) => out.push(b))
        proc.stderr!.on("data", (b: Buffer) => err.push(b))
        proc.once("error", reject)
        proc.once("close", (code, signal) =>
          resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
        )
      })
    }

    const onServer = () => store.messages(USER)
    const chooseTrigger = (): Trigger => {
      const stored = storedHashes()
      const unfetched = Math.max(1, onServer().filter((m) => !stored.has(expected.get(m.uid)!)).length)
      const r = rng()
      if (GAP_KILLS.has(kills + 1)) return { kind: "gap", nth: 2 + Math.floor(r * Math.min(20, unfetched)) }
      if (r < 0.2) return { kind: "after-ms", ms: Math.floor(rng() * 600) }
      if (r < 0.45) return { kind: "retr", nth: 1 + Math.floor(rng() * unfetched), delayMs: Math.floor(rng() * 15) }
      if (r < 0.7) return { kind: "stored", nth: 1 + Math.floor(rng() * unfetched) }
      if (r < 0.9) return { kind: "dele", nth: 1 + Math.floor(rng() * Math.max(1, onServer().length)) }
      return { kind: "quit" }
    }
    /** Messages still on the server, in new/, but not in the state file: the window a kill can hit. */
    const unrecorded = async () => {
      const uids = new Set((await readState(statePath)).accounts[account]?.uids ?? [])
      const stored = storedHashes()
      return onServer().filter((m) => stored.has(expected.get(m.uid)!) && !uids.has(m.uid)).length
    }

    let kills = 0
    let runs = 0
    let completed: FetchSummary | undefined
    let lockedOut = 0
    let late = false
    let refills = 0
    let completedRuns = 0
    let killsInGap = 0
    const log: Array<string> = []
    try {
      for (;;) {
        if (runs >= MAX_RUNS) throw new Error(`no complete run after ${runs} runs, ${kills} kills:\n${log.join("\n")}`)
        // An empty mailbox would make a wasted run: new mail arrives.
        if (onServer().length === 0) {
          for (let i = 0; i < REFILL; i++) {
            const m = store.deliver(USER, makeMessage(rng, expected.size + 1))
            expected.set(m.uid, fileHash(m.data))
          }
          refills++
        }
        const t = kills < KILLS ? chooseTrigger() : undefined
        runs++
        const result = await runOnce(t)
        if (result.signal === "SIGKILL") {
          kills++
          // Let the server finish the dead session (it may still be reading pipelined DELEs,
          // which it commits at the disconnect) so the figures below are final.
          for (let waited = 0; store.isLocked(USER) && waited < 2000; waited += 5)
            await new Promise((r) => setTimeout(r, 5))
          const gap = await unrecorded()
          if (gap > 0) killsInGap++
          log.push(
            `run ${runs}: killed (${JSON.stringify(t)}): ${storedHashes().size} in new/, ${gap} of them not yet recorded, ${onServer().length} left on the server`
          )
          if (kills === 5 && !late) {
            late = true
            for (let i = 0; i < LATE_MESSAGES; i++) {
              const m = store.deliver(USER, makeMessage(rng, expected.size + 1))
              expected.set(m.uid, fileHash(m.data))
            }
          }
          continue
        }
        // The killed run's session may still hold the mailbox lock for a moment.
        if (result.code === 1 && /IN-USE/.test(result.stderr)) {
          lockedOut++
          await new Promise((r) => setTimeout(r, 25))
          continue
        }
        if (result.code !== 0)
          throw new Error(`run ${runs} (${JSON.stringify(t)}) exited ${result.code}: ${result.stderr}`)
        const summary = JSON.parse(result.stdout) as FetchSummary
        completedRuns++
        log.push(`run ${runs}: completed before its kill point (${JSON.stringify(t)}): ${result.stdout.trim()}`)
        if (t === undefined) {
          completed = summary
          break
        }
      }
    } finally {
      kill()
      await listener.close()
    }

    // Every message exactly once in new/, byte for byte; nothing else there.
    const files = readdirSync(join(maildir, "new")).map((name) => sha(readFileSync(join(maildir, "new", name))))
    const counts = new Map<string, number>()
    for (const h of files) counts.set(h, (counts.get(h) ?? 0) + 1)
    const duplicated = [...counts].filter(([, n]) => n > 1)
    const missing = [...expected].filter(([, h]) => !counts.has(h)).map(([uid]) => uid)
    const strangers = files.filter((h) => ![...expected.values()].includes(h))
    expect({ duplicated, missing, strangers }).toEqual({ duplicated: [], missing: [], strangers: [] })
    expect(files).toHaveLength(expected.size)
    // Never a DELE ahead of storing and recording; in the end everything was deleted.
    expect(violations).toEqual([])
    expect(store.messages(USER)).toEqual([])
    expect(deleted.size).toBe(expected.size)
    expect(completed).toBeDefined()
    // The dangerous window (stored, not yet recorded) was really hit, by the aimed kills at least.
    expect(killsInGap).toBeGreaterThanOrEqual(GAP_KILLS.size)
    expect(readdirSync(join(maildir, "cur"))).toEqual([])
    // The partial files of killed runs are removed by the next run (their writer is gone).
    expect(readdirSync(join(maildir, "tmp"))).toEqual([])
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    console.log(
      `fetch kill test (--tls ${tls}): ${kills} kills (${killsInGap} left messages stored but not recorded), ${runs} runs (${completedRuns} completed, ${lockedOut} waited for the lock), ${expected.size} messages (${refills} refills of ${REFILL}), ` +
        `final run ${JSON.stringify(completed)}, ${seconds} s\n${log.join("\n")}`
    )
  }, 300_000)
})
