// The same client on Node, Deno and Bun against one real Dovecot: test/runtimes/scenario.ts
// runs as a child process of each runtime (through the automatic transport, so each uses
// its native TCP/TLS: Deno.startTls and Bun's upgradeTLS for STLS), one session per TLS
// mode, and how connecting fails. Then the `pop3` CLI itself under `deno run` and `bun`,
// and each transport's flow control (test/runtimes/backpressure.ts) against a local server.
// Every assertion names the runtime and the mode.
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer as createHttpServer } from "node:http"
import { createServer } from "node:net"
import type { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { runtimeBin, runtimesAvailable } from "../support/runtimes.ts"
import { silentServer } from "../support/tcp-peers.ts"
import type { Mode, ScenarioInput, StepResult } from "../runtimes/scenario.ts"
import { firstWrong, pattern } from "../runtimes/pattern.ts"
import {
  closedPort,
  firstDifference,
  listenOnLoopback,
  maildirHolds,
  stallingStlsServer,
  topOf,
  uid,
  UID_VALIDITY
} from "./helpers.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const BIN = join(ROOT, "core", "cli", "bin.ts")
const SCENARIO = join(ROOT, "test", "runtimes", "scenario.ts")
const BACKPRESSURE = join(ROOT, "test", "runtimes", "backpressure.ts")
const bin = runtimeBin

type Runtime = "node" | "deno" | "bun"
const RUNTIMES: ReadonlyArray<Runtime> = ["node", "deno", "bun"]
const MODES: ReadonlyArray<Mode> = ["implicit", "starttls", "none"]

const haveRuntimes = requireService("Deno and Bun", runtimesAvailable(["node", "deno", "bun"]))
const available = haveRuntimes && requireService("Dovecot", dovecotAvailable())

/**
 * The command line that runs a script on a runtime. Deno gets only what the client needs:
 * the loopback network, the environment (the scenario's input, POP3_PASSWORD), reading
 * the CA file's directory and, for `pop3 fetch`, writing there.
 */
const command = (
  runtime: Runtime,
  readable: string | undefined,
  writable?: string
): { readonly file: string; readonly args: ReadonlyArray<string> } => {
  switch (runtime) {
    case "node":
      return { file: bin("node"), args: [] }
    case "deno":
      return {
        file: bin("deno"),
        args: [
          "run",
          "--no-prompt",
          "--allow-net=127.0.0.1,localhost",
          "--allow-env",
          ...(readable === undefined ? [] : [`--allow-read=${readable}`]),
          // The Maildir file names carry the host name (os.hostname()).
          ...(writable === undefined ? [] : [`--allow-write=${writable}`, "--allow-sys=hostname"])
        ]
      }
    case "bun":
      return { file: bin("bun"), args: [] }
  }
}

interface Run {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
  readonly millis: number
}

function run(
  runtime: Runtime,
  readable: string | undefined,
  argv: ReadonlyArray<string>,
  env: Record<string, string>,
  onLine?: (line: string) => void,
  writable?: string
): Promise<Run> {
  const { file, args } = command(runtime, readable, writable)
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args, ...argv], {
      cwd: ROOT,
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: process.env["HOME"] ?? "/root",
        NO_COLOR: "1",
        DENO_NO_UPDATE_CHECK: "1",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    let partial = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out.push(chunk)
      if (onLine === undefined) return
      const lines = (partial + chunk.toString("utf8")).split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) onLine(line)
    })
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    // A hung child must not hang the suite: it is killed and its output shown.
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("error", reject)
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({
        code,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString("utf8"),
        millis: performance.now() - started
      })
    })
  })
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

describe.skipIf(!available)("one client on Node, Deno and Bun against Dovecot", () => {
  let server: Dovecot | undefined
  // A server that accepts connections and never says anything (a TLS handshake there hangs).
  let silent: Awaited<ReturnType<typeof silentServer>> | undefined
  const silentCleanups: Array<() => Promise<void>> = []
  let stalling: Awaited<ReturnType<typeof stallingStlsServer>> | undefined
  let dir = ""
  let caFile = ""
  const results = new Map<Runtime, { readonly run: Run; readonly lines: ReadonlyArray<StepResult> }>()
  const timings: Array<string> = []
  const started = performance.now()
  const d = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }

  beforeAll(async () => {
    server = await startDovecot({ bulkMessages: 0 })
    silent = await silentServer(silentCleanups)
    stalling = await stallingStlsServer()
    dir = await mkdtemp(join(tmpdir(), "pop3-runtimes-"))
    caFile = join(dir, "ca.pem")
    await writeFile(caFile, server.ca)
    const alice = server.messages("alice")
    const input: ScenarioInput = {
      host: server.host,
      servername: "localhost",
      port: server.port,
      tlsPort: server.tlsPort,
      ca: server.ca,
      user: "alice",
      password: server.users.alice.password,
      modes: MODES,
      closedPort: await closedPort(),
      silentPort: silent.port,
      stallingStlsPort: stalling.port,
      expected: {
        sizes: alice.map((m) => m.length),
        uidls: alice.map((_, i) => uid(i + 1, UID_VALIDITY.alice)),
        sha256: alice.map(sha256),
        top: { msg: 2, lines: 3, sha256: sha256(topOf(alice[1], 3)) }
      }
    }
    // The three runtimes at once: sessions of one user may overlap (DELE is always undone
    // by RSET, and a failed session sends RSET before QUIT).
    await Promise.all(
      RUNTIMES.map(async (runtime) => {
        const r = await run(runtime, dir, [SCENARIO], { POP3_SCENARIO: JSON.stringify(input) })
        const lines = r.stdout
          .toString("utf8")
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as StepResult)
        results.set(runtime, { run: r, lines })
        timings.push(`${runtime} scenario ${r.millis.toFixed(0)} ms`)
      })
    )
  })

  afterAll(async () => {
    await server?.stop()
    for (const cleanup of silentCleanups) await cleanup()
    await stalling?.close()
    if (dir !== "") await rm(dir, { recursive: true, force: true })
    timings.push(`whole file ${(performance.now() - started).toFixed(0)} ms`)
    process.stdout.write(`[runtimes.test.ts timings] ${timings.join("; ")}\n`)
  })

  const outcome = (runtime: Runtime) => {
    const result = results.get(runtime)
    if (result === undefined) throw new Error(`${runtime} did not run`)
    return result
  }
  /** Why a run's output may be incomplete, for assertion messages. */
  const context = (runtime: Runtime): string => {
    const { run: r } = outcome(runtime)
    return `${runtime} exited ${r.code}; stderr: ${r.stderr.trim().slice(-2000) || "(empty)"}`
  }
  const stepsOf = (runtime: Runtime, mode: Mode | "failures") => outcome(runtime).lines.filter((l) => l.mode === mode)

  describe.each(RUNTIMES)("%s", (runtime) => {
    it(`${runtime} runs the scenario and picks its own transport`, () => {
      const first = outcome(runtime).lines[0]
      expect(first?.actual, context(runtime)).toEqual({ runtime, transport: runtime })
      expect(outcome(runtime).run.code, context(runtime)).toBe(0)
    })

    it.each(MODES)(`${runtime} × %s: login, STAT, LIST, UIDL, TOP, RETR byte-exact, DELE, RSET, QUIT`, (mode) => {
      const steps = stepsOf(runtime, mode)
      const messages = d().messages("alice")
      const want: Record<string, unknown> = {
        connect: { secure: mode !== "none" },
        login: "TRANSACTION",
        stat: { count: messages.length, size: messages.reduce((n, m) => n + m.length, 0) },
        list: messages.map((m) => m.length),
        uidl: messages.map((_, i) => uid(i + 1, UID_VALIDITY.alice)),
        top: sha256(topOf(messages[1], 3)),
        retr: messages.map(sha256),
        dele: { count: messages.length - 1 },
        rset: { count: messages.length },
        quit: "CLOSED"
      }
      for (const [name, value] of Object.entries(want)) {
        const line = steps.find((s) => s.step === name)
        const where = `${runtime} × ${mode}, ${name}`
        expect(line, `${where}: no result line (${context(runtime)})`).toBeDefined()
        expect(line?.error, `${where} failed`).toBeUndefined()
        expect(line?.actual, where).toEqual(value)
      }
      timings.push(`${runtime} × ${mode} ${steps.reduce((n, s) => n + s.ms, 0).toFixed(0)} ms`)
    })

    it(`${runtime}: connection failures are typed — untrusted or misnamed certificate, insecure, refused, timeout`, () => {
      const steps = new Map(stepsOf(runtime, "failures").map((s) => [s.step, s]))
      // The messages differ (OpenSSL in Node and Bun, rustls in Deno); each names the check that failed.
      const untrusted = {
        error: { tag: "TlsError", message: expect.stringMatching(/self.signed certificate|UnknownIssuer/i) }
      }
      const misnamed = { error: { tag: "TlsError", message: expect.stringMatching(/altnames|not valid for name/i) } }
      // Deno cannot skip verification per connection: insecure must fail, and say so.
      const insecure =
        runtime === "deno"
          ? { error: { tag: "TlsError", message: expect.stringMatching(/insecure.*not supported on Deno/) } }
          : { actual: { secure: true } }
      const want: Record<string, unknown> = {
        "implicit without the CA": untrusted,
        "starttls without the CA": untrusted,
        "implicit, wrong name": misnamed,
        "starttls, wrong name": misnamed,
        "implicit, insecure": insecure,
        "starttls, insecure": insecure,
        "closed port": { error: { tag: "ConnectError", message: expect.any(String) } },
        "silent server": { error: { tag: "TimeoutError", message: expect.any(String) } },
        "stalled STLS": {
          error: { tag: "TimeoutError", message: "timed out after 300 ms waiting for the TLS handshake after STLS" }
        },
        "implicit TLS to the plaintext port": {
          error: {
            tag: "TlsError",
            message: expect.stringMatching(/the server did not answer with TLS \(is this a plaintext port\?\)$/)
          }
        },
        // Bun upgrades a socket to a host name; with an IP address it fails as Deno does.
        "starttls through pop3-everywhere/node":
          runtime !== "deno"
            ? { actual: { secure: true } }
            : {
                error: {
                  tag: "TlsError",
                  message: expect.stringMatching(
                    /^TLS .*STLS through pop3-everywhere\/node does not work on Deno; use pop3-everywhere\/transport \(or \/deno\)/
                  )
                }
              }
      }
      for (const [name, value] of Object.entries(want)) {
        expect(steps.get(name), `${runtime}: ${name} (${context(runtime)})`).toMatchObject(value as object)
      }
    })
  })

  // The CLI contract is the same on every runtime: only the transport underneath differs.
  describe.each(["deno", "bun"] as const)("the pop3 CLI on %s", (runtime) => {
    const pop3 = (argv: ReadonlyArray<string>) =>
      run(runtime, dir, [BIN, "--host", "localhost", "--ca", caFile, "--user", "alice", ...argv], {
        POP3_PASSWORD: d().users.alice.password
      })
    const pop3Bob = (argv: ReadonlyArray<string>) =>
      run(runtime, dir, [BIN, "--host", "localhost", "--ca", caFile, "--user", "bob", ...argv], {
        POP3_PASSWORD: d().users.bob.password
      })

    it(`${runtime}: --tls starttls list`, async () => {
      const r = await pop3(["--port", String(d().port), "--tls", "starttls", "list"])
      timings.push(`${runtime} CLI list ${r.millis.toFixed(0)} ms`)
      expect(r.stderr, `${runtime} CLI stderr`).toBe("")
      expect(r.code).toBe(0)
      const want = d()
        .messages("alice")
        .map((m, i) => `${i + 1} ${m.length}\n`)
        .join("")
      expect(r.stdout.toString("utf8")).toBe(want)
    })

    it(`${runtime}: --tls starttls retr 1 is byte-exact`, async () => {
      const r = await pop3(["--port", String(d().port), "--tls", "starttls", "retr", "1"])
      timings.push(`${runtime} CLI retr 1 ${r.millis.toFixed(0)} ms`)
      expect(r.stderr, `${runtime} CLI stderr`).toBe("")
      expect(r.code).toBe(0)
      expect(firstDifference(r.stdout, d().messages("alice")[0])).toBeUndefined()
    })

    it(`${runtime}: --tls implicit retr 5 (5 MB) is byte-exact`, async () => {
      const r = await pop3(["--port", String(d().tlsPort), "--tls", "implicit", "retr", "5"])
      timings.push(`${runtime} CLI retr 5 ${r.millis.toFixed(0)} ms`)
      expect(r.stderr, `${runtime} CLI stderr`).toBe("")
      expect(r.code).toBe(0)
      expect(firstDifference(r.stdout, d().messages("alice")[4])).toBeUndefined()
    })

    it.each(["starttls", "implicit"] as const)(
      `${runtime}: pop3 fetch --tls %s stores bob's messages byte-exact; a second run fetches none`,
      async (tls) => {
        const maildir = join(dir, `fetch-${runtime}-${tls}`)
        const port = String(tls === "implicit" ? d().tlsPort : d().port)
        const fetch = () =>
          run(
            runtime,
            dir,
            [
              BIN,
              "--host",
              "localhost",
              "--ca",
              caFile,
              "--user",
              "bob",
              "--port",
              port,
              "--tls",
              tls,
              "fetch",
              "--maildir",
              maildir,
              "--json"
            ],
            {
              POP3_PASSWORD: d().users.bob.password
            },
            undefined,
            dir
          )
        const first = await fetch()
        expect(first.stderr, `${runtime} fetch stderr`).toBe("")
        expect(first.code).toBe(0)
        const count = d().messages("bob").length
        expect(JSON.parse(first.stdout.toString("utf8"))).toMatchObject({ fetched: count, skipped: 0, deleted: 0 })
        expect(maildirHolds(maildir, d().messages("bob"))).toEqual({ missing: [], duplicated: [], strangers: 0 })
        const second = await fetch()
        expect(second.code, second.stderr).toBe(0)
        expect(JSON.parse(second.stdout.toString("utf8"))).toMatchObject({ fetched: 0, skipped: count })
      }
    )

    it(`${runtime}: pop3 fetch --delete over implicit TLS leaves Dovecot's mailbox empty`, async () => {
      const maildir = join(dir, `fetch-${runtime}-delete`)
      const count = d().messages("bob").length
      try {
        const r = await run(
          runtime,
          dir,
          [
            BIN,
            "--host",
            "localhost",
            "--ca",
            caFile,
            "--user",
            "bob",
            "--port",
            String(d().tlsPort),
            "--tls",
            "implicit",
            "fetch",
            "--maildir",
            maildir,
            "--delete",
            "--json"
          ],
          { POP3_PASSWORD: d().users.bob.password },
          undefined,
          dir
        )
        expect(r.stderr, `${runtime} fetch stderr`).toBe("")
        expect(r.code).toBe(0)
        expect(JSON.parse(r.stdout.toString("utf8"))).toMatchObject({ fetched: count, deleted: count })
        expect(maildirHolds(maildir, d().messages("bob"))).toEqual({ missing: [], duplicated: [], strangers: 0 })
        const stat = await pop3Bob(["--port", String(d().tlsPort), "--tls", "implicit", "stat"])
        expect(stat.stdout.toString("utf8")).toBe("0 0\n")
      } finally {
        await d().reset()
      }
    })

    it(`${runtime}: an untrusted certificate exits 3 (network) with one line`, async () => {
      const r = await run(
        runtime,
        dir,
        [BIN, "--host", "localhost", "--port", String(d().port), "--user", "alice", "stat"],
        {
          POP3_PASSWORD: d().users.alice.password
        }
      )
      expect(r.code).toBe(3)
      expect(r.stdout.length).toBe(0)
      expect(r.stderr).toMatch(/^pop3: .*certificate.*\n$/i)
    })
  })
})

/**
 * Runs test/runtimes/backpressure.ts on `runtime` against a server here: the server sends
 * `read` bytes as fast as the client lets it, and does not read until the client's write
 * is under way. Returns how far the server got while the client did not pull, and what
 * the server received. No assertion depends on timing: the client stops pulling until the
 * control port answers, which happens only after the sample (`settleMillis` into its pause);
 * the server starts reading only after `settleMillis` into the client's write, and the
 * write must resolve after that (`order`). A slow machine can only make the check weaker.
 */
async function flowControl(runtime: Runtime, read: number, write: number, settleMillis: number) {
  let offered = 0
  let stalledAt: number | undefined
  let received = 0
  let wrong: number | undefined
  let peer: Socket | undefined
  const order: Array<string> = []
  const server = createServer((socket) => {
    peer = socket
    // Not reading (explicitly paused, so the data listener below does not resume it).
    socket.pause()
    socket.on("error", () => undefined)
    socket.on("data", (chunk: Buffer) => {
      wrong ??= firstWrong(chunk, received)
      received += chunk.length
      if (received >= write) socket.end()
    })
    const pump = () => {
      while (offered < read) {
        const length = Math.min(64 * 1024, read - offered)
        const more = socket.write(pattern(offered, length))
        offered += length
        if (!more) return void socket.once("drain", pump)
      }
    }
    pump()
  })
  const timers: Array<ReturnType<typeof setTimeout>> = []
  // The client waits on this request while it does not pull.
  const control = createHttpServer((_request, response) => {
    timers.push(
      setTimeout(() => {
        stalledAt = offered
        order.push("sampled")
        response.end("resume")
      }, settleMillis)
    )
  })
  const port = await listenOnLoopback(server)
  const controlPort = await listenOnLoopback(control)
  const lines: Array<Record<string, unknown>> = []
  try {
    const r = await run(
      runtime,
      undefined,
      [BACKPRESSURE, String(port), String(read), String(write), String(controlPort)],
      {},
      (text) => {
        if (!text.startsWith("{")) return
        const line = JSON.parse(text) as Record<string, unknown>
        lines.push(line)
        order.push(String(line["step"]))
        // The client is about to write; let its write meet a peer that does not read, for a while.
        if (line["step"] === "read") {
          timers.push(
            setTimeout(() => {
              order.push("peer reads")
              peer?.resume()
            }, settleMillis)
          )
        }
      }
    )
    return { run: r, lines, stalledAt, received, wrong, order }
  } finally {
    for (const timer of timers) clearTimeout(timer)
    peer?.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await new Promise<void>((resolve) => control.close(() => resolve()))
  }
}

describe.skipIf(!haveRuntimes)("flow control of the automatic transport on Node, Deno and Bun", () => {
  const READ = 32 * 1024 * 1024
  const WRITE = 16 * 1024 * 1024
  const SETTLE = 500

  it.each(RUNTIMES)(
    "%s: a reader that stops pulling stops the sender; a write larger than the socket buffers waits for the peer and loses nothing",
    async (runtime) => {
      const f = await flowControl(runtime, READ, WRITE, SETTLE)
      const context = `${runtime} exited ${f.run.code}; stderr: ${f.run.stderr.trim().slice(-2000) || "(empty)"}; lines: ${JSON.stringify(f.lines)}`
      expect(f.run.code, context).toBe(0)
      const step = (name: string) => f.lines.find((l) => l["step"] === name)
      // Only the kernel's buffers (a few MB on loopback) may fill while nobody pulls.
      expect(f.stalledAt, context).toBeDefined()
      expect(
        f.stalledAt!,
        `${runtime}: the server pushed ${f.stalledAt} bytes while the client did not pull`
      ).toBeLessThan(READ / 2)
      expect(step("read"), context).toEqual({ step: "read", received: READ, firstBad: null })
      // The sample was taken while the client waited, and the client went on only after it.
      expect(f.order.slice(0, 3), context).toEqual(["paused", "sampled", "resumed"])
      // The socket buffers hold far less than WRITE: the write resolves only after the peer reads.
      expect(step("wrote"), context).toMatchObject({ step: "wrote", bytes: WRITE })
      expect(
        f.order.filter((e) => e === "peer reads" || e === "wrote"),
        `${runtime}: the write resolved before the peer read it`
      ).toEqual(["peer reads", "wrote"])
      expect(f.received, `${runtime}: bytes the server received`).toBe(WRITE)
      expect(f.wrong, `${runtime}: first wrong byte the server received`).toBeUndefined()
      expect(step("closed"), context).toEqual({ step: "closed", reason: "SocketCloseError" })
    }
  )
})
