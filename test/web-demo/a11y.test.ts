// An axe-core audit of every screen of the static site in Chromium: the start screen (the
// connect form, the Playground, the tour and replay cards), a refused login, the mailbox, a
// message with the bytes view, the guided tour and a replay — no serious or critical
// violation on any of them. axe is injected with playwright-core's evaluate, which a
// Content-Security-Policy without inline scripts does not block.
import { createRequire } from "node:module"
import { readFile } from "node:fs/promises"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { poll, row, screenshot, waitForMailbox, waitForTrace } from "./helpers.ts"
import { serveStaticSite, type StaticSite } from "./static-site.ts"

const available = requireService("Chromium", chromiumAvailable())
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js")

interface Violation {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly nodes: ReadonlyArray<{ readonly target: ReadonlyArray<string>; readonly failureSummary?: string }>
}

/** Serious and critical violations on the page as it is now, as readable strings. */
async function audit(page: Page): Promise<Array<string>> {
  const loaded = await page.evaluate(() => "axe" in window)
  if (!loaded) await page.evaluate(await readFile(AXE, "utf8"))
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (context: Document, options: object) => Promise<{ violations: Array<Violation> }> }
      }
    ).axe
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
      resultTypes: ["violations"]
    })
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary }))
    }))
  })
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} — ${v.nodes
          .slice(0, 4)
          .map((n) => n.target.join(" "))
          .join(", ")}`
    )
}

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

  it("the start screen on a phone", async () => {
    await p().setViewportSize({ width: 390, height: 844 })
    await p()
      .getByRole("button", { name: /Playground/ })
      .waitFor()
    expect(await audit(p())).toEqual([])
    await screenshot(p(), "a11y-phone-start", { fullPage: true })
  })
})
