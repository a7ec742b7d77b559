// The demo keeps a copy of the mailbox in the browser (IndexedDB through the library's sync
// engine): on the static site, with the Playground's server in a Worker. After a reload the
// kept messages are listed and opened with no session at all; "Forget this copy" deletes them.
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { poll, traceLines, waitForMailbox } from "./helpers.ts"
import { serveStaticSite, type StaticSite, STRICT_CSP } from "./static-site.ts"

const available = requireService("Chromium", chromiumAvailable())

describe.skipIf(!available)("the demo's copy kept in this browser", () => {
  let site: StaticSite | undefined
  let chromium: LaunchedChromium | undefined

  beforeAll(async () => {
    site = await serveStaticSite({ headers: { "content-security-policy": STRICT_CSP } })
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await site?.close()
  })

  const watch = (page: Page) => {
    const problems: Array<string> = []
    const workers: Array<string> = []
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`))
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console.error: ${m.text()}`)
    })
    page.on("worker", (w) => workers.push(w.url()))
    page.on("websocket", (ws) => workers.push(ws.url()))
    return { problems, workers }
  }

  it("keeps every message, lists and opens them after a reload with no connection, and forgets them", async () => {
    const page = await chromium!.context.newPage()
    const first = watch(page)
    await page.goto(site!.url)
    await page.getByRole("button", { name: /Playground/ }).click()
    const rows = await waitForMailbox(page, 14)

    await page.getByRole("button", { name: /Keep a copy in this browser/ }).click()
    const notice = page.getByRole("status").filter({ hasText: "Kept a copy in this browser" })
    await notice.waitFor({ timeout: 30_000 })
    expect(await notice.innerText()).toContain("14 messages downloaded, 0 already kept")
    // The engine sent no DELE, and its QUIT ended the session.
    const lines = await traceLines(page)
    expect(lines.filter((l) => /C: RETR \d+/.test(l))).toHaveLength(14)
    expect(lines.some((l) => /C: DELE/.test(l))).toBe(false)
    expect(first.problems).toEqual([])

    // Keeping again downloads only what is new: here, nothing.
    const before = (await traceLines(page)).length
    await page.getByRole("button", { name: /Playground/ }).click()
    await waitForMailbox(page, 14)
    await page.getByRole("button", { name: /Keep a copy in this browser/ }).click()
    await page
      .locator(".notice")
      .filter({ hasText: "0 messages downloaded, 14 already kept" })
      .waitFor({ timeout: 30_000 })
    expect((await traceLines(page)).slice(before).filter((l) => /C: RETR \d+/.test(l))).toEqual([])

    // After a reload: no playground server (its Worker), no WebSocket, no session.
    const second = watch(page)
    await page.reload()
    // The card is padded like the others: its heading and button keep off its edges.
    const card = await page.locator(".kept-card").evaluate((el) => {
      const box = el.getBoundingClientRect()
      const heading = el.querySelector("h2")!.getBoundingClientRect()
      const button = el.querySelector("button")!.getBoundingClientRect()
      return { top: heading.top - box.top, left: button.left - box.left, right: box.right - button.right }
    })
    expect(card.top).toBeGreaterThanOrEqual(12)
    expect(card.left).toBeGreaterThanOrEqual(12)
    expect(card.right).toBeGreaterThanOrEqual(0)
    await page.getByRole("button", { name: /Open the copy kept in this browser/ }).click()
    await page.getByRole("heading", { name: "Kept copy" }).waitFor()
    // Rows come from the index at once; their headers as the list shows them.
    await poll(async () =>
      (await page.locator(".msg-row").allInnerTexts()).filter((t) => /Reading header/.test(t))
    ).toEqual([])
    const kept = await page.locator(".msg-row").allInnerTexts()
    expect(kept).toHaveLength(14)
    // The same subjects as the live list (the live rows hold them too), in the server's order
    // (not the UIDs' text order, which put message 10 second).
    const subject = (text: string) => text.split("\n")[1] ?? ""
    expect(kept.map(subject)).toEqual(rows.map(subject))
    await poll(() => page.locator(".storage-used").innerText()).toMatch(/storage used by this site: \d+\.\d MB of/)
    await page.locator(".msg-row").filter({ hasText: "Lines that start with a dot" }).click()
    await page.locator("#message-subject").filter({ hasText: "Lines that start with a dot" }).waitFor()
    // A kept message offers no DELE: there is no server.
    expect(await page.getByRole("button", { name: /Mark for deletion/ }).count()).toBe(0)
    // The one Worker is the demo's MIME parser (mime-worker.ts), not a server.
    expect(second.workers.filter((url) => !/mime-worker/.test(url))).toEqual([])
    expect(await page.locator(".trace-log li").count()).toBe(0)

    await page.getByRole("button", { name: "Forget this copy" }).click()
    await page.locator(".notice").filter({ hasText: "The copy kept in this browser is deleted" }).waitFor()
    expect(await page.getByRole("button", { name: /Open the copy kept in this browser/ }).count()).toBe(0)
    await page.reload()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    expect(await page.getByRole("button", { name: /Open the copy kept in this browser/ }).count()).toBe(0)
    expect(
      await page.evaluate(async () =>
        (await indexedDB.databases()).length > 0
          ? await new Promise<number>((resolve) => {
              const req = indexedDB.open("pop3-everywhere")
              req.onsuccess = () => {
                const tx = req.result.transaction("index", "readonly")
                const count = tx.objectStore("index").count()
                count.onsuccess = () => resolve(count.result)
              }
            })
          : 0
      )
    ).toBe(0)
    expect([...first.problems, ...second.problems]).toEqual([])
    await page.close()
  })

  /** This origin's kept copies gone (the tests share the browser's storage). */
  const clearStorage = (page: Page) =>
    page.evaluate(
      () =>
        new Promise((resolve) => {
          localStorage.clear()
          const req = indexedDB.deleteDatabase("pop3-everywhere")
          req.onsuccess = req.onerror = () => resolve(null)
        })
    )

  /** The demo account remembered as kept (what a sync into the kept copy leaves in localStorage). */
  const rememberDemoAccount = (page: Page) =>
    page.evaluate(() =>
      localStorage.setItem(
        "pop3-demo-kept-copy",
        JSON.stringify({ account: "demo@localhost:110", user: "demo", host: "localhost", port: 110 })
      )
    )

  /** A database of a later version, as a newer deploy would leave: this demo cannot open it. */
  const newerDatabase = (page: Page) =>
    page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const req = indexedDB.open("pop3-everywhere", 9)
          req.onsuccess = () => {
            req.result.close()
            resolve(null)
          }
          req.onerror = () => reject(req.error)
        })
    )

  /**
   * The demo's database at its version but without the store bodies go to: it opens, and
   * the first message's transaction fails (NotFoundError), as a write failing on a full disk.
   */
  const bodilessDatabase = (page: Page) =>
    page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const req = indexedDB.open("pop3-everywhere", 2)
          req.onupgradeneeded = () => {
            req.result.createObjectStore("index")
            req.result.createObjectStore("headers")
          }
          req.onsuccess = () => {
            req.result.close()
            resolve(null)
          }
          req.onerror = () => reject(req.error)
        })
    )

  it("when the browser's storage fails: says so in plain words, goes back to the form, offers no empty copy", async () => {
    const page = await chromium!.context.newPage()
    const seen = watch(page)
    await page.goto(site!.url)
    await clearStorage(page)
    await bodilessDatabase(page)
    await page.getByRole("button", { name: /Playground/ }).click()
    await waitForMailbox(page, 14)
    await page.getByRole("button", { name: /Keep a copy in this browser/ }).click()
    const alert = page.getByRole("alert").filter({ hasText: "Keeping a copy failed" })
    await alert.waitFor({ timeout: 30_000 })
    expect(await alert.innerText()).toMatch(
      /^Keeping a copy failed: This browser could not keep the messages\. Its storage \(IndexedDB\) failed: .*\(NotFoundError\)\. Nothing was deleted on the server\./
    )
    // Back at the form; nothing remembered, so no copy is offered after a reload.
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    expect(await page.evaluate(() => localStorage.getItem("pop3-demo-kept-copy"))).toBeNull()
    await page.reload()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    expect(await page.getByRole("button", { name: /Open the copy kept in this browser/ }).count()).toBe(0)
    expect(seen.problems).toEqual([])
    await clearStorage(page)
    await page.close()
  })

  it("a kept copy that cannot be opened: says so instead of doing nothing", async () => {
    const page = await chromium!.context.newPage()
    const seen = watch(page)
    await page.goto(site!.url)
    await clearStorage(page)
    await newerDatabase(page)
    await rememberDemoAccount(page)
    await page.reload()
    await page.getByRole("button", { name: /Open the copy kept in this browser/ }).click()
    const alert = page.getByRole("alert").filter({ hasText: "could not be opened" })
    await alert.waitFor({ timeout: 30_000 })
    expect(await alert.innerText()).toMatch(
      /^The copy kept in this browser could not be opened: This browser could not keep the messages\. Its storage \(IndexedDB\) failed: .*\(VersionError\)/
    )
    expect(seen.problems).toEqual([])
    await clearStorage(page)
    await page.close()
  })

  it("opens a large kept copy by its index: bodies are read for the rows shown, not for every message", async () => {
    const page = await chromium!.context.newPage()
    const seen = watch(page)
    // Counts reads of kept bodies (the store's `bodies` object store), from the page's start.
    await page.addInitScript(() => {
      const counted = globalThis as unknown as { bodyReads: number }
      counted.bodyReads = 0
      const get = IDBObjectStore.prototype.get
      IDBObjectStore.prototype.get = function (this: IDBObjectStore, ...args: Parameters<typeof get>) {
        if (this.name === "bodies") counted.bodyReads++
        return get.apply(this, args)
      }
    })
    await page.goto(site!.url)
    await clearStorage(page)
    const COUNT = 2000
    // The library's schema (core/sync/indexeddb.ts), filled as a sync would have.
    await page.evaluate(
      (count) =>
        new Promise((resolve, reject) => {
          const req = indexedDB.open("pop3-everywhere", 2)
          req.onupgradeneeded = () => {
            for (const name of ["bodies", "index", "headers"]) req.result.createObjectStore(name)
          }
          req.onsuccess = () => {
            const tx = req.result.transaction(["bodies", "index"], "readwrite")
            const account = "demo@localhost:110"
            for (let i = 1; i <= count; i++) {
              const uid = `uid-${i}`
              const body = new TextEncoder().encode(`Subject: kept message ${i}\r\n\r\nbody ${i}\r\n`)
              tx.objectStore("bodies").put(body, [account, uid])
              tx.objectStore("index").put({ account, uid, size: body.length, stored: 1, seq: i }, [account, uid])
            }
            tx.oncomplete = () => {
              req.result.close()
              resolve(null)
            }
            tx.onerror = () => reject(tx.error)
          }
          req.onerror = () => reject(req.error)
        }),
      COUNT
    )
    await rememberDemoAccount(page)
    await page.reload()
    await page.getByRole("button", { name: /Open the copy kept in this browser/ }).click()
    await page.getByRole("heading", { name: "Kept copy" }).waitFor()
    await poll(() => page.locator(".storage-used").innerText()).toMatch(/^2000 messages/)
    await poll(async () =>
      (await page.locator(".msg-row").allInnerTexts()).filter((t) => /Reading header/.test(t))
    ).toEqual([])
    expect((await page.locator(".msg-row").first().innerText()).includes("kept message 1")).toBe(true)
    const reads = await page.evaluate(() => (globalThis as unknown as { bodyReads: number }).bodyReads)
    expect(reads).toBeGreaterThan(0)
    expect(reads).toBeLessThan(200)
    expect(seen.problems).toEqual([])
    await clearStorage(page)
    await page.close()
  })
})
