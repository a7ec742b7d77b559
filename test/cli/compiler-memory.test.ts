// The CLI picks V8's compilers by command (core/cli/compiler-memory.ts): retr and top
// without Maglev, whose compile jobs were what raised the peak memory of a large RETR;
// fetch without TurboFan, whose compile jobs were CPU beside every message. Asserted on
// the compiler's own trace (--trace-opt), not on RSS or time: a hot loop in a child
// process is optimized through Maglev on its way to TurboFan; with the retr/top flag by
// TurboFan alone, with fetch's by Maglev alone.
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { makeMailStore } from "../../dev-server/server.ts"
import { listenTcp } from "../../dev-server/tcp.ts"

const node = new URL("../../node_modules/.bin/node", import.meta.url).pathname
const module = new URL("../../core/cli/compiler-memory.ts", import.meta.url).pathname
const bin = new URL("../../core/cli/bin.ts", import.meta.url).pathname

// Tiering counts calls and loop iterations, not time: the same compiles every run.
const script = `
if (process.argv[1] !== "default") (await import(${JSON.stringify(module)})).chooseCompilers(process.argv[1])
const sum = (a) => { let s = 0; for (let i = 0; i < a.length; i++) s = (s + a[i] * 31) | 0; return s }
const a = Array.from({ length: 64 }, (_, i) => i)
let t = 0
for (let i = 0; i < 200000; i++) t ^= sum(a)
console.log("done", t)
`

// --trace-opt writes to stdout, between the child's own output.
const traced = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ maglev: number; turbofan: number; stdout: string }>((resolve, reject) => {
    execFile(
      node,
      ["--trace-opt", ...args],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env["PATH"] ?? "", ...env } },
      (error, stdout) => {
        if (error !== null) return reject(error)
        resolve({
          maglev: stdout.match(/target MAGLEV/g)?.length ?? 0,
          turbofan: stdout.match(/target TURBOFAN/g)?.length ?? 0,
          stdout
        })
      }
    )
  })
const compiles = async (variant: "default" | "retr" | "fetch") => {
  const r = await traced(["--input-type=module", "-e", script, variant])
  return { ...r, done: r.stdout.includes("done 0") }
}

describe("chooseCompilers", () => {
  it("retr's: hot code is optimized by TurboFan alone; fetch's: by Maglev alone; by default through both", async () => {
    const [both, retr, fetch] = await Promise.all([compiles("default"), compiles("retr"), compiles("fetch")])
    // The loop is hot enough for both tiers here: the checks below could see either.
    expect(both.done).toBe(true)
    expect(both.maglev).toBeGreaterThan(0)
    expect(both.turbofan).toBeGreaterThan(0)
    expect(retr.done).toBe(true)
    expect(retr.maglev).toBe(0)
    expect(retr.turbofan).toBeGreaterThan(0)
    expect(fetch.done).toBe(true)
    expect(fetch.maglev).toBeGreaterThan(0)
    expect(fetch.turbofan).toBe(0)
  }, 120_000)

  it("is on in the real executable: bin.ts loading its modules and streaming 8 MB compiles next to nothing with Maglev", async () => {
    const line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n"
    const big = `Subject: big\n\n${line.repeat(Math.ceil((8 * 1024 * 1024) / line.length))}`
    const listener = await listenTcp(makeMailStore({ alice: { password: "pw", messages: [big] } }))
    try {
      const r = await traced(
        [bin, "--host", "127.0.0.1", "--port", String(listener.port), "--tls", "none", "--user", "alice", "retr", "1"],
        { POP3_PASSWORD: "pw" }
      )
      expect(r.stdout).toContain(line.replace("\n", "\r\n"))
      expect(r.turbofan).toBeGreaterThan(0)
      // Only what is hot before chooseCompilers() (4–10 functions of Node's loader and the parser, 2026-12-05);
      // without the call, 88: the loader's for ~200 modules, then the read loop's.
      expect(r.maglev).toBeLessThan(30)
    } finally {
      await listener.close()
    }
  }, 120_000)

  it("fetch in the real executable: 1,500 messages into a Maildir, compiled by Maglev alone", async () => {
    const messages = Array.from({ length: 1500 }, (_, i) => `Subject: m${i}\n\nbody ${i}\n`)
    const listener = await listenTcp(makeMailStore({ alice: { password: "pw", messages } }))
    const dir = mkdtempSync(join(tmpdir(), "pop3-compilers-"))
    try {
      const argv = ["--host", "127.0.0.1", "--port", String(listener.port), "--tls", "none", "--user", "alice"]
      const r = await traced(
        [bin, ...argv, "fetch", "--maildir", join(dir, "Maildir"), "--state", join(dir, "state")],
        {
          POP3_PASSWORD: "pw"
        }
      )
      expect(readdirSync(join(dir, "Maildir", "new"))).toHaveLength(messages.length)
      // The engine, pipeline and Maildir code got hot enough for an optimizing tier.
      expect(r.maglev).toBeGreaterThan(0)
      expect(r.turbofan).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await listener.close()
    }
  }, 120_000)

  it("is left on for commands that move no body: stat's start-up is Maglev's to speed up", async () => {
    const listener = await listenTcp(makeMailStore({ alice: { password: "pw", messages: ["Subject: a\n\nb\n"] } }))
    try {
      const r = await traced(
        [bin, "--host", "127.0.0.1", "--port", String(listener.port), "--tls", "none", "--user", "alice", "stat"],
        { POP3_PASSWORD: "pw" }
      )
      expect(r.stdout).toMatch(/^1 \d+$/m)
      // The loader's ~200 modules alone tier up tens of functions through Maglev.
      expect(r.maglev).toBeGreaterThanOrEqual(10)
    } finally {
      await listener.close()
    }
  }, 120_000)
})
