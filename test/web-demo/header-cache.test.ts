// The list's headers are cached in the kept copy's IndexedDB store: once this browser keeps
// an account, a session reads UIDL (after STAT) before the first headers and sends TOP only
// for headers it has not cached — so the next session sends none. LIST comes last. On the static site, with the
// Playground's server in a Worker.
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import { traceLines, waitForMailbox } from "./helpers.ts"
import { serveStaticSite, type StaticSite, STRICT_CSP } from "./static-site.ts"

const available = requireService("Chromium", chromiumAvailable())

describe.skipIf(!available)("headers cached in the kept copy", () => {
  let site: StaticSite | undefined
  let chromium: LaunchedChromium | undefined

  beforeAll(async () => {
    site = await serveStaticSite({ headers: { "content-security-policy": STRICT_CSP } })
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await site?.close()
  })

  /** A Playground session listed; returns its trace lines and rows, then disconnects. */
  const session = async (page: Page, from: number) => {
    await page.getByRole("button", { name: /Playground/ }).click()
    const rows = await waitForMailbox(page, 14)
    // The UIDs are in (UIDL read) once no row shows the placeholder.
    await page.waitForFunction(() =>
      [...document.querySelectorAll(".msg-row .c-uid")].every((u) => u.textContent !== "—")
    )
    const lines = (await traceLines(page)).slice(from)
    await page.getByRole("button", { name: "Disconnect without deleting" }).click()
    await page.getByRole("button", { name: /Playground/ }).waitFor()
    return { lines, rows }
  }
  const commands = (lines: ReadonlyArray<string>) =>
    lines.flatMap((l) => {
      const m = / C: (STAT|UIDL|LIST|TOP \d+ 0)$/.exec(l)
      return m === null ? [] : [m[1]!]
    })

  it("sends no TOP for headers already cached, and the rows show the same headers", async () => {
    const page = await chromium!.context.newPage()
    const problems: Array<string> = []
    page.on("pageerror", (e) => problems.push(e.message))
    await page.goto(site!.url)

    // No kept copy: STAT, headers (the first screen), then LIST and UIDL.
    const plain = await session(page, 0)
    const sent = commands(plain.lines)
    expect(sent.slice(0, 2)).toEqual(["STAT", "TOP 1 0"])
    expect(sent.slice(sent.indexOf("LIST"))).toEqual(["LIST", "UIDL"])

    await page.getByRole("button", { name: /Playground/ }).click()
    await waitForMailbox(page, 14)
    await page.getByRole("button", { name: /Keep a copy in this browser/ }).click()
    await page.getByRole("status").filter({ hasText: "Kept a copy in this browser" }).waitFor({ timeout: 30_000 })

    // Kept: UIDL before the headers, which are read (TOP) once and cached, then LIST…
    let at = (await traceLines(page)).length
    const second = await session(page, at)
    expect(commands(second.lines).slice(0, 3)).toEqual(["STAT", "UIDL", "TOP 1 0"])
    expect(commands(second.lines).filter((c) => c.startsWith("TOP"))).toHaveLength(14)
    expect(commands(second.lines).at(-1)).toBe("LIST")

    // …so the next session sends no TOP at all, and shows the same rows.
    at = (await traceLines(page)).length
    const third = await session(page, at)
    expect(commands(third.lines)).toEqual(["STAT", "UIDL", "LIST"])
    expect(third.rows).toEqual(second.rows)
    expect(problems).toEqual([])
    await page.close()
  })
})
