/**
 * Scenario 4's browser half: a RETR of one large message inside Chromium through
 * pop3-bridge, timed in the page (`browser-retr-page.ts`, bundled here with rolldown and
 * served from a loopback origin the bridge admits). Two readers: the library, and the
 * browser's bare WebSocket (the ceiling). Every run is checked: the body's byte count and
 * SHA-256 must be the message file's, or the row says FAILED.
 */
import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { build } from "rolldown"
import { startBridge } from "../bridge/server.ts"
import { chromiumAvailable, launchChromium } from "../test/support/chromium.ts"
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
export async function browserRetrTable(o: BrowserRetrOptions): Promise<Table> {
  const file = await readFile(o.path)
  const bytes = file.length
  const sha256 = createHash("sha256").update(file).digest("hex")
  const mb = bytes / 1e6
  const title = `4b. A ${mb.toFixed(0)} MB RETR inside Chromium through pop3-bridge`
  const chromium = chromiumAvailable()
  if (!chromium.ok) return { title, header: ["reader", "result"], rows: [["all", `n/a: ${chromium.why}`]], notes: [] }

  const code = await bundlePage()
  const http = createServer((request, response) => {
    if (request.url === "/page.js") {
      response.writeHead(200, { "content-type": "text/javascript" })
      response.end(code)
    } else {
      response.writeHead(200, { "content-type": "text/html" })
      response.end("<!doctype html><title>browser RETR</title>")
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
  const browser = await launchChromium()
  const closeBrowser = onCleanup("Chromium", () => browser.close())
  const seconds: Record<Reader, Array<number>> = { library: [], websocket: [] }
  const failures: Partial<Record<Reader, string>> = {}
  try {
    const page = await browser.context.newPage()
    await page.goto(origin)
    const target: RetrTarget = {
      bridgeUrl: `${bridge.url}/pop3`,
      port: o.port,
      user: o.user,
      password: o.password,
      msg: o.msg
    }
    const once = async (reader: Reader): Promise<number | string> => {
      try {
        const result = await page.evaluate<RetrResult>(
          `import("/page.js").then((m) => m.${reader}(${JSON.stringify(target)}))`
        )
        if (result.bytes !== bytes) return `FAILED: ${result.bytes} bytes, expected ${bytes}`
        if (result.sha256 !== sha256) return "FAILED: the body's SHA-256 differs from the message file's"
        return result.ms / 1000
      } catch (error) {
        return `FAILED: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
      }
    }
    for (let r = 0; r <= o.runs; r++) {
      for (let k = 0; k < READERS.length; k++) {
        const { reader, name } = READERS[(k + r) % READERS.length]!
        if (failures[reader] !== undefined) continue
        o.progress(`4b Chromium: ${r === 0 ? "warm-up" : `run ${r}/${o.runs}`} ${name}`)
        const outcome = await once(reader)
        if (typeof outcome === "string") failures[reader] = outcome
        else if (r > 0) seconds[reader].push(outcome) // run 0 is the untimed warm-up
      }
    }
  } finally {
    closeBrowser()
    closeBridge()
    closeHttp()
    await browser.close()
    await bridge.close(0)
    await new Promise((resolve) => http.close(resolve))
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
      `headless Chromium (playwright-core), the page on a loopback origin; pop3-bridge in the benchmark's process, tls=none to Dovecot's plain port; ${bytes.toLocaleString("en")} bytes`,
      "timed in the page from writing RETR to the body's last byte; every run's body checked against the message file (byte count and SHA-256)",
      "pop3-everywhere: connect, login, `mailbox.retr` collected as chunks (what the demo does before parsing); bare WebSocket: USER/PASS/RETR by hand, bytes counted to the terminator",
      ...Object.entries(failures)
        .filter(([reader]) => seconds[reader as Reader].length > 0)
        .map(([reader, failure]) => `${reader}: a later run ${failure}`)
    ]
  }
}
