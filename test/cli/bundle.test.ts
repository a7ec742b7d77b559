// The bundled executables (scripts/build.ts): built into a temporary directory, then run as
// users run them — a child process, no TypeScript, nothing from node_modules — for
// `--version`, a whole `fetch` against the dev server, and the bridge's `--help`.
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FetchSummary } from "../../core/cli/fetch.ts"
import { makeCrlfToLf } from "../../core/cli/maildir.ts"
import { buildAll } from "../../scripts/build.ts"
import { makeMailStore, toCrlf } from "../../dev-server/server.ts"
import { listenTcp } from "../../dev-server/tcp.ts"
import { closedPort } from "../support/tcp-peers.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const NODE = join(ROOT, "node_modules", ".bin", "node")
const dir = mkdtempSync(join(tmpdir(), "pop3-bundle-"))
const out = join(dir, "dist")

beforeAll(async () => {
  await buildAll({ outDir: out })
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (file: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    // cwd outside the repository: the bundle must not need anything from it.
    const child = spawn(NODE, [join(out, file), ...args], {
      cwd: dir,
      env: { PATH: process.env["PATH"] ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const o: Array<Buffer> = []
    const e: Array<Buffer> = []
    child.stdout.on("data", (b: Buffer) => o.push(b))
    child.stderr.on("data", (b: Buffer) => e.push(b))
    child.once("error", reject)
    child.once("close", (code) =>
      resolve({ code, stdout: Buffer.concat(o).toString(), stderr: Buffer.concat(e).toString() })
    )
  })

describe("the bundle (scripts/build.ts)", () => {
  it("writes executable entries with a shebang, and no TypeScript or node_modules imports", () => {
    for (const file of ["pop3.js", "pop3-bridge.js"]) {
      const path = join(out, file)
      expect(readFileSync(path, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true)
      expect(statSync(path).mode & 0o111).toBe(0o111)
    }
    const chunks = readdirSync(join(out, "chunks")).map((f) => readFileSync(join(out, "chunks", f), "utf8"))
    for (const text of [readFileSync(join(out, "pop3.js"), "utf8"), ...chunks]) {
      expect(text).not.toMatch(/^import .* from "(?!\.\.?\/)[^"]*";$/m)
      expect(text).not.toMatch(/from "[^"]*\.ts"/)
    }
  })

  it("pop3 --version", async () => {
    const result = await run("pop3.js", ["--version"])
    // The version users see is the package's.
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` })
  })

  it("pop3 fetch stores every message, as the sources do", async () => {
    const messages = Array.from(
      { length: 30 },
      (_, i) => `Message-ID: <${i}.bundle@pop3>\nSubject: ${i}\n\n.dot line\nbody ${i}\n`
    )
    const store = makeMailStore({ alice: { password: "pw", messages } })
    const listener = await listenTcp(store)
    try {
      const maildir = join(dir, "Maildir")
      const result = await run(
        "pop3.js",
        [
          "--host",
          "127.0.0.1",
          "--port",
          String(listener.port),
          "--tls",
          "none",
          "--user",
          "alice",
          "fetch",
          "--maildir",
          maildir,
          "--json"
        ],
        { POP3_PASSWORD: "pw" }
      )
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout) as FetchSummary).toMatchObject({ fetched: 30, messages: 30, deleted: 0 })
      const files = readdirSync(join(maildir, "new"))
        .map((f) => readFileSync(join(maildir, "new", f), "latin1"))
        .sort()
      const expected = messages
        .map((m) => {
          const lf = makeCrlfToLf()
          return Buffer.concat([lf.push(toCrlf(m)), lf.end()]).toString("latin1")
        })
        .sort()
      expect(files).toEqual(expected)
    } finally {
      await listener.close()
    }
  })

  it("pop3 --bridge loads ws (and Node's http) but not zlib, which ws needs only for compression", async () => {
    // Written at exit (bin.ts leaves through process.exit): which built-ins were loaded.
    const hook = join(dir, "loaded.mjs")
    writeFileSync(
      hook,
      'process.on("exit", () => process.stderr.write("\\nloaded " + JSON.stringify(["http", "zlib"].map((m) => process.moduleLoadList.includes("NativeModule " + m))) + "\\n"))\n'
    )
    const closed = await closedPort()
    const argv = ["--bridge", `ws://127.0.0.1:${closed}/pop3`, "--host", "pop.example.com", "--tls", "implicit"]
    const result = await run("pop3.js", [...argv, "--user", "u", "stat"], {
      POP3_PASSWORD: "p",
      NODE_OPTIONS: `--import ${hook}`
    })
    // No bridge listens there: the connect fails, after ws has loaded and tried.
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/\nloaded \[true,false\]\n$/)
  })

  it("pop3-bridge --help", async () => {
    const result = await run("pop3-bridge.js", ["--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^Usage: pop3-bridge/)
  })
})
