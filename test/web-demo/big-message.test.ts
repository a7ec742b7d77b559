// A ~20 MB message in the web demo (Chromium, the npm start stack): it opens, the header and
// the text part show, the attachment is offered as a download of its exact bytes from a
// Blob that is let go when the view closes, the raw source shows only its first part until
// asked for more, and the parsing ran in the MIME Worker.
import { readFile } from "node:fs/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO_PASSWORD } from "../../dev-server/sample-mailbox.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { bigMimeMessage } from "../support/big-mime.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { audit } from "./axe.ts"
import { blobType, fillAndConnect, demoPages, poll, row, screenshot, waitForMailbox, wasRevoked } from "./helpers.ts"

const available = requireService("Chromium", chromiumAvailable())

// 15 MB of attachment: a 20 MB message once base64-encoded.
const big = bigMimeMessage(15_000_000)

describe.skipIf(!available)("a 20 MB message in the web demo", () => {
  let stack: RunningStack | undefined
  let chromium: LaunchedChromium | undefined

  beforeAll(async () => {
    stack = await startEphemeralStack({ big: { password: DEMO_PASSWORD, messages: [big.message.toString("latin1")] } })
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await stack?.close()
  })
  const fresh = demoPages(() => ({ context: chromium!.context, url: stack!.url }))

  it("opens: header, text, the attachment as a Blob download, the source a part at a time", async () => {
    const demo = await fresh()
    const { page } = demo
    await fillAndConnect(page, { user: "big" })
    await waitForMailbox(page, 1)
    await row(page, 1).click()

    await page.getByRole("heading", { name: big.subject }).waitFor({ timeout: 60_000 })
    await page.locator("pre.text-body").getByText(big.text).waitFor({ timeout: 60_000 })
    // postal-mime ran in the MIME Worker, not on the page's main thread.
    expect(page.workers().map((w) => w.url())).toContainEqual(expect.stringMatching(/mime-worker/))

    const link = page.getByRole("link", { name: `Download ${big.filename}` })
    expect(await link.getAttribute("data-size")).toBe(String(big.attachment.length))
    const href = (await link.getAttribute("href"))!
    expect(href).toMatch(/^blob:/)
    expect(await blobType(page, href)).toBe("application/octet-stream")
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()])
    const bytes = await readFile(await download.path())
    expect(bytes.length).toBe(big.attachment.length)
    expect(bytes.equals(big.attachment)).toBe(true)
    // The opened 20 MB message passes the axe audit every screen passes (a11y.test.ts).
    expect(await audit(page)).toEqual([])

    // The source: 64 KiB of 20 MB on the page, 256 KiB more per "Show more".
    await page.getByRole("tab", { name: "Source" }).click()
    const source = page.locator("pre.source")
    await poll(() => source.evaluate((el) => el.textContent?.length ?? 0)).toBe(65_536)
    expect(await page.locator(".lazy-note").innerText()).toContain(
      `Showing the first 65,536 octets of ${big.message.length.toLocaleString("en")} octets`
    )
    expect(await source.innerText()).toMatch(/^From: Bench <bench@example.test>/)
    await page.getByRole("button", { name: "Show more of the source" }).click()
    await poll(() => source.evaluate((el) => el.textContent?.length ?? 0)).toBe(65_536 + 262_144)
    expect(await page.locator(".lazy-note").innerText()).toContain(`Showing the first 327,680 octets`)
    await screenshot(page, "30-big-message-source")
    expect(await audit(page)).toEqual([])

    // Closing the view revokes the attachment's URL: the Blob can be let go.
    expect(await wasRevoked(page, href)).toBe(false)
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    expect(await wasRevoked(page, href)).toBe(true)
  })
})
