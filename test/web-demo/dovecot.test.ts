// The web demo in Chromium against a real Dovecot, through a pop3-bridge with implicit TLS
// upstream (Dovecot's own certificate, trusted by the bridge): the same flow as against the
// dev server, with the form filled in by hand — auto login (SCRAM-SHA-256 through SASL),
// list, an HTML message in the sandbox, a 3 MiB attachment byte for byte, DELE undone by
// Disconnect, USER/PASS with the password redacted, no console errors. Each test stands
// alone: a page of its own, logged in afresh (Dovecot lets POP3 sessions of one user overlap).
import { readFile } from "node:fs/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { type Dovecot, dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import {
  type DemoPage,
  fillAndConnect,
  frameSandbox,
  demoPages,
  poll,
  row,
  screenshot,
  traceLines,
  waitForMailbox,
  waitForTrace
} from "./helpers.ts"

const available = requireService("Chromium", chromiumAvailable()) && requireService("Dovecot", dovecotAvailable())

/** The attachment of Dovecot's message 5 (blob.bin), decoded from the fixture's base64. */
const blobOf = (message: Uint8Array): Buffer => {
  const text = new TextDecoder().decode(message)
  const start = text.indexOf('filename="blob.bin"')
  const body = text.slice(text.indexOf("\r\n\r\n", start) + 4, text.indexOf("--b2_large--"))
  return Buffer.from(body.replace(/\s+/g, ""), "base64")
}

describe.skipIf(!available)("the web demo against Dovecot through the bridge", () => {
  let dovecot: Dovecot | undefined
  let bridge: RunningBridge | undefined
  let stack: RunningStack | undefined
  let chromium: LaunchedChromium | undefined
  /** A fresh page of the demo; its console is checked and it is closed after the test. */
  const fresh = demoPages(() => ({ context: chromium!.context, url: stack!.url }))
  /** A fresh page logged in as alice (auto unless `auth` says otherwise), 5 messages listed. */
  const loggedIn = async (auth?: string): Promise<DemoPage> => {
    const demo = await fresh()
    await fillAndConnect(demo.page, { ...form(), ...(auth !== undefined ? { auth } : {}) })
    await waitForMailbox(demo.page, 5)
    return demo
  }
  const form = () => ({
    bridgeUrl: `${bridge!.url}/pop3`,
    // The exact address on the allowlist (a name would resolve to loopback, which the
    // bridge refuses unless that address is listed); Dovecot's certificate names it.
    host: "127.0.0.1",
    port: dovecot!.tlsPort,
    security: "implicit" as const,
    user: "alice",
    password: dovecot!.users.alice.password
  })

  beforeAll(async () => {
    dovecot = await startDovecot({ bulkMessages: 0 })
    // Vite comes from the npm start stack; its own bridge and dev server stay unused.
    stack = await startEphemeralStack()
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`127.0.0.1:${dovecot.tlsPort}`],
      allowOrigin: [new URL(stack.url).origin],
      upstreamCa: [dovecot.ca],
      log: () => {}
    })
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await bridge?.close(1000)
    await stack?.close()
    await dovecot?.stop()
  })

  it("logs in with auto (SCRAM-SHA-256 over SASL) and lists alice's 5 messages, headers decoded", async () => {
    const { page } = await fresh()
    await fillAndConnect(page, form())
    const rows = await waitForMailbox(page, 5)
    const text = rows.join("\n")
    expect(text).toContain("Grüße aus München ☕ 日本語")
    expect(text).toContain("Raw 8-bit UTF-8 header: naïve café ☕")
    expect(text).toContain("Jürgen Müller")
    const lines = await traceLines(page)
    expect(lines.some((l) => / C: AUTH SCRAM-SHA-256/.test(l))).toBe(true)
    expect(lines.some((l) => /→ AUTHORIZATION → SASL/.test(l))).toBe(true)
    expect(lines.some((l) => /→ SASL → TRANSACTION/.test(l))).toBe(true)
    expect(await page.locator('.diagram .node[data-state="TRANSACTION"]').getAttribute("class")).toContain("current")
    expect(await page.locator(".diagram .edge.taken title").textContent()).toMatch(/^SASL → TRANSACTION/)
    await page.evaluate(() => window.scrollTo(0, 0))
    await screenshot(page, "10-dovecot-mailbox")
  })

  it("shows the HTML part in the sandboxed frame", async () => {
    const { page } = await loggedIn()
    await row(page, 3).click()
    await page.frameLocator("iframe.html-frame").getByText("Grüße aus München ☕").waitFor()
    const sandbox = await frameSandbox(page)
    expect(sandbox).not.toContain("allow-scripts")
    expect(sandbox).not.toContain("allow-same-origin")
    expect(await page.getByText("No remote content").isVisible()).toBe(true)
  })

  it("downloads the 3 MiB attachment of message 5 byte for byte", async () => {
    const { page } = await loggedIn()
    await row(page, 5).click()
    await page.getByRole("heading", { name: "Large message (~5 MiB attachment)" }).waitFor({ timeout: 30_000 })
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download blob.bin" }).click()
    ])
    const bytes = await readFile(await download.path())
    const expected = blobOf(dovecot!.messages("alice")[4]!)
    expect(bytes.length).toBe(3_932_160)
    expect(bytes.equals(expected)).toBe(true)
  })

  it("DELE marks, Disconnect sends RSET and QUIT, and Dovecot still has 5 messages", async () => {
    const { page } = await loggedIn()
    await row(page, 1).click()
    await page.getByRole("button", { name: "Mark for deletion (DELE 1)" }).click()
    await waitForTrace(page, / C: DELE 1$/)
    await poll(() => row(page, 1).getAttribute("class")).toContain("deleted")
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    expect(await page.locator(".notice").innerText()).toContain(
      "the library sent RSET and QUIT, so nothing was removed"
    )
    await fillAndConnect(page, form())
    await waitForMailbox(page, 5)
  })

  it("USER/PASS: USER alice, PASS ****, +OK, AUTHORIZATION → AUTHORIZATION_PASS → TRANSACTION", async () => {
    const { page } = await loggedIn("user")
    const lines = await traceLines(page)
    const user = lines.findIndex((l) => / C: USER alice$/.test(l))
    const pass = lines.findIndex((l) => / C: PASS \*\*\*\*$/.test(l))
    expect(user).toBeGreaterThan(-1)
    expect(pass).toBeGreaterThan(user)
    expect(lines.slice(pass + 1).find((l) => / S: /.test(l))).toMatch(/ S: \+OK/)
    expect(lines.some((l) => /→ AUTHORIZATION_PASS → TRANSACTION PASS \+OK/.test(l))).toBe(true)
    expect(await page.locator(".trace").innerText()).not.toContain(dovecot!.users.alice.password)
    await page.getByRole("button", { name: "Quit", exact: true }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    expect(await page.locator(".notice").innerText()).toBe(
      "Session ended with QUIT. Nothing was marked, so nothing was removed."
    )
  })
})
