// The demo as a static site (built by `npm run build`'s buildDemo, served by a plain node:http
// file server; no bridge, no dev POP3 server, no Vite) in Debian's Chromium: the Playground
// runs the dev server in a Worker, opens no WebSocket and sends no request off the site;
// its misbehaviour switches; the bytes view (CR LF, dot-stuffing); export and replay with
// no secret in the file; the guided tour with the keyboard alone.
import { readFile } from "node:fs/promises"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { poll, row, screenshot, traceLines, waitForMailbox, waitForTrace } from "./helpers.ts"
import { serveStaticSite, type StaticSite } from "./static-site.ts"

const available = requireService("Chromium", chromiumAvailable())
const SECRET = "s3cret-Hunter2"

interface Opened {
  readonly page: Page
  readonly problems: Array<string>
  readonly sockets: Array<string>
  readonly offSite: Array<string>
}

describe.skipIf(!available)("the static site's Playground", () => {
  let site: StaticSite | undefined
  let chromium: LaunchedChromium | undefined

  beforeAll(async () => {
    site = await serveStaticSite()
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await site?.close()
  })

  const open = async (): Promise<Opened> => {
    const page = await chromium!.context.newPage()
    const problems: Array<string> = []
    const sockets: Array<string> = []
    const offSite: Array<string> = []
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console.${m.type()}: ${m.text()}`)
    })
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`))
    page.on("websocket", (ws) => sockets.push(ws.url()))
    page.on("request", (r) => {
      if (!r.url().startsWith(site!.url) && !/^(blob|data):/.test(r.url())) offSite.push(r.url())
    })
    page.on("worker", (w) => w.on("console", (m) => problems.push(`worker console.${m.type()}: ${m.text()}`)))
    await page.goto(site!.url)
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    return { page, problems, sockets, offSite }
  }

  const startPlayground = async (page: Page, options: { switches?: ReadonlyArray<RegExp>; password?: string; mechanism?: string } = {}) => {
    for (const s of options.switches ?? []) await page.getByRole("checkbox", { name: s }).check()
    if (options.password !== undefined) await page.getByLabel("Playground password").fill(options.password)
    if (options.mechanism !== undefined) await page.getByLabel("Login with").selectOption(options.mechanism)
    await page.getByRole("button", { name: /Playground/ }).click()
  }

  it("runs a whole session with no bridge, no server and no WebSocket", async () => {
    const { page, problems, sockets, offSite } = await open()
    await screenshot(page, "pg-01-start")
    await startPlayground(page)
    const rows = await waitForMailbox(page, 14)
    expect(rows.join("\n")).toContain("Lines that start with a dot")
    const lines = await traceLines(page)
    expect(lines.some((l) => / C: USER demo/.test(l))).toBe(true)
    expect(lines.some((l) => / C: PASS \*\*\*\*/.test(l))).toBe(true)
    expect(lines.some((l) => /playground server in this page's Web Worker/.test(l))).toBe(true)
    await poll(() => page.locator(".state-badge").innerText()).toBe("TRANSACTION")
    await screenshot(page, "pg-02-mailbox")
    await page.getByRole("button", { name: /^Quit/ }).click()
    await waitForTrace(page, /AUTHORIZATION|UPDATE → CLOSED|CLOSED/)
    expect(sockets).toEqual([])
    expect(offSite).toEqual([])
    expect(problems).toEqual([])
    await page.close()
  })

  /** The wire text of the bytes view's column named `caption`, one string per line. */
  const column = (page: Page, caption: string) =>
    page.locator(".wire-col", { has: page.getByText(caption, { exact: true }) }).locator(".wire-row").evaluateAll((rows) => rows.map((r) => (r.textContent ?? "").replace(/\n$/, "")))

  it("shows the exact bytes of a line (CR LF visible, hex) and of RETR 12's body, stuffed beside unstuffed", async () => {
    const { page, problems } = await open()
    await startPlayground(page)
    await waitForMailbox(page, 14)
    // The greeting: "+OK …" then CR LF, as text and as hex.
    await page.getByRole("button", { name: /^Bytes of \+OK POP3 dev server ready/ }).click()
    const view = page.locator(".bytes-view")
    await expect.poll(() => view.locator(".wire-text").innerText()).toMatch(/^\+OK POP3 dev server ready <[^>]+>CRLF\s*$/)
    expect(await view.locator(".wire-hex pre").innerText()).toMatch(/^000000  2b 4f 4b 20/)
    expect(await view.locator(".wire-hex pre").innerText()).toMatch(/0d 0a/)
    // PASS: masked, never the password's bytes.
    await page.getByRole("button", { name: "Bytes of PASS ****" }).click()
    await expect.poll(() => view.innerText()).toContain("held a secret")
    expect(await view.locator(".wire-text").innerText()).toMatch(/^PASS \*\*\*\*CRLF/)

    await row(page, 12).click()
    await waitForTrace(page, /S: .*RETR body/)
    await page.getByRole("button", { name: "Bytes of the RETR 12 body" }).click()
    const sent = await column(page, "As sent (dot-stuffed)")
    const kept = await column(page, "The message (unstuffed)")
    expect(sent).toContain("..hiddenCRLF")
    expect(sent).toContain("...CRLF")
    expect(sent).toContain("..CRLF") // the message's line "." stuffed
    expect(sent.at(-1)).toBe(".CRLF") // the terminator
    expect(kept).toContain(".hiddenCRLF")
    expect(kept).not.toContain("..hiddenCRLF")
    // Line by line: the message is the body without its terminator, one leading dot fewer.
    expect(kept).toHaveLength(sent.length - 1)
    expect(kept.map((l) => (l.startsWith(".") ? `.${l}` : l))).toEqual(sent.slice(0, -1))
    expect(await page.locator(".wire-row.dotted").count()).toBeGreaterThan(0)
    await page.locator(".bytes-view").scrollIntoViewIfNeeded()
    await screenshot(page, "pg-03-bytes-dot-stuffing")
    await page.getByRole("button", { name: /^Quit/ }).click()
    expect(problems).toEqual([])
    await page.close()
  })
})
