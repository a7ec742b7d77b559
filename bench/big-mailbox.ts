/**
 * The demo on a mailbox of 100,000 messages (the dev server's generated `big` account), in
 * Chromium (playwright-core, /usr/bin/chromium) through the bridge, all on loopback — the
 * `npm start` stack (scripts/stack.ts). Prints, each with its result checked:
 *
 * - time from login (the session entering TRANSACTION) to the first screen of subjects,
 *   and from the Connect click; the subjects shown must be the mailbox's;
 * - TOP commands sent while scrolling to the end in jumps (as dragging the scroll bar
 *   does), against the rows shown at the stops: every TOP must be for a row on screen at a
 *   stop or one screen below it, and each row's subject must be the mailbox's;
 * - the page's JS heap after a garbage collection, and the rows in the DOM.
 *
 * `node bench/big-mailbox.ts` runs it alone; `npm run bench` runs it as scenario "big".
 *
 * @module
 */
import type { Page } from "playwright-core"
import { BIG_COUNT, BIG_PASSWORD, BIG_USER, bigSubject } from "../dev-server/big-mailbox.ts"
import { startEphemeralStack } from "../scripts/stack.ts"
import { launchChromium } from "../test/support/chromium.ts"
import { fillAndConnect, openDemo, traceLines } from "../test/web-demo/helpers.ts"
import type { Table } from "./lib.ts"

/** Scroll stops between the first screen and the end. */
const STOPS = 10

interface Shown {
  readonly msg: number
  readonly subject: string
  readonly loading: boolean
}

/** The rows inside the scroll box's view (not the margin drawn around it). */
const onScreen = (page: Page): Promise<Array<Shown>> =>
  page.evaluate(() => {
    const box = document.querySelector(".messages")!.getBoundingClientRect()
    return [...document.querySelectorAll<HTMLElement>(".msg-row")]
      .filter((r) => {
        const b = r.getBoundingClientRect()
        return b.bottom > box.top + 1 && b.top < box.bottom - 1
      })
      .map((r) => ({
        msg: Number(r.dataset["msg"]),
        subject: r.querySelector(".c-subject")?.textContent ?? "",
        loading: r.classList.contains("loading")
      }))
  })

/** Waits (each animation frame) until the rows on screen all show a header; returns when, in page time. */
const screenLoaded = async (page: Page): Promise<number> =>
  (
    await page.waitForFunction(
      () => {
        const box = document.querySelector(".messages")?.getBoundingClientRect()
        if (box === undefined) return false
        const rows = [...document.querySelectorAll<HTMLElement>(".msg-row")].filter((r) => {
          const b = r.getBoundingClientRect()
          return b.bottom > box.top + 1 && b.top < box.bottom - 1
        })
        return rows.length > 0 && rows.every((r) => !r.classList.contains("loading")) ? performance.now() : false
      },
      undefined,
      { polling: "raf", timeout: 120_000 }
    )
  ).jsonValue() as Promise<number>

/** Each row's subject must be the generated mailbox's. */
const check = (rows: ReadonlyArray<Shown>, where: string) => {
  const wrong = rows.find((r) => r.subject !== bigSubject(r.msg))
  if (rows.length === 0) throw new Error(`${where}: no row on screen`)
  if (wrong !== undefined)
    throw new Error(`${where}: row ${wrong.msg} shows ${JSON.stringify(wrong.subject)}, not ${bigSubject(wrong.msg)}`)
}

const connectBig = async (page: Page) => {
  await fillAndConnect(page, { user: BIG_USER, password: BIG_PASSWORD })
  await page.getByRole("heading", { name: "Inbox" }).waitFor({ timeout: 120_000 })
}

/** Runs the scenario and returns its table. */
export const bigMailboxTable = async (): Promise<Table> => {
  const stack = await startEphemeralStack()
  const chromium = await launchChromium()
  try {
    // Untimed warm-up: Vite compiles the demo's modules, the dev server fills its size cache.
    const warm = await openDemo(chromium.context, stack.url)
    await connectBig(warm.page)
    await screenLoaded(warm.page)
    await warm.page.close()

    const { page, problems } = await openDemo(chromium.context, stack.url)
    // Page time of the Connect click and of the first frame showing TRANSACTION.
    await page.evaluate(() => {
      const marks: Record<string, number> = {}
      ;(window as unknown as { marks: Record<string, number> }).marks = marks
      document.addEventListener("click", () => (marks["click"] ??= performance.now()), { capture: true })
      const watch = () => {
        if (document.querySelector(".state-badge")?.textContent === "TRANSACTION") marks["login"] ??= performance.now()
        if (marks["login"] === undefined) requestAnimationFrame(watch)
      }
      requestAnimationFrame(watch)
    })
    await connectBig(page)
    const firstScreenAt = await screenLoaded(page)
    const marks = await page.evaluate(() => (window as unknown as { marks: Record<string, number> }).marks)
    const first = await onScreen(page)
    check(first, "first screen")
    if (first[0]!.msg !== 1) throw new Error(`the first screen starts at message ${first[0]!.msg}`)
    const fromLogin = (firstScreenAt - marks["login"]!) / 1000
    const fromClick = (firstScreenAt - marks["click"]!) / 1000

    // To the end in jumps, as dragging the scroll bar does; each stop's screen is checked.
    const shown = new Set(first.map((r) => r.msg))
    const stops = [first[0]!.msg]
    for (let i = 1; i <= STOPS + 1; i++) {
      await page.evaluate(
        ([i, n]) => {
          const box = document.querySelector(".messages")!
          box.scrollTop = ((box.scrollHeight - box.clientHeight) * i!) / n!
        },
        [i, STOPS + 1]
      )
      await page.waitForFunction(() => new Promise((resolve) => requestAnimationFrame(() => resolve(true))))
      await screenLoaded(page)
      const rows = await onScreen(page)
      check(rows, `scroll stop ${i}`)
      for (const r of rows) shown.add(r.msg)
      stops.push(rows[0]!.msg)
    }
    if (!shown.has(BIG_COUNT)) throw new Error("scrolling to the end did not show the last message")
    const perScreen = first.length
    const tops = (await traceLines(page)).flatMap((l) => {
      const m = / C: TOP (\d+) 0$/.exec(l)
      return m === null ? [] : [Number(m[1])]
    })
    // Each TOP is for a row on screen at a stop (the first may be cut at the top of the
    // box), or within one screen below it.
    const stray = tops.filter((msg) => !stops.some((s) => msg >= s - 1 && msg < s + 2 * perScreen + 1))
    if (stray.length > 0) throw new Error(`TOP for rows never near the screen: ${stray.slice(0, 5).join(", ")}…`)
    if (new Set(tops).size !== tops.length) throw new Error("a header was asked for twice")

    const domRows = await page.locator(".msg-row").count()
    const cdp = await chromium.context.newCDPSession(page)
    await cdp.send("HeapProfiler.collectGarbage")
    const heap = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number; totalSize: number }
    const heapMb = heap.usedSize / 1_000_000
    if (problems.length > 0) throw new Error(`the page reported: ${problems.join("; ")}`)

    return {
      title: `10. A mailbox of ${BIG_COUNT.toLocaleString("en")} messages in Chromium: the demo → pop3-bridge → dev server (loopback, implicit TLS)`,
      notes: [
        "subjects checked against the generated mailbox on every screen measured; the heap after a forced garbage collection (CDP Runtime.getHeapUsage)",
        `scrolling: ${STOPS + 1} jumps from the first screen to the end (as dragging the scroll bar); each stop waits for its screen's headers; the demo asks for the rows on screen and one screen below`,
        "one untimed warm-up session first (Vite compiles the demo's modules; the dev server computes its 100,000 sizes once)"
      ],
      header: ["figure", "value", "goal", "checked"],
      rows: [
        [
          "login → first screen of subjects",
          `${fromLogin.toFixed(2)} s`,
          "< 1 s",
          `${first.length} rows, subjects match (Connect click → first screen: ${fromClick.toFixed(2)} s)`
        ],
        [
          "TOP commands, first screen to the end",
          String(tops.length),
          "only rows shown",
          `${shown.size} rows shown at ${stops.length} screens; every TOP within a screen of one, none twice`
        ],
        ["JS heap (used, after GC)", `${heapMb.toFixed(1)} MB`, "< 150 MB", `${domRows} rows in the DOM`]
      ]
    }
  } finally {
    await chromium.close()
    await stack.close()
  }
}

/** The table of a run that failed (a wrong subject, no Chromium): the reason, not figures. */
export const bigMailboxFailed = (error: unknown): Table => ({
  title: `10. A mailbox of ${BIG_COUNT.toLocaleString("en")} messages in Chromium`,
  notes: [],
  header: ["figure", "value"],
  rows: [["all", `FAILED: ${error instanceof Error ? error.message : String(error)}`]]
})

if (import.meta.main) {
  const { renderText } = await import("./lib.ts")
  process.stdout.write(renderText(await bigMailboxTable()) + "\n")
}
