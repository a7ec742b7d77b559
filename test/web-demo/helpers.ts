// Shared steps for the web demo's browser tests: open the page while recording every
// console error or warning and uncaught exception, connect, wait for the list, read the
// trace, save screenshots.
import { mkdir } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import type { BrowserContext, Page } from "playwright-core"
import { afterEach, expect } from "vitest"

export const SCREENSHOTS = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url))

export interface DemoPage {
  readonly page: Page
  /** Console errors and warnings, and uncaught exceptions, in order. */
  readonly problems: Array<string>
}

export async function openDemo(context: BrowserContext, url: string): Promise<DemoPage> {
  const page = await context.newPage()
  await recordBlobTypes(page)
  const problems: Array<string> = []
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning")
      problems.push(`console.${message.type()}: ${message.text()}`)
  })
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`))
  // Vite's HMR socket is answered by a stub that only says "connected": other engineers edit
  // core/ in this checkout while tests run, and Vite would reload the page mid-test for each
  // edit. The bridge listens on another port, so its WebSockets go through untouched.
  const vite = new URL(url)
  await page.routeWebSocket(
    (u) => u.host === vite.host,
    (ws) => ws.send(JSON.stringify({ type: "connected" }))
  )
  // Any reload after the first load would silently reset the demo: record it.
  let loads = 0
  page.on("load", () => {
    if (++loads > 1) problems.push(`the page reloaded (${page.url()})`)
  })
  page.on("console", (message) => {
    if (/optimized|reload/i.test(message.text())) problems.push(`vite: ${message.text()}`)
  })
  await page.goto(url)
  // The first load has Vite transform every module on request: on a loaded 2-core machine
  // that took over playwright's default 30 s once. The bound only stops a hang.
  await page.getByRole("button", { name: "Connect", exact: true }).waitFor({ timeout: 80_000 })
  return { page, problems }
}

/**
 * Demo pages for one describe block: the function returned opens a page (`openDemo` on
 * what `target` names when called); after each test every page it opened is closed, and
 * none may have recorded a problem — no console error or warning, no uncaught exception,
 * no reload. A test that expects a browser error takes it out of `problems` itself.
 */
export function demoPages(target: () => { context: BrowserContext; url: string }): () => Promise<DemoPage> {
  const pages: Array<DemoPage> = []
  afterEach(async () => {
    const open = pages.splice(0)
    for (const { page } of open) await page.close()
    expect(open.flatMap((p) => p.problems)).toEqual([])
  })
  return async () => {
    const { context, url } = target()
    const demo = await openDemo(context, url)
    pages.push(demo)
    return demo
  }
}

/** Fills the connect form (only the fields given) and presses Connect. */
export async function fillAndConnect(
  page: Page,
  fields: {
    bridgeUrl?: string
    host?: string
    port?: number
    user?: string
    password?: string
    auth?: string
    security?: "implicit" | "none"
    allowPlaintext?: boolean
  } = {}
): Promise<void> {
  if (fields.bridgeUrl !== undefined) await page.getByLabel("Bridge URL").fill(fields.bridgeUrl)
  if (fields.host !== undefined) await page.getByLabel("Host", { exact: true }).fill(fields.host)
  if (fields.port !== undefined) await page.getByLabel("Port", { exact: true }).fill(String(fields.port))
  if (fields.security === "none") await page.getByRole("radio", { name: /^None/ }).check()
  if (fields.security === "implicit") await page.getByRole("radio", { name: /^Implicit TLS/ }).check()
  if (fields.user !== undefined) await page.getByLabel("Username").fill(fields.user)
  if (fields.password !== undefined) await page.getByLabel("Password", { exact: true }).fill(fields.password)
  if (fields.auth !== undefined) await page.getByLabel("Authentication").selectOption(fields.auth)
  if (fields.allowPlaintext === true) await page.getByLabel("Allow password over an unencrypted connection").check()
  await page.getByRole("button", { name: "Connect", exact: true }).click()
}

/** Waits until the list shows `count` messages with every header read; returns the rows' texts. */
export async function waitForMailbox(page: Page, count: number): Promise<Array<string>> {
  await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 30_000 })
  // Every row drawn with its header (TOP) and its size (LIST, read after the first screen).
  await page.waitForFunction(
    (n) =>
      document.querySelectorAll(".msg-row").length === n &&
      document.querySelectorAll(".msg-row.loading").length === 0 &&
      [...document.querySelectorAll(".msg-row .c-size")].every((c) => c.textContent !== "…"),
    count,
    { timeout: 30_000 }
  )
  return page.locator(".msg-row").allInnerTexts()
}

/** The protocol trace panel's lines, one string per row, without the one-line explanations. */
export async function traceLines(page: Page): Promise<Array<string>> {
  return page.locator(".trace-log > li").evaluateAll((rows) =>
    rows.map((row) => {
      const copy = row.cloneNode(true) as HTMLElement
      for (const gloss of copy.querySelectorAll(".gloss")) gloss.remove()
      return [...copy.children]
        .map((part) => part.textContent ?? "")
        .join(" ")
        .replace(/\s+/g, " ")
        .trim()
    })
  )
}

/** `expect.poll` with room for a busy machine (its default gives up after one second). */
export const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 20_000 })

/** Waits until some trace line matches. */
export async function waitForTrace(page: Page, pattern: RegExp): Promise<void> {
  await poll(async () => (await traceLines(page)).some((l) => pattern.test(l))).toBe(true)
}

/** The message row for message number `msg`. */
export const row = (page: Page, msg: number) => page.locator(`.msg-row[data-msg="${msg}"]`)

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: options.fullPage ?? false })
}

/** The tokens of the message frame's sandbox attribute. */
export async function frameSandbox(page: Page): Promise<Array<string>> {
  const value = await page.locator("iframe.html-frame").getAttribute("sandbox")
  expect(value, "the HTML frame has a sandbox attribute").not.toBeNull()
  return (value ?? "").split(/\s+/).filter((t) => t !== "")
}

/**
 * Opens `href` in a new tab from the page, as a user opening a link (or a copied blob URL)
 * would: "document" when the browser shows it as a page (where a script in it would run
 * with the URL's origin), "download" when it only downloads it. The tab is closed again.
 */
export async function openInNewTab(page: Page, href: string): Promise<"download" | "document"> {
  const popup = page.waitForEvent("popup")
  let downloaded = false
  const onDownload = () => {
    downloaded = true
  }
  page.on("download", onDownload)
  await page.evaluate((url) => void window.open(url, "_blank"), href)
  const tab = await popup
  tab.on("download", onDownload)
  const outcome = await new Promise<"download" | "document">((resolve) => {
    tab.waitForURL(href, { waitUntil: "commit", timeout: 20_000 }).then(
      () => resolve("document"),
      () => resolve("download")
    )
    tab.once("download", () => resolve("download"))
    tab.once("close", () => resolve("download"))
  })
  page.off("download", onDownload)
  if (!tab.isClosed()) await tab.close()
  if (outcome === "download" && !downloaded) return "document"
  return outcome
}

/**
 * Records the type of every Blob the page turns into a URL (before any page script runs),
 * so a test can ask what a download link really holds: `blobType(page, href)`; and every
 * URL the page revokes: `wasRevoked(page, href)`.
 */
export async function recordBlobTypes(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const types = new Map<string, string>()
    const revoked = new Set<string>()
    ;(window as unknown as { blobTypes: Map<string, string> }).blobTypes = types
    ;(window as unknown as { revokedUrls: Set<string> }).revokedUrls = revoked
    const revoke = URL.revokeObjectURL.bind(URL)
    URL.revokeObjectURL = (url: string) => {
      revoked.add(url)
      revoke(url)
    }
    const original = URL.createObjectURL.bind(URL)
    URL.createObjectURL = (object: Blob | MediaSource) => {
      const url = original(object)
      if (object instanceof Blob) types.set(url, object.type)
      return url
    }
  })
}

export const blobType = (page: Page, href: string): Promise<string | undefined> =>
  page.evaluate((url) => (window as unknown as { blobTypes: Map<string, string> }).blobTypes.get(url), href)

export const wasRevoked = (page: Page, href: string): Promise<boolean> =>
  page.evaluate((url) => (window as unknown as { revokedUrls: Set<string> }).revokedUrls.has(url), href)
