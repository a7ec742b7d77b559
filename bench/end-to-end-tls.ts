/**
 * The cost of end-to-end TLS (issue 19): TLS in the client (`tls=passthrough`, the bridge
 * relays ciphertext) against TLS at the bridge (`tls=implicit`), through the same Node
 * pop3-bridge to the same Dovecot (implicit TLS, a certificate of a throwaway CA), from
 * Node (the bench's process, Node's WebSocket) and from Chromium (a page served by Vite,
 * the browser's WebSocket and WebCrypto). Per mode: connect → greeting (median of
 * `handshakes`, after one untimed warm-up connection, which also loads subtls and Mozilla's
 * roots) and the throughput of one large RETR (median of `runs`). Then the bytes end-to-end
 * TLS adds to the demo's browser bundle: the lazily loaded chunks, gzip-compressed, and
 * the eager part.
 *
 *   node bench/end-to-end-tls.ts [--handshakes N] [--runs N] [--mb N]    (or npm run bench -- --only 7)
 *
 * Results are checked: every connection traced a greeting, every RETR delivered exactly
 * the message's size, the lazy chunks hold subtls and the roots.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { gzipSync } from "node:zlib"
import { startBridge } from "../bridge/server.ts"
import { startEphemeralStack } from "../scripts/stack.ts"
import { launchChromium } from "../test/support/chromium.ts"
import { startDovecot } from "../test/support/dovecot.ts"
import { makePki } from "../test/support/pki.ts"
import type { Job } from "./end-to-end-client.ts"
import { handshakes, retrieve } from "./end-to-end-client.ts"
import { seedLargeMessage } from "./large-message.ts"
import { median, onCleanup, type Table } from "./lib.ts"

export interface EndToEndOptions {
  /** Connections timed per mode and runtime. */
  readonly handshakes: number
  /** Large RETRs timed per mode and runtime. */
  readonly runs: number
  /** Size of the large message, MB. */
  readonly mb: number
}

const MODES = ["bridge", "end-to-end"] as const
type Mode = (typeof MODES)[number]
const CLIENT_MODULE = `/@fs${fileURLToPath(new URL("./end-to-end-client.ts", import.meta.url))}`

interface Figures {
  readonly handshakeMs: Array<number>
  readonly mbPerSecond: Array<number>
}

const range = (xs: ReadonlyArray<number>, digits: number) =>
  `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`

/** Runs the figures of both modes in one runtime, warm-up first, modes alternating so drifts hit both. */
const measure = async (
  runtime: {
    readonly handshakes: (job: Job, n: number) => Promise<Array<number>>
    readonly retrieve: (job: Job, msg: number) => Promise<{ seconds: number; bytes: number }>
  },
  jobs: Readonly<Record<Mode, Job>>,
  o: EndToEndOptions,
  bytes: number
): Promise<Record<Mode, Figures>> => {
  const out: Record<Mode, Figures> = {
    bridge: { handshakeMs: [], mbPerSecond: [] },
    "end-to-end": { handshakeMs: [], mbPerSecond: [] }
  }
  for (const mode of MODES) await runtime.handshakes(jobs[mode], 1) // warm-up: loads, JIT, Dovecot's index
  for (let i = 0; i < o.handshakes; i++)
    for (const mode of MODES) out[mode].handshakeMs.push(...(await runtime.handshakes(jobs[mode], 1)))
  for (let i = 0; i < o.runs; i++)
    for (const mode of MODES) {
      const run = await runtime.retrieve(jobs[mode], 1)
      if (run.bytes !== bytes) throw new Error(`${mode}: RETR delivered ${run.bytes} bytes, expected ${bytes}`)
      out[mode].mbPerSecond.push(bytes / 1e6 / run.seconds)
    }
  return out
}

/** The demo built for production: the chunks loaded only for end-to-end TLS, and the eager TLS code. */
const bundleCost = async (): Promise<{ rows: Array<Array<string>>; notes: Array<string> }> => {
  const { build } = await import("vite")
  const outDir = await mkdtemp(join(tmpdir(), "pop3-e2e-bundle-"))
  try {
    const result = await build({
      configFile: fileURLToPath(new URL("../vite.config.ts", import.meta.url)),
      logLevel: "silent",
      build: { outDir, write: false, emptyOutDir: true }
    })
    const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => ("output" in r ? r.output : []))
    const chunks = outputs.flatMap((c) => (c.type === "chunk" ? [c] : []))
    const isTls = (id: string) => /[\\/]node_modules[\\/]subtls[\\/]|[\\/]core[\\/]tls[\\/]/.test(id)
    const rows: Array<Array<string>> = []
    const kb = (n: number) => (n / 1024).toFixed(1)
    let lazyGzip = 0
    for (const chunk of chunks.filter((c) => c.isDynamicEntry && c.moduleIds.some(isTls))) {
      const gz = gzipSync(chunk.code).length
      lazyGzip += gz
      const what = chunk.moduleIds.some((id) => id.includes("roots.ts"))
        ? "Mozilla's roots"
        : chunk.moduleIds.some((id) => /subtls/.test(id))
          ? "subtls"
          : "TLS code"
      rows.push([`lazy: ${what} (${chunk.fileName})`, kb(chunk.code.length), kb(gz)])
    }
    const entry = chunks.find((c) => c.isEntry && c.moduleIds.some((id) => id.endsWith("main.ts")))
    const eager = Object.entries(entry?.modules ?? {}).filter(([id]) => isTls(id))
    const eagerCode = eager.map(([, m]) => m.code ?? "").join("\n")
    rows.push([
      `eager: ${eager.map(([id]) => id.replace(/^.*[\\/]core[\\/]tls[\\/]/, "core/tls/")).join(", ")} in the entry chunk`,
      kb(eagerCode.length),
      kb(gzipSync(eagerCode).length)
    ])
    const lazyText = chunks.filter((c) => c.isDynamicEntry && c.moduleIds.some(isTls)).map((c) => c.code)
    if (!lazyText.some((t) => t.includes("BEGIN CERTIFICATE")))
      throw new Error("bundle: no lazy chunk holds the roots — are they still loaded with import()?")
    if (rows.length < 3)
      throw new Error(`bundle: expected lazy chunks for subtls and the roots, found ${rows.length - 1}`)
    const entryGzip = entry === undefined ? 0 : gzipSync(entry.code).length
    return {
      rows,
      notes: [
        `lazy chunks together: ${kb(lazyGzip)} KiB gzip, fetched on the first end-to-end connection only; the demo's entry chunk is ${kb(entryGzip)} KiB gzip with the eager part`,
        "eager gzip is of the TLS modules' code compressed on its own (an upper bound: in the chunk it compresses with its neighbours)"
      ]
    }
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
}

/** Starts everything, measures, stops; one table of timings and one of bundle bytes. */
export async function endToEndTlsTables(o: EndToEndOptions): Promise<Array<Table>> {
  const pki = await makePki()
  onCleanup("test CA", () => pki.remove())
  const leaf = await pki.issue(["localhost", "IP:127.0.0.1"])
  const dovecot = await startDovecot({ bulkMessages: 0, certificate: { ...leaf, ca: pki.ca } })
  onCleanup("Dovecot (end-to-end TLS)", () => dovecot.stop())
  const large = await seedLargeMessage(dovecot.users.empty.maildir, o.mb * 1_000_000, "large message")
  // Vite serves the page module; the stack's own bridge and dev server stay unused.
  const stack = await startEphemeralStack()
  onCleanup("Vite", () => stack.close())
  const bridge = await startBridge({
    listen: "127.0.0.1:0",
    allow: [`localhost:${dovecot.tlsPort}/implicit,passthrough`, `127.0.0.1:${dovecot.tlsPort}/implicit,passthrough`],
    allowOrigin: [new URL(stack.url).origin],
    upstreamCa: [pki.ca],
    sessionRate: "off",
    maxConnectionsPerClient: 1000,
    log: () => {}
  })
  onCleanup("bridge (end-to-end TLS)", () => bridge.close(0))
  const jobs = Object.fromEntries(
    MODES.map((mode) => [
      mode,
      {
        bridgeUrl: `${bridge.url}/pop3`,
        mode,
        port: dovecot.tlsPort,
        ca: pki.ca,
        user: "empty",
        password: dovecot.users.empty.password
      } satisfies Job
    ])
  ) as Record<Mode, Job>

  const node = await measure({ handshakes, retrieve }, jobs, o, large.bytes)

  const chromium = await launchChromium()
  onCleanup("Chromium", () => chromium.close())
  const page = await chromium.context.newPage()
  await page.goto(stack.url)
  // As text: a bundler would rewrite an import() in a function it compiles.
  const call = <A>(name: string, ...args: ReadonlyArray<unknown>): Promise<A> =>
    page.evaluate(`import(${JSON.stringify(CLIENT_MODULE)}).then((m) => m.${name}(...${JSON.stringify(args)}))`)
  const browser = await measure(
    {
      handshakes: (job, n) => call("handshakes", job, n),
      retrieve: (job, msg) => call("retrieve", job, msg)
    },
    jobs,
    o,
    large.bytes
  )
  await chromium.close()

  const bundle = await bundleCost()
  await bridge.close(0)
  await stack.close()
  await dovecot.stop()
  await pki.remove()

  const row = (runtime: string, mode: Mode, f: Figures, base: Figures): Array<string> => [
    runtime,
    mode === "bridge" ? "TLS at the bridge" : "end-to-end TLS",
    median(f.handshakeMs).toFixed(1),
    range(f.handshakeMs, 1),
    `${(median(f.handshakeMs) / median(base.handshakeMs)).toFixed(2)}×`,
    median(f.mbPerSecond).toFixed(1),
    range(f.mbPerSecond, 1),
    `${(median(f.mbPerSecond) / median(base.mbPerSecond)).toFixed(2)}×`
  ]
  const mb = (large.bytes / 1e6).toFixed(0)
  return [
    {
      title: `7. End-to-end TLS against TLS at the bridge: connect → greeting, and one ${mb} MB RETR (Node and Chromium)`,
      header: ["client", "TLS", "greeting ms", "min–max ms", "vs bridge", `RETR MB/s`, "min–max MB/s", "vs bridge"],
      rows: [
        ...MODES.map((m) => row("Node (WebSocket)", m, node[m], node.bridge)),
        ...MODES.map((m) => row("Chromium", m, browser[m], browser.bridge))
      ],
      notes: [
        `the same pop3-bridge (ws:// on loopback) and Dovecot (implicit TLS, TLS 1.3, a throwaway CA's certificate): tls=implicit (the bridge's Node TLS) vs tls=passthrough (the client's subtls on WebCrypto)`,
        `greeting: from asking for the connection to the greeting traced, ${o.handshakes} connections per row after one untimed warm-up (which loads subtls and builds the roots' index); RETR: ${o.runs} runs per row of message 1 (${large.bytes.toLocaleString("en")} bytes, each run's byte count checked), from RETR to its last byte`,
        "modes alternate run by run; everything shares this machine's cores (Dovecot, bridge, client, Chromium)",
        "TLS at the bridge trusts the throwaway CA through --upstream-ca: bridge/upstream.ts builds that TLS context (Node's default roots plus the CA, ~45 ms here) once, on the first connection, which is the untimed warm-up"
      ]
    },
    {
      title: "7b. Bytes end-to-end TLS adds to the browser bundle (the web demo, vite build)",
      header: ["part", "KiB", "KiB gzip"],
      rows: bundle.rows,
      notes: bundle.notes
    }
  ]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { handshakes: { type: "string" }, runs: { type: "string" }, mb: { type: "string" } }
  })
  const { cleanup, installSignalHandlers, renderText } = await import("./lib.ts")
  installSignalHandlers()
  try {
    const tables = await endToEndTlsTables({
      handshakes: Number(values.handshakes ?? 15),
      runs: Number(values.runs ?? 3),
      mb: Number(values.mb ?? 20)
    })
    for (const t of tables) process.stdout.write(`${renderText(t)}\n\n`)
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  } finally {
    await cleanup()
  }
}
