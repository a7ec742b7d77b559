// The demo's "What the bridge sees" view in Chromium, against the npm start stack (dev POP3
// server, pop3-bridge, Vite): with TLS at the bridge, the view shows the session as the
// bridge reads it — the commands in the clear, the PASS line marked as read by the bridge
// with its secret hidden in the view, and not one occurrence of the password on the page;
// with end-to-end TLS ticked (the bridge in tls=passthrough), TLS records only — implicit,
// and after STLS — and an untrusted certificate refused by the page's own TLS.
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sampleMessages } from "../../dev-server/sample-mailbox.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { audit } from "./axe.ts"
import { demoPages, fillAndConnect, poll, screenshot, waitForMailbox } from "./helpers.ts"

const available = requireService("Chromium", chromiumAvailable())

const USER = "bridgeview"
const PASSWORD = "Sesame-0f-the-bridge"

describe.skipIf(!available)("what the bridge sees, in the demo", () => {
  let stack: RunningStack | undefined
  let chromium: LaunchedChromium | undefined
  const fresh = demoPages(() => ({ context: chromium!.context, url: stack!.url }))
  beforeAll(async () => {
    stack = await startEphemeralStack({ [USER]: { password: PASSWORD, messages: sampleMessages() } })
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await stack?.close()
  })

  it("with TLS at the bridge: every command in the clear, PASS marked as read by the bridge, the password nowhere", async () => {
    const { page } = await fresh()
    const view = page.getByRole("region", { name: "What the bridge sees" })
    expect(await view.locator(".bridge-verdict").innerText()).toMatch(/^Connect through a bridge/)
    await fillAndConnect(page, { user: USER, password: PASSWORD, auth: "user" })
    await waitForMailbox(page, 14)
    const lines = view.getByRole("list", { name: "Bytes through the bridge" }).getByRole("listitem")
    await poll(async () => (await lines.allInnerTexts()).some((l) => /^C: TOP \d+ 0/.test(l))).toBe(true)
    const texts = await lines.allInnerTexts()
    expect(texts).toContain(`C: USER ${USER}`)
    expect(texts.filter((l) => l.startsWith("C: PASS"))).toEqual([
      "C: PASS **** — the bridge read this line in the clear; its secret is hidden here only"
    ])
    // The server's side too: the greeting, read by the bridge.
    expect(texts[0]).toMatch(/^S: \+OK/)
    expect(await view.locator(".bridge-verdict").innerText()).toMatch(
      /TLS ends at the bridge: it reads this whole session in the clear .* the password/
    )
    expect(await view.locator(".bridge-totals").innerText()).toMatch(/^[\d,]+ bytes to the bridge, [\d,]+ from it\.$/)
    // The page says the bridge read it; the page itself never shows it.
    expect(await page.locator("body").innerText()).not.toContain(PASSWORD)
    await view.scrollIntoViewIfNeeded()
    await screenshot(page, "bridge-view-plaintext")
    // The view with a session in it passes the same axe audit as every other screen (a11y.test.ts).
    expect(await audit(page)).toEqual([])
  })

  /** Logs in with end-to-end TLS ticked; returns the view's rows once the list is read. */
  const endToEnd = async (page: Page, security: "implicit" | "none", port: number): Promise<Array<string>> => {
    await page.getByLabel("End-to-end TLS (experimental)").check()
    await fillAndConnect(page, { user: USER, password: PASSWORD, auth: "user", security, port })
    await waitForMailbox(page, 14)
    const view = page.getByRole("region", { name: "What the bridge sees" })
    await poll(() => view.locator(".bridge-verdict").innerText()).toMatch(
      /^End-to-end TLS: the bridge relays TLS records/
    )
    return view.getByRole("list", { name: "Bytes through the bridge" }).getByRole("listitem").allInnerTexts()
  }

  it("with end-to-end TLS (implicit): the bridge relays TLS records only — no command, no password", async () => {
    const { page } = await fresh()
    const texts = await endToEnd(page, "implicit", stack!.devServer.tlsPort)
    // From the first byte, both ways: records (a ClientHello first), never a line.
    expect(texts[0]).toMatch(/^C: \d+ TLS records?, [\d,]+ bytes: handshake \(\d+ B, first hello\)/)
    expect(texts.every((l) => / TLS records?, /.test(l))).toBe(true)
    const all = texts.join("\n")
    for (const clear of ["USER", "PASS", "+OK", "TOP", USER, PASSWORD]) expect(all).not.toContain(clear)
    // The trace above still shows the session: TLS ends in this page.
    await page.getByRole("region", { name: "What the bridge sees" }).scrollIntoViewIfNeeded()
    await screenshot(page, "bridge-view-end-to-end")
  })

  it("with end-to-end TLS over STLS: the greeting and STLS in the clear, then records only", async () => {
    const { page } = await fresh()
    const texts = await endToEnd(page, "none", stack!.devServer.port)
    const records = texts.findIndex((l) => / TLS records?, /.test(l))
    expect(texts.slice(0, records)).toEqual([
      expect.stringMatching(/^S: \+OK/),
      "C: STLS",
      expect.stringMatching(/^S: \+OK/)
    ])
    const after = texts.slice(records).join("\n")
    for (const clear of ["USER", "PASS", "CAPA", USER, PASSWORD]) expect(after).not.toContain(clear)
    // This session did STLS: its CAPA rows must not call STLS unusable through the bridge.
    const capa = page.locator(".trace-log .capa-lines")
    await poll(() => capa.count()).toBeGreaterThan(0)
    expect((await capa.allInnerTexts()).join("\n")).not.toContain("unusable")
  })

  it("with end-to-end TLS and the dev server's test CA not trusted: a TlsError, shown", async () => {
    const { page } = await fresh()
    await page.getByLabel("End-to-end TLS (experimental)").check()
    await page.getByLabel("Extra trusted CA certificate (PEM, optional)").fill("")
    await fillAndConnect(page, { user: USER, password: PASSWORD, auth: "user", port: stack!.devServer.tlsPort })
    const alert = page.getByRole("alert")
    await poll(() => alert.innerText()).toMatch(/TLS with localhost failed/)
    expect(await alert.innerText()).toMatch(/not signed by a trusted CA/)
  })
})
