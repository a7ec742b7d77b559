// The demo with hostile mail (test/web-demo/hostile-mail.ts) in Chromium: scripts in every
// hiding place, links to javascript: and data:, CSS url() and @import, srcset, meta
// refresh, <base>, forms, SVG with script, and text/html and SVG attachments opened by URL.
// No script may run (a canary any of them would set: a request to CANARY_HOST, a mark on
// the demo's <body>, the title, a dialog), nothing may be requested from a remote host
// before "Load remote images", and the page must stay usable.
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { DEMO_PASSWORD } from "../../dev-server/sample-mailbox.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { CANARY_HOST, hostileMessages, REMOTE_HOST } from "./hostile-mail.ts"
import {
  blobType,
  type DemoPage,
  fillAndConnect,
  openDemo,
  openInNewTab,
  poll,
  row,
  waitForMailbox
} from "./helpers.ts"

const available = requireService("Chromium", chromiumAvailable())

const PIXEL = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64"
)
const LOCAL = new Set(["127.0.0.1", "localhost"])
/** The browser's own reports of what it refused: the only console errors allowed here. */
const BLOCKED =
  /^console\.error: (Blocked script execution in 'about:srcdoc'|Blocked form submission to '.*' because the form's frame is sandboxed|.* violates the following Content Security Policy directive)/

describe.skipIf(!available)("the web demo with hostile mail", () => {
  let stack: RunningStack | undefined
  let chromium: LaunchedChromium | undefined
  /** Every request for a host other than this machine, in order (answered, never sent out). */
  const remote: Array<string> = []
  const dialogs: Array<string> = []

  beforeAll(async () => {
    // One mailbox per test, so neither depends on the other's session.
    stack = await startEphemeralStack({
      hostile1: { password: DEMO_PASSWORD, messages: hostileMessages() },
      hostile2: { password: DEMO_PASSWORD, messages: hostileMessages() }
    })
    chromium = await launchChromium()
    await chromium.context.route("**/*", (route) => {
      const url = new URL(route.request().url())
      if (LOCAL.has(url.hostname)) return route.continue()
      remote.push(url.href)
      return route.fulfill({ status: 200, contentType: "image/png", body: PIXEL })
    })
    chromium.context.on("page", (page) => {
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message())
        void dialog.dismiss()
      })
    })
  })
  afterAll(async () => {
    await chromium?.close()
    await stack?.close()
  })

  /** Everything a script could have left behind, on the demo's page and on the wire. */
  const traces = async (page: Page) => ({
    canary: remote.filter((u) => new URL(u).hostname === CANARY_HOST),
    pwned: await page.evaluate(() => document.body.getAttribute("data-pwned")),
    title: await page.title(),
    dialogs: [...dialogs]
  })
  const clean = { canary: [], pwned: null, title: "POP3 in the browser — a live protocol demo", dialogs: [] }

  /** Resolves once the message frame finished loading everything it will load. */
  const frameLoaded = (page: Page) =>
    page
      .locator("iframe.html-frame")
      .evaluate((el: HTMLIFrameElement) =>
        el.contentDocument === null || el.contentDocument.readyState === "complete"
          ? undefined
          : new Promise((resolve) => el.addEventListener("load", resolve, { once: true }))
      )

  const open = async (user: "hostile1" | "hostile2"): Promise<DemoPage> => {
    const demo = await openDemo(chromium!.context, stack!.url)
    await fillAndConnect(demo.page, { user })
    await waitForMailbox(demo.page, 2)
    return demo
  }

  it("shows the hostile HTML with no script run, nothing fetched, the page in place; then only images load when asked", async () => {
    remote.length = 0
    const { page, problems } = await open("hostile1")
    const url = page.url()
    await row(page, 1).click()
    const frame = page.frameLocator("iframe.html-frame")
    await frame.getByRole("heading", { name: "Hostile HTML" }).waitFor()
    await frameLoaded(page)
    // What a reader might click: the links, the form, the element with onclick.
    for (const id of ["js-link", "data-link", "relative-link", "form-submit", "click-me"])
      await frame.locator(`#${id}`).click()
    await frame.getByText("svg link").dispatchEvent("click")
    // Then use the page: another message opens (a RETR round trip after the clicks).
    await row(page, 2).click()
    await page.getByRole("heading", { name: "Hostile attachments" }).waitFor()

    expect(await traces(page)).toEqual(clean)
    expect(remote, "requests to remote hosts before Load remote images").toEqual([])
    expect(page.url()).toBe(url)
    expect(
      page
        .context()
        .pages()
        .filter((p) => p !== page && p.url() !== "about:blank" && !p.isClosed())
        .map((p) => p.url())
    ).toEqual([])

    // Only when asked: images over https, and still no script, no stylesheet, no frame.
    await row(page, 1).click()
    await frame.getByRole("heading", { name: "Hostile HTML" }).waitFor()
    await page.getByRole("button", { name: "Load remote images" }).click()
    await poll(() => remote.some((u) => u.endsWith("/remote.png"))).toBe(true)
    await frameLoaded(page)
    await row(page, 2).click()
    await page.getByRole("heading", { name: "Hostile attachments" }).waitFor()
    expect(await traces(page)).toEqual(clean)
    const fetched = remote.map((u) => new URL(u))
    expect(
      fetched.every((u) => u.hostname === REMOTE_HOST && u.protocol === "https:" && u.pathname.endsWith(".png")),
      remote.join("\n")
    ).toBe(true)
    expect(problems.filter((p) => !BLOCKED.test(p))).toEqual([])
    await page.close()
  })

  it("offers text/html and SVG attachments only as downloads: opened by URL, nothing runs", async () => {
    remote.length = 0
    const { page, problems } = await open("hostile2")
    await row(page, 2).click()
    await page.getByRole("heading", { name: "Hostile attachments" }).waitFor()
    for (const name of ["evil.html", "evil.svg"]) {
      const href = (await page.getByRole("link", { name: `Download ${name}` }).getAttribute("href")) ?? ""
      expect(href).toMatch(/^blob:/)
      expect(await blobType(page, href), name).toBe("application/octet-stream")
      expect(await openInNewTab(page, href), name).toBe("download")
    }
    // Still usable: the other message opens.
    await row(page, 1).click()
    await page.frameLocator("iframe.html-frame").getByRole("heading", { name: "Hostile HTML" }).waitFor()
    await frameLoaded(page)
    expect(await traces(page)).toEqual(clean)
    expect(remote).toEqual([])
    expect(problems.filter((p) => !BLOCKED.test(p))).toEqual([])
    await page.close()
  })
})
