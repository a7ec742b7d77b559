// The browser's sync store under SIGKILL of the whole browser (every process of Chromium,
// not only the page), again and again during a sync with delete, at points the server picks:
// when the nth RETR answer is due (the download), at the nth DELE, between QUIT and its
// answer, and at seeded-random instants. The dev server commits deletions on any disconnect
// (commitOnDisconnect, like Eudora QPOP), so a DELE that reaches it before a kill counts:
// there is no QUIT to hide a bad order.
//
// Checked: at every DELE, whether the page's store had already finished storing that
// message (its strict transaction of body and index entry complete); after every kill, that
// every message the server ever received DELE for is in the store (the kill left only what
// was durable, and nothing can be written after it); after a final sync, every message kept
// exactly once, byte for byte, and the server empty. Each kind of kill point must be hit.
// The page runs the library's sync engine over IndexedDB through the bridge of `npm start`.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CommandTable, defaultCommands, toCrlf } from "../../dev-server/server.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { chromiumFlags } from "../../vite.config.ts"
import { CHROMIUM, chromiumAvailable } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import type { Target } from "./sync-page.ts"

const available = requireService("Chromium", chromiumAvailable())
const PAGE_MODULE = `/@fs${fileURLToPath(new URL("./sync-page.ts", import.meta.url))}`
const USER = "keeper"
const PASSWORD = "pw"
/** Where each kill lands, in turn; `nth` and `ms` are drawn from the seeded generator. */
const SCHEDULE = ["retr", "dele", "quit", "after-ms", "retr", "dele", "quit", "retr"] as const
const KILLS = SCHEDULE.length
/** A run that never converges fails here, by count, not by the clock. */
const MAX_RUNS = 30
/** Delivered whenever the server's mailbox is empty before a run, so every run has work. */
const REFILL = 20
const expected = new Map<string, string>()

/** A seeded generator, so a failure can be replayed. */
const SEED = Number.parseInt(process.env["KILL_SEED"] ?? "4b1d", 16)
let state = SEED
const random = () => {
  state = (state * 1103515245 + 12345) % 2 ** 31
  return state / 2 ** 31
}

// 5–20 KB each: the kill points are protocol points, so size only matters to the timed kills.
let made = 0
const makeMessage = () => {
  made++
  return `Subject: kept ${made}\r\n\r\n${`line ${made} ${"z".repeat(70)}\r\n`.repeat(60 + ((made * 37) % 200))}`
}
const seed = Array.from({ length: 40 }, makeMessage)

type Trigger =
  | { readonly kind: "retr"; readonly nth: number } // when the nth RETR arrives, before its answer
  | { readonly kind: "dele"; readonly nth: number } // at the nth DELE, once the server marked it
  | { readonly kind: "quit" } // at QUIT, before answering it
  | { readonly kind: "after-ms"; readonly ms: number } // after the session's first command

interface Launched {
  readonly child: ChildProcess
  readonly browser: Browser
  readonly page: Page
  readonly exited: Promise<unknown>
  /** The kill point that killed it. */
  killedAt?: Trigger["kind"] | undefined
}

describe.skipIf(!available)("the browser's sync store under SIGKILL of Chromium", () => {
  let stack: RunningStack | undefined
  let profile = ""
  let target: Target

  // The run in progress, and what the server saw of it.
  let current: Launched | undefined
  let trigger: Trigger | undefined
  let retrs = 0
  let deles = 0
  let firstCommand = false
  const violations: Array<string> = []
  /** Every UID the server received DELE for, in any run. */
  const deleted = new Set<string>()
  let liveChecks = 0
  let afterKillOnly = 0

  /** SIGKILL to every process of that Chromium; resolves once it is gone. */
  const kill = (launched: Launched | undefined, at?: Trigger["kind"]): Promise<unknown> => {
    if (launched === undefined) return Promise.resolve()
    if (launched.child.exitCode === null && launched.child.signalCode === null) {
      launched.killedAt ??= at
      try {
        process.kill(-launched.child.pid!, "SIGKILL")
      } catch {
        // Already gone.
      }
    }
    return launched.exited
  }
  const alive = (launched: Launched | undefined): launched is Launched =>
    launched !== undefined && launched.child.exitCode === null && launched.child.signalCode === null

  const notDurableIn = (page: Page, uids: ReadonlyArray<string>): Promise<Array<string>> =>
    page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.notDurable(${JSON.stringify(uids)}))`)

  const commands: CommandTable = {
    RETR: {
      states: ["TRANSACTION"],
      async run(s, c) {
        const launched = current
        retrs++
        if (trigger?.kind === "retr" && retrs === trigger.nth) await kill(launched, "retr")
        return defaultCommands["RETR"]!.run(s, c)
      }
    },
    DELE: {
      states: ["TRANSACTION"],
      async run(s, c) {
        const launched = current
        const n = Number(c.args[0])
        const message = s.messages[n - 1]
        if (message !== undefined && !s.isDeleted(n)) {
          deleted.add(message.uid)
          // The moment of truth: had the page finished storing it when its DELE arrived?
          const missing = alive(launched)
            ? await notDurableIn(launched.page, [message.uid]).catch(() => undefined)
            : undefined
          if (missing === undefined)
            afterKillOnly++ // the browser is gone: the check after the kill covers it
          else {
            liveChecks++
            if (missing.length > 0) violations.push(`DELE ${n} (${message.uid}) arrived before the message was stored`)
          }
        }
        const answer = await defaultCommands["DELE"]!.run(s, c)
        deles++
        if (trigger?.kind === "dele" && deles === trigger.nth) await kill(launched, "dele")
        return answer
      }
    },
    QUIT: {
      states: ["AUTHORIZATION", "TRANSACTION"],
      async run(s, c) {
        if (trigger?.kind === "quit") await kill(current, "quit")
        return defaultCommands["QUIT"]!.run(s, c)
      }
    }
  }

  beforeAll(async () => {
    stack = await startEphemeralStack(
      { [USER]: { password: PASSWORD, messages: seed } },
      {
        devServerBehaviour: {
          commitOnDisconnect: true,
          onCommand: () => {
            if (firstCommand) return
            firstCommand = true
            if (trigger?.kind === "after-ms") {
              const launched = current
              setTimeout(() => void kill(launched, "after-ms"), trigger.ms)
            }
          }
        },
        devServerCommands: commands
      }
    )
    profile = await mkdtemp(join(tmpdir(), "pop3-kill-chromium-"))
    target = {
      bridgeUrl: stack.bridgeUrl,
      port: stack.devServer.port,
      user: USER,
      password: PASSWORD,
      database: "kill-test"
    }
  })
  afterAll(async () => {
    await kill(current)
    await stack?.close()
    if (profile !== "") await rm(profile, { recursive: true, force: true })
  })

  const store = () => stack!.devServer.store
  /** The UIDs on the server once the last session ended (a killed one may still be reading DELEs). */
  const onServer = async (): Promise<Array<string>> => {
    for (let waited = 0; store().isLocked(USER); waited++) {
      if (waited > 500) throw new Error("the killed session still holds the mailbox after 10 s")
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return store()
      .messages(USER)
      .map((m) => m.uid)
  }

  /** Chromium on the one profile, in a process group of its own (so all of it can be killed). */
  const launch = async (): Promise<Launched> => {
    await rm(join(profile, "DevToolsActivePort"), { force: true })
    const child = spawn(
      CHROMIUM,
      [...chromiumFlags, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"],
      { detached: true, stdio: "ignore" }
    )
    const exited = new Promise((resolve) => child.once("exit", resolve))
    let port: string | undefined
    for (let i = 0; port === undefined && i < 200; i++) {
      port = await readFile(join(profile, "DevToolsActivePort"), "utf8").then(
        (t) => t.split("\n")[0],
        () => undefined
      )
      if (port === undefined || port === "") {
        port = undefined
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    if (port === undefined) throw new Error("Chromium did not start")
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`)
    const page = await browser.contexts()[0]!.newPage()
    await page.goto(stack!.url)
    await page.getByRole("heading", { name: /POP3 in the browser/ }).waitFor()
    return { child, browser, page, exited }
  }

  // As text: vitest would rewrite an import() in a function it compiles.
  const inPage = <A>(page: Page, call: "kept" | "sync"): Promise<A> =>
    page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.${call}(${JSON.stringify(target)}))`)
  const keptIn = (page: Page) => inPage<Awaited<ReturnType<typeof import("./sync-page.ts").kept>>>(page, "kept")
  const syncIn = (page: Page) => inPage<string>(page, "sync")

  /**
   * Every message the server ever got DELE for is in the store (so is every message the
   * server no longer has); nothing is kept twice; what is kept is byte for byte.
   */
  const checkNoLoss = async (page: Page) => {
    const server = new Set(await onServer())
    const kept = await keptIn(page)
    const keptUids = kept.map((k) => k.uid)
    expect(new Set(keptUids).size).toBe(keptUids.length)
    const lost = [...expected.keys()].filter((uid) => !server.has(uid) && !keptUids.includes(uid))
    expect(lost).toEqual([])
    expect([...deleted].filter((uid) => !keptUids.includes(uid))).toEqual([])
    for (const k of kept) expect(k.text).toBe(expected.get(k.uid))
    return {
      server: server.size,
      kept: kept.length,
      unfetched: [...server].filter((uid) => !keptUids.includes(uid)).length
    }
  }

  const chooseTrigger = (kills: number, server: number, unfetched: number): Trigger => {
    const kind = SCHEDULE[kills % SCHEDULE.length]!
    switch (kind) {
      case "retr":
        return { kind, nth: 1 + Math.floor(random() * Math.max(1, unfetched)) }
      case "dele":
        return { kind, nth: 1 + Math.floor(random() * server) }
      case "quit":
        return { kind }
      case "after-ms":
        return { kind, ms: Math.floor(random() * 400) }
    }
  }

  it(`keeps each message once and gets no DELE before it is stored (${KILLS} kills, seed ${SEED.toString(16)})`, async () => {
    const started = performance.now()
    const uids = await onServer()
    expect(uids).toHaveLength(seed.length)
    for (const [i, uid] of uids.entries()) expected.set(uid, new TextDecoder().decode(toCrlf(seed[i]!)))

    const log: Array<string> = []
    const hit = new Map<Trigger["kind"], number>()
    let kills = 0
    let runs = 0
    while (kills < KILLS) {
      if (++runs > MAX_RUNS) throw new Error(`only ${kills} kills in ${MAX_RUNS} runs:\n${log.join("\n")}`)
      if ((await onServer()).length === 0)
        for (let i = 0; i < REFILL; i++) {
          const m = store().deliver(USER, makeMessage())
          expected.set(m.uid, new TextDecoder().decode(m.data))
        }
      const t0 = performance.now()
      const launched = await launch()
      const t1 = performance.now()
      current = launched
      const before = await checkNoLoss(launched.page)
      const chosen = chooseTrigger(kills, before.server, before.unfetched)
      trigger = chosen
      retrs = 0
      deles = 0
      firstCommand = false
      const outcome = await syncIn(launched.page).catch((error: unknown) => `killed: ${String(error).split("\n")[0]}`)
      const at = launched.killedAt
      // A DELE ahead of its message fails at once, before anything it broke does.
      expect(violations).toEqual([])
      const t2 = performance.now()
      await kill(launched)
      trigger = undefined
      if (at !== undefined && outcome.startsWith("killed")) {
        kills++
        hit.set(at, (hit.get(at) ?? 0) + 1)
      }
      log.push(
        `run ${runs}: ${before.kept} kept, ${before.server} on the server; ${JSON.stringify(chosen)} → ${at === undefined ? "not reached" : `SIGKILL at ${at}`}: ${outcome.slice(0, 60)} (launch ${(t1 - t0).toFixed(0)} ms, sync ${(t2 - t1).toFixed(0)} ms)`
      )
    }

    const last = await launch()
    current = last
    await checkNoLoss(last.page)
    const result = await syncIn(last.page)
    expect(result).not.toMatch(/^failed/)
    const final = await checkNoLoss(last.page)
    await kill(last)
    console.log(
      `sync kill test: ${kills} kills in ${runs} runs (${JSON.stringify(Object.fromEntries(hit))}), ${expected.size} messages, ${deleted.size} DELEs checked (${liveChecks} while the page lived, ${afterKillOnly} only after the kill), ${((performance.now() - started) / 1000).toFixed(1)} s\n${log.join("\n")}`
    )
    expect(violations).toEqual([])
    expect(final).toEqual({ server: 0, kept: expected.size, unfetched: 0 })
    expect(deleted.size).toBe(expected.size)
    // Each kind of kill point really cut a sync.
    for (const kind of new Set(SCHEDULE)) expect(hit.get(kind) ?? 0, `kills at ${kind}`).toBeGreaterThanOrEqual(1)
  }, 300_000)
})
