// The kill test of `pop3 fetch --delete` (test/cli/fetch-kill.test.ts) on Deno and Bun
// against a real Dovecot: the CLI runs under `deno run` and `bun`, is SIGKILLed at protocol
// points (when the nth RETR is sent, at the nth DELE, between QUIT and its answer) again
// and again, then runs to the end. Afterwards every message is in new/ exactly once, byte
// for byte, and Dovecot never received DELE for a message not already stored (in new/) and
// recorded (in the state file) at that moment.
//
// The kill points come from a relay between the CLI and Dovecot's plain port (so it can read
// the commands; --tls none): it sees each command before Dovecot does, checks the Maildir at
// every DELE, and holds QUIT's answer until the CLI is dead. Dovecot commits deletions only
// at QUIT, so a DELE cut off by a kill takes no effect there; the relay's check at every DELE
// is what would catch one sent too early (the Node test's dev server, which commits on any
// disconnect, covers that case besides).
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { chownSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createConnection, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { accountKey, readState } from "../../core/cli/fetch-state.ts"
import { makeCrlfToLf } from "../../core/cli/maildir.ts"
import { connect } from "../../core/promise.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import { type Dovecot, dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { runtimeBin, runtimesAvailable } from "../support/runtimes.ts"
import { listenOnLoopback, UID_VALIDITY, uid } from "./helpers.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const BIN = join(ROOT, "core", "cli", "bin.ts")
const bin = runtimeBin
const USER = "bulk"
const MESSAGES = 40
/** Where each kill lands, in turn. */
const SCHEDULE = ["retr", "dele", "quit", "retr", "dele", "quit", "retr"] as const
/** Delivered into Dovecot's Maildir whenever every message there is already in new/, so every run has work. */
const REFILL = 15
/** A run that never reaches its kill point fails the test here, by count. */
const MAX_RUNS = 20
const SEED = 0x2b1d_f00d

const available = requireService("Deno and Bun", runtimesAvailable()) && requireService("Dovecot", dovecotAvailable())

// mulberry32, as in fetch-kill.test.ts: seeded, so a failure can be replayed.
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
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
/** What the Maildir file holds for a message as the server sends it (CRLF → LF). */
const fileHash = (data: Uint8Array) => {
  const lf = makeCrlfToLf()
  return sha(Buffer.concat([lf.push(data), lf.end()]))
}

type Trigger =
  | { readonly kind: "retr"; readonly nth: number } // the nth RETR, before Dovecot gets it
  | { readonly kind: "dele"; readonly nth: number } // the nth DELE, once Dovecot got it
  | { readonly kind: "quit" } // Dovecot answered QUIT; the answer is held until the CLI is dead

let dovecot: Dovecot | undefined
const dirs: Array<string> = []
beforeAll(async () => {
  if (available) dovecot = await startDovecot({ bulkMessages: MESSAGES })
}, 30_000)
afterAll(async () => {
  await dovecot?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(!available).each(["deno", "bun"] as const)(
  "pop3 fetch --delete on %s under SIGKILL, against Dovecot",
  (runtime) => {
    it(`stores every message exactly once and never DELEs one before it is stored (${SCHEDULE.length} kills)`, async () => {
      const d = dovecot!
      await d.reset()
      const rng = makeRng(SEED)
      const password = d.users[USER].password
      const expected = new Map<string, string>()
      for (const [i, m] of d.messages(USER).entries()) expected.set(uid(i + 1, UID_VALIDITY[USER]), fileHash(m))

      const dir = mkdtempSync(join(tmpdir(), `pop3-fetch-kill-${runtime}-`))
      dirs.push(dir)
      const maildir = join(dir, "Maildir")
      const statePath = join(dir, "state.json")

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

      /** New mail, delivered as an MDA does (tmp/, then renamed into new/); Dovecot gives it the next UIDs. */
      let delivered = 0
      const deliver = () => {
        const home = d.users[USER].maildir
        for (let i = 0; i < REFILL; i++) {
          delivered++
          const name = `${1800000000 + delivered}.M${delivered}P2.kill.test`
          const text = `Subject: late ${delivered}\nMessage-ID: <late-${delivered}@kill.test>\n\n${`late line ${delivered}\n`.repeat(1 + Math.floor(rng() * 200))}.dot line\n`
          writeFileSync(join(home, "tmp", name), text, { mode: 0o600 })
          // Dovecot reads mail as nobody (see test/support/dovecot.ts).
          chownSync(join(home, "tmp", name), 65534, 65534)
          renameSync(join(home, "tmp", name), join(home, "new", name))
        }
      }

      /**
       * The UIDs Dovecot lists, in message-number order (its own session, beside no other);
       * a message not seen before is read once, to know what its file must hold.
       */
      const onServer = async (): Promise<Array<string>> => {
        await using session = await connect({
          host: "127.0.0.1",
          port: d.port,
          tls: "none",
          timeout: 10_000,
          transport: NodeTransport.layer
        })
        const mailbox = await session.login({ user: USER, password, mechanism: "user", allowPlaintext: true })
        const listing = await mailbox.uidl()
        for (const { msg, uid: id } of listing)
          if (!expected.has(id)) expected.set(id, fileHash(await mailbox.retr(msg)))
        await mailbox.quit()
        return listing.map((u) => u.uid)
      }

      // The run in progress and what the relay saw of it.
      let child: ChildProcess | undefined
      let trigger: Trigger | undefined
      let numbering: Array<string> = []
      let retrs = 0
      let deles = 0
      let killedAt: Trigger["kind"] | undefined
      const violations: Array<string> = []
      const deleted = new Set<string>()
      let account = ""

      const kill = (target: ChildProcess | undefined, at: Trigger["kind"]): Promise<void> => {
        if (target === undefined || target.exitCode !== null || target.signalCode !== null) return Promise.resolve()
        const exited = new Promise<void>((resolve) => target.once("exit", () => resolve()))
        if (target === child) killedAt ??= at
        target.kill("SIGKILL")
        return exited
      }

      // The relay: the CLI's commands line by line (each handled before the next), Dovecot's answers as they come.
      const sockets = new Set<Socket>()
      const relay = createServer((client) => {
        const target = child
        const upstream = createConnection({ host: "127.0.0.1", port: d.port })
        sockets.add(client).add(upstream)
        for (const s of [client, upstream]) {
          s.on("error", () => {})
          s.on("close", () => {
            sockets.delete(s)
            client.destroy()
            upstream.destroy()
          })
        }
        let quitSent = false
        upstream.on("data", (chunk: Buffer) => {
          // After QUIT: Dovecot answers, commits and closes; the CLI never hears it.
          if (quitSent && trigger?.kind === "quit") return
          client.write(chunk)
        })
        upstream.on("end", () => {
          if (quitSent && trigger?.kind === "quit") void kill(target, "quit").then(() => client.destroy())
          else client.end()
        })
        let partial = ""
        let chain = Promise.resolve()
        const command = async (line: string) => {
          const [verb = "", arg = ""] = line.trim().split(" ")
          switch (verb.toUpperCase()) {
            case "RETR":
              retrs++
              if (trigger?.kind === "retr" && retrs === trigger.nth) await kill(target, "retr")
              break
            case "DELE": {
              const n = Number(arg)
              const id = numbering[n - 1]
              if (id !== undefined) {
                // The moment of truth: is it in new/ and recorded, before Dovecot gets its DELE?
                if (!storedHashes().has(expected.get(id)!)) violations.push(`DELE ${n} (${id}) before it was in new/`)
                const state = await readState(statePath)
                if (!(state.accounts[account]?.uids ?? []).includes(id))
                  violations.push(`DELE ${n} (${id}) before its UID was recorded`)
                deleted.add(id)
              }
              break
            }
            case "QUIT":
              quitSent = true
              break
          }
          if (!client.destroyed) upstream.write(`${line}\n`)
          if (verb.toUpperCase() === "DELE" && trigger?.kind === "dele" && ++deles === trigger.nth) {
            // Let Dovecot read it before the kill.
            await new Promise<void>((resolve) => upstream.write("", () => resolve()))
            await kill(target, "dele")
          }
        }
        client.on("data", (chunk: Buffer) => {
          const lines = (partial + chunk.toString("latin1")).split("\n")
          partial = lines.pop() ?? ""
          for (const line of lines) chain = chain.then(() => command(line))
        })
      })
      const relayPort = await listenOnLoopback(relay)
      account = accountKey(USER, "127.0.0.1", relayPort)

      /** The CLI on the runtime; Deno may use the loopback network and write only in `dir`. */
      const runOnce = (): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> => {
        const permissions =
          runtime === "deno"
            ? [
                "run",
                "--no-prompt",
                "--allow-net=127.0.0.1",
                "--allow-env",
                `--allow-read=${dir}`,
                `--allow-write=${dir}`,
                // The Maildir file names carry the host name (os.hostname()).
                "--allow-sys=hostname"
              ]
            : []
        return new Promise((resolve, reject) => {
          const proc = spawn(
            bin(runtime),
            [
              ...permissions,
              BIN,
              "--host",
              "127.0.0.1",
              "--port",
              String(relayPort),
              "--tls",
              "none",
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
              env: {
                PATH: process.env["PATH"] ?? "",
                HOME: process.env["HOME"] ?? "/root",
                NO_COLOR: "1",
                DENO_NO_UPDATE_CHECK: "1",
                POP3_PASSWORD: password
              },
              stdio: ["ignore", "pipe", "pipe"]
            }
          )
          child = proc
          // A hung run must not hang the suite.
          const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000)
          const out: Array<Buffer> = []
          const err: Array<Buffer> = []
          proc.stdout!.on("data", (b: Buffer) => out.push(b))
          proc.stderr!.on("data", (b: Buffer) => err.push(b))
          proc.once("error", reject)
          proc.once("close", (code, signal) => {
            clearTimeout(timer)
            resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
          })
        })
      }

      /** Every message Dovecot no longer has is in new/; nothing is there twice. */
      const checkNoLoss = (server: ReadonlyArray<string>) => {
        const stored = storedHashes()
        expect(seen.size, "a message in new/ twice").toBe(stored.size)
        const lost = [...expected].filter(([id, h]) => !server.includes(id) && !stored.has(h)).map(([id]) => id)
        expect(lost, "gone from Dovecot, not in new/").toEqual([])
      }

      const log: Array<string> = []
      const hit = new Map<Trigger["kind"], number>()
      let kills = 0
      let runs = 0
      try {
        while (kills < SCHEDULE.length) {
          if (++runs > MAX_RUNS) throw new Error(`only ${kills} kills in ${MAX_RUNS} runs:\n${log.join("\n")}`)
          numbering = await onServer()
          checkNoLoss(numbering)
          if (numbering.every((id) => storedHashes().has(expected.get(id)!))) {
            deliver()
            numbering = await onServer()
          }
          const kind = SCHEDULE[kills]!
          const unfetched = Math.max(1, numbering.filter((id) => !storedHashes().has(expected.get(id)!)).length)
          const t: Trigger =
            kind === "quit"
              ? { kind }
              : { kind, nth: 1 + Math.floor(rng() * (kind === "retr" ? unfetched : numbering.length)) }
          trigger = t
          retrs = 0
          deles = 0
          killedAt = undefined
          const result = await runOnce()
          // A DELE ahead of its message fails at once, before anything it broke does.
          expect(violations).toEqual([])
          if (result.signal === "SIGKILL" && killedAt !== undefined) {
            kills++
            hit.set(killedAt, (hit.get(killedAt) ?? 0) + 1)
            log.push(`run ${runs}: ${JSON.stringify(t)}: killed, ${storedHashes().size} in new/`)
            continue
          }
          expect(result.code, `run ${runs} (${JSON.stringify(t)}): ${result.stderr}`).toBe(0)
          log.push(`run ${runs}: ${JSON.stringify(t)}: completed before its kill point: ${result.stdout.trim()}`)
        }
        trigger = undefined
        numbering = await onServer()
        checkNoLoss(numbering)
        // The last run has work to do: the rest of an interrupted download, and every DELE.
        expect(numbering.length).toBeGreaterThan(0)
        const final = await runOnce()
        expect(final.code, final.stderr).toBe(0)
        log.push(`final run: ${final.stdout.trim()}`)
        expect(JSON.parse(final.stdout)).toMatchObject({ deleted: numbering.length })
      } finally {
        await kill(child, "quit")
        for (const s of sockets) s.destroy()
        await new Promise<void>((resolve) => relay.close(() => resolve()))
      }
      console.log(`fetch kill test on ${runtime} against Dovecot: ${kills} kills in ${runs} runs\n${log.join("\n")}`)

      // Every message exactly once in new/, byte for byte; nothing else there; Dovecot empty.
      const files = readdirSync(join(maildir, "new")).map((name) => sha(readFileSync(join(maildir, "new", name))))
      const counts = new Map<string, number>()
      for (const h of files) counts.set(h, (counts.get(h) ?? 0) + 1)
      const duplicated = [...counts].filter(([, n]) => n > 1)
      const missing = [...expected].filter(([, h]) => !counts.has(h)).map(([id]) => id)
      const strangers = files.filter((h) => ![...expected.values()].includes(h))
      expect({ duplicated, missing, strangers }).toEqual({ duplicated: [], missing: [], strangers: [] })
      expect(files).toHaveLength(expected.size)
      expect(violations).toEqual([])
      expect(await onServer()).toEqual([])
      expect(deleted.size).toBe(expected.size)
      for (const kind of new Set(SCHEDULE)) expect(hit.get(kind) ?? 0, `kills at ${kind}`).toBeGreaterThanOrEqual(1)
      expect(readdirSync(join(maildir, "tmp"))).toEqual([])
    }, 180_000)
  }
)
