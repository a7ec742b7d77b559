// The production build (`vite build`): what the public bundle holds. A password given at
// build time must not be in it (VITE_POP3_PASSWORD is read in dev only), while the other
// VITE_* defaults are (so finding nothing means something), and index.html keeps its
// Content-Security-Policy with no inline script.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "vite"
import { afterAll, describe, expect, it } from "vitest"

const CONFIG = fileURLToPath(new URL("../../vite.config.ts", import.meta.url))
const PASSWORD = "build-Canary-9d41e7"
const BRIDGE = "wss://bridge.build-test.example/pop3"

const filesUnder = async (dir: string): Promise<Array<string>> =>
  (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))

describe("vite build of the web demo", () => {
  const dirs: Array<string> = []
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it("leaves VITE_POP3_PASSWORD out of the bundle, keeps the bridge URL, and a CSP without inline script", async () => {
    const out = await mkdtemp(join(tmpdir(), "pop3-demo-build-"))
    dirs.push(out)
    const saved = { password: process.env["VITE_POP3_PASSWORD"], bridge: process.env["VITE_POP3_BRIDGE_URL"] }
    process.env["VITE_POP3_PASSWORD"] = PASSWORD
    process.env["VITE_POP3_BRIDGE_URL"] = BRIDGE
    try {
      await build({ configFile: CONFIG, logLevel: "silent", build: { outDir: out, emptyOutDir: true } })
    } finally {
      for (const [name, value] of [
        ["VITE_POP3_PASSWORD", saved.password],
        ["VITE_POP3_BRIDGE_URL", saved.bridge]
      ] as const) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
    const files = await filesUnder(out)
    const contents = await Promise.all(files.map(async (file) => ({ file, text: await readFile(file, "latin1") })))
    expect(files.some((f) => f.endsWith(".js"))).toBe(true)
    expect(contents.filter((c) => c.text.includes(PASSWORD)).map((c) => c.file)).toEqual([])
    expect(contents.some((c) => c.text.includes(BRIDGE))).toBe(true)

    const html = contents.find((c) => c.file.endsWith("index.html"))?.text ?? ""
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="[^"]*script-src 'self';/)
    const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)]
    expect(scripts.length).toBeGreaterThan(0)
    for (const [tag, body] of scripts) {
      expect(tag).toMatch(/\bsrc="/)
      expect(body).toBe("")
    }
  }, 120_000)
})
