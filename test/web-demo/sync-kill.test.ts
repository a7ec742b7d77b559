// The browser's sync store under SIGKILL of the whole browser (every process of Chromium,
// not only the page), at random instants of a sync with delete, again and again: after each
// kill, every message the server no longer has is kept in the browser (nothing lost), and a
// final sync leaves every message kept exactly once, byte for byte, and the server empty.
// The page runs the library's sync engine over IndexedDB through the bridge of `npm start`.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../../core/promise.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import { toCrlf } from "../../dev-server/server.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { chromiumFlags } from "../../vite.config.ts"
import { CHROMIUM, chromiumAvailable } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import type { Target } from "./sync-page.ts"

const available = requireService("Chromium", chromiumAvailable())
const PAGE_MODULE = `/@fs${fileURLToPath(new URL("./sync-page.ts", import.meta.url))}`
const USER = "keeper"
const PASSWORD = "pw"
const KILLS = 8
// 40 messages of 20–60 KB: a sync takes long enough to be killed in the middle.
const seed = Array.from(
  { length: 40 },
  (_, i) => `Subject: kept ${i + 1}\r\n\r\n${`line ${i + 1} ${"z".repeat(70)}\r\n`.repeat(250 + ((i * 37) % 500))}`
)
const expected = new Map<string, string>()

/** A seeded generator, so a failure can be replayed. */
const SEED = Number.parseInt(process.env["KILL_SEED"] ?? "4b1d", 16)
let state = SEED
const random = () => {
  state = (state * 1103515245 + 12345) % 2 ** 31
  return state / 2 ** 31
}

interface Launched {
  readonly child: ChildProcess
  readonly browser: Browser
  readonly page: Page
}

describe.skipIf(!available)("the browser's sync store under SIGKILL of Chromium", () => {
  let stack: RunningStack | undefined
  let profile = ""
  let target: Target

  beforeAll(async () => {
    stack = await startEphemeralStack({ [USER]: { password: PASSWORD, messages: seed } })
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
    await stack?.close()
    if (profile !== "") await rm(profile, { recursive: true, force: true })
  })

  /** The UIDs on the server (retried while a killed session still holds the lock). */
  const onServer = async (): Promise<Array<string>> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await using session = await connect({
          host: "127.0.0.1",
          port: stack!.devServer.port,
          tls: "none",
          timeout: 10_000,
          transport: NodeTransport.layer
        })
        const mailbox = await session.login({ user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true })
        const uids = (await mailbox.uidl()).map((u) => u.uid)
        await mailbox.quit()
        return uids
      } catch (error) {
        if (attempt >= 50) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  /** Chromium on the one profile, in a process group of its own (so all of it can be killed). */
  const launch = async (): Promise<Launched> => {
    await rm(join(profile, "DevToolsActivePort"), { force: true })
    const child = spawn(
      CHROMIUM,
      [...chromiumFlags, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"],
      { detached: true, stdio: "ignore" }
    )
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
    return { child, browser, page }
  }

  const kill = async (launched: Launched) => {
    const exited = new Promise((resolve) => launched.child.once("exit", resolve))
    process.kill(-launched.child.pid!, "SIGKILL")
    await exited
    await launched.browser.close().catch(() => {})
  }

  // As text: vitest would rewrite an import() in a function it compiles.
  const inPage = <A>(page: Page, call: "kept" | "sync"): Promise<A> =>
    page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.${call}(${JSON.stringify(target)}))`)
  const keptIn = (page: Page) => inPage<Awaited<ReturnType<typeof import("./sync-page.ts").kept>>>(page, "kept")
  const syncIn = (page: Page) => inPage<string>(page, "sync")

  /** Nothing the server no longer has is missing from the browser; nothing is kept twice. */
  const checkNoLoss = async (page: Page) => {
    const server = new Set(await onServer())
    const kept = await keptIn(page)
    const keptUids = kept.map((k) => k.uid)
    expect(new Set(keptUids).size).toBe(keptUids.length)
    const lost = [...expected.keys()].filter((uid) => !server.has(uid) && !keptUids.includes(uid))
    expect(lost).toEqual([])
    for (const k of kept) expect(k.text).toBe(expected.get(k.uid))
    return { server: server.size, kept: kept.length }
  }

  it(`loses nothing and keeps each message once (${KILLS} kills, seed ${SEED.toString(16)})`, async () => {
    const uids = await onServer()
    expect(uids).toHaveLength(seed.length)
    for (const [i, uid] of uids.entries()) expected.set(uid, new TextDecoder().decode(toCrlf(seed[i]!)))

    for (let run = 1; run <= KILLS; run++) {
      const launched = await launch()
      const before = await checkNoLoss(launched.page)
      if (before.server === 0) {
        // A run completed (every message kept, the server emptied): nothing is left to kill.
        await kill(launched)
        break
      }
      const delay = Math.floor(random() * 900)
      const outcome = syncIn(launched.page).catch((error: unknown) => `killed: ${String(error).split("\n")[0]}`)
      await new Promise((resolve) => setTimeout(resolve, delay))
      await kill(launched)
      console.log(
        `run ${run}: ${before.kept} kept, ${before.server} on the server; SIGKILL after ${delay} ms: ${await outcome}`
      )
    }

    const last = await launch()
    await checkNoLoss(last.page)
    const result = await syncIn(last.page)
    expect(result).not.toMatch(/^failed/)
    const final = await checkNoLoss(last.page)
    expect(final).toEqual({ server: 0, kept: seed.length })
    await kill(last)
  }, 240_000)
})
