// The demo on the dev server's generated mailbox of 100,000 messages (big / big), in
// Chromium through the bridge: STAT, not LIST, comes before the first screen's headers (and
// the CAPA after login rides with it); the first screen shows the right subjects, the list
// keeps only a screenful of rows in the DOM while saying where each is in the whole, the
// keyboard reaches the last message, and TOP is sent only for rows the list showed — each once.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { BIG_COUNT, BIG_PASSWORD, BIG_USER, bigSubject } from "../../dev-server/big-mailbox.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { type DemoPage, fillAndConnect, openDemo, poll, row, traceLines, waitForTrace } from "./helpers.ts"

const available = requireService("Chromium", chromiumAvailable())

/** The rows the page has in its DOM: message number, subject column, whether still loading. */
const domRows = (page: DemoPage["page"]) =>
  page.locator(".msg-row").evaluateAll((rows) =>
    rows.map((r) => ({
      msg: Number(r.getAttribute("data-msg")),
      subject: r.querySelector(".c-subject")?.textContent ?? "",
      loading: r.classList.contains("loading"),
      setsize: r.parentElement?.getAttribute("aria-setsize"),
      posinset: Number(r.parentElement?.getAttribute("aria-posinset"))
    }))
  )

/** The message numbers of every TOP the trace shows the client sent. */
const tops = async (page: DemoPage["page"]) =>
  (await traceLines(page)).flatMap((l) => {
    const m = / C: TOP (\d+) 0$/.exec(l)
    return m === null ? [] : [Number(m[1])]
  })

describe.skipIf(!available)("the demo on a mailbox of 100,000 messages", () => {
  let stack: RunningStack | undefined
  let chromium: LaunchedChromium | undefined

  beforeAll(async () => {
    stack = await startEphemeralStack()
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await stack?.close()
  })

  it("shows the first screen's subjects, reaches the last message, and reads headers only for rows shown", async () => {
    const demo = await openDemo(chromium!.context, stack!.url)
    const { page } = demo
    await fillAndConnect(page, { user: BIG_USER, password: BIG_PASSWORD })
    await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 60_000 })
    await poll(() => row(page, 1).locator(".c-subject").textContent()).toBe(bigSubject(1))

    // The first screen: its rows' subjects are the mailbox's, and only a screenful is drawn.
    const first = await domRows(page)
    const firstCount = first.length
    expect(firstCount).toBeGreaterThan(5)
    expect(firstCount).toBeLessThan(80)
    await poll(async () => (await domRows(page)).filter((r) => r.msg <= 10 && r.loading).length).toBe(0)
    for (const r of (await domRows(page)).filter((r) => r.msg <= 10)) expect(r.subject).toBe(bigSubject(r.msg))
    // After login: CAPA rides with STAT (STAT is sent before CAPA's answer comes back), the
    // first screen's TOPs follow STAT, and LIST and UIDL come only after them — the list's
    // rows come from STAT's count, not from a LIST of 100,000 lines.
    await waitForTrace(page, / C: UIDL$/)
    const lines = await traceLines(page)
    const after = lines.slice(lines.findIndex((l) => /AUTHORIZATION → TRANSACTION/.test(l)) + 1)
    const sentAfter = after.flatMap((l) => / C: (\w+)/.exec(l)?.[1] ?? [])
    expect(sentAfter.slice(0, 3)).toEqual(["CAPA", "STAT", "TOP"])
    expect(sentAfter.indexOf("LIST")).toBeGreaterThan(sentAfter.indexOf("TOP"))
    expect(sentAfter.indexOf("UIDL")).toBeGreaterThan(sentAfter.indexOf("LIST"))
    const capaAt = after.findIndex((l) => / C: CAPA$/.test(l))
    const capaAnswer = after.findIndex((l, i) => i > capaAt && / S: /.test(l))
    expect(after.findIndex((l) => / C: STAT$/.test(l))).toBeLessThan(capaAnswer)
    // Each item says where it is in the whole list.
    expect(first.every((r) => r.setsize === String(BIG_COUNT) && r.posinset === r.msg)).toBe(true)
    // Only the first screen (and one below it) had its header read: no TOP for the rest.
    const before = await tops(page)
    expect(before.length).toBeGreaterThan(0)
    expect(Math.max(...before)).toBeLessThan(2 * firstCount)

    // To the end with the keyboard: the last message is drawn, focused, and its header read.
    await row(page, 1).focus()
    await page.keyboard.press("End")
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-msg"))).toBe(String(BIG_COUNT))
    await poll(() => row(page, BIG_COUNT).locator(".c-subject").textContent()).toBe(bigSubject(BIG_COUNT))
    await page.keyboard.press("ArrowUp")
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-msg"))).toBe(String(BIG_COUNT - 1))
    const last = await domRows(page)
    expect(last.length).toBeLessThan(80)
    expect(last.some((r) => r.msg === BIG_COUNT && r.posinset === BIG_COUNT)).toBe(true)

    // Every TOP was for a row at the start or the end (the only rows shown), each sent once.
    await poll(async () => (await domRows(page)).filter((r) => r.msg > BIG_COUNT - 10 && r.loading).length).toBe(0)
    const sent = await tops(page)
    expect(new Set(sent).size).toBe(sent.length)
    expect(sent.filter((msg) => msg >= 2 * firstCount && msg <= BIG_COUNT - 2 * firstCount)).toEqual([])
    expect(sent.length).toBeLessThanOrEqual(4 * firstCount)

    // A message opens from the end of the list.
    await page.keyboard.press("Enter")
    await page.getByRole("heading", { name: bigSubject(BIG_COUNT - 1) }).waitFor({ timeout: 30_000 })
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: "Connect", exact: true }).waitFor()
    expect(demo.problems).toEqual([])
    await page.close()
  }, 180_000)
})
