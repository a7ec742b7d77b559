// The web demo in Debian's Chromium against the `npm start` stack (dev POP3 server with the
// 14-message sample mailbox, pop3-bridge, Vite): connect with the prefilled form, read the
// list and messages, the HTML sandbox, an attachment download, DELE/RSET/QUIT as the UI
// states them, USER/PASS with the password redacted, the state diagram, step mode, error
// messages, the phone layout — and not one console error or warning on the way.
//
// Each test stands alone: its own page, and its own copy of the sample mailbox (a user of
// its own, password "demo"), so no test depends on another's deletions, session or order.
import { readFile } from "node:fs/promises"
import { createServer } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { DEMO_PASSWORD, sampleMessages } from "../../dev-server/sample-mailbox.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import {
  blobType,
  type DemoPage,
  fillAndConnect,
  frameSandbox,
  demoPages,
  openInNewTab,
  poll,
  row,
  SCREENSHOTS,
  screenshot,
  traceLines,
  waitForMailbox,
  waitForTrace
} from "./helpers.ts"

const available = requireService("Chromium", chromiumAvailable())

// message 6's notes.txt, as dev-server/sample-mailbox.ts builds it
const NOTES = "Quarterly notes\n===============\n\n- 99.98% uptime\n- 12,403 sessions per day\n- median RETR: 31 ms\n"
// A 1×1 PNG, answered for the newsletter's remote image once the user allows it.
const PIXEL = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64"
)

// One mailbox per test that logs in as someone other than the prefilled "demo".
const USERS = [
  "newsletter",
  "attachments",
  "disconnect",
  "userpass",
  "tracetools",
  "keyboard",
  "step",
  "quit",
  "phone",
  "failures",
  "token"
] as const
type User = (typeof USERS)[number]

describe.skipIf(!available)("the web demo against the npm start stack", () => {
  let stack: RunningStack | undefined
  let chromium: LaunchedChromium | undefined
  const remoteRequests: Array<string> = []

  /** A fresh page of the demo; its console is checked and it is closed after the test. */
  const fresh = demoPages(() => ({ context: chromium!.context, url: stack!.url }))
  /** A fresh page logged in as `user` (the prefilled password), its 14 messages listed. */
  const loggedIn = async (user: User, fields: Parameters<typeof fillAndConnect>[1] = {}): Promise<DemoPage> => {
    const demo = await fresh()
    await fillAndConnect(demo.page, { user, ...fields })
    await waitForMailbox(demo.page, 14)
    return demo
  }

  beforeAll(async () => {
    stack = await startEphemeralStack(
      Object.fromEntries(USERS.map((user) => [user, { password: DEMO_PASSWORD, messages: sampleMessages() }]))
    )
    chromium = await launchChromium()
    // Anything the page fetches from the newsletter's image host is counted (and answered,
    // so an allowed load does not turn into a console error on this offline machine).
    await chromium.context.route("https://images.example.com/**", (route) => {
      remoteRequests.push(route.request().url())
      return route.fulfill({ status: 200, contentType: "image/png", body: PIXEL })
    })
  })
  afterAll(async () => {
    await chromium?.close()
    await stack?.close()
  })

  it("prefills the form from the stack and lists 14 messages with decoded headers", async () => {
    const { page } = await fresh()
    await poll(() => page.getByLabel("Bridge URL").inputValue()).toBe(stack!.bridgeUrl)
    expect(await page.getByLabel("Port", { exact: true }).inputValue()).toBe(String(stack!.devServer.tlsPort))
    expect(await page.getByRole("radio", { name: /^Implicit TLS/ }).isChecked()).toBe(true)
    await screenshot(page, "01-connect-form")

    await fillAndConnect(page)
    const rows = await waitForMailbox(page, 14)
    const text = rows.join("\n")
    expect(text).toContain("Grüße aus Köln 🌷 – Fotos vom Wochenende")
    expect(text).toContain("Jürgen Müller")
    expect(text).toContain("Café crème à Paris")
    expect(text).toContain("“Special offer” – 20 € off … today only")
    // ISO-2022-JP after a Japanese display name: no stray U+FFFD (see text-decoder-fix.ts).
    expect(await row(page, 10).locator(".c-subject").textContent()).toBe("会議の議事録（第3回）")
    expect(await row(page, 10).locator(".c-from").textContent()).toBe("山田 太郎")
    expect(text).not.toContain("\uFFFD")
    // Pipelined headers: every TOP went out before the first answer came back.
    const lines = await traceLines(page)
    const firstTop = lines.findIndex((l) => / C: TOP 1 0/.test(l))
    const firstAnswer = lines.findIndex((l, i) => i > firstTop && / S: \+OK/.test(l))
    expect(lines.slice(firstTop, firstAnswer).filter((l) => / C: TOP \d+ 0/.test(l))).toHaveLength(14)
    await poll(() => page.locator(".state-badge").innerText()).toBe("TRANSACTION")
    await screenshot(page, "02-mailbox")
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
  })

  it("shows the HTML newsletter in a sandboxed frame, inline image shown, remote image not loaded", async () => {
    const { page } = await loggedIn("newsletter")
    remoteRequests.length = 0
    await row(page, 4).click()
    const frame = page.frameLocator("iframe.html-frame")
    await frame.getByRole("heading", { name: "The state of POP3" }).waitFor()
    const sandbox = await frameSandbox(page)
    expect(sandbox).not.toContain("allow-scripts")
    expect(sandbox).not.toContain("allow-same-origin")
    const srcdoc = (await page.locator("iframe.html-frame").getAttribute("srcdoc")) ?? ""
    expect(srcdoc).toMatch(/http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:;/)
    // The cid: logo became a data: URL and rendered (16×16); the remote banner has no source.
    await poll(() => frame.getByAltText("Mail Weekly logo").evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(
      16
    )
    expect(await frame.getByAltText(/Remote banner/).getAttribute("src")).toBeNull()
    // The frame has loaded everything it is going to (its load event waits for images).
    await page
      .locator("iframe.html-frame")
      .evaluate((el: HTMLIFrameElement) =>
        el.contentDocument === null || el.contentDocument.readyState === "complete"
          ? undefined
          : new Promise((resolve) => el.addEventListener("load", resolve, { once: true }))
      )
    expect(remoteRequests).toEqual([])
    expect(await page.getByText("1 remote image blocked").isVisible()).toBe(true)
    await page.locator(".reader").scrollIntoViewIfNeeded()
    // The frame paints in its own process (a sandboxed, opaque origin): give it a moment.
    await page.waitForTimeout(700)
    await screenshot(page, "03-html-message")

    // Only after the user asks: img-src gains https:, and the image is fetched once.
    await page.getByRole("button", { name: "Load remote images" }).click()
    await poll(() => remoteRequests.length).toBe(1)
    expect(remoteRequests[0]).toBe("https://images.example.com/banner-42.png")
    expect((await page.locator("iframe.html-frame").getAttribute("srcdoc")) ?? "").toContain("img-src data: https:;")
  })

  it("downloads message 6's attachment byte for byte (as application/octet-stream) and shows the raw source", async () => {
    const { page } = await loggedIn("attachments")
    await row(page, 6).click()
    await page.getByRole("heading", { name: "Quarterly report (PDF + notes)" }).waitFor()
    // Whatever the sender declared (text/plain here), the blob is only ever a download.
    const href = (await page.getByRole("link", { name: "Download notes.txt" }).getAttribute("href")) ?? ""
    expect(href).toMatch(/^blob:/)
    expect(await blobType(page, href)).toBe("application/octet-stream")
    expect(await openInNewTab(page, href)).toBe("download")
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download notes.txt" }).click()
    ])
    expect(download.suggestedFilename()).toBe("notes.txt")
    const path = await download.path()
    expect(await readFile(path, "utf8")).toBe(NOTES)
    await screenshot(page, "04-attachments")
    await page.getByRole("tab", { name: "Source" }).click()
    await poll(() => page.locator("pre.source").innerText()).toContain(
      'Content-Disposition: attachment; filename="notes.txt"'
    )
  })

  it("marks a message with DELE, and Disconnect sends RSET and QUIT so nothing is removed", async () => {
    const { page } = await loggedIn("disconnect")
    await row(page, 2).click()
    await page.getByRole("button", { name: "Mark for deletion (DELE 2)" }).click()
    await waitForTrace(page, / C: DELE 2$/)
    // The answer is traced a moment after the command: wait for it (read at once, it was
    // sometimes not there yet on a loaded machine).
    await poll(async () => {
      const lines = await traceLines(page)
      return lines[lines.findIndex((l) => / C: DELE 2$/.test(l)) + 1] ?? ""
    }).toMatch(/ S: \+OK/)
    await poll(() => row(page, 2).getAttribute("class")).toContain("deleted")
    expect(await row(page, 2).textContent()).toContain("Deleted")
    // Only marked, not gone: the badge is amber, not the red of an error.
    const badge = row(page, 2).locator(".badge")
    expect(await badge.getAttribute("title")).toBe("DELE marked it; the server removes it only if you Quit")
    expect(await badge.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor])).toEqual([
      "rgb(107, 66, 0)",
      "rgb(255, 246, 224)"
    ])
    expect(await page.locator(".summary").innerText()).toContain("1 marked for deletion")
    expect(await page.getByRole("button", { name: "Quit and delete 1 marked" }).isVisible()).toBe(true)

    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    // A Disconnect asked for is a normal end: the trace says so, not "did not end normally".
    await waitForTrace(page, /Closed: you chose Disconnect, so the library ended the session without deleting anything/)
    const after = await traceLines(page)
    expect(after.filter((l) => /Closed/.test(l))).toEqual([expect.stringMatching(/Closed: you chose Disconnect/)])
    const dele = after.findIndex((l) => / C: DELE 2$/.test(l))
    expect(
      after
        .slice(dele)
        .filter((l) => / C: /.test(l))
        .map((l) => l.replace(/^.* C: /, ""))
    ).toEqual(["DELE 2", "RSET", "QUIT"])
    expect(await page.locator(".notice").innerText()).toContain(
      "the library sent RSET and QUIT, so nothing was removed"
    )
    // And the server agrees: the next session lists all 14.
    await fillAndConnect(page, { user: "disconnect" })
    await waitForMailbox(page, 14)
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
  })

  it("logs in with USER/PASS: the trace shows USER userpass, PASS ****, +OK and AUTHORIZATION → TRANSACTION", async () => {
    const { page } = await loggedIn("userpass", { auth: "user" })
    expect(await page.locator('.diagram .node[data-state="CLOSED"]').getAttribute("class")).not.toContain("current")
    const lines = await traceLines(page)
    const user = lines.findIndex((l) => / C: USER userpass$/.test(l))
    const pass = lines.findIndex((l) => / C: PASS \*\*\*\*/.test(l))
    expect(user).toBeGreaterThan(-1)
    expect(pass).toBeGreaterThan(user)
    expect(lines.slice(user + 1, pass).some((l) => / S: \+OK/.test(l))).toBe(true)
    expect(lines.slice(pass + 1).find((l) => / S: /.test(l))).toMatch(/ S: \+OK/)
    expect(lines.some((l) => /→ AUTHORIZATION → AUTHORIZATION_PASS USER \+OK/.test(l))).toBe(true)
    expect(lines.some((l) => /→ AUTHORIZATION_PASS → TRANSACTION PASS \+OK/.test(l))).toBe(true)
    // The password never reaches the panel: not after PASS, not anywhere.
    expect(lines.filter((l) => / C: PASS/.test(l))).toEqual([expect.stringMatching(/ C: PASS \*\*\*\*$/)])
    expect(await page.locator(".trace").innerText()).not.toContain("PASS demo")
    expect(lines.filter((l) => /\bdemo\b/.test(l))).toEqual([])
    // The diagram, drawn from the table, highlights TRANSACTION and the PASS arrow into it.
    expect(await page.locator('.diagram .node[data-state="TRANSACTION"]').getAttribute("class")).toContain("current")
    expect(await page.locator('.diagram .node[data-state="AUTHORIZATION"]').getAttribute("class")).not.toContain(
      "current"
    )
    expect(await page.locator(".diagram .edge.taken title").textContent()).toMatch(
      /^AUTHORIZATION_PASS → TRANSACTION: PASS \+OK/
    )
    expect(await page.locator(".diagram-status").innerText()).toContain("Now in TRANSACTION (from AUTHORIZATION_PASS)")
    // The login part of the log at the top of the panel, the diagram below it.
    await page.setViewportSize({ width: 1440, height: 1600 })
    await page
      .locator(".trace-log li", { hasText: "Connecting to" })
      .last()
      .evaluate((li: HTMLElement) => {
        const log = li.parentElement!
        log.scrollTop = li.offsetTop - log.offsetTop - 4
      })
    await page.locator(".trace").screenshot({ path: `${SCREENSHOTS}05-trace-panel.png` })
    await page.setViewportSize({ width: 1440, height: 900 })
    // Closing the session moves the diagram to CLOSED.
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    await poll(() => page.locator('.diagram .node[data-state="CLOSED"]').getAttribute("class")).toContain("current")
  })

  it("trace tools: filter, pause, and export in the CLI's format with the password as ****", async () => {
    const { page } = await loggedIn("tracetools", { auth: "user" })
    await page.getByLabel("Filter").fill("PASS")
    await poll(async () => (await page.locator(".trace-log > li:not([hidden])").allInnerTexts()).join("\n")).toMatch(
      /PASS \*\*\*\*/
    )
    expect(await page.locator(".trace-log > li:not([hidden])").count()).toBeLessThan(6)
    await page.getByLabel("Filter").fill("")
    const shown = await page.locator(".trace-log > li").count()
    await page.getByRole("button", { name: "Pause" }).click()
    expect(await page.getByRole("button", { name: "Resume" }).getAttribute("aria-pressed")).toBe("true")
    await page.getByLabel("Command", { exact: true }).fill("NOOP")
    await page.getByRole("button", { name: "Send NOOP" }).click()
    await poll(() => page.locator(".trace-paused").innerText()).toMatch(/Paused — \d+ new lines? waiting/)
    expect(await page.locator(".trace-log > li").count()).toBe(shown)
    await page.getByRole("button", { name: "Resume" }).click()
    await waitForTrace(page, / C: NOOP$/)
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export .txt" }).click()
    ])
    expect(download.suggestedFilename()).toMatch(/^pop3-trace-.*\.txt$/)
    const text = await readFile(await download.path(), "utf8")
    expect(text).toMatch(/^\s+\d+\.\d{3}s C: USER tracetools$/m)
    expect(text).toMatch(/^\s+\d+\.\d{3}s C: PASS \*\*\*\*$/m)
    expect(text).toMatch(/^\s+\d+\.\d{3}s \.\. AUTHORIZATION_PASS -> TRANSACTION \(PASS \+OK\)$/m)
    expect(text).not.toContain("PASS demo")
  })

  it("the list works from the keyboard: arrows move, Enter opens, Delete marks", async () => {
    const { page } = await loggedIn("keyboard")
    await row(page, 1).focus()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-msg"))).toBe("3")
    await page.keyboard.press("Enter")
    await page.getByRole("heading", { name: "Re: Project kickoff: POP3 client" }).waitFor()
    await waitForTrace(page, / C: RETR 3$/)
    await page.keyboard.press("End")
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-msg"))).toBe("14")
    await page.keyboard.press("Delete")
    await waitForTrace(page, / C: DELE 14$/)
    await page.getByRole("button", { name: "Undo all deletions (RSET)" }).click()
    await waitForTrace(page, / C: RSET$/)
    await poll(() => row(page, 14).getAttribute("class")).not.toContain("deleted")
  })

  it("step mode: says where a command is allowed and sends read-only ones through the library", async () => {
    const { page } = await loggedIn("step")
    const input = page.getByLabel("Command", { exact: true })
    await input.fill("user")
    await poll(() => page.locator(".step-help").innerText()).toContain("Allowed in AUTHORIZATION (")
    expect(await page.locator('.diagram .node[data-state="AUTHORIZATION"]').getAttribute("class")).toContain("allowing")
    expect(await page.getByRole("button", { name: "Send USER" }).isDisabled()).toBe(true)
    await input.fill("STAT")
    await poll(() => page.locator(".step-help").innerText()).toContain("Allowed in TRANSACTION (")
    await page.getByRole("button", { name: "Send STAT" }).click()
    await poll(() => page.locator(".step-result").innerText()).toMatch(/^STAT: 14 messages/)
    await waitForTrace(page, / C: STAT$/)
  })

  it("Quit commits: QUIT removes the marked message, the renumbering is explained, and the next session lists 13", async () => {
    const { page } = await loggedIn("quit")
    // Over implicit TLS the CAPA rows list the capabilities, with no word about STLS.
    await poll(() => page.locator(".trace-log .capa-lines").count()).toBeGreaterThan(0)
    expect(await page.locator(".trace-log .capa-lines").first().innerText()).toMatch(/^CAPA listed: .*UIDL/)
    expect(await page.locator(".trace-log .capa-lines", { hasText: "STLS is offered" }).count()).toBe(0)
    // UIDL streams in after the first screen's headers: wait for the cell to be filled.
    const uidOf = async (msg: number) => {
      const cell = row(page, msg).locator(".c-uid")
      await expect.poll(() => cell.innerText(), { timeout: 60_000 }).not.toBe("—")
      return cell.innerText()
    }
    const third = await uidOf(3)
    await row(page, 2).click()
    await page.getByRole("button", { name: "Mark for deletion (DELE 2)" }).click()
    await page.getByRole("button", { name: "Quit and delete 1 marked" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    expect(await page.locator(".notice p").first().innerText()).toBe(
      "Session ended with QUIT: the server removed 1 message."
    )
    const renumbered = await page.locator(".notice .renumber-note").innerText()
    expect(renumbered).toContain("the next session numbers the 13 remaining messages 1 to 13 again")
    expect(renumbered).toContain("(3 becomes 2, …, 14 becomes 13)")
    expect(renumbered).toContain("UID")
    // A later failure replaces the success notice instead of showing under it.
    await fillAndConnect(page, { user: "quit", password: "wrong" })
    await poll(() => page.locator(".error-box").innerText()).toContain("Wrong user name or password")
    expect(await page.locator(".notice").count()).toBe(0)
    await fillAndConnect(page, { user: "quit", password: DEMO_PASSWORD, auth: "auto" })
    await waitForMailbox(page, 13)
    // What the notice taught: the old message 3 is now number 2, with the same UID.
    expect(await uidOf(2)).toBe(third)
  })

  it("fits a phone (390×844): panels stack, nothing scrolls sideways", async () => {
    const { page } = await loggedIn("phone")
    await page.setViewportSize({ width: 390, height: 844 })
    await page.evaluate(() => window.scrollTo(0, 0))
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    const list = await page.locator(".mailbox").boundingBox()
    const trace = await page.locator(".trace").boundingBox()
    expect(trace!.y).toBeGreaterThan(list!.y + list!.height)
    await screenshot(page, "06-phone-mailbox")
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await page.evaluate(() => window.scrollTo(0, 0))
    await screenshot(page, "07-phone-connect")
    await page.setViewportSize({ width: 1440, height: 900 })
  })

  it("explains failures in plain words: a target the bridge refuses, TLS, a wrong password, plaintext", async () => {
    const { page } = await fresh()
    await fillAndConnect(page, { user: "failures", port: 9999 })
    await poll(() => page.locator(".error-box").innerText()).toContain("The bridge does not allow localhost:9999")
    await screenshot(page, "08-error-refused-target")
    // Implicit TLS to the plain (STLS) port: the bridge's TLS handshake fails (4011).
    await fillAndConnect(page, { port: stack!.devServer.port })
    await poll(() => page.locator(".error-box").innerText()).toContain("TLS between the bridge and localhost failed")
    await fillAndConnect(page, { port: stack!.devServer.tlsPort, password: "wrong" })
    await poll(() => page.locator(".error-box").innerText()).toContain("Wrong user name or password")
    expect(await page.locator(".error-box").innerText()).toContain("[AUTH]")
    // Plain POP3 and USER: refused by the library before anything is sent, until allowed.
    await fillAndConnect(page, { port: stack!.devServer.port, security: "none", password: "demo", auth: "user" })
    await poll(() => page.locator(".error-box").innerText()).toContain("USER would send the password unencrypted")
    // The box it points to is above the error, as the error says.
    expect(await page.locator(".error-box").innerText()).toContain(
      "tick “Allow password over an unencrypted connection” above (under Authentication)"
    )
    expect(
      await page
        .getByLabel("Allow password over an unencrypted connection")
        .evaluate(
          (box) =>
            (box.compareDocumentPosition(document.querySelector(".error-box")!) & Node.DOCUMENT_POSITION_FOLLOWING) !==
            0
        )
    ).toBe(true)
    await fillAndConnect(page, { allowPlaintext: true })
    await waitForMailbox(page, 14)
    await waitForTrace(page, /Connecting to localhost:\d+ \(TLS: none/)
    // The plain port offers STLS, which a session through the bridge cannot take up: its CAPA
    // row says so, in the refused session above as in this one.
    await poll(() => page.locator(".trace-log .capa-lines", { hasText: "STLS" }).count()).toBe(2)
    expect(await page.locator(".trace-log .capa-lines", { hasText: "STLS" }).last().innerText()).toContain(
      "STLS is offered but unusable through the bridge"
    )
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
  })

  it("a login refused on the plain port (Security None) still says STLS is out of reach, and names the way out", async () => {
    const { page } = await fresh()
    const { port: plain } = stack!.devServer
    // As a newcomer does it: None, the port it suggests, "auto". Nothing is sent: no TLS, no consent.
    await page.getByRole("radio", { name: /^None/ }).check()
    expect(await page.getByLabel("Port", { exact: true }).inputValue()).toBe(String(plain))
    await fillAndConnect(page, { user: "failures" })
    await poll(() => page.locator(".error-box .error-title").innerText()).toBe("Login was not attempted")
    const detail = await page.locator(".error-box .error-title + p").innerText()
    expect(detail).toMatch(/^Nothing was sent\./)
    expect(detail).toContain(
      "choose Security: Implicit TLS (usually port 995), or keep None and tick End-to-end TLS, so that this page upgrades the connection with STLS itself."
    )
    // The library's sentence is shown once, as the library error, not again in the explanation.
    const technical = await page.locator(".error-box .technical code").innerText()
    expect(technical).toContain("the connection is not encrypted")
    expect(detail).not.toContain("the connection is not encrypted")
    // The session ended without a mailbox; its CAPA row still says why STLS is no way out here.
    await poll(() => page.locator(".trace-log .capa-lines", { hasText: "STLS" }).count()).toBe(1)
    expect(await page.locator(".trace-log .capa-lines").innerText()).toContain(
      "STLS is offered but unusable through the bridge unless End-to-end TLS is on"
    )
  })

  it("Security None swaps the stack's TLS port for its plain one, and a plain session to a TLS port says why it hangs", async () => {
    const { page } = await fresh()
    const port = page.getByLabel("Port", { exact: true })
    const { port: plain, tlsPort } = stack!.devServer
    expect(await port.inputValue()).toBe(String(tlsPort))
    await page.getByRole("radio", { name: /^None/ }).check()
    expect(await port.inputValue()).toBe(String(plain))
    await page.getByRole("radio", { name: /^Implicit TLS/ }).check()
    expect(await port.inputValue()).toBe(String(tlsPort))
    // The standard pair too; a port of one's own is left alone.
    await port.fill("995")
    await page.getByRole("radio", { name: /^None/ }).check()
    expect(await port.inputValue()).toBe("110")
    await port.fill("2000")
    await page.getByRole("radio", { name: /^Implicit TLS/ }).check()
    expect(await port.inputValue()).toBe("2000")
    // Typed back by hand: plain POP3 to the TLS port. The server waits for a TLS hello and
    // never greets; after the (1 s) timeout the error says why.
    await page.getByRole("radio", { name: /^None/ }).check()
    await page.getByText("More options").click()
    await page.getByLabel("Timeout per answer (seconds)").fill("1")
    await fillAndConnect(page, { user: "failures", port: tlsPort })
    await poll(() => page.locator(".error-box").innerText()).toContain("The server did not answer in time")
    expect(await page.locator(".error-box").innerText()).toContain(
      `Port ${tlsPort} may be a TLS port: a TLS server waits for the client's TLS handshake and never sends a plain POP3 greeting.`
    )
  })

  it("says so when the bridge cannot be reached (its one console error is the browser's own)", async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    const other = await fresh()
    await fillAndConnect(other.page, { bridgeUrl: `ws://127.0.0.1:${closed}/pop3` })
    await poll(() => other.page.locator(".error-box").innerText()).toContain("Could not reach the bridge")
    expect(await other.page.locator(".error-box").innerText()).toContain(
      `Nothing accepted a WebSocket at ws://127.0.0.1:${closed}/pop3.`
    )
    // Chromium reports the failed WebSocket itself; nothing else may appear.
    const own = (p: string) => p.startsWith(`console.error: WebSocket connection to 'ws://127.0.0.1:${closed}/pop3?`)
    expect(other.problems.filter((p) => !own(p))).toEqual([])
    other.problems.splice(0, other.problems.length, ...other.problems.filter((p) => !own(p)))
  })

  it("never shows the bridge's token: not in the status line, not in the error box", async () => {
    const TOKEN = "tok-3f9a7c21e5"
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    const { page, problems } = await fresh()
    // Every text the status line ever held, not only the last.
    await page.evaluate(() => {
      const status = document.getElementById("status")!
      const seen: Array<string> = [status.textContent ?? ""]
      ;(window as unknown as { statusTexts: Array<string> }).statusTexts = seen
      new MutationObserver(() => seen.push(status.textContent ?? "")).observe(status, {
        childList: true,
        characterData: true,
        subtree: true
      })
    })
    const statusTexts = () => page.evaluate(() => (window as unknown as { statusTexts: Array<string> }).statusTexts)
    // A bridge that is not there: the error box names the URL.
    await fillAndConnect(page, { bridgeUrl: `ws://127.0.0.1:${closed}/pop3?token=${TOKEN}`, user: "token" })
    await poll(() => page.locator(".error-box").innerText()).toContain("Could not reach the bridge")
    expect(await page.locator(".error-box").innerText()).toContain(
      `Nothing accepted a WebSocket at ws://127.0.0.1:${closed}/pop3?token=****.`
    )
    // The bridge of the stack (it ignores a token it does not ask for): a session works.
    await fillAndConnect(page, { bridgeUrl: `${stack!.bridgeUrl}?token=${TOKEN}`, user: "token" })
    await waitForMailbox(page, 14)
    const texts = await statusTexts()
    expect(texts.some((t) => t.includes("through the bridge at") && t.includes("token=****"))).toBe(true)
    expect(texts.filter((t) => t.includes(TOKEN))).toEqual([])
    expect(await page.locator(".error-box").count()).toBe(0)
    expect(await page.locator("#status").innerText()).not.toContain(TOKEN)
    // Nor does the library's trace show it.
    expect((await traceLines(page)).filter((l) => l.includes(TOKEN))).toEqual([])
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    // Chromium's own console line for the failed WebSocket holds the URL; it is not the demo's.
    const own = (p: string) => p.startsWith(`console.error: WebSocket connection to 'ws://127.0.0.1:${closed}/pop3?`)
    problems.splice(0, problems.length, ...problems.filter((p) => !own(p)))
  })

  it("runs under a strict Content-Security-Policy: no inline script, in dev mode too", async () => {
    const { page, problems } = await fresh()
    const csp = (await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content")) ?? ""
    const directive = (name: string) =>
      csp
        .split(";")
        .map((d) => d.trim())
        .find((d) => d.startsWith(`${name} `)) ?? ""
    expect(directive("script-src")).toBe("script-src 'self'")
    expect(directive("object-src")).toBe("object-src 'none'")
    expect(directive("base-uri")).toBe("base-uri 'none'")
    // An injected inline script does not run (the browser refuses it and says so).
    const ran = await page.evaluate(() => {
      const w = window as unknown as { inlineRan?: boolean }
      const script = document.createElement("script")
      script.textContent = "window.inlineRan = true"
      document.head.append(script)
      return w.inlineRan === true
    })
    expect(ran).toBe(false)
    expect(problems.filter((p) => /Content Security Policy/.test(p)).length).toBeGreaterThan(0)
    problems.splice(0, problems.length, ...problems.filter((p) => !/Content Security Policy/.test(p)))
  })
})
