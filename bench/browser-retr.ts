/**
 * Scenario 4's browser half: a RETR of one large message inside Chromium through
 * pop3-bridge, timed in the page (`browser-retr-page.ts`, bundled here with rolldown and
 * served from a loopback origin the bridge admits). Two readers: the library, and the
 * browser's bare WebSocket (the ceiling). Every run is checked: the body's byte count and
 * SHA-256 must be the message file's, or the row says FAILED.
 *
 * Chromium is started as a plain headless browser, not through playwright: the page runs
 * the plan and POSTs each result back. A browser driven over the DevTools protocol
 * (playwright enables its Network domain) copies every WebSocket frame, base64-encoded, to
 * the driver — measured here, that alone took a 100 MB RETR from ~28 MB/s to ~10 MB/s,
 * the "~9 MB/s in the browser" that issue 16 saw in the e2e-driven demo.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "rolldown"
import { startBridge } from "../bridge/server.ts"
import { CHROMIUM, chromiumAvailable } from "../test/support/chromium.ts"
import { chromiumFlags } from "../vite.config.ts"
import type { RetrResult, RetrTarget } from "./browser-retr-page.ts"
import type { Table } from "./lib.ts"
import { fmtRatio, fmtSeconds, median, onCleanup } from "./lib.ts"

export interface BrowserRetrOptions {
  /** Dovecot's plain POP3 port on 127.0.0.1. */
  readonly port: number
  readonly user: string
  readonly password: string
  readonly msg: number
  /** The message file in the Maildir: its bytes are the RETR body. */
  readonly path: string
  readonly runs: number
  readonly progress: (text: string) => void
}

const PAGE = fileURLToPath(new URL("./browser-retr-page.ts", import.meta.url))

/** The page module as one browser bundle, importing the library by name from its sources. */
async function bundlePage(): Promise<string> {
  const bundle = await build({
    input: PAGE,
    platform: "browser",
    resolve: { conditionNames: ["@pop3-everywhere/source", "browser", "import", "default"] },
    logLevel: "warn",
    write: false,
    output: { format: "esm", minify: false }
  })
  return bundle.output[0].code
}

type Reader = "library" | "websocket"
const READERS: ReadonlyArray<{ readonly reader: Reader; readonly name: string }> = [
  { reader: "websocket", name: "bare WebSocket in Chromium" },
  { reader: "library", name: "pop3-everywhere in Chromium" }
]

/** Measures both readers `runs` times (after one checked warm-up each) and returns the table. */
/** The page: runs `plan` (reader names) one after the other and POSTs each result, then `{ done }`. */
const pageHtml = (
  plan: ReadonlyArray<Reader>,
  target: RetrTarget
): string => `<!doctype html><title>browser RETR</title>
<script type="module">
const m = await import("/page.js")
const post = (body) => fetch("/result", { method: "POST", body: JSON.stringify(body) })
for (const reader of ${JSON.stringify(plan)}) {
  try { await post({ reader, result: await m[reader](${JSON.stringify(target)}) }) }
  catch (error) { await post({ reader, error: String(error) }) }
}
await post({ done: true })
</script>`

interface Report {
  readonly reader?: Reader
  readonly result?: RetrResult
  readonly error?: string
  readonly done?: boolean
}

/** Measures both readers `runs` times (after one checked warm-up each) and returns the table. */
export async function browserRetrTable(o: BrowserRetrOptions): Promise<Table> {
  const file = await readFile(o.path)
  const bytes = file.length
  const sha256 = createHash("sha256").update(file).digest("hex")
  const mb = bytes / 1e6
  const title = `4b. A ${mb.toFixed(0)} MB RETR inside Chromium through pop3-bridge`
  const chromium = chromiumAvailable()
  if (!chromium.ok) return { title, header: ["reader", "result"], rows: [["all", `n/a: ${chromium.why}`]], notes: [] }

  // Warm-up round first (untimed, checked), then the timed rounds, the order rotating.
  const plan: Array<Reader> = []
  for (let r = 0; r <= o.runs; r++)
    for (let k = 0; k < READERS.length; k++) plan.push(READERS[(k + r) % READERS.length]!.reader)
  const seconds: Record<Reader, Array<number>> = { library: [], websocket: [] }
  const failures: Partial<Record<Reader, string>> = {}
  const seen: Record<Reader, number> = { library: 0, websocket: 0 }
  const record = (report: Report): void => {
    const reader = report.reader
    if (reader === undefined) return
    const warmUp = seen[reader]++ === 0
    o.progress(`4b Chromium: ${warmUp ? "warm-up" : `run ${seen[reader] - 1}/${o.runs}`} ${reader}`)
    if (failures[reader] !== undefined) return
    const r = report.result
    if (r === undefined) failures[reader] = `FAILED: ${report.error ?? "no result"}`
    else if (r.bytes !== bytes) failures[reader] = `FAILED: ${r.bytes} bytes, expected ${bytes}`
    else if (r.sha256 !== sha256) failures[reader] = "FAILED: the body's SHA-256 differs from the message file's"
    else if (!warmUp) seconds[reader].push(r.ms / 1000)
  }

  const code = await bundlePage()
  let html = ""
  let finish: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const http = createServer((request, response) => {
    if (request.url === "/page.js") {
      response.writeHead(200, { "content-type": "text/javascript" })
      response.end(code)
    } else if (request.url === "/result" && request.method === "POST") {
      let text = ""
      request.setEncoding("utf8")
      request.on("data", (part: string) => {
        text += part
      })
      request.on("end", () => {
        const report = JSON.parse(text) as Report
        if (report.done === true) finish()
        else record(report)
        response.end()
      })
    } else {
      response.writeHead(200, { "content-type": "text/html" })
      response.end(html)
    }
  })
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  const closeHttp = onCleanup("page server", () => http.close())
  const bridge = await startBridge({
    listen: "127.0.0.1:0",
    allow: [`127.0.0.1:${o.port}`],
    allowOrigin: [origin],
    sessionRate: "off",
    log: () => {}
  })
  const closeBridge = onCleanup("bridge (Chromium)", () => bridge.close(0))
  html = pageHtml(plan, {
    bridgeUrl: `${bridge.url}/pop3`,
    port: o.port,
    user: o.user,
    password: o.password,
    msg: o.msg
  })
  const profile = await mkdtemp(join(tmpdir(), "pop3-bench-chromium-"))
  // Its own process group, so the browser's helpers go with it.
  const browser = spawn(CHROMIUM, [...chromiumFlags, `--user-data-dir=${profile}`, origin], {
    stdio: "ignore",
    detached: true
  })
  const stopBrowser = (): void => {
    try {
      process.kill(-browser.pid!, "SIGKILL")
    } catch {
      // already gone
    }
  }
  const closeBrowser = onCleanup("Chromium", stopBrowser)
  try {
    const exited = new Promise<string>((resolve) => browser.once("exit", (c) => resolve(`Chromium exited (${c})`)))
    // A page that hangs must not hang the benchmark: two minutes per RETR is far beyond any run.
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("timed out"), plan.length * 120_000)
    })
    const outcome = await Promise.race([finished.then(() => undefined), exited, timedOut])
    clearTimeout(timer)
    if (outcome !== undefined) for (const { reader } of READERS) failures[reader] ??= `FAILED: ${outcome}`
  } finally {
    closeBrowser()
    closeBridge()
    closeHttp()
    stopBrowser()
    await bridge.close(0)
    await new Promise((resolve) => http.close(resolve))
    await rm(profile, { recursive: true, force: true })
  }
  const ceiling = seconds.websocket.length > 0 ? median(seconds.websocket) : undefined
  const rows = READERS.map(({ reader, name }) => {
    const s = seconds[reader]
    if (s.length === 0) return [name, failures[reader] ?? "no run", "", "", "", ""]
    const med = median(s)
    return [
      name,
      fmtSeconds(med),
      `${fmtSeconds(Math.min(...s))}–${fmtSeconds(Math.max(...s))}`,
      String(s.length),
      (mb / med).toFixed(0),
      ceiling === undefined ? "?" : fmtRatio(med / ceiling)
    ]
  })
  return {
    title,
    header: ["reader", "median s", "min–max s", "n", "MB/s", "time vs bare WebSocket"],
    rows,
    notes: [
      `headless Chromium, started without a driver (see browser-retr.ts), the page on a loopback origin; pop3-bridge in the benchmark's process, tls=none to Dovecot's plain port; ${bytes.toLocaleString("en")} bytes`,
      "timed in the page from writing RETR to the body's last byte; every run's body checked against the message file (byte count and SHA-256)",
      "pop3-everywhere: connect, login, `mailbox.retr` collected as chunks (what the demo does before parsing); bare WebSocket: USER/PASS/RETR by hand, bytes counted to the terminator",
      ...Object.entries(failures)
        .filter(([reader]) => seconds[reader as Reader].length > 0)
        .map(([reader, failure]) => `${reader}: a later run ${failure}`)
    ]
  }
}
