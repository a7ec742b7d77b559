/**
 * Scenario 6: round trips per command. Each command runs once through the delay proxy,
 * whose counter (`DelayProxy.roundTrips`) gives the round trips the client waited for —
 * the TCP connect, each TLS handshake flight and each POP3 exchange the client did not
 * pipeline. pop3 and mpop do the same exchange (STLS, AUTH PLAIN) against the same Dovecot;
 * every run's result is checked (exit status, output, messages stored).
 */
import { join } from "node:path"
import { mkdir } from "node:fs/promises"
import type { DelayProxy } from "./delay-proxy.ts"
import { countMaildir, fmtSeconds, type RunResult, type RunSpec, runMeasured, type Table } from "./lib.ts"
import { type BulkOptions, mpop, pop3Argv } from "./runners/contenders.ts"

interface Step {
  readonly command: string
  readonly pop3?: RunSpec
  readonly mpop?: RunSpec
  /** Undefined when the result is right. */
  readonly check: (result: RunResult) => Promise<string | undefined>
}

interface Counted {
  readonly trips: number
  readonly seconds: number
  readonly problem: string | undefined
}

const exited = (result: RunResult): string | undefined =>
  result.timedOut
    ? "timed out"
    : result.code === 0
      ? undefined
      : `exit ${result.code ?? result.signal}: ${result.stderr.trim().split("\n").at(-1)?.slice(0, 120) ?? ""}`

/** Runs each command once per client through `proxy` and tabulates the round trips. */
export async function roundTripTable(o: BulkOptions, proxy: DelayProxy, rtt: number, scratch: string): Promise<Table> {
  const popDir = join(scratch, "rt-pop3")
  const mpopDir = join(scratch, "rt-mpop")
  await mkdir(popDir, { recursive: true })
  await mkdir(mpopDir, { recursive: true })
  const base = pop3Argv(o, "plain")
  const pop3 = (args: ReadonlyArray<string>, stdout: RunSpec["stdout"] = "collect"): RunSpec => ({
    command: process.execPath,
    args: [...base, ...args],
    env: { POP3_PASSWORD: o.account.password },
    stdout,
    timeoutMs: 300_000
  })
  const fetchArgs = ["fetch", "--maildir", join(popDir, "Maildir"), "--state", join(popDir, "state.json")]
  // mpop's command line: the bench's mpop contender writes the config into mpopDir (its
  // uidls file stays there, so the second fetch finds nothing new).
  // --status-only prints only without -q.
  const mpopSpec = async (extra: ReadonlyArray<string>): Promise<RunSpec> => {
    const spec = await mpop(o).prepare(mpopDir)
    const args = extra.includes("--status-only") ? spec.args.filter((a) => a !== "-q") : spec.args
    return { ...spec, args: [...args.slice(0, -1), ...extra, args.at(-1)!], stdout: "collect" }
  }
  const holds = (dir: string) => async (result: RunResult) => {
    const bad = exited(result)
    if (bad !== undefined) return bad
    const n = await countMaildir(join(dir, "Maildir"))
    return n === o.messages ? undefined : `stored ${n} of ${o.messages} messages`
  }
  const steps: Array<Step> = [
    {
      command: "stat",
      pop3: pop3(["stat"]),
      mpop: await mpopSpec(["--status-only"]),
      check: async (r) =>
        exited(r) ??
        (new RegExp(`\\b${o.messages}\\b`).test(r.stdout)
          ? undefined
          : `no count of ${o.messages} in ${JSON.stringify(r.stdout.slice(0, 80))}`)
    },
    {
      command: "list",
      pop3: pop3(["list"]),
      check: async (r) =>
        exited(r) ?? (r.stdout.trim().split("\n").length === o.messages ? undefined : "not every message listed")
    },
    {
      command: "retr 1",
      pop3: pop3(["retr", "1"], "count"),
      check: async (r) => exited(r) ?? (r.stdoutBytes > 0 ? undefined : "no bytes")
    },
    {
      command: `fetch of ${o.messages}`,
      pop3: pop3(fetchArgs),
      mpop: await mpopSpec([]),
      check: async () => undefined
    },
    { command: "fetch, nothing new", pop3: pop3(fetchArgs), mpop: await mpopSpec([]), check: async () => undefined }
  ]
  const run = async (
    spec: RunSpec | undefined,
    check: (r: RunResult) => Promise<string | undefined>,
    dir: string
  ): Promise<Counted | undefined> => {
    if (spec === undefined) return undefined
    const before = proxy.roundTrips()
    const result = await runMeasured(spec, join(dir, "time.out"))
    return { trips: proxy.roundTrips() - before, seconds: result.seconds, problem: await check(result) }
  }
  const rows: Array<Array<string>> = []
  for (const step of steps) {
    const fetching = step.command.startsWith("fetch")
    const p = await run(step.pop3, fetching ? holds(popDir) : step.check, popDir)
    const m = await run(step.mpop, fetching ? holds(mpopDir) : step.check, mpopDir)
    const cell = (c: Counted | undefined) =>
      c === undefined
        ? ["—", "—"]
        : c.problem !== undefined
          ? [`FAILED: ${c.problem}`, ""]
          : [String(c.trips), fmtSeconds(c.seconds)]
    rows.push([step.command, ...cell(p), ...cell(m)])
  }
  return {
    title: `6. Round trips per command (STLS, AUTH PLAIN, ${rtt} ms added round trip)`,
    header: ["command", "pop3 round trips", "pop3 s", "mpop round trips", "mpop s"],
    rows,
    notes: [
      "counted by bench/delay-proxy.ts: the connect, plus each client write that follows server bytes released to the client since its previous write (TLS handshake flights included); one run each, results checked",
      "pop3 runs with --auth plain, the mechanism mpop picks here; mpop: --status-only for stat, its ordinary run for fetch (keep on, only_new on); mpop has no list or retr of one message (—)"
    ]
  }
}
