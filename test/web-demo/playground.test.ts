// The demo as a static site (built by `npm run build`'s buildDemo, served by a plain node:http
// file server under a strict CSP — no inline script, Worker from 'self', connect-src 'none';
// no bridge, no dev POP3 server, no Vite) in Debian's Chromium: the Playground
// runs the dev server in a Worker, opens no WebSocket and sends no request off the site;
// its misbehaviour switches; the bytes view (CR LF, dot-stuffing); export and replay with
// no secret in the file; the guided tour with the keyboard alone.
import { createHash } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { poll, row, SCREENSHOTS, screenshot, traceLines, waitForMailbox, waitForTrace } from "./helpers.ts"
import { serveStaticSite, type StaticSite, STRICT_CSP } from "./static-site.ts"

const available = requireService("Chromium", chromiumAvailable())
const SECRET = "s3cret-Hunter2"
const BUNDLE_SECRET = "bundle-s3cret-Pw9"

/** The bytes of a hex dump (offset, 8 bytes in hex, ASCII per row), as hex strings. */
const dumped = (dump: string) =>
  dump
    .split("\n")
    .flatMap((row) =>
      row
        .slice(8, 8 + 23)
        .trim()
        .split(" ")
    )
    .filter((b) => /^[0-9a-f]{2}$/.test(b))

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
    // A password in the build's environment (npm start prefills the form from it) must not
    // reach the published bundle.
    const saved = process.env["VITE_POP3_PASSWORD"]
    process.env["VITE_POP3_PASSWORD"] = BUNDLE_SECRET
    try {
      site = await serveStaticSite({ headers: { "content-security-policy": STRICT_CSP } })
    } finally {
      if (saved === undefined) delete process.env["VITE_POP3_PASSWORD"]
      else process.env["VITE_POP3_PASSWORD"] = saved
    }
    chromium = await launchChromium()
  })

  it("builds a static site whose bundle holds no password from the environment", async () => {
    const files = await readdir(site!.dir, { recursive: true, withFileTypes: true })
    const texts = await Promise.all(
      files.filter((f) => f.isFile()).map((f) => readFile(join(f.parentPath, f.name), "latin1"))
    )
    expect(texts.length).toBeGreaterThan(2)
    for (const text of texts) expect(text).not.toContain(BUNDLE_SECRET)
    // The playground's Worker is a file of its own (CSP: worker-src 'self'), not a blob or inline.
    expect(files.some((f) => /^worker-.*\.js$/.test(f.name))).toBe(true)
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

  const startPlayground = async (
    page: Page,
    options: { switches?: ReadonlyArray<RegExp>; password?: string; mechanism?: string } = {}
  ) => {
    for (const s of options.switches ?? []) await page.getByRole("checkbox", { name: s }).check()
    if (options.password !== undefined) await page.getByLabel("Playground password").fill(options.password)
    if (options.mechanism !== undefined) await page.getByLabel("Login with").selectOption(options.mechanism)
    await page.getByRole("button", { name: /Playground/ }).click()
  }

  it("runs a whole session with no bridge, no server and no WebSocket", async () => {
    const { page, problems, sockets, offSite } = await open()
    // The CSP is in force: an inline script does not run (Chromium logs the refusal).
    expect(
      await page.evaluate(() => {
        const script = document.createElement("script")
        script.textContent = "document.body.dataset.inline = 'ran'"
        document.head.append(script)
        return document.body.dataset["inline"] ?? "refused"
      })
    ).toBe("refused")
    await poll(() => problems.some((p) => /Content Security Policy/.test(p))).toBe(true)
    problems.length = 0
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
    // Clearing the trace forgets the recording too: the export is then empty.
    await page.getByRole("button", { name: "Clear" }).click()
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export session (.json)" }).click()
    ])
    expect((JSON.parse(await readFile(await download.path(), "utf8")) as { entries: Array<unknown> }).entries).toEqual(
      []
    )
    expect(sockets).toEqual([])
    expect(offSite).toEqual([])
    expect(problems).toEqual([])
    await page.close()
  })

  /** The wire text of the bytes view's column named `caption`, one string per line. */
  // The rows are drawn after the click; wait for the column's last row (under load a read
  // right after the click found the column still empty).
  /** Whether the element is inside the window and inside every box that scrolls it. */
  const inSight = (page: Page, selector: string) =>
    page.locator(selector).evaluate((el) => {
      const r = el.getBoundingClientRect()
      if (r.height === 0 || r.top < 0 || r.bottom > window.innerHeight) return false
      for (let box = el.parentElement; box !== null; box = box.parentElement) {
        const style = getComputedStyle(box)
        if (!/(auto|scroll|hidden)/.test(style.overflowY)) continue
        const b = box.getBoundingClientRect()
        if (r.top < b.top - 1 || r.bottom > b.bottom + 1) return false
      }
      return true
    })

  const column = async (page: Page, caption: string) => {
    const rows = page.locator(".wire-col", { has: page.getByText(caption, { exact: true }) }).locator(".wire-row")
    await rows.last().waitFor()
    return rows.evaluateAll((rows) => rows.map((r) => (r.textContent ?? "").replace(/\n$/, "")))
  }

  it("decodes the ISO-2022-JP subject and sender exactly, in the page's first session and in later ones", async () => {
    const { page, problems } = await open()
    for (let session = 1; session <= 3; session++) {
      await startPlayground(page)
      await waitForMailbox(page, 14)
      // The header of message 10 is read again in each session (no kept copy here).
      expect(await row(page, 10).locator(".c-subject").textContent(), `session ${session}`).toBe(
        "会議の議事録（第3回）"
      )
      expect(await row(page, 10).locator(".c-from").textContent(), `session ${session}`).toBe("山田 太郎")
      // Opening it decodes them again, in the MIME Worker.
      await row(page, 10).click()
      await poll(() => page.locator("#message-subject").textContent()).toBe("会議の議事録（第3回）")
      await page.getByRole("button", { name: "Disconnect without deleting" }).click()
      await page.getByRole("button", { name: /Playground/ }).waitFor()
    }
    expect(problems).toEqual([])
    await page.close()
  })

  it("shows the exact bytes of a line (CR LF visible, hex) and of RETR 12's body, stuffed beside unstuffed", async () => {
    const { page, problems } = await open()
    await startPlayground(page)
    await waitForMailbox(page, 14)
    // The greeting: "+OK …" then CR LF, as text and as hex.
    await page.getByRole("button", { name: /^Bytes of \+OK POP3 dev server ready/ }).click()
    const view = page.locator(".bytes-view")
    await expect
      .poll(() => view.locator(".wire-text").innerText())
      .toMatch(/^\+OK POP3 dev server ready <[^>]+>CRLF\s*$/)
    const hex = dumped(await view.locator(".wire-hex pre").innerText())
    expect(hex.slice(0, 4)).toEqual(["2b", "4f", "4b", "20"]) // "+OK "
    expect(hex.slice(-2)).toEqual(["0d", "0a"])
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

  it("exports a session with no secret in it, and replays it forward and back with no server", async () => {
    const { page, problems, sockets } = await open()
    // Two refused logins with a distinctive password, USER/PASS and APOP, then a good one.
    await startPlayground(page, { password: SECRET })
    await page
      .locator(".playground .teach-error")
      .getByText(/refused|Authentication|password/i)
      .first()
      .waitFor()
    await startPlayground(page, { password: SECRET, mechanism: "apop" })
    await waitForTrace(page, /C: APOP demo \*\*\*\*/)
    await page.locator(".playground .teach-error").waitFor()
    await startPlayground(page, { password: "demo", mechanism: "user" })
    await waitForMailbox(page, 14)
    await row(page, 12).click()
    await waitForTrace(page, /S: .*RETR body/)
    await page.getByRole("button", { name: /^Quit/ }).click()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    const live = await traceLines(page)

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export session (.json)" }).click()
    ])
    const path = await download.path()
    const text = await readFile(path, "utf8")
    const file = JSON.parse(text) as {
      format: string
      entries: Array<{ event: { _tag: string; line?: string; at: number }; wire?: { from: string; base64: string } }>
    }
    expect(file.format).toBe("pop3-everywhere-session")
    // No secret, in any spelling: as text, base64, hex; not the APOP digest either.
    const greetings = file.entries.filter(
      (e) => e.event._tag === "Received" && e.event.line?.startsWith("+OK POP3 dev server ready")
    )
    const digests = greetings.map((g) =>
      createHash("md5")
        .update(`${/<[^>]+>/.exec(g.event.line ?? "")![0]}${SECRET}`)
        .digest("hex")
    )
    const forbidden = [
      SECRET,
      Buffer.from(SECRET).toString("base64"),
      Buffer.from(SECRET).toString("hex"),
      "PASS demo",
      ...digests
    ]
    const wireText = file.entries
      .flatMap((e) => (e.wire === undefined ? [] : [Buffer.from(e.wire.base64, "base64").toString("latin1")]))
      .join("\n")
    for (const secret of forbidden) {
      expect(text).not.toContain(secret)
      expect(wireText).not.toContain(secret)
    }
    // Client bytes are not in the file at all; the events carry the redacted lines.
    expect(file.entries.every((e) => e.wire === undefined || e.wire.from === "S")).toBe(true)
    expect(
      file.entries
        .filter((e) => e.event._tag === "Sent" && /^(PASS|APOP)/.test(e.event.line ?? ""))
        .map((e) => e.event.line)
    ).toEqual(["PASS ****", "APOP demo ****", "PASS ****"])
    // Timings: every event keeps its time, in order.
    const times = file.entries.map((e) => e.event.at)
    expect(times).toEqual([...times].sort((a, b) => a - b))

    // Replay: load it back; forward and back, the trace and the diagram follow.
    await page.locator("#replay-file").setInputFiles(path)
    await page.getByRole("heading", { name: "Replay of a recorded session" }).waitFor()
    expect(await traceLines(page)).toEqual([])
    const forward = page.getByRole("button", { name: "Forward ▶" })
    await forward.click()
    await forward.click()
    await poll(async () => (await traceLines(page)).length).toBe(2)
    expect((await traceLines(page))[0]).toMatch(/Connecting to playground:110/)
    await forward.press("ArrowRight")
    await poll(async () => (await traceLines(page)).length).toBe(3)
    await page.getByRole("button", { name: "◀ Back" }).click()
    await poll(async () => (await traceLines(page)).length).toBe(2)
    await page.getByRole("button", { name: "To the end" }).click()
    await poll(() => traceLines(page)).toEqual(live)
    expect(await page.locator(".replay-position").innerText()).toMatch(
      new RegExp(`^Step ${file.entries.length} of ${file.entries.length}`)
    )
    // Step back to the RETR 12 body: the bytes view shows it from the recording.
    const body = file.entries.findIndex(
      (e) => e.event._tag === "Body" && (e.event as { command?: string }).command === "RETR 12"
    )
    await page.getByRole("button", { name: "To the start" }).click()
    for (let i = 0; i <= body; i++) await forward.press("ArrowRight")
    await poll(() => page.locator(".replay-position").innerText()).toMatch(/the RETR 12 body/)
    expect(await column(page, "As sent (dot-stuffed)")).toContain("..hiddenCRLF")
    await poll(() => page.locator(".state-badge").innerText()).toBe("TRANSACTION")
    await screenshot(page, "pg-04-replay")
    // Played with its recorded pauses, it reaches the end by itself.
    await page.getByRole("button", { name: "Play at recorded speed" }).click()
    // (Pauses are capped at 1.5 s each; the wait allows for all of them.)
    await expect
      .poll(() => page.locator(".replay-position").innerText(), { timeout: 90_000 })
      .toMatch(new RegExp(`^Step ${file.entries.length} of ${file.entries.length}`))
    await poll(() => traceLines(page)).toEqual(live)
    expect(sockets).toEqual([])
    expect(problems).toEqual([])
    await page.close()
  })

  it("replays a session ended with Disconnect with the live trace's words for that close", async () => {
    const { page, problems, sockets } = await open()
    await startPlayground(page)
    await waitForMailbox(page, 14)
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    const live = await traceLines(page)
    // The library traces the close as any close after a failure; the page knows it was asked for.
    expect(live.at(-1)).toMatch(/Closed: you chose Disconnect/)
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export session (.json)" }).click()
    ])
    await page.locator("#replay-file").setInputFiles(await download.path())
    await page.getByRole("heading", { name: "Replay of a recorded session" }).waitFor()
    await page.getByRole("button", { name: "To the end" }).click()
    await poll(() => traceLines(page)).toEqual(live)
    expect(sockets).toEqual([])
    expect(problems).toEqual([])
    await page.close()
  })

  describe("misbehaviour switches", () => {
    it("-ERR [IN-USE] and [LOGIN-DELAY]: the login is refused with the response code, in the trace and in the card", async () => {
      const { page, problems } = await open()
      await startPlayground(page, { switches: [/IN-USE/] })
      await waitForTrace(page, /S: -ERR \[IN-USE\]/)
      await page.locator(".playground .teach-error").waitFor()
      await screenshot(page, "pg-05-in-use")
      await page.getByRole("checkbox", { name: /IN-USE/ }).uncheck()
      await startPlayground(page, { switches: [/LOGIN-DELAY/] })
      await waitForTrace(page, /S: -ERR \[LOGIN-DELAY\]/)
      expect(
        (await traceLines(page)).some((l) => /LOGIN-DELAY 300/.test(l)) ||
          (await page.locator(".trace-log").innerText()).includes("LOGIN-DELAY")
      ).toBe(true)
      await page.locator(".playground .teach-error").waitFor()
      expect(await page.locator(".playground .teach-error").innerText()).not.toBe("")
      expect(problems).toEqual([])
      await page.close()
    })

    it("bare LF: the client copes, and the bytes view shows LF without CR", async () => {
      const { page, problems } = await open()
      await startPlayground(page, { switches: [/Bare LF/] })
      await waitForMailbox(page, 14)
      await page.getByRole("button", { name: /^Bytes of \+OK POP3 dev server ready/ }).click()
      await poll(() => page.locator(".bytes-view .wire-text").innerText()).toMatch(/>LFbare LF\s*$/)
      const hex = dumped(await page.locator(".bytes-view .wire-hex pre").innerText())
      expect(hex.at(-1)).toBe("0a")
      expect(hex).not.toContain("0d")
      await page.getByRole("button", { name: /^Quit/ }).click()
      expect(problems).toEqual([])
      await page.close()
    })

    it('no dot-stuffing: message 12\'s lone "." line ends the body early and what follows breaks the framing', async () => {
      const { page } = await open()
      await startPlayground(page, { switches: [/No dot-stuffing/] })
      await waitForMailbox(page, 14)
      const listed = await row(page, 12).locator(".c-size").textContent()
      await row(page, 12).click()
      await waitForTrace(page, /S: .*RETR body/)
      // The message view says the body is shorter than LIST said, with both sizes.
      const announced = Number(/\+OK (\d+) octets/.exec((await traceLines(page)).join("\n"))?.[1])
      expect(`${announced} B`).toBe(listed)
      const warning = page.locator(".message .cut-short")
      await warning.waitFor()
      const received = Number(/RETR body · (\d+) B/.exec((await traceLines(page)).join("\n"))?.[1])
      expect(received).toBeLessThan(announced)
      expect(await warning.innerText()).toContain(
        `LIST said ${announced} octets, but the body the client got is ${received} octets.`
      )
      // The bytes view shows what was sent: the body ends at the message's own "." line, and
      // says so, rather than claiming that no line began with ".".
      await page.getByRole("button", { name: "Bytes of the RETR 12 body" }).click()
      const view = page.locator(".bytes-view")
      await poll(() => view.innerText()).toContain(
        `the server announced ${announced} octets (+OK ${announced} octets), but a line that is just “.” came after ${received}.`
      )
      expect(await view.innerText()).not.toContain("No line of this body begins")
      const sent = await column(page, "As sent (not dot-stuffed)")
      expect(sent.at(-1)).toBe(".CRLF")
      expect(sent.join("")).toContain("client must strip exactly one")
      expect(sent.join("")).not.toContain("hidden")
      expect(await view.innerText()).toContain("What followed is not read yet")
      // The rest of the message waits where the next status line should be: before the next
      // command goes out the client finds it, data nobody asked for, and stops with a
      // protocol error (the command is not sent).
      await row(page, 1).click()
      await waitForTrace(page, /→ (ERROR|CLOSED)/)
      await page
        .getByText(/connection ended|protocol/i)
        .first()
        .waitFor()
      // The session has ended: the mailbox's controls are gone, the page says so.
      await page.getByText(/The connection ended/).waitFor()
      expect(await page.locator(".notice").innerText()).toContain(
        'The connection ended: the server broke the POP3 protocol (the server sent data nobody asked for (before RETR): "..")'
      )
      expect(await page.getByRole("button", { name: /^Quit/ }).count()).toBe(0)
      expect(await page.getByRole("button", { name: "Disconnect without deleting" }).count()).toBe(0)
      // Now the bytes view shows that rest, which no command asked for.
      await page.getByRole("button", { name: "Bytes of the RETR 12 body" }).click()
      const followed = await column(page, "What followed, which no command asked for")
      expect(followed.join("\n")).toContain("hidden")
      await screenshot(page, "pg-06-no-dot-stuffing")
      await page.close()
    })

    it("connection dropped mid-body: the session ends, nothing is deleted, and the half body is in the bytes view", async () => {
      const { page } = await open()
      await startPlayground(page, { switches: [/dropped mid-body/] })
      await page.getByText(/The connection ended/).waitFor({ timeout: 30_000 })
      expect(await page.locator(".notice").innerText()).not.toContain("got no answer") // a drop, not a timeout
      await page.getByRole("button", { name: "Bytes of unframed bytes" }).first().click()
      await poll(() => page.locator(".bytes-view").innerText()).toContain("never read as a complete line or body")
      await screenshot(page, "pg-07-dropped")
      await page.close()
    })

    it("a stall at LIST: the first screen is shown, then the client times out waiting and says so", async () => {
      const { page } = await open()
      await startPlayground(page, { switches: [/A stall/] })
      await waitForTrace(page, /C: LIST/)
      // LIST goes out only once STAT and the first screen's headers are answered: the rows
      // are there with their subjects, their sizes still unknown.
      expect(await row(page, 1).locator(".c-subject").textContent()).not.toBe("Reading header…")
      expect(await row(page, 1).locator(".c-size").textContent()).toBe("…")
      const before = await traceLines(page)
      const sent = before.flatMap((l) => / C: (\w+)/.exec(l)?.[1] ?? [])
      expect(sent.slice(sent.indexOf("PASS") + 1, sent.indexOf("TOP"))).toEqual(["CAPA", "STAT"])
      // LIST gets no answer; after the 5 s limit the library gives the connection up.
      await waitForTrace(page, /TRANSACTION → CLOSED/)
      const lines = await traceLines(page)
      expect(lines.slice(lines.findIndex((l) => / C: LIST/.test(l)) + 1).filter((l) => / S: /.test(l))).toEqual([])
      await page.getByText(/The connection ended/).waitFor()
      expect(await page.locator(".notice").innerText()).toContain(
        "LIST got no answer within 5 s, so the library gave the connection up."
      )
      await screenshot(page, "pg-08-stall")
      await page.close()
    })

    it("wrong LIST sizes: LIST announces fewer octets than RETR delivers", async () => {
      const { page } = await open()
      await startPlayground(page, { switches: [/Wrong LIST sizes/] })
      await waitForMailbox(page, 14)
      const listed = Number(/(\d+) B/.exec(await row(page, 1).innerText())?.[1])
      await row(page, 1).click()
      await waitForTrace(page, /S: .*RETR body/)
      const body = (await traceLines(page)).find((l) => /RETR body/.test(l)) ?? ""
      const got = Number(/RETR body · (\d+) B/.exec(body)?.[1])
      expect(got).toBeGreaterThan(listed)
      await page.getByRole("button", { name: /^Quit/ }).click()
      await page.close()
    })
  })

  it("walks the guided tour with the keyboard alone, each step pointing at its trace line and state", async () => {
    const { page, problems, sockets } = await open()
    const focused = () => page.evaluate(() => document.activeElement?.textContent ?? "")
    for (let i = 0; i < 120 && (await focused()) !== "Start the guided tour"; i++) await page.keyboard.press("Tab")
    expect(await focused()).toBe("Start the guided tour")
    await page.keyboard.press("Enter")
    const heading = page.locator("#tour-title")
    await poll(() => heading.innerText()).toBe("A POP3 session, step by step")
    const mark = page.locator(".trace-row.tour-mark")
    const marked = async () => ((await mark.count()) === 1 ? (await mark.innerText()).replace(/\s+/g, " ") : "")
    const badge = page.locator(".state-badge")
    const steps: ReadonlyArray<[RegExp, RegExp, string]> = [
      [/^1\. The greeting/, /S: \+OK POP3 dev server ready/, "AUTHORIZATION"],
      [/^2\. CAPA/, /S: \+OK Capability list follows/, "AUTHORIZATION"],
      [/^3\. Login/, /S: \+OK Logged in/, "TRANSACTION"],
      [/^4\. STAT, LIST and UIDL/, /S: \+OK/, "TRANSACTION"],
      [/^5\. RETR 12/, /RETR body/, "TRANSACTION"],
      [/^6\. DELE/, /S: \+OK/, "TRANSACTION"],
      [/^7\. RSET/, /S: \+OK/, "TRANSACTION"],
      [/^8\. QUIT/, /S: \+OK dev server signing off/, "CLOSED"]
    ]
    for (const [title, line, state] of steps) {
      expect(await focused()).toMatch(/^Next/)
      await page.keyboard.press("Enter")
      await poll(() => heading.innerText()).toMatch(title)
      await poll(marked).toMatch(line)
      await poll(() => badge.innerText()).toBe(state)
      expect(await page.locator(".tour-rfc").innerText()).toMatch(/RFC \d+/)
      // What the step points at is in sight: the bytes view on RETR, the current state's box
      // (CLOSED, at the diagram's foot) after QUIT.
      if (/RETR|QUIT/.test(title.source))
        await poll(() => inSight(page, /RETR/.test(title.source) ? "#bytes-title" : ".diagram .node.current")).toBe(
          true
        )
      if (/RETR/.test(title.source)) {
        expect(await column(page, "As sent (dot-stuffed)")).toContain("..hiddenCRLF")
        await screenshot(page, "pg-09-tour-retr")
      }
    }
    await page.keyboard.press("Enter")
    await poll(() => heading.innerText()).toBe("The end")
    // Back, with the keyboard: the QUIT step again, its line marked.
    await page.keyboard.press("Shift+Tab")
    expect(await focused()).toBe("Back")
    await page.keyboard.press("Enter")
    await poll(() => heading.innerText()).toMatch(/^8\. QUIT/)
    await poll(marked).toMatch(/signing off/)
    // Back to the RETR step: the pointer tells the state of that step, not the live CLOSED.
    for (let i = 0; i < 3; i++) await page.keyboard.press("Enter")
    await poll(() => heading.innerText()).toMatch(/^5\. RETR 12/)
    const pointer = await page.locator(".tour-pointer").innerText()
    expect(pointer).not.toContain("In the diagram: CLOSED")
    expect(pointer).toContain("At this step the session was in TRANSACTION; the diagram shows it as it is now: CLOSED.")
    // The session the tour ran is in the trace, in order.
    const lines = await traceLines(page)
    const order = [
      "C: CAPA",
      "C: USER demo",
      "C: PASS \\*\\*\\*\\*",
      "C: STAT",
      "C: LIST",
      "C: UIDL",
      "C: RETR 12",
      "C: DELE 1",
      "C: RSET",
      "C: QUIT"
    ]
    const at = order.map((c) => lines.findIndex((l) => new RegExp(` ${c}$`).test(l)))
    expect(
      at.every((i) => i >= 0),
      JSON.stringify(lines)
    ).toBe(true)
    expect(at).toEqual([...at].sort((a, b) => a - b))
    expect(lines.some((l) => /TRANSACTION → UPDATE/.test(l))).toBe(true)
    expect(sockets).toEqual([])
    expect(problems).toEqual([])
    await page.close()
  })

  it("step mode takes arguments, shows the raw reply, and says why a valid command is not sent", async () => {
    const { page, problems } = await open()
    await startPlayground(page)
    await waitForMailbox(page, 14)
    const input = page.getByLabel("Command", { exact: true })
    const result = page.locator(".step-result")
    const help = page.locator(".step-help")
    await input.fill("LIST 2")
    await page.getByRole("button", { name: "Send LIST 2" }).click()
    await poll(() => result.innerText()).toMatch(/^LIST 2: message 2 is /)
    expect(await page.locator(".step-raw").innerText()).toMatch(/^S: \+OK 2 \d+$/)
    await input.fill("UIDL 3")
    await page.getByRole("button", { name: "Send UIDL 3" }).click()
    await poll(() => result.innerText()).toMatch(/^UIDL 3: message 3 has the unique ID \S+\.\n/)
    expect(await page.locator(".step-raw").innerText()).toMatch(/^S: \+OK 3 \S+$/)
    await input.fill("top 12 3")
    await page.getByRole("button", { name: "Send TOP 12 3" }).click()
    await poll(() => result.innerText()).toMatch(/^TOP 12 3: the header of message 12 and 3 body lines/)
    // The raw reply shows the header's last lines and the three body lines asked for, as text.
    const raw = page.locator(".step-raw")
    expect((await raw.innerText()).split("\n")).toEqual([
      expect.stringMatching(/^S: \+OK/),
      "   (4 header lines before these)",
      "S: Message-ID: <dots.12@bob.example.net>",
      "S: MIME-Version: 1.0",
      "S: Content-Type: text/plain; charset=us-ascii",
      "S: Content-Transfer-Encoding: 7bit",
      "S: ",
      "S: The next lines start with dots. On the wire each gets one more dot, and the",
      "S: client must strip exactly one from every line that starts with a dot:",
      "S: ",
      "S: ."
    ])
    // "<dots.12@…>" stayed text: nothing in the reply became an element.
    expect(await raw.evaluate((el) => el.childElementCount)).toBe(0)
    // Lines that start with a dot show the dot the server added; a long reply is cut, and says so.
    await input.fill("TOP 12 30")
    await page.getByRole("button", { name: "Send TOP 12 30" }).click()
    await poll(() => result.innerText()).toMatch(/^TOP 12 30: /)
    const dotted = (await raw.innerText()).split("\n")
    expect(dotted).toContain("S: ..")
    expect(dotted).toContain("S: ....")
    expect(dotted).toContain("S: ..hidden")
    expect(dotted.at(-1)).toBe("S: .")
    await input.fill("TOP 6 1000")
    await page.getByRole("button", { name: "Send TOP 6 1000" }).click()
    await poll(() => result.innerText()).toMatch(/^TOP 6 1000: /)
    const long = (await raw.innerText()).split("\n")
    expect(long.length).toBeLessThanOrEqual(1 + 1 + 4 + 1 + 20 + 1 + 1)
    expect(long.at(-2)).toMatch(/^ {3}\(\d+ more body lines\)$/)
    for (const l of long) expect(l.length).toBeLessThanOrEqual(3 + 120 + 30)
    await input.fill("RETR 99")
    expect(await result.isHidden()).toBe(true) // the last result went with the last command
    await page.getByRole("button", { name: "Send RETR 99" }).click()
    await poll(() =>
      page
        .locator(".step-raw")
        .innerText()
        .catch(() => "")
    ).toMatch(/^S: -ERR There is no message 99/)
    await input.fill("DELE 2")
    await poll(() => help.innerText()).toContain(
      "DELE is valid POP3, but not sent from here because the mailbox list would not know"
    )
    await input.fill("RSET")
    await poll(() => help.innerText()).toContain("RSET is valid POP3, but not sent from here")
    // The library's name for lines inside AUTH is not a command: answered as any unknown word.
    await input.fill("SaslResponse")
    await poll(() => help.innerText()).toBe(
      "“SaslResponse” is not a POP3 command this library knows. Try one from the list."
    )
    expect(await page.getByRole("button", { name: /^Send/ }).isDisabled()).toBe(true)
    await input.fill("LIST x")
    await poll(() => help.innerText()).toContain("“x” is not a message number")
    await input.fill("TOP 12")
    await poll(() => help.innerText()).toContain("TOP takes 2 numbers: TOP n lines.")
    await page.getByRole("button", { name: /^Quit/ }).click()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    await input.fill("STAT")
    await poll(() => help.innerText()).toContain("Connect and log in to send it.")
    expect(problems).toEqual([])
    await page.close()
  })

  it("annotates an APOP session as it happens: the timestamp, the masked digest, CAPA again, the burst, RFC states", async () => {
    const { page, problems } = await open()
    await startPlayground(page, { mechanism: "apop" })
    await waitForMailbox(page, 14)
    const log = page.locator(".trace-log")
    // The greeting's timestamp, pointed at; and why the digest is masked though it is not the password.
    const greeting = log.locator("li", { hasText: "+OK POP3 dev server ready" })
    const stamp = /<[^<>\s]+@[^<>\s]+>/.exec(await greeting.locator("code").innerText())?.[0]
    expect(stamp).toBeDefined()
    expect(await greeting.locator(".apop-timestamp").innerText()).toBe(
      `${stamp} is the greeting's timestamp: APOP sends MD5(timestamp + password) instead of the password (RFC 1939 §7).`
    )
    const apop = log.locator("li", { hasText: "APOP demo ****" })
    expect(await apop.locator(".apop-digest").innerText()).toMatch(
      /^The digest is masked too: it is not the password, but .* test password guesses offline\.$/
    )
    // CAPA after login: said once, on the CAPA sent in TRANSACTION, with its RFC section.
    const again = log.locator(".capa-again")
    expect(await again.count()).toBe(1)
    expect(await again.innerText()).toContain("RFC 2449 §5")
    expect(
      await log
        .locator("li", { has: page.locator(".capa-again") })
        .locator("code")
        .innerText()
    ).toBe("CAPA")
    // The first screen's TOPs go out pipelined: bracketed, the growing latencies put down to queueing.
    const burst = log.locator(".trace-row.burst").first()
    await burst.waitFor()
    expect(await burst.innerText()).toMatch(
      /Pipelining: the \d+ commands above went out together, without waiting \(RFC 2449 §6\.6\)\..* queueing, not a slow server\./
    )
    const commands = Number(/the (\d+) commands/.exec(await burst.innerText())![1])
    expect(commands).toBeGreaterThan(2)
    // The bracket closes the burst: the rows right above it are its commands, all sent.
    const above = await burst.evaluate((el, n) => {
      const rows: Array<string> = []
      for (let at = el.previousElementSibling; at !== null && rows.length < n; at = at.previousElementSibling)
        rows.push(at.querySelector(".who")?.textContent ?? "")
      return rows
    }, commands)
    expect(above).toEqual(Array.from({ length: commands }, () => "C:"))
    // RFC 1939's three states drawn apart from the library's, and the legend says which is which.
    const rfc = page.locator(".diagram-figure .node.rfc")
    expect(await rfc.evaluateAll((els) => els.map((e) => e.getAttribute("data-state")))).toEqual(
      expect.arrayContaining(["AUTHORIZATION", "TRANSACTION", "UPDATE"])
    )
    expect(await rfc.count()).toBe(3)
    expect(await page.locator(".diagram-figure .node:not(.rfc)[data-state='AUTHORIZATION_PASS']").count()).toBe(1)
    // "Thick boxes": drawn thicker, as the legend says.
    const stroke = (selector: string) =>
      page.locator(selector).evaluate((el) => Number.parseFloat(getComputedStyle(el).strokeWidth))
    expect(await stroke(".node.rfc[data-state='UPDATE'] rect")).toBeGreaterThan(
      await stroke(".node[data-state='AUTHORIZATION_PASS'] rect")
    )
    expect(await page.locator(".diagram-legend").innerText()).toContain("Thick boxes are RFC 1939's three states")
    // QUIT before login and a lost connection are arrows in the drawing, not footnotes.
    // SVG text has no innerText: its textContent is what is drawn.
    const exit = page.locator(".diagram-figure svg .edge.exit")
    expect(await exit.locator("title").textContent()).toBe("AUTHORIZATION → CLOSED: QUIT +OK, QUIT -ERR")
    expect(await exit.locator(".label text").textContent()).toBe("QUIT")
    const lost = page.locator(".diagram-figure svg .edge.lost")
    expect(await lost.locator(".label text").evaluateAll((els) => els.map((e) => e.textContent))).toEqual([
      "any state: connection lost",
      "→ CLOSED, nothing deleted"
    ])
    expect(await lost.locator("path").evaluate((el) => getComputedStyle(el).strokeDasharray)).not.toBe("none")
    // Both end at CLOSED: the arrowhead's tip is on its box's edge, at its height.
    const closed = await page.locator(".diagram-figure .node[data-state='CLOSED'] rect").boundingBox()
    for (const edge of [exit, lost]) {
      const end = await edge.locator("path").evaluate((el) => {
        const path = el as SVGPathElement
        const p = path.getPointAtLength(path.getTotalLength())
        const m = path.getScreenCTM()!
        return { x: p.x * m.a + m.e, y: p.y * m.d + m.f }
      })
      expect(end.y).toBeGreaterThan(closed!.y)
      expect(end.y).toBeLessThan(closed!.y + closed!.height)
      expect(Math.min(Math.abs(end.x - closed!.x), Math.abs(end.x - closed!.x - closed!.width))).toBeLessThan(1.5)
    }
    // Every arrow label stands on a plate of the card's colour (a halo), so crossings stay legible.
    const labels = page.locator(".diagram-figure svg .edge .label")
    expect(await labels.count()).toBeGreaterThan(5)
    for (const plate of await labels.locator("rect.halo").all())
      expect(await plate.evaluate((el) => getComputedStyle(el).fill)).toBe(
        await page.locator(".diagram-figure").evaluate((el) => {
          const probe = document.createElement("div")
          probe.style.color = "var(--surface)"
          el.append(probe)
          const color = getComputedStyle(probe).color
          probe.remove()
          return color
        })
      )
    expect(await labels.locator("rect.halo").count()).toBe(await labels.count())
    // What is not drawn is still written under the drawing.
    const footnotes = await page
      .locator(".diagram-figure svg .footnote")
      .evaluateAll((els) => els.map((e) => e.textContent ?? ""))
    expect(footnotes).toContain("Also: AUTHORIZATION_PASS → CLOSED on QUIT +OK/-ERR.")
    expect(footnotes.join(" ")).not.toContain("connection lost")
    await page.locator(".diagram-figure svg").scrollIntoViewIfNeeded()
    await page.locator(".diagram-figure svg").screenshot({ path: `${SCREENSHOTS}pg-10-diagram.png` })
    await page.getByRole("button", { name: /^Quit/ }).click()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    expect(problems).toEqual([])
    await page.close()
  })

  it("ending the tour right after its DELE deletes nothing: the library sends RSET before QUIT", async () => {
    const { page, problems } = await open()
    await page.getByRole("button", { name: "Start the guided tour" }).click()
    const heading = page.locator("#tour-title")
    for (;;) {
      const before = await heading.innerText()
      if (/^6\. DELE/.test(before)) break
      await page.getByRole("button", { name: /^Next/ }).click()
      await poll(() => heading.innerText()).not.toBe(before)
    }
    await page.getByRole("button", { name: "End the tour" }).click()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    await waitForTrace(page, /C: QUIT/)
    const lines = await traceLines(page)
    const sent = lines
      .slice(lines.findIndex((l) => / C: DELE 1$/.test(l)))
      .filter((l) => / C: /.test(l))
      .map((l) => l.replace(/^.* C: /, ""))
    expect(sent).toEqual(["DELE 1", "RSET", "QUIT"])
    await startPlayground(page)
    await waitForMailbox(page, 14)
    await page.getByRole("button", { name: /^Quit/ }).click()
    expect(problems).toEqual([])
    await page.close()
  })

  describe("found by a review of the Playground", () => {
    it("the tour after a session that deleted message 1 still retrieves the dotted message, and exports only its own session", async () => {
      const { page, problems } = await open()
      await startPlayground(page, { password: "letmein" })
      await page.locator(".playground .teach-error:not([hidden])").waitFor()
      await startPlayground(page, { password: "demo" })
      await waitForMailbox(page, 14)
      await page.locator('.msg-row[data-msg="1"]').focus()
      await page.keyboard.press("Delete")
      await page.getByRole("button", { name: /Quit and delete 1 marked/ }).click()
      await page.getByRole("button", { name: "Start the guided tour" }).click()
      const heading = page.locator("#tour-title")
      for (;;) {
        const before = await heading.innerText()
        if (/^5\. RETR 12/.test(before)) break
        await page.getByRole("button", { name: /^Next/ }).click()
        await poll(() => heading.innerText()).not.toBe(before)
      }
      await poll(() => column(page, "As sent (dot-stuffed)")).toContain("..hiddenCRLF")
      // The export is the tour's session: one connection, none of the sessions before it.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Export session (.json)" }).click()
      ])
      const file = JSON.parse(await readFile(await download.path(), "utf8")) as {
        entries: Array<{ event: { _tag: string; line?: string } }>
      }
      const events = file.entries.map((e) => e.event)
      expect(events.filter((e) => e._tag === "Connecting")).toHaveLength(1)
      expect(events.filter((e) => e._tag === "Sent").map((e) => e.line)).not.toContain("DELE 1")
      await page.getByRole("button", { name: "End the tour" }).click()
      expect(problems).toEqual([])
      await page.close()
    })

    it("a refused login leaves keyboard focus on the Start button, and each switch's hint is read once", async () => {
      const { page, problems } = await open()
      await page.getByLabel("Playground password").fill("wrong")
      const start = page.getByRole("button", { name: "Start a Playground session" })
      await start.focus()
      await page.keyboard.press("Enter")
      await page.locator(".playground .teach-error:not([hidden])").waitFor()
      await poll(() => page.evaluate(() => document.activeElement?.textContent ?? "")).toBe(
        "Start a Playground session"
      )
      // The hint is in the checkbox's name (its label); no description repeats it.
      const inUse = page.getByRole("checkbox", { name: /IN-USE/ })
      expect(await inUse.getAttribute("aria-describedby")).toBeNull()
      // RFC 2449: §8.1.1 is LOGIN-DELAY, §8.1.2 IN-USE.
      expect(await page.locator("#pg-in-use-hint").innerText()).toContain("RFC 2449 §8.1.2")
      expect(await page.locator("#pg-login-delay-hint").innerText()).toContain("RFC 2449 §8.1.1")
      expect(problems).toEqual([])
      await page.close()
    })

    it("replays a long session file reading layout once per step, not once per trace row", async () => {
      const page = await chromium!.context.newPage()
      // Counts reads of the trace log's scrollHeight (each one a layout after the rows added).
      await page.addInitScript(() => {
        const counted = globalThis as unknown as { logLayouts: number }
        counted.logLayouts = 0
        const height = Object.getOwnPropertyDescriptor(Element.prototype, "scrollHeight")!
        Object.defineProperty(Element.prototype, "scrollHeight", {
          get(this: Element) {
            if (this.classList.contains("trace-log")) counted.logLayouts++
            return height.get!.call(this)
          }
        })
      })
      await page.goto(site!.url)
      const entries: Array<unknown> = [
        { event: { _tag: "Connecting", at: 0, host: "pop.example.com", port: 110, tls: "none", transport: "memory" } }
      ]
      for (let i = 0; entries.length < 2001; i++) {
        entries.push({ event: { _tag: "Sent", at: 2 * i + 1, line: "NOOP", bytes: 6 } })
        entries.push({ event: { _tag: "Received", at: 2 * i + 2, line: `+OK ${i}`, command: "NOOP", latency: 1 } })
      }
      const path = join(mkdtempSync(join(tmpdir(), "pop3-replay-")), "long.json")
      writeFileSync(path, JSON.stringify({ format: "pop3-everywhere-session", version: 1, exported: "x", entries }))
      await page.locator("#replay-file").setInputFiles(path)
      await page.getByRole("heading", { name: "Replay of a recorded session" }).waitFor()
      const layouts = () => page.evaluate(() => (globalThis as unknown as { logLayouts: number }).logLayouts)
      const before = await layouts()
      await page.getByRole("button", { name: "To the end" }).click()
      await poll(() => page.locator(".replay-position").innerText()).toMatch(/^Step 2001 of/)
      await page.getByRole("button", { name: "◀ Back" }).click()
      await poll(() => page.locator(".replay-position").innerText()).toMatch(/^Step 2000 of/)
      // Two moves of ~2,000 rows each: a few reads, not thousands.
      expect((await layouts()) - before).toBeLessThan(20)
      expect(await page.locator(".trace-log > li").count()).toBeGreaterThan(1900)
      await page.close()
    })
  })
})
