/**
 * `npm run bench`: pop3 against other POP3 clients and the raw socket, on a real Dovecot
 * started for the run. Prints tables (text, then Markdown); asserts nothing.
 *
 *   node bench/run.ts [--runs N] [--quick] [--only 0,1,2,3,4,5] [--messages N] [--large-mb N]
 *                     [--no-1gb] [--rtt MS] [--budget S] [--cpu-prof DIR] [--disk]
 *                     [--cli bundle|source] [--no-build] [--clients NAMES]
 *
 * See bench/README.md.
 */
import { execFileSync } from "node:child_process"
import { accessSync, constants, readFileSync } from "node:fs"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { connect } from "node:net"
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from "node:os"
import { join, relative } from "node:path"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { bigMessageBrowserTable } from "./big-message-browser.ts"
import { bridgeLoadTable } from "./bridge-load.ts"
import { endToEndTlsTables } from "./end-to-end-tls.ts"
import { browserRetrTable } from "./browser-retr.ts"
import { startDovecot } from "../test/support/dovecot.ts"
import type { Dovecot } from "../test/support/dovecot.ts"
import { startDelayProxy } from "./delay-proxy.ts"
import { roundTripTable } from "./round-trips.ts"
import { currentPath, seedLargeMessage } from "./large-message.ts"
import type { RunResult, Table } from "./lib.ts"
import {
  cleanup,
  fmtMiB,
  fmtRatio,
  fmtSeconds,
  haveTime,
  installSignalHandlers,
  interrupted,
  median,
  onCleanup,
  renderMarkdown,
  renderText,
  runMeasured,
  startDaemon,
  stopDaemon
} from "./lib.ts"
import { summarizeProfile } from "./profile-summary.ts"
import type { Account, BulkOptions, Contender, LargeOptions } from "./runners/contenders.ts"
import {
  currentCli,
  describeCli,
  installedCliKind,
  mpop,
  mpopCount,
  nodePop3,
  nothingNew,
  pop3Fetch,
  pop3Retr,
  poplib,
  REPO,
  rawFetch,
  rawRetr,
  useCli
} from "./runners/contenders.ts"

// ---------------------------------------------------------------------------------------
// Flags

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string" },
    quick: { type: "boolean" },
    only: { type: "string" },
    messages: { type: "string" },
    "large-mb": { type: "string" },
    "no-1gb": { type: "boolean" },
    rtt: { type: "string" },
    budget: { type: "string" },
    "cpu-prof": { type: "string" },
    disk: { type: "boolean" },
    cli: { type: "string" },
    "no-build": { type: "boolean" },
    clients: { type: "string" },
    help: { type: "boolean", short: "h" }
  }
})
if (flags.help === true) {
  process.stdout.write(`Usage: node bench/run.ts [options]

  --runs N        timed runs per client (median reported; default 3, --quick 1)
  --quick         smoke run: 1 run, 200 messages, a 20 MB message, no 1 GB message
  --only LIST     scenarios to run, e.g. 1,3 (0 start-up, 1 bulk, 2 latency, 3 large, 4 bridge, 5 bridge load, 6 round trips, 7 end-to-end TLS,
                  8 a big message in the web demo in Chromium, 9 per-message slope,
                  10 100,000 messages in the demo)
  --messages N    messages in the bulk mailbox (default 1000)
  --large-mb N    size of the large message in MB (default 100)
  --no-1gb        skip the 1 GB message (peak RSS check)
  --rtt MS        round trip added in scenario 2 (default 25)
  --budget S      stop repeating a client once its runs in a scenario took this long (default 25)
  --cpu-prof DIR  also run pop3 fetch once under --cpu-prof and summarize where its time goes
  --disk          put the clients' Maildirs on the disk (os.tmpdir()) instead of tmpfs (/dev/shm),
                  so fsync really waits for the device
  --cli KIND      which pop3 runs: bundle (dist/pop3.js, built first by scripts/build.ts) or
                  source (core/cli/bin.ts); default: what package.json's bin.pop3 points to (now: ${installedCliKind()})
  --no-build      with the bundle: use dist/ as it is instead of building it first
  --clients LIST  only the clients whose names contain one of these, e.g. pop3,mpop
`)
  process.exit(0)
}
const quick = flags.quick === true
const int = (text: string | undefined, fallback: number, what: string): number => {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench: ${what} must be a positive number, got ${JSON.stringify(text)}\n`)
    process.exit(2)
  }
  return n
}
const RUNS = Math.round(int(flags.runs, quick ? 1 : 3, "--runs"))
const MESSAGES = Math.round(int(flags.messages, quick ? 200 : 1000, "--messages"))
const LARGE_BYTES = Math.round(int(flags["large-mb"], quick ? 20 : 100, "--large-mb") * 1_000_000)
/** Issue 14's figure: a 20 MB RETR inside Chromium (about the demo's big-message case). */
const BROWSER_MB = 20
const GIGABYTE = !quick && flags["no-1gb"] !== true
const RTT = int(flags.rtt, 25, "--rtt")
const BUDGET_S = int(flags.budget, 25, "--budget")
const ONLY = new Set((flags.only ?? "0,1,2,3,4,5,6,7,8,9,10").split(",").map((s) => s.trim()))
// Scenario 9: the mailbox sizes whose fetch times give the per-message slope.
const SLOPE_FROM = 300
const SLOPE_TO = quick ? 2000 : 10_000
if (flags.cli !== undefined && flags.cli !== "bundle" && flags.cli !== "source") {
  process.stderr.write(`bench: --cli must be bundle or source, got ${JSON.stringify(flags.cli)}\n`)
  process.exit(2)
}
useCli(flags.cli ?? installedCliKind())
const CLIENTS = flags.clients
  ?.split(",")
  .map((s) => s.trim().toLowerCase())
  .filter((s) => s !== "")
/** Keeps the contenders --clients asks for (all without it). */
const chosen = <C extends { readonly name: string }>(contenders: ReadonlyArray<C>): Array<C> =>
  contenders.filter((c) => CLIENTS === undefined || CLIENTS.some((n) => c.name.toLowerCase().includes(n)))
// Where the clients' Maildirs go. tmpfs by default: there fsync returns at once, so the
// clients are compared rather than this VM's disk, whose fsync latency swings between
// 0.2 and 1.7 ms from one minute to the next — with one fsync per message that is
// 0.2–1.7 s per 1000 messages for every client alike, and it buries the differences.
const SHM = "/dev/shm"
const ON_TMPFS =
  flags.disk !== true &&
  (() => {
    try {
      accessSync(SHM, constants.W_OK)
      return true
    } catch {
      return false
    }
  })()
// An untimed first run per client: warms Dovecot's index and the page cache, and checks
// results byte for byte where the timed runs cannot (stdout goes to /dev/null there).
const WARMUP = true

// ---------------------------------------------------------------------------------------
// Measuring

interface Outcome {
  readonly contender: Contender
  readonly seconds: Array<number>
  readonly rssKiB: Array<number>
  readonly cpuSeconds: Array<number>
  readonly machineCpuSeconds: Array<number>
  failure: string | undefined
  skippedRuns: number
}

let scratch = ""
let runCounter = 0

async function runOnce(
  c: Contender,
  countStdout: boolean
): Promise<{ result: RunResult; problem: string | undefined }> {
  const dir = join(scratch, `run-${++runCounter}`)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const spec = await c.prepare(dir)
  const result = await runMeasured(
    countStdout && spec.stdout === undefined ? { ...spec, stdout: "count" } : spec,
    join(dir, "time.out")
  )
  const problem = await c.verify(dir, result)
  // Keep the disk from filling with 1000-file Maildirs; the page cache and dentries too.
  await rm(dir, { recursive: true, force: true })
  return { result, problem }
}

/**
 * Runs every contender `runs` times, round-robin (so drifts hit everyone alike), after
 * one untimed warm-up each. A contender whose runs already took `budget` seconds stops
 * early (shown as n = runs done).
 */
async function measure(
  title: string,
  contenders: ReadonlyArray<Contender>,
  runs: number,
  warmup: boolean
): Promise<Array<Outcome>> {
  const outcomes: Array<Outcome> = contenders.map((contender) => ({
    contender,
    seconds: [],
    rssKiB: [],
    cpuSeconds: [],
    machineCpuSeconds: [],
    failure: contender.unavailable === undefined ? undefined : `n/a: ${contender.unavailable}`,
    skippedRuns: 0
  }))
  const live = () => outcomes.filter((o) => o.failure === undefined)
  if (warmup) {
    for (const o of live()) {
      progress(`${title}: warm-up ${o.contender.name}`)
      const { problem } = await runOnce(o.contender, true)
      if (problem !== undefined) o.failure = `FAILED: ${problem}`
    }
  }
  for (let r = 0; r < runs; r++) {
    const order = live()
    // Rotate the order each round.
    for (let k = 0; k < order.length; k++) {
      const o = order[(k + r) % order.length]!
      if (o.failure !== undefined) continue
      if (o.seconds.length > 0 && o.seconds.reduce((a, b) => a + b, 0) >= BUDGET_S) {
        o.skippedRuns++
        continue
      }
      progress(`${title}: run ${r + 1}/${runs} ${o.contender.name}`)
      const { result, problem } = await runOnce(o.contender, false)
      if (problem !== undefined) {
        o.failure = `FAILED: ${problem}`
        continue
      }
      o.seconds.push(result.seconds)
      if (result.maxRssKiB !== undefined) o.rssKiB.push(result.maxRssKiB)
      if (result.cpuSeconds !== undefined) o.cpuSeconds.push(result.cpuSeconds)
      if (result.machineCpuSeconds !== undefined) o.machineCpuSeconds.push(result.machineCpuSeconds)
    }
  }
  progress("")
  return outcomes
}

const progress = (text: string): void => {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`)
  else if (text !== "") process.stderr.write(`${text}\n`)
}

interface TableSpec {
  readonly title: string
  readonly outcomes: ReadonlyArray<Outcome>
  /** Name of the row the ratio column divides by. */
  readonly baseline: string
  readonly ratioHeader: string
  readonly rate: (seconds: number) => string
  readonly rateHeader: string
  readonly notes: ReadonlyArray<string>
  /** Add each contender's note (off when an earlier table already explained the same clients). */
  readonly contenderNotes?: boolean
}

function table(spec: TableSpec): Table {
  const base = spec.outcomes.find((o) => o.contender.name === spec.baseline)
  const baseMedian = base !== undefined && base.seconds.length > 0 ? median(base.seconds) : undefined
  const rows = spec.outcomes.map((o) => {
    const name = o.contender.name
    if (o.seconds.length === 0) return [name, o.failure ?? "no run", "", "", "", "", ""]
    const med = median(o.seconds)
    const min = Math.min(...o.seconds)
    const max = Math.max(...o.seconds)
    const n = `${o.seconds.length}${o.skippedRuns > 0 ? "*" : ""}`
    return [
      name,
      fmtSeconds(med),
      `${fmtSeconds(min)}–${fmtSeconds(max)}`,
      n,
      spec.rate(med),
      baseMedian === undefined ? "?" : fmtRatio(med / baseMedian),
      o.rssKiB.length > 0 ? fmtMiB(Math.max(...o.rssKiB)) : "?"
    ]
  })
  const notes = [...spec.notes]
  if (spec.outcomes.some((o) => o.skippedRuns > 0))
    notes.push(
      `n marked * (e.g. 1*): fewer runs than asked, the client's runs used up the ${BUDGET_S} s budget per scenario (--budget)`
    )
  for (const o of spec.outcomes)
    if (o.seconds.length > 0 && o.failure !== undefined) notes.push(`${o.contender.name}: a later run ${o.failure}`)
  if (spec.contenderNotes !== false)
    for (const o of spec.outcomes) if (o.contender.note !== undefined) notes.push(o.contender.note)
  // No rate column when there is no rate (start-up).
  const keep = (row: ReadonlyArray<string>) => (spec.rateHeader === "" ? row.filter((_, i) => i !== 4) : row)
  return {
    title: spec.title,
    header: keep(["client", "median s", "min–max s", "n", spec.rateHeader, spec.ratioHeader, "peak RSS"]),
    rows: rows.map(keep),
    notes
  }
}

// ---------------------------------------------------------------------------------------
// Helpers around the servers

/** Median round trip of a POP3 command through `port` (CAPA, which needs no login). */
async function roundTrip(port: number, samples = 7): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, noDelay: true })
    const times: Array<number> = []
    let buffer = ""
    let sentAt = 0
    let greeted = false
    const ping = () => {
      sentAt = performance.now()
      socket.write("CAPA\r\n")
    }
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => {
      buffer += chunk
      if (!greeted) {
        if (!buffer.includes("\r\n")) return
        greeted = true
        buffer = ""
        ping()
        return
      }
      if (!buffer.endsWith("\r\n.\r\n")) return
      times.push(performance.now() - sentAt)
      buffer = ""
      if (times.length < samples) return ping()
      socket.end("QUIT\r\n")
      resolve(median(times))
    })
    socket.on("error", reject)
  })
}

function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect({ host: "127.0.0.1", port })
      socket.once("connect", () => {
        socket.destroy()
        resolve()
      })
      socket.once("error", () => {
        socket.destroy()
        if (Date.now() > deadline) reject(new Error(`nothing listens on port ${port} after ${timeoutMs} ms`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net")
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const version = (command: string, args: ReadonlyArray<string>, pattern: RegExp): string => {
  try {
    const text = execFileSync(command, [...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    return pattern.exec(text)?.[1] ?? "?"
  } catch (error) {
    const text = String((error as { stderr?: unknown }).stderr ?? "")
    return pattern.exec(text)?.[1] ?? "not installed"
  }
}

function machineFacts(): Array<string> {
  const cpuModel = (() => {
    try {
      const info = readFileSync("/proc/cpuinfo", "utf8")
      return /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? cpus()[0]?.model ?? "?"
    } catch {
      return cpus()[0]?.model ?? "?"
    }
  })()
  return [
    `date: ${new Date().toISOString()}`,
    `CPU: ${cpuModel}, ${cpus().length} cores; RAM ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Linux ${release()}`,
    `Node ${process.version} (clients and bench); Dovecot ${version("/usr/sbin/dovecot", ["--version"], /^(\S+)/)}; ` +
      `mpop ${version("mpop", ["--version"], /mpop version (\S+)/)}; ` +
      `Python ${version("/usr/bin/python3", ["--version"], /Python (\S+)/)}; ` +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format, not a template
      `websockify ${version("dpkg-query", ["-W", "-f", "${Version}", "websockify"], /^(\S+)/)}`,
    "everything on one machine over loopback: Dovecot, the clients, the proxies and the bridge share the CPU cores",
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} (anything else running skews the numbers; compare min–max)`
  ]
}

// ---------------------------------------------------------------------------------------
// Main

installSignalHandlers()
const tables: Array<Table> = []
const started = performance.now()

try {
  if (process.getuid?.() !== 0)
    throw new Error("the benchmark starts Dovecot, which needs root (mail owned by uid 65534)")
  if (currentCli().kind === "bundle" && flags["no-build"] !== true) {
    // Measure the sources as they are now, bundled as users get them.
    progress("building dist/ (scripts/build.ts)…")
    const { buildAll } = await import("../scripts/build.ts")
    await buildAll()
  }
  accessSync(currentCli().path, constants.R_OK)
  if (!haveTime) process.stderr.write("bench: /usr/bin/time missing (apt-get install time): no peak RSS\n")
  const work = await mkdtemp(join(tmpdir(), "pop3-bench-"))
  onCleanup("work directory", () => rm(work, { recursive: true, force: true }))
  scratch = ON_TMPFS ? await mkdtemp(join(SHM, "pop3-bench-")) : work
  if (ON_TMPFS) onCleanup("tmpfs directory", () => rm(scratch, { recursive: true, force: true }))

  progress(`starting Dovecot with ${MESSAGES} bulk messages…`)
  const dovecot: Dovecot = await startDovecot({ bulkMessages: MESSAGES })
  onCleanup("Dovecot", () => dovecot.stop())
  const caFile = join(work, "ca.pem")
  await writeFile(caFile, dovecot.ca)
  const bulk: Account = { user: "bulk", password: dovecot.users.bulk.password, caFile }

  // Dovecot builds its index of the bulk mailbox on first login: do it now, not in someone's run.
  const index = await runOnce(
    rawRetr({
      plain: { host: "127.0.0.1", port: dovecot.port },
      user: "bulk",
      password: bulk.password,
      msg: 1,
      bytes: -1
    }),
    false
  )
  if (index.problem !== undefined) throw new Error(`Dovecot does not serve the bulk mailbox: ${index.problem}`)

  const facts = [...machineFacts(), `pop3 measured: ${describeCli()}`]
  const maildirNote = ON_TMPFS
    ? `Maildirs on tmpfs (${SHM}): every client still fsyncs each message (mpop, poplib, node-pop3: the file; pop3 fetch: the file, plus new/, cur/ and its state file about once a second), but fsync costs nothing there — use --disk to include this machine's disk`
    : `Maildirs on the disk (${tmpdir()}): fsync per message for every client (mpop, poplib, node-pop3: the file; pop3 fetch: the file, plus new/, cur/ and its state file about once a second); this VM's fsync latency varies a lot, see min–max`

  // ------------------------------------------------------------------ 0: start-up
  if (ONLY.has("0")) {
    const python = ["/usr/bin/python3", "/usr/local/bin/python3"].find((p) => {
      try {
        accessSync(p, constants.X_OK)
        return true
      } catch {
        return false
      }
    })
    const startup = (name: string, command: string, args: ReadonlyArray<string>, note?: string): Contender => ({
      name,
      note,
      prepare: async () => ({ command, args, timeoutMs: 60_000 }),
      verify: async (_dir, result) =>
        result.code === 0 ? undefined : `exit ${result.code}: ${result.stderr.trim().slice(0, 120)}`
    })
    const cli = currentCli()
    const contenders = chosen([
      startup(
        "pop3 --version",
        process.execPath,
        [cli.path, "--version"],
        cli.kind === "bundle"
          ? "pop3 --version: the bundle's entry and the version chunk only (bin.ts answers a bare --version before loading main), compiled from Node's compile cache after the first start"
          : "pop3 --version: loads the whole CLI from source — ~30 TypeScript files type-stripped by Node at each start, effect (~160 modules, most of them pulled in by effect/socket → Schema), @noble/hashes"
      ),
      startup(
        "pop3 --help",
        process.execPath,
        [cli.path, "--help"],
        "pop3 --help: loads the CLI's main module (effect, the client, the auth registry for the usage text) but no transport and no fetch code — what every network command pays before connecting; a bare --version is answered before main is loaded"
      ),
      startup("node -e 0", process.execPath, ["-e", "0"], "node -e 0: Node itself, nothing loaded"),
      startup("mpop --version", "mpop", ["--version"]),
      ...(python !== undefined
        ? [startup("python3 -c 'import poplib, ssl'", python, ["-c", "import poplib, ssl"])]
        : [])
    ])
    const outcomes = await measure("0 start-up", contenders, Math.max(RUNS, 5), true)
    tables.push(
      table({
        title: "0. Process start-up, no network (what every CLI run pays first)",
        outcomes,
        baseline: "mpop --version",
        ratioHeader: "time vs mpop",
        rateHeader: "",
        rate: () => "",
        notes: ["at least 5 runs each, whatever --runs says"]
      })
    )
  }

  // ------------------------------------------------------------------ 1 and 2: bulk fetch
  const bulkContenders = (o: BulkOptions): Array<Contender> =>
    chosen([pop3Fetch(o), pop3Fetch(o, "plain"), mpop(o), poplib(o), nodePop3(o)])
  // Table 2 has the same clients: their notes go under table 1 only (when it ran).
  const bulkTable = (
    title: string,
    outcomes: ReadonlyArray<Outcome>,
    extra: ReadonlyArray<string>,
    contenderNotes = true
  ) =>
    table({
      contenderNotes,
      title,
      outcomes,
      baseline: "mpop",
      ratioHeader: "time vs mpop",
      rateHeader: "messages/s",
      rate: (s) => (MESSAGES / s).toFixed(0),
      notes: extra
    })

  if (ONLY.has("1")) {
    const o: BulkOptions = {
      plain: { host: "127.0.0.1", port: dovecot.port },
      implicit: { host: "127.0.0.1", port: dovecot.tlsPort },
      account: bulk,
      messages: MESSAGES
    }
    const outcomes = await measure("1 bulk", bulkContenders(o), RUNS, WARMUP)
    tables.push(
      bulkTable(`1. Bulk: ${MESSAGES} small messages over STLS into a Maildir (loopback, no added latency)`, outcomes, [
        "every run starts with an empty Maildir and fresh state, so each client downloads and stores all messages; the count is checked",
        "seconds are wall time of the whole process (start-up, TLS, login, UIDL, RETRs, fsyncs, QUIT)",
        maildirNote
      ])
    )

    // 1b. The same clients polling again: every message already stored and recorded.
    const polls = await measure("1b nothing new", chosen([pop3Fetch(o, "plain"), mpop(o)]).map(nothingNew), RUNS, false)
    tables.push(
      table({
        title: `1b. Nothing new: the same ${MESSAGES} messages, already fetched (a poll that finds no mail)`,
        outcomes: polls,
        baseline: "mpop, nothing new",
        ratioHeader: "time vs mpop",
        rateHeader: "",
        rate: () => "",
        contenderNotes: false,
        notes: [
          "each run first fetches the mailbox untimed, then the timed run fetches again: UIDL (and LIST) only, no RETR; the Maildir must hold the same messages afterwards",
          "what is left is each client's fixed cost: start-up, connect, TLS, login, the listings, the state file"
        ]
      })
    )

    if (flags["cpu-prof"] !== undefined) {
      const dir = flags["cpu-prof"]
      const profiled = pop3Fetch({ ...o, nodeFlags: ["--cpu-prof", "--cpu-prof-dir", dir] })
      progress("profiling pop3 fetch…")
      const { result, problem } = await runOnce(profiled, false)
      progress("")
      if (problem !== undefined) process.stderr.write(`bench: profiled run failed: ${problem}\n`)
      else process.stdout.write(`\n${await summarizeProfile(dir, result.seconds)}\n`)
    }
  }

  if (ONLY.has("2")) {
    const plainProxy = await startDelayProxy({ targetHost: "127.0.0.1", targetPort: dovecot.port, oneWayMs: RTT / 2 })
    onCleanup("delay proxy (plain)", () => plainProxy.close())
    const tlsProxy = await startDelayProxy({ targetHost: "127.0.0.1", targetPort: dovecot.tlsPort, oneWayMs: RTT / 2 })
    onCleanup("delay proxy (TLS)", () => tlsProxy.close())
    const direct = await roundTrip(dovecot.port)
    const delayed = await roundTrip(plainProxy.port)
    const o: BulkOptions = {
      plain: { host: "127.0.0.1", port: plainProxy.port },
      implicit: { host: "127.0.0.1", port: tlsProxy.port },
      account: bulk,
      messages: MESSAGES
    }
    const outcomes = await measure(`2 latency ${RTT} ms`, bulkContenders(o), RUNS, false)
    tables.push(
      bulkTable(
        `2. Latency-bound: the same ${MESSAGES} messages with ${RTT} ms added round trip`,
        outcomes,
        [
          `through bench/delay-proxy.ts (each chunk released ${RTT / 2} ms after arrival, each way; TLS end to end); ` +
            `measured POP3 round trip ${delayed.toFixed(1)} ms through the proxy vs ${direct.toFixed(2)} ms direct`,
          `a serial client pays ≥ ${MESSAGES} × ${RTT} ms = ${((MESSAGES * RTT) / 1000).toFixed(0)} s in waiting alone; no warm-up run here (the server is warm from scenario 1)`,
          maildirNote,
          ...(ONLY.has("1") ? ["clients as in table 1"] : [])
        ],
        !ONLY.has("1")
      )
    )
    await plainProxy.close()
    await tlsProxy.close()
  }

  // ------------------------------------------------------------------ 6: round trips per command
  if (ONLY.has("6")) {
    const proxy = await startDelayProxy({ targetHost: "127.0.0.1", targetPort: dovecot.port, oneWayMs: RTT / 2 })
    onCleanup("delay proxy (round trips)", () => proxy.close())
    progress("counting round trips…")
    const o: BulkOptions = {
      plain: { host: "127.0.0.1", port: proxy.port },
      implicit: { host: "127.0.0.1", port: dovecot.tlsPort },
      account: bulk,
      messages: MESSAGES
    }
    tables.push(await roundTripTable(o, proxy, RTT, scratch))
    progress("")
    await proxy.close()
  }

  // ------------------------------------------------------------------ 3 and 4: one large message
  if (ONLY.has("3") || ONLY.has("4")) {
    progress(`writing a ${(LARGE_BYTES / 1e6).toFixed(0)} MB message…`)
    const large = await seedLargeMessage(dovecot.users.empty.maildir, LARGE_BYTES, "large message")
    const lo: LargeOptions = {
      plain: { host: "127.0.0.1", port: dovecot.port },
      user: "empty",
      password: dovecot.users.empty.password,
      msg: 1,
      bytes: large.bytes
    }
    const mb = large.bytes / 1e6
    const mbRate = (bytes: number) => (s: number) => (bytes / 1e6 / s).toFixed(0)

    if (ONLY.has("3")) {
      const outcomes = await measure(
        "3 large",
        chosen([
          rawRetr(lo),
          pop3Retr(
            lo,
            "pop3 retr",
            undefined,
            `pop3 retr: \`pop3 --tls none retr 1 > /dev/null\` (${describeCli()}, as a child process): decoding, unstuffing and writing stdout with backpressure`
          )
        ]),
        RUNS,
        WARMUP
      )
      const notes = [
        `plain TCP (--tls none) so the client is measured, not TLS; ${large.bytes.toLocaleString("en")} bytes on the wire, CRLF lines of 76 characters`,
        "peak RSS is the whole process (Node's own baseline is roughly 40–50 MiB)"
      ]
      if (GIGABYTE) {
        // Memory while streaming: the peak RSS of the same command with bob's three small
        // messages (idle) and then with a 1 GB one added; the difference is what the message
        // costs. Every run is checked (pop3: the bytes it wrote; mpop: each message's size).
        const bob = dovecot.users.bob
        const smallOnes = dovecot.messages("bob")
        const lfSize = (m: Uint8Array) => m.length - m.filter((b, i) => b === 10 && m[i - 1] === 13).length
        const small: LargeOptions = { ...lo, user: "bob", password: bob.password, msg: 1, bytes: smallOnes[0]!.length }
        // stdout into a file in the run's directory (tmpfs unless --disk), written like
        // /dev/null (synchronously) but with its size checked in every run.
        const counted = (c: Contender, bytes: number): Contender => ({
          ...c,
          prepare: async (d) => ({ ...(await c.prepare(d)), stdout: "file", stdoutFile: join(d, "stdout") }),
          verify: async (d, result) =>
            (await c.verify(d, result)) ??
            (result.stdoutBytes === bytes ? undefined : `wrote ${result.stdoutBytes} bytes, expected ${bytes}`)
        })
        // pop3 over TLS too: its reads reuse buffers there as well (core/transport/node.ts,
        // after STLS too), and TLS adds its own memory.
        const overTls = (o: LargeOptions, bytes: number) =>
          (
            [
              ["pop3 retr implicit TLS", { mode: "implicit", port: dovecot.tlsPort, caFile }],
              ["pop3 retr STLS", { mode: "starttls", port: dovecot.port, caFile }]
            ] as const
          ).map(([name, tls]) => counted(pop3Retr({ ...o, tls }, name), bytes))
        const idle = await measure(
          "3 idle",
          chosen([
            counted(pop3Retr(small, "pop3 retr"), small.bytes),
            ...overTls(small, small.bytes),
            mpopCount(small, "mpop", smallOnes.map(lfSize))
          ]),
          3,
          false
        )
        progress("writing a 1 GB message…")
        const big = await seedLargeMessage(bob.maildir, 1_000_000_000, "one gigabyte")
        // bob's three seeded messages come first: the new one is number 4.
        const go: LargeOptions = { ...lo, user: "bob", password: bob.password, msg: 4, bytes: big.bytes }
        const gb = await measure(
          "3 1 GB",
          chosen([
            rawRetr(go),
            counted(pop3Retr(go, "pop3 retr"), go.bytes),
            ...overTls(go, go.bytes),
            mpopCount(go, "mpop", [...smallOnes.map(lfSize), big.bytes - big.lines])
          ]),
          1,
          false
        )
        const idleOf = (name: string) => idle.find((o) => o.contender.name === name)?.rssKiB
        const row = (o: Outcome) => {
          if (o.seconds.length === 0) return `${o.contender.name}: ${o.failure ?? "no run"}`
          const base = idleOf(o.contender.name)
          const idleKiB = base !== undefined && base.length > 0 ? median(base) : undefined
          const growth =
            idleKiB !== undefined && o.rssKiB[0] !== undefined
              ? `, idle ${fmtMiB(idleKiB)}, peak − idle ${fmtMiB(Math.max(0, o.rssKiB[0] - idleKiB))}`
              : ""
          return `${o.contender.name}: ${fmtSeconds(o.seconds[0]!)} s, ${(big.bytes / 1e6 / o.seconds[0]!).toFixed(0)} MB/s, peak RSS ${fmtMiB(o.rssKiB[0])}${growth}`
        }
        notes.push(
          `1 GB message (${big.bytes.toLocaleString("en")} bytes, one run each, pop3's stdout into a file whose size is checked): ${gb.map(row).join("; ")} — ` +
            "pop3 retr: plain TCP, then implicit TLS and STLS (--ca); " +
            "idle = median peak RSS of the same command on bob's small messages (pop3 retr 1; mpop fetching the three); target for pop3: peak − idle ≤ 16 MiB"
        )
      }
      tables.push(
        table({
          title: `3. One ${mb.toFixed(0)} MB message to /dev/null over plain TCP`,
          outcomes,
          baseline: "raw socket",
          ratioHeader: "time vs raw",
          rateHeader: "MB/s",
          rate: mbRate(large.bytes),
          notes
        })
      )
    }

    if (ONLY.has("4")) {
      // pop3-bridge in its own process, as it is deployed and as websockify runs: hosted in
      // this benchmark's process (startBridge) it measured 1.8–2.1× direct where the same
      // code in a process of its own measured 1.3–1.5× (2026-12-04, runs alternating).
      const bridgePort = await freePort()
      const bridgeEntry =
        currentCli().kind === "bundle" ? join(REPO, "dist/pop3-bridge.js") : join(REPO, "bridge/main.ts")
      const bridge = startDaemon(process.execPath, [
        bridgeEntry,
        "--listen",
        `127.0.0.1:${bridgePort}`,
        "--allow",
        `127.0.0.1:${dovecot.port}`,
        "--max-connections-per-client",
        "1000",
        // every timed run is a new session from 127.0.0.1
        "--session-rate",
        "off"
      ])
      onCleanup("bridge", () => stopDaemon(bridge))
      await waitForPort(bridgePort)
      const wsPort = await freePort()
      const websockify = startDaemon("websockify", [`127.0.0.1:${wsPort}`, `127.0.0.1:${dovecot.port}`])
      onCleanup("websockify", () => stopDaemon(websockify))
      const websockifyError = await Promise.race([
        waitForPort(wsPort).then(() => undefined),
        new Promise<string>((resolve) => websockify.once("error", (e) => resolve(e.message)))
      ]).catch((e: unknown) => (e instanceof Error ? e.message : String(e)))

      // A 20 MB message too (alice's, also 4b's), fetched the same three ways in the same
      // rounds: the difference between the two sizes is the throughput of a path without
      // its fixed costs (start-up, connect, login), which the 100 MB times include.
      progress(`writing a ${BROWSER_MB} MB message…`)
      // After alice's seeded messages (its file name sorts after theirs): the next number.
      const forBrowser = await seedLargeMessage(dovecot.users.alice.maildir, BROWSER_MB * 1e6, "browser message")
      const smaller: LargeOptions = {
        ...lo,
        user: "alice",
        password: dovecot.users.alice.password,
        msg: dovecot.messages("alice").length + 1,
        bytes: forBrowser.bytes
      }
      const small = (name: string) => `${name}, ${BROWSER_MB} MB`
      const paths = (o: LargeOptions, named: (name: string) => string) => {
        const viaWebsockify = pop3Retr(
          o,
          named("pop3 via websockify"),
          `ws://127.0.0.1:${wsPort}/pop3`,
          "websockify: Debian's websockify (Python) relaying to the same plain port; its target is fixed, so the URL's query is ignored"
        )
        return [
          pop3Retr(o, named("pop3 direct")),
          pop3Retr(
            o,
            named("pop3 via pop3-bridge"),
            `ws://127.0.0.1:${bridgePort}/pop3`,
            `pop3-bridge: ${relative(REPO, bridgeEntry)} in a process of its own, tls=none upstream to Dovecot's plain port, ws:// on loopback`
          ),
          websockifyError === undefined
            ? viaWebsockify
            : { ...viaWebsockify, unavailable: `websockify did not start: ${websockifyError}` }
        ]
      }
      // The floor (table 4e): the same two paths for a client with no library at all, so
      // what the relay hop itself costs on this machine is told apart from what pop3 adds.
      const floors = (o: LargeOptions, named: (name: string) => string) => {
        const note =
          "raw socket: bench/runners/raw-retr.ts, no library — USER/PASS/RETR, bytes counted to the terminator, nothing parsed or written; via pop3-bridge the WebSocket handshake and frames are done by hand (commands masked, payloads counted where they lie)"
        return [
          rawRetr(o, undefined, named("raw socket direct"), note),
          rawRetr(o, `ws://127.0.0.1:${bridgePort}/pop3`, named("raw socket via pop3-bridge"), note)
        ]
      }
      const large100 = chosen(paths(lo, (name) => name))
      // At least 9 rounds (1 with --quick): the three paths differ by tens of milliseconds,
      // and with 3 rounds one slow run moved the bytes-only ratio from 0.93 to 0.72
      // (2026-12-05, idle machine). A round of all ten runs takes ~2.3 s.
      const RELAY_RUNS = quick ? RUNS : Math.max(RUNS, 9)
      const all = await measure(
        "4 bridge",
        [
          ...large100,
          ...chosen(floors(lo, (name) => name)),
          ...chosen(paths(smaller, small)),
          ...chosen(floors(smaller, small))
        ],
        RELAY_RUNS,
        WARMUP
      )
      const outcomes = all.filter((o) => large100.some((c) => c.name === o.contender.name))
      const medianOf = (name: string) => {
        const seconds = all.find((o) => o.contender.name === name)?.seconds ?? []
        return seconds.length > 0 ? median(seconds) : undefined
      }
      // Each round's relay time over the same round's direct time, the median of those: a
      // slow stretch of the machine (other VMs on the host) lands on both runs of a round,
      // where the ratio of medians takes each median from different rounds.
      const pairedRatio = (direct: string, relayed: string) => {
        const d = all.find((o) => o.contender.name === direct)?.seconds ?? []
        const r = all.find((o) => o.contender.name === relayed)?.seconds ?? []
        const n = Math.min(d.length, r.length)
        return n === 0 ? undefined : median(Array.from({ length: n }, (_, i) => r[i]! / d[i]!))
      }
      const paired = (relayed: string) => {
        const ratio = pairedRatio("pop3 direct", relayed)
        return ratio === undefined ? `${relayed}: ?` : `${relayed} ${fmtRatio(ratio)} (${(1 / ratio).toFixed(2)})`
      }
      tables.push(
        table({
          title: `4. The ${mb.toFixed(0)} MB message through a WebSocket relay vs direct (plain TCP upstream)`,
          outcomes,
          baseline: "pop3 direct",
          ratioHeader: "time vs direct",
          rateHeader: "MB/s",
          rate: mbRate(large.bytes),
          notes: [
            `all three run the same CLI (\`pop3 … retr 1 > /dev/null\`); the relays add a WebSocket hop on loopback; ${RELAY_RUNS} rounds (at least 9 unless --quick, whatever --runs says)`,
            "through a bridge the CLI opens its WebSocket before it loads the client (node-websocket-preconnect, which loads ws and not Effect), so the greeting's wait hides behind the loading; direct with --tls none connects after loading (the CLI preconnects TCP only for STLS)",
            `paired by round (the median of each round's time over that round's direct time; the column is the ratio of the medians): ${paired("pop3 via pop3-bridge")}, ${paired("pop3 via websockify")}`
          ]
        })
      )
      // Throughput without the fixed costs: the extra megabytes over the extra time.
      const extraMb = (large.bytes - forBrowser.bytes) / 1e6
      const bodyRate = (name: string) => {
        const big = medianOf(name)
        const little = medianOf(small(name))
        return big === undefined || little === undefined || big <= little ? undefined : extraMb / (big - little)
      }
      const directRate = bodyRate("pop3 direct")
      tables.push({
        title: `4c. Throughput without the fixed costs: the ${mb.toFixed(0)} MB message against the ${BROWSER_MB} MB one`,
        header: [
          "path",
          `${BROWSER_MB} MB s`,
          `${mb.toFixed(0)} MB s`,
          "MB/s of the difference",
          "throughput vs direct"
        ],
        rows: outcomes.map((o) => {
          const name = o.contender.name
          const little = medianOf(small(name))
          const big = medianOf(name)
          const rate = bodyRate(name)
          return [
            name,
            little === undefined ? "failed" : fmtSeconds(little),
            big === undefined ? "failed" : fmtSeconds(big),
            rate === undefined ? "?" : rate.toFixed(0),
            rate === undefined || directRate === undefined ? "?" : fmtRatio(rate / directRate)
          ]
        }),
        notes: [
          `medians of the same rounds as table 4 (the ${BROWSER_MB} MB message is alice's, fetched the same three ways in each round); MB/s of the difference = ${extraMb.toFixed(0)} MB / (t${mb.toFixed(0)} − t${BROWSER_MB}): start-up, connect, login and the WebSocket upgrade cancel out`,
          "table 4's ratio is of whole runs, fixed costs included; this one is of the bytes alone"
        ]
      })
      // The floor: how close to direct any client can come through the relay here.
      const viaBridge = (direct: number | undefined, relayed: number | undefined) =>
        direct === undefined || relayed === undefined
          ? "?"
          : `${fmtRatio(relayed / direct)} (${(direct / relayed).toFixed(2)})`
      const bytesOnly = (direct: string, relayed: string) => {
        const d = bodyRate(direct)
        const r = bodyRate(relayed)
        return d === undefined || r === undefined ? "?" : fmtRatio(r / d)
      }
      const floorRow = (label: string, direct: string, relayed: string) => [
        label,
        medianOf(direct) === undefined ? "failed" : fmtSeconds(medianOf(direct)!),
        medianOf(relayed) === undefined ? "failed" : fmtSeconds(medianOf(relayed)!),
        viaBridge(medianOf(direct), medianOf(relayed)),
        viaBridge(medianOf(small(direct)), medianOf(small(relayed))),
        bytesOnly(direct, relayed),
        ((ratio) => (ratio === undefined ? "?" : `${fmtRatio(ratio)} (${(1 / ratio).toFixed(2)})`))(
          pairedRatio(direct, relayed)
        )
      ]
      tables.push({
        title: `4e. The floor: the relay hop for a client with no library (${mb.toFixed(0)} MB message)`,
        header: [
          "client",
          "direct s",
          "via pop3-bridge s",
          `time vs direct (speed), ${mb.toFixed(0)} MB`,
          `time vs direct (speed), ${BROWSER_MB} MB`,
          "bytes-only throughput vs direct",
          `paired by round, ${mb.toFixed(0)} MB`
        ],
        rows: [
          floorRow("raw socket (no library)", "raw socket direct", "raw socket via pop3-bridge"),
          floorRow("pop3 (the CLI)", "pop3 direct", "pop3 via pop3-bridge")
        ],
        notes: [
          "medians of the same rounds as table 4; speed = direct time / time through the bridge; bytes only as in table 4c; paired by round as in table 4's last note",
          "the raw socket's row is the most any client can get through the relay on this machine: it adds only the hop (a third process on the same cores, the WebSocket framing, the upgrade), so pop3's ratio over it is what the library costs on that path (loading ws and http, ws's handshake and frame parsing) beyond what the hop costs everyone",
          "the raw socket logs in with USER/PASS and asks nothing else; pop3 makes more round trips, each through the relay: CAPA before and after the login, and the mechanism it chooses (SCRAM with Dovecot: three where USER/PASS take two)"
        ]
      })
      // Where the CPU went: on a machine with fewer cores than busy processes, a relay's
      // work is time taken from the client and the server, not only latency added.
      const cores = availableParallelism()
      tables.push({
        title: `4d. Where the CPU went in the ${mb.toFixed(0)} MB runs (${cores} cores)`,
        header: ["path", "wall s", "client CPU s", "everything else s", "machine busy s", `busy / (${cores} × wall)`],
        rows: outcomes.map((o) => {
          if (o.seconds.length === 0) return [o.contender.name, "failed", "", "", "", ""]
          const wall = median(o.seconds)
          const client = o.cpuSeconds.length > 0 ? median(o.cpuSeconds) : undefined
          const busy = o.machineCpuSeconds.length > 0 ? median(o.machineCpuSeconds) : undefined
          return [
            o.contender.name,
            fmtSeconds(wall),
            client === undefined ? "?" : fmtSeconds(client),
            client === undefined || busy === undefined ? "?" : fmtSeconds(Math.max(0, busy - client)),
            busy === undefined ? "?" : fmtSeconds(busy),
            busy === undefined ? "?" : `${((100 * busy) / (cores * wall)).toFixed(0)} %`
          ]
        }),
        notes: [
          "medians of the same runs as table 4; client CPU = user + system of the pop3 process (/usr/bin/time); machine busy = every core's non-idle time over the run (/proc/stat), so everything else = Dovecot, the relay, the kernel's loopback work and whatever else ran",
          `direct, two processes share the ${cores} cores; through a relay, three: once the machine is near 100 % busy, the relay's CPU is taken from the client and Dovecot, so on this machine the ratio to direct is bounded by the CPU the relay adds, not by the relay's latency`
        ]
      })
      await stopDaemon(websockify)
      await stopDaemon(bridge)

      tables.push(
        await browserRetrTable({
          port: dovecot.port,
          user: "alice",
          password: dovecot.users.alice.password,
          msg: dovecot.messages("alice").length + 1,
          path: await currentPath(forBrowser.path),
          runs: RUNS,
          progress
        })
      )
    }
  }

  // ------------------------------------------------------------------ 9: per-message cost
  if (ONLY.has("9") && !interrupted()) {
    // Two more Dovecots, one per mailbox size (the harness has one bulk mailbox each); the
    // same clients as table 1 fetch all of each, alternating, and the slope between the two
    // medians is what one more message costs.
    const sizes = [SLOPE_FROM, SLOPE_TO] as const
    const medians = new Map<string, Array<number | undefined>>()
    const cpuMedians = new Map<string, Array<number | undefined>>()
    const failures: Array<string> = []
    const floorNotes = new Set<string>()
    for (const [k, n] of sizes.entries()) {
      progress(`starting Dovecot with ${n} bulk messages…`)
      const server = await startDovecot({ bulkMessages: n })
      onCleanup(`Dovecot (${n})`, () => server.stop())
      const ca = join(work, `ca-${n}.pem`)
      await writeFile(ca, server.ca)
      const o: BulkOptions = {
        plain: { host: "127.0.0.1", port: server.port },
        implicit: { host: "127.0.0.1", port: server.tlsPort },
        account: { user: "bulk", password: server.users.bulk.password, caFile: ca },
        messages: n
      }
      const outcomes = await measure(
        `9 slope ${n}`,
        chosen([pop3Fetch(o, "plain"), mpop(o), rawFetch(o)]),
        RUNS,
        WARMUP
      )
      for (const out of outcomes) {
        const row = medians.get(out.contender.name) ?? []
        row[k] = out.seconds.length > 0 ? median(out.seconds) : undefined
        medians.set(out.contender.name, row)
        const cpu = cpuMedians.get(out.contender.name) ?? []
        cpu[k] = out.cpuSeconds.length > 0 ? median(out.cpuSeconds) : undefined
        cpuMedians.set(out.contender.name, cpu)
        if (out.failure !== undefined) failures.push(`${out.contender.name} (${n}): ${out.failure}`)
        if (out.contender.name === "Node floor" && out.contender.note !== undefined) floorNotes.add(out.contender.note)
      }
      await server.stop()
    }
    const slopeOf = (row: ReadonlyArray<number | undefined>) =>
      row[0] !== undefined && row[1] !== undefined ? ((row[1] - row[0]) / (SLOPE_TO - SLOPE_FROM)) * 1e6 : undefined
    const mpopSlope = slopeOf(medians.get("mpop") ?? [])
    const mpopCpuSlope = slopeOf(cpuMedians.get("mpop") ?? [])
    const floorSlope = slopeOf(medians.get("Node floor") ?? [])
    tables.push({
      title: `9. Per-message cost: fetch of ${SLOPE_FROM} and of ${SLOPE_TO} messages (STLS, AUTH PLAIN, loopback)`,
      header: [
        "client",
        `${SLOPE_FROM} s`,
        `${SLOPE_TO} s`,
        "µs per message",
        "slope vs mpop",
        "slope vs Node floor",
        "CPU µs per message",
        "CPU slope vs mpop"
      ],
      rows: [...medians].map(([name, row]) => {
        const slope = slopeOf(row)
        const cpuSlope = slopeOf(cpuMedians.get(name) ?? [])
        return [
          name,
          row[0] === undefined ? "failed" : fmtSeconds(row[0]),
          row[1] === undefined ? "failed" : fmtSeconds(row[1]),
          slope === undefined ? "?" : slope.toFixed(0),
          slope === undefined || mpopSlope === undefined ? "?" : fmtRatio(slope / mpopSlope),
          slope === undefined || floorSlope === undefined ? "?" : fmtRatio(slope / floorSlope),
          cpuSlope === undefined ? "?" : cpuSlope.toFixed(0),
          cpuSlope === undefined || mpopCpuSlope === undefined ? "?" : fmtRatio(cpuSlope / mpopCpuSlope)
        ]
      }),
      notes: [
        `medians of ${RUNS} runs per size, each after an untimed warm-up; every run stores all messages into a fresh Maildir (the count is checked)`,
        `µs per message = (median at ${SLOPE_TO} − median at ${SLOPE_FROM}) / ${SLOPE_TO - SLOPE_FROM}: what one more message costs, start-up, TLS and login cancelled out`,
        "pop3 fetch with --auth plain, the mechanism mpop picks, so the fixed costs match too (they cancel anyway)",
        "CPU = user + system time of the client process (/usr/bin/time), the same medians and slope: it leaves out waiting for Dovecot and for other processes, so it holds better than wall time on a busy machine",
        ...floorNotes,
        ...(floorNotes.size > 0
          ? [
              "so pop3's slope over the Node floor's is what the library itself costs per message (engine, pipeline, Effect, sync engine, Maildir store); the floor's over mpop's is what Node costs"
            ]
          : []),
        maildirNote,
        ...failures
      ]
    })
  }

  if (ONLY.has("5") && !interrupted()) {
    progress("5: the bridge under load…")
    tables.push(
      await bridgeLoadTable({
        sessions: flags.quick === true ? 1000 : 4000,
        streams: 20,
        streamMb: 5,
        malloc: true,
        backlog511: true
      })
    )
  }

  if (ONLY.has("7") && !interrupted()) {
    progress("7: end-to-end TLS against TLS at the bridge (Node, Chromium, bundle)…")
    // 20 MB at most: subtls decrypts in the page at a few MB/s, and each mode runs per runtime.
    const mb = Math.min(LARGE_BYTES / 1e6, quick ? 5 : 20)
    tables.push(...(await endToEndTlsTables({ handshakes: quick ? 5 : 15, runs: RUNS, mb })))
    progress("")
  }

  if (ONLY.has("8") && !interrupted()) {
    progress("8: a big message in the web demo (Chromium)…")
    tables.push(await bigMessageBrowserTable(dovecot, RUNS))
    progress("")
  }

  // The demo on the dev server's 100,000-message mailbox (bench/big-mailbox.ts); no Dovecot.
  if (ONLY.has("10") && !interrupted()) {
    progress("10: a mailbox of 100,000 messages in Chromium…")
    const { bigMailboxTable, bigMailboxFailed } = await import("./big-mailbox.ts")
    tables.push(await bigMailboxTable().catch(bigMailboxFailed))
    progress("")
  }

  // ------------------------------------------------------------------ output
  const elapsed = (performance.now() - started) / 1000
  const footer = [
    ...facts,
    `load average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
    `runs per client: ${RUNS} timed (median; min–max shown) after one untimed warm-up that also checks the result; benchmark took ${elapsed.toFixed(0)} s`
  ]
  process.stdout.write("\n" + footer.map((f) => `# ${f}`).join("\n") + "\n\n")
  for (const t of tables) process.stdout.write(renderText(t) + "\n\n")
  process.stdout.write("---- Markdown ----\n\n")
  process.stdout.write(footer.map((f) => `- ${f}`).join("\n") + "\n\n")
  for (const t of tables) process.stdout.write(renderMarkdown(t) + "\n\n")
} catch (error) {
  if (!interrupted())
    process.stderr.write(`\nbench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exitCode = 1
} finally {
  progress("cleaning up…")
  await cleanup()
  progress("")
}
