/**
 * The clients compared, each as a command line to run in a fresh directory, and a check
 * that it did its job (so a fast failure is never reported as a fast run).
 */
import { existsSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { RunResult, RunSpec } from "../lib.ts"
import { countMaildir, runMeasured } from "../lib.ts"
import { PIPELINE_REFILL, PIPELINE_WINDOW } from "../../core/client/pipeline.ts"

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
const NODE = process.execPath

// ---------------------------------------------------------------------------------------
// Which pop3 CLI runs: what users run

/** The TypeScript entry (type-stripped by Node at each start) or the bundle scripts/build.ts writes. */
export type CliKind = "source" | "bundle"

export const SOURCE_CLI = join(REPO, "core", "cli", "bin.ts")
export const BUNDLE_CLI = join(REPO, "dist", "pop3.js")

/** What package.json's `bin.pop3` points to: the bundle once `bin` names a file in dist/. */
export const installedCliKind = (): CliKind => {
  try {
    const bin =
      (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { bin?: Record<string, string> }).bin?.[
        "pop3"
      ] ?? ""
    return /(^|\/)dist\//.test(bin) && bin.endsWith(".js") ? "bundle" : "source"
  } catch {
    return "source"
  }
}

let cliKind: CliKind = installedCliKind()
/** Chooses the CLI every pop3 contender runs (bench/run.ts --cli). */
export const useCli = (kind: CliKind): void => {
  cliKind = kind
}
export const currentCli = (): { readonly kind: CliKind; readonly path: string } => ({
  kind: cliKind,
  path: cliKind === "bundle" ? BUNDLE_CLI : SOURCE_CLI
})
/** How the tables name it. */
export const describeCli = (): string =>
  cliKind === "bundle"
    ? "the bundled CLI, dist/pop3.js (scripts/build.ts; Node's compile cache on, as bin.ts sets it)"
    : "the TypeScript sources, core/cli/bin.ts, type-stripped by Node at each start"

/** One client in one scenario. */
export interface Contender {
  readonly name: string
  /** Shown under the table (how it connects, what it does differently). */
  readonly note?: string | undefined
  /** Why it cannot run here; shown as "n/a: …" instead of numbers. */
  readonly unavailable?: string | undefined
  /** Builds the command for one run; `dir` is a fresh, empty directory for this run. */
  readonly prepare: (dir: string) => Promise<RunSpec>
  /** Undefined when the run did its job, else why not. */
  readonly verify: (dir: string, result: RunResult) => Promise<string | undefined>
}

export interface Endpoint {
  readonly host: string
  readonly port: number
}

export interface Account {
  readonly user: string
  readonly password: string
  readonly caFile: string
}

const failed = (result: RunResult): string | undefined => {
  if (result.timedOut) return "timed out"
  if (result.code === 0) return undefined
  const why = result.stderr
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .slice(-2)
    .join(" / ")
  return `exit ${result.code ?? result.signal}${why !== "" ? `: ${why.slice(0, 160)}` : ""}`
}

/** A Node script in bench/runners, the account's password in its environment. */
const runner = (script: string, args: ReadonlyArray<string>, password: string): RunSpec => ({
  command: NODE,
  args: [join(REPO, "bench", "runners", script), ...args],
  env: { POP3_PASSWORD: password },
  timeoutMs: 300_000
})

const maildirHolds =
  (expected: number) =>
  async (dir: string, result: RunResult): Promise<string | undefined> => {
    const bad = failed(result)
    if (bad !== undefined) return bad
    const n = await countMaildir(join(dir, "Maildir"))
    return n === expected ? undefined : `stored ${n} of ${expected} messages`
  }

/** Whether the CLI in this checkout has the fetch command yet. */
export const cliHasFetch = (): boolean => {
  try {
    // The parser is core/cli/argv.ts since the CLI's first lines parse before loading the rest.
    return ["argv.ts", "args.ts"].some((file) => {
      try {
        return /case "fetch"/.test(readFileSync(join(REPO, "core", "cli", file), "utf8"))
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------
// Bulk fetch into a Maildir

export interface BulkOptions {
  /** Plain POP3 endpoint (STLS follows), direct or through the delay proxy. */
  readonly plain: Endpoint
  /** Implicit-TLS endpoint, for clients without STLS. */
  readonly implicit: Endpoint
  readonly account: Account
  readonly messages: number
  /** Extra Node flags for the pop3 CLI (profiling). */
  readonly nodeFlags?: ReadonlyArray<string>
}

/**
 * `pop3 fetch`. `auth` "plain" adds `--auth plain` — the mechanism mpop picks against this
 * Dovecot — so the two can be compared doing the same exchange; the default is SASL auto,
 * which picks SCRAM-SHA-256 there.
 */
/** The `pop3` CLI and its connection flags for the bench's Dovecot over STLS (the command follows). */
export const pop3Argv = (o: BulkOptions, auth: "auto" | "plain" = "auto"): Array<string> => [
  currentCli().path,
  "--host",
  "localhost",
  "--port",
  String(o.plain.port),
  "--tls",
  "starttls",
  "--ca",
  o.account.caFile,
  "--user",
  o.account.user,
  ...(auth === "plain" ? ["--auth", "plain"] : [])
]

export function pop3Fetch(o: BulkOptions, auth: "auto" | "plain" = "auto"): Contender {
  return {
    name: auth === "auto" ? "pop3 fetch" : "pop3 fetch --auth plain",
    note:
      auth === "auto"
        ? `pop3 fetch: ${describeCli()}, as a child process (Node ${process.version}); STLS, SASL auto (SCRAM-SHA-256 here: three round trips and PBKDF2 with 4096 iterations), ` +
          `UIDL and LIST pipelined, pipelined RETR (window ${PIPELINE_WINDOW}), fsync per message`
        : "pop3 fetch --auth plain: the same with AUTH PLAIN (one round trip, no PBKDF2) — what mpop chooses against this Dovecot",
    unavailable: cliHasFetch() ? undefined : "the fetch command is not in core/cli yet",
    prepare: async (dir) => ({
      command: NODE,
      args: [
        ...(o.nodeFlags ?? []),
        ...pop3Argv(o, auth),
        "fetch",
        "--maildir",
        join(dir, "Maildir"),
        "--state",
        join(dir, "state.json")
      ],
      env: { POP3_PASSWORD: o.account.password },
      timeoutMs: 300_000
    }),
    verify: maildirHolds(o.messages)
  }
}

export function mpop(o: BulkOptions): Contender {
  const binary = "/usr/bin/mpop"
  return {
    name: "mpop",
    note: "mpop 1.4 (C, GnuTLS): STLS, auth on (it picks PLAIN here), pipelining auto, keep on, fresh uidls_file per run, received_header off (stores the same bytes as the others)",
    unavailable: existsSync(binary) ? undefined : "mpop not installed (apt-get install mpop)",
    prepare: async (dir) => {
      const maildir = join(dir, "Maildir")
      for (const sub of ["tmp", "new", "cur"]) await mkdir(join(maildir, sub), { recursive: true })
      const conf = join(dir, "mpoprc")
      await writeFile(
        conf,
        [
          "defaults",
          "timeout 60",
          "",
          "account bench",
          "host localhost",
          `port ${o.plain.port}`,
          "tls on",
          "tls_starttls on",
          `tls_trust_file ${o.account.caFile}`,
          "auth on",
          `user ${o.account.user}`,
          `password ${o.account.password}`,
          `delivery maildir ${maildir}`,
          "keep on",
          "only_new on",
          "received_header off",
          `uidls_file ${join(dir, "uidls")}`,
          ""
        ].join("\n"),
        { mode: 0o600 }
      )
      return { command: binary, args: ["-C", conf, "-q", "bench"], timeoutMs: 300_000 }
    },
    verify: maildirHolds(o.messages)
  }
}

/**
 * The floor in Node (bench/runners/raw-fetch.ts): the same exchange and the same five file
 * calls per message as `pop3 fetch`, and nothing else.
 */
export function rawFetch(o: BulkOptions): Contender {
  return {
    name: "Node floor",
    note:
      "Node floor: a Node script with no library (bench/runners/raw-fetch.ts): STLS, AUTH PLAIN, UIDL and LIST, RETR pipelined with pop3's window, " +
      "unstuffing and CRLF → LF, the same five synchronous file calls per message as pop3 fetch; no error recovery, no trace, no streaming — what any Node client pays",
    prepare: async (dir) =>
      runner(
        "raw-fetch.ts",
        [
          "localhost",
          String(o.plain.port),
          o.account.caFile,
          o.account.user,
          join(dir, "Maildir"),
          join(dir, "state.json"),
          String(PIPELINE_WINDOW),
          String(PIPELINE_REFILL)
        ],
        o.account.password
      ),
    verify: maildirHolds(o.messages)
  }
}

/**
 * `c` run a second time over what its first run stored: the poll of a mailbox with nothing
 * new (a cron job's usual run). The first run is part of `prepare`, so untimed; the timed
 * run must leave the Maildir exactly as it was (`c`'s own check: nothing added, nothing
 * fetched twice).
 */
export function nothingNew(c: Contender): Contender {
  return {
    ...c,
    name: `${c.name}, nothing new`,
    note: undefined,
    prepare: async (dir) => {
      const spec = await c.prepare(dir)
      const first = await runMeasured(spec, join(dir, "first.time"))
      const problem = await c.verify(dir, first)
      if (problem !== undefined) throw new Error(`the first run failed: ${problem}`)
      return spec
    }
  }
}

const PYTHON = ["/usr/bin/python3", "/usr/local/bin/python3"].find(existsSync)

export function poplib(o: BulkOptions): Contender {
  return {
    name: "python poplib",
    note: `python poplib (${PYTHON ?? "python3"}): STLS, USER/PASS, UIDL, serial RETR, fsync per message (bench/poplib_fetch.py)`,
    unavailable: PYTHON === undefined ? "python3 not installed" : undefined,
    prepare: async (dir) => ({
      command: PYTHON ?? "python3",
      args: [
        join(REPO, "bench", "poplib_fetch.py"),
        "localhost",
        String(o.plain.port),
        o.account.user,
        o.account.caFile,
        join(dir, "Maildir")
      ],
      env: { POP3_PASSWORD: o.account.password },
      timeoutMs: 300_000
    }),
    verify: maildirHolds(o.messages)
  }
}

export function nodePop3(o: BulkOptions): Contender {
  const installed = existsSync(join(REPO, "node_modules", "node-pop3", "package.json"))
  return {
    name: "node-pop3 (implicit TLS)",
    note:
      "node-pop3 0.11: no STLS support, so implicit TLS (TLS from the first byte, one round trip fewer); USER/PASS, UIDL, serial RETR, fsync per message; " +
      "it stores what node-pop3 returns, which is not byte-exact (no dot-unstuffing, the last line's newline dropped with the terminator)",
    unavailable: installed ? undefined : "node-pop3 not installed",
    prepare: async (dir) =>
      runner(
        "node-pop3-fetch.ts",
        ["localhost", String(o.implicit.port), o.account.user, o.account.caFile, join(dir, "Maildir")],
        o.account.password
      ),
    verify: maildirHolds(o.messages)
  }
}

// ---------------------------------------------------------------------------------------
// One large message to /dev/null

export interface LargeOptions {
  readonly plain: Endpoint
  readonly user: string
  readonly password: string
  readonly msg: number
  /** RETR body bytes (unstuffed, without the terminator); negative: do not check. */
  readonly bytes: number
  /** pop3Retr only: TLS instead of plain TCP (implicit TLS connects to `port`, STLS to `plain`). */
  readonly tls?: { readonly mode: "implicit" | "starttls"; readonly port: number; readonly caFile: string }
}

/** `pop3 retr N > /dev/null`, plain TCP (or `o.tls`), optionally through a WebSocket relay. */
export function pop3Retr(o: LargeOptions, name: string, bridgeUrl?: string, note?: string): Contender {
  return {
    name,
    note,
    prepare: async () => ({
      command: NODE,
      args: [
        currentCli().path,
        ...(bridgeUrl !== undefined ? ["--bridge", bridgeUrl] : []),
        "--host",
        "127.0.0.1",
        "--port",
        String(o.tls?.mode === "implicit" ? o.tls.port : o.plain.port),
        "--tls",
        o.tls?.mode ?? "none",
        ...(o.tls !== undefined ? ["--ca", o.tls.caFile] : []),
        "--user",
        o.user,
        "--timeout",
        "120",
        "retr",
        String(o.msg)
      ],
      env: { POP3_PASSWORD: o.password },
      timeoutMs: 300_000
    }),
    verify: async (_dir, result) => {
      const bad = failed(result)
      if (bad !== undefined) return bad
      // Only checkable when stdout was counted (the untimed warm-up run); else /dev/null.
      if (result.stdoutBytes > 0 && result.stdoutBytes !== o.bytes)
        return `wrote ${result.stdoutBytes} bytes, expected ${o.bytes}`
      return undefined
    }
  }
}

/**
 * The raw socket (bench/runners/raw-retr.ts): no library, no parsing, no output. With
 * `bridgeUrl`, the same through that WebSocket relay, the handshake and frames done by hand.
 */
export function rawRetr(o: LargeOptions, bridgeUrl?: string, name = "raw socket", note?: string): Contender {
  return {
    name,
    note:
      note ??
      "raw socket: a Node script (bench/runners/raw-retr.ts) that sends USER/PASS/RETR and counts bytes to the terminator — no parsing, no output: the limit on this machine",
    prepare: async () => ({
      ...runner(
        "raw-retr.ts",
        ["127.0.0.1", String(o.plain.port), o.user, String(o.msg), ...(bridgeUrl !== undefined ? [bridgeUrl] : [])],
        o.password
      ),
      stdout: "collect"
    }),
    verify: async (_dir, result) => {
      const bad = failed(result)
      if (bad !== undefined) return bad
      // The body as sent: the file's bytes plus the terminator's "." CRLF (its CRLF is the last line's).
      const got = Number(result.stdout.trim())
      return o.bytes < 0 || got === o.bytes + 3 ? undefined : `read ${got} bytes, expected ${o.bytes + 3}`
    }
  }
}

/**
 * mpop fetching every message of `o.user` over plain TCP into an MDA that counts each
 * message's bytes (`wc -c`), so nothing is stored: the large-message memory anchor. mpop
 * delivers with LF line ends, so a message of `lines` CRLF lines arrives `lines` bytes
 * shorter; `expected` are those sizes, checked in order.
 */
export function mpopCount(o: LargeOptions, name: string, expected: ReadonlyArray<number>): Contender {
  const binary = "/usr/bin/mpop"
  return {
    name,
    note: "mpop: the same account over plain TCP (tls off, USER/PASS), every message piped to an MDA that counts its bytes (`wc -c`), keep on, fresh uidls_file",
    unavailable: existsSync(binary) ? undefined : "mpop not installed (apt-get install mpop)",
    prepare: async (dir) => {
      const conf = join(dir, "mpoprc")
      await writeFile(
        conf,
        [
          "defaults",
          "timeout 120",
          "",
          "account bench",
          "host 127.0.0.1",
          `port ${o.plain.port}`,
          "tls off",
          "auth user",
          `user ${o.user}`,
          `password ${o.password}`,
          `delivery mda "wc -c >> ${join(dir, "sizes")}"`,
          "keep on",
          "only_new off",
          "received_header off",
          `uidls_file ${join(dir, "uidls")}`,
          ""
        ].join("\n"),
        { mode: 0o600 }
      )
      return { command: binary, args: ["-C", conf, "-q", "bench"], timeoutMs: 300_000 }
    },
    verify: async (dir, result) => {
      const bad = failed(result)
      if (bad !== undefined) return bad
      const sizes = existsSync(join(dir, "sizes"))
        ? readFileSync(join(dir, "sizes"), "utf8").trim().split("\n").map(Number)
        : []
      return sizes.join(",") === expected.join(",")
        ? undefined
        : `delivered sizes ${sizes.join(",")}, expected ${expected.join(",")}`
    }
  }
}
