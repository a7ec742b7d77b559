// An axe-core audit of every screen of the static site in Chromium: the start screen (the
// connect form, the Playground, the tour and replay cards), a refused login, the mailbox, a
// message with the bytes view, the guided tour, a replay, the copy kept in this browser and
// a real-server error (no bridge at the URL) — no serious or critical violation on any of them.
// What the bridge sees during a session and a 20 MB message need the npm start stack: their
// audits are in bridge-view.test.ts and big-message.test.ts (axe.ts runs axe in a page).
import { createServer } from "node:net"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { audit } from "./axe.ts"
import { poll, row, screenshot, waitForMailbox, waitForTrace } from "./helpers.ts"
import { serveStaticSite, type StaticSite } from "./static-site.ts"

const available = requireService("Chromium", chromiumAvailable())

describe.skipIf(!available)("accessibility of every screen (axe-core)", () => {
  let site: StaticSite | undefined
  let chromium: LaunchedChromium | undefined
  let page: Page | undefined
  const p = () => page!

  beforeAll(async () => {
    site = await serveStaticSite()
    chromium = await launchChromium()
    page = await chromium.context.newPage()
    await page.goto(site.url)
    await page.getByRole("button", { name: /Playground/ }).waitFor()
  })
  afterAll(async () => {
    await chromium?.close()
    await site?.close()
  })

  it("the start screen", async () => {
    expect(await audit(p())).toEqual([])
  })

  it("a refused playground login", async () => {
    await p()
      .getByRole("checkbox", { name: /IN-USE/ })
      .check()
    await p()
      .getByRole("button", { name: /Playground/ })
      .click()
    await p().locator(".playground .teach-error").waitFor()
    expect(await audit(p())).toEqual([])
    await p()
      .getByRole("checkbox", { name: /IN-USE/ })
      .uncheck()
  })

  it("the mailbox, and a message with the bytes view", async () => {
    await p()
      .getByRole("button", { name: /Playground/ })
      .click()
    await waitForMailbox(p(), 14)
    expect(await audit(p())).toEqual([])
    await row(p(), 12).click()
    await waitForTrace(p(), /S: .*RETR body/)
    await p().getByRole("button", { name: "Bytes of the RETR 12 body" }).click()
    await p().locator(".wire-cols").waitFor()
    expect(await audit(p())).toEqual([])
    await screenshot(p(), "a11y-message-bytes")
    await p().getByRole("button", { name: /^Quit/ }).click()
    await p()
      .getByRole("button", { name: /Playground/ })
      .waitFor()
  })

  it("the replay", async () => {
    const [download] = await Promise.all([
      p().waitForEvent("download"),
      p().getByRole("button", { name: "Export session (.json)" }).click()
    ])
    await p()
      .locator("#replay-file")
      .setInputFiles(await download.path())
    await p().getByRole("button", { name: "Forward ▶" }).click()
    await p().getByRole("button", { name: "Forward ▶" }).click()
    expect(await audit(p())).toEqual([])
    await p().getByRole("button", { name: "Leave the replay" }).click()
  })

  it("the guided tour", async () => {
    await p().getByRole("button", { name: "Start the guided tour" }).click()
    const next = p().getByRole("button", { name: /^Next/ })
    for (let i = 0; i < 5; i++) {
      const before = await p().locator("#tour-title").innerText()
      await next.click()
      await poll(() => p().locator("#tour-title").innerText()).not.toBe(before)
    }
    expect(await audit(p())).toEqual([])
    await screenshot(p(), "a11y-tour")
    await p().getByRole("button", { name: "End the tour" }).click()
  })

  it("a real-server error: nothing at the bridge URL", async () => {
    // A port that was free a moment ago: the WebSocket is refused at once.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolve(port))
      })
    })
    await p().getByLabel("Bridge URL").fill(`ws://127.0.0.1:${closed}/pop3`)
    await p().getByLabel("Username").fill("demo")
    await p().getByLabel("Password", { exact: true }).fill("demo")
    await p().getByRole("button", { name: "Connect", exact: true }).click()
    await poll(() => p().locator(".error-box").innerText()).toContain("Could not reach the bridge")
    expect(await audit(p())).toEqual([])
  })

  it("the copy kept in this browser, a kept message opened", async () => {
    await p()
      .getByRole("button", { name: /Playground/ })
      .click()
    await waitForMailbox(p(), 14)
    await p()
      .getByRole("button", { name: /Keep a copy in this browser/ })
      .click()
    await p().getByRole("status").filter({ hasText: "Kept a copy in this browser" }).waitFor({ timeout: 30_000 })
    await p().reload()
    await p()
      .getByRole("button", { name: /Open the copy kept in this browser/ })
      .click()
    await p().getByRole("heading", { name: "Kept copy" }).waitFor()
    expect(await audit(p())).toEqual([])
    await p().locator(".msg-row").filter({ hasText: "Lines that start with a dot" }).click()
    await p().locator("#message-subject").filter({ hasText: "Lines that start with a dot" }).waitFor()
    expect(await audit(p())).toEqual([])
    await screenshot(p(), "a11y-kept-copy")
    // Back to the start screen, the copy forgotten.
    await p().getByRole("button", { name: "Forget this copy" }).click()
    await p().locator(".notice").filter({ hasText: "The copy kept in this browser is deleted" }).waitFor()
    await p().reload()
    await p()
      .getByRole("button", { name: /Playground/ })
      .waitFor()
  })

  it("the start screen on a phone", async () => {
    await p().setViewportSize({ width: 390, height: 844 })
    await p()
      .getByRole("button", { name: /Playground/ })
      .waitFor()
    expect(await audit(p())).toEqual([])
    await screenshot(p(), "a11y-phone-start", { fullPage: true })
  })
})
