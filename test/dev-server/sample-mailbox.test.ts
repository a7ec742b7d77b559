// The demo's sample mailbox: deterministic, recent, varied, and served correctly.

import { describe, expect, it } from "vitest"
import { memorySession } from "./raw-client.ts"
import { DEMO_PASSWORD, DEMO_USER, makeSampleStore, sampleMessages } from "../../dev-server/sample-mailbox.ts"

const NOW = new Date("2026-11-23T10:00:00Z")
const header = (m: string, name: string): string | undefined =>
  new RegExp(`^${name}: (.*(?:\\n[ \\t].*)*)`, "im").exec(m.split("\n\n")[0] ?? "")?.[1]

describe("sample mailbox", () => {
  it("is deterministic for a given day", () => {
    expect(sampleMessages(NOW)).toEqual(sampleMessages(new Date("2026-11-23T23:59:59Z")))
    expect(
      makeSampleStore(NOW)
        .messages(DEMO_USER)
        .map((m) => m.uid)
    ).toEqual(
      makeSampleStore(NOW)
        .messages(DEMO_USER)
        .map((m) => m.uid)
    )
  })

  it("holds a dozen messages with the usual headers, dated over recent weeks, oldest first", () => {
    const messages = sampleMessages(NOW)
    expect(messages.length).toBeGreaterThanOrEqual(12)
    const dates = messages.map((m) => Date.parse(header(m, "Date") ?? ""))
    for (const m of messages)
      for (const h of ["From", "To", "Subject", "Message-ID", "MIME-Version"]) expect(header(m, h), h).toBeDefined()
    for (const d of dates) {
      expect(d).toBeLessThan(NOW.getTime())
      expect(d).toBeGreaterThan(NOW.getTime() - 35 * 24 * 3600 * 1000)
    }
    expect([...dates].sort((a, b) => a - b)).toEqual(dates)
  })

  it("covers the cases the demo shows", () => {
    const all = sampleMessages(NOW).join("\n")
    expect(all).toContain("cid:logo@news.example.com")
    expect(all).toContain('src="https://images.example.com/')
    expect(all).toContain("Content-Type: application/pdf")
    expect(all).toMatch(/=\?UTF-8\?B\?/)
    expect(all).toMatch(/=\?UTF-8\?Q\?/)
    expect(all).toMatch(/=\?ISO-8859-1\?Q\?/)
    expect(all).toMatch(/=\?ISO-2022-JP\?B\?/)
    expect(all).toMatch(/=\?windows-1252\?Q\?/)
    expect(all).toMatch(/^References: <[^>]+> <[^>]+> <[^>]+> <[^>]+>$/m)
    expect(all).toMatch(/^\.\.$/m)
    expect(all).toMatch(/^\.$/m)
    const sizes = sampleMessages(NOW).map((m) => new TextEncoder().encode(m).length)
    expect(Math.max(...sizes)).toBeGreaterThan(250_000)
    expect(Math.max(...sizes)).toBeLessThan(400_000)
    expect(all.split("\n").some((l) => l.length > 90_000)).toBe(true) // the 100 KB line
  })

  it("is served with demo / demo, dot-stuffed on the wire", async () => {
    const store = makeSampleStore(NOW)
    const { client } = memorySession(store)
    await client.line()
    await client.send(`USER ${DEMO_USER}\r\nPASS ${DEMO_PASSWORD}\r\n`)
    await client.line()
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    const dots =
      store
        .messages(DEMO_USER)
        .findIndex((m) => new TextDecoder().decode(m.data).includes("Subject: Lines that start with a dot")) + 1
    await client.send(`RETR ${dots}\r\n`)
    await client.line()
    const lines = await client.body()
    expect(lines).toContain("...") // ".." stuffed
    expect(lines).toContain("..") // "." stuffed
    expect(lines).toContain("..hidden")
    client.close()
  })
})
