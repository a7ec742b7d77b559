// The client and the CLI through a real pop3-bridge to a real Dovecot, all on loopback:
// client --WebSocket--> startBridge (allowlist: Dovecot's implicit-TLS port only, its CA
// added upstream) --TLS--> Dovecot. Every CLI command must print exactly what a direct
// connection prints; the 5 MB message must arrive byte for byte; a target off the
// allowlist must be refused by the bridge before Dovecot is contacted.
//
// Direct runs use `--host localhost` (the certificate names localhost and 127.0.0.1; a name
// keeps Node from sending an IP address as SNI). Bridged runs ask for 127.0.0.1, the exact
// address on the allowlist: a name would be resolved by the bridge to a loopback address,
// which it refuses unless that address is listed too.
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LogEntry } from "../../bridge/config.ts"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { collect, connect } from "../../core/client/client.ts"
import { BridgeError } from "../../core/errors.ts"
import type { ConnectOptions } from "../../core/client/options.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import type { Transport } from "../../core/transport/transport.ts"
import * as WebSocketTransport from "../../core/transport/websocket.ts"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { cli, firstDifference, topOf, uid, UID_VALIDITY } from "./helpers.ts"

const available = requireService("Dovecot", dovecotAvailable())

const metric = (text: string, name: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `))
  return line === undefined ? 0 : Number(line.slice(name.length + 1))
}

describe.skipIf(!available)("the client and the CLI through pop3-bridge to Dovecot", () => {
  let server: Dovecot | undefined
  let running: RunningBridge | undefined
  let dir: string | undefined
  let caFile = ""
  const logs: Array<LogEntry> = []
  const d = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }
  const b = (): RunningBridge => {
    if (running === undefined) throw new Error("the bridge did not start")
    return running
  }

  beforeAll(async () => {
    server = await startDovecot()
    running = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`127.0.0.1:${server.tlsPort}`],
      upstreamCa: [server.ca],
      log: (entry) => void logs.push(entry)
    })
    dir = await mkdtemp(join(tmpdir(), "pop3-bridge-interop-"))
    caFile = join(dir, "ca.pem")
    await writeFile(caFile, server.ca)
  })
  afterAll(async () => {
    await running?.close(1000)
    await server?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  type User = keyof Dovecot["users"]
  const pw = (user: User): string => d().users[user].password
  const total = (user: User): number =>
    d()
      .messages(user)
      .reduce((s, m) => s + m.length, 0)
  const bridgeUrl = (): string => `${b().url}/pop3`
  const direct = (): Array<string> => [
    "--host",
    "localhost",
    "--port",
    String(d().tlsPort),
    "--tls",
    "implicit",
    "--ca",
    caFile
  ]
  const bridged = (): Array<string> => [
    "--bridge",
    bridgeUrl(),
    "--host",
    "127.0.0.1",
    "--port",
    String(d().tlsPort),
    "--tls",
    "implicit"
  ]

  /** Runs one CLI command directly and through the bridge; both must succeed with identical bytes. */
  const both = async (user: User | undefined, command: ReadonlyArray<string>): Promise<Buffer> => {
    const who = user === undefined ? [] : ["--user", user]
    const password = user === undefined ? undefined : pw(user)
    const viaDirect = await cli([...direct(), ...who, ...command], password)
    const viaBridge = await cli([...bridged(), ...who, ...command], password)
    expect(viaDirect.stderr, `direct ${command.join(" ")}`).toEqual([])
    expect(viaDirect.code, `direct ${command.join(" ")}`).toBe(0)
    expect(viaBridge.stderr, `bridged ${command.join(" ")}`).toEqual([])
    expect(viaBridge.code, `bridged ${command.join(" ")}`).toBe(0)
    expect(
      firstDifference(viaBridge.stdout, viaDirect.stdout),
      `${command.join(" ")}: bridge vs direct`
    ).toBeUndefined()
    return viaBridge.stdout
  }

  describe("every CLI command prints the same bytes through --bridge as directly", () => {
    it("capa (before login)", async () => {
      const out = await both(undefined, ["capa"])
      const caps = out.toString("utf8").split("\n")
      expect(caps).toEqual(expect.arrayContaining(["TOP", "UIDL", "USER"]))
      // Implicit TLS on both paths: there is nothing to upgrade, so no STLS.
      expect(caps).not.toContain("STLS")
    })

    it("capa (after login)", async () => {
      const out = await both("alice", ["capa"])
      expect(out.toString("utf8")).toContain("UIDL\n")
    })

    it("stat", async () => {
      expect((await both("alice", ["stat"])).toString("utf8")).toBe(`5 ${total("alice")}\n`)
    })

    it("list and list 2", async () => {
      const all = await both("alice", ["list"])
      expect(all.toString("utf8")).toBe(
        d()
          .messages("alice")
          .map((m, i) => `${i + 1} ${m.length}\n`)
          .join("")
      )
      expect((await both("alice", ["list", "2"])).toString("utf8")).toBe(`2 ${d().messages("alice")[1]?.length}\n`)
    })

    it("uidl and uidl 3", async () => {
      const all = await both("alice", ["uidl"])
      expect(all.toString("utf8")).toBe(
        d()
          .messages("alice")
          .map((_, i) => `${i + 1} ${uid(i + 1, UID_VALIDITY.alice)}\n`)
          .join("")
      )
      expect((await both("alice", ["uidl", "3"])).toString("utf8")).toBe(`3 ${uid(3, UID_VALIDITY.alice)}\n`)
    })

    it("top 2 3 and top 1 0", async () => {
      expect(
        firstDifference(await both("alice", ["top", "2", "3"]), topOf(d().messages("alice")[1], 3))
      ).toBeUndefined()
      expect(
        firstDifference(await both("alice", ["top", "1", "0"]), topOf(d().messages("alice")[0], 0))
      ).toBeUndefined()
    })

    it("retr 1..4 (dot-stuffing, UTF-8, raw 8-bit)", async () => {
      for (let n = 1; n <= 4; n++) {
        expect(
          firstDifference(await both("alice", ["retr", String(n)]), d().messages("alice")[n - 1]),
          `message ${n}`
        ).toBeUndefined()
      }
    })

    it("--json retr 4 and --json uidl", async () => {
      const retr = JSON.parse((await both("alice", ["--json", "retr", "4"])).toString("utf8")) as { base64: string }
      expect(firstDifference(Buffer.from(retr.base64, "base64"), d().messages("alice")[3])).toBeUndefined()
      expect(JSON.parse((await both("alice", ["--json", "uidl"])).toString("utf8"))).toHaveLength(5)
    })

    it("dele 1 commits the same way on both paths", async () => {
      const stat = async () => (await cli([...direct(), "--user", "bob", "stat"], pw("bob"))).stdout.toString("utf8")
      const after = `2 ${total("bob") - d().messages("bob")[0]!.length}\n`
      try {
        for (const path of [direct(), bridged()]) {
          const r = await cli([...path, "--user", "bob", "dele", "1"], pw("bob"))
          expect(r).toEqual({ code: 0, stdout: Buffer.alloc(0), stderr: [] })
          expect(await stat()).toBe(after)
          await d().reset()
          expect(await stat()).toBe(`3 ${total("bob")}\n`)
        }
      } finally {
        await d().reset()
      }
    })
  })

  it("retr 5 (the ≥ 5 MB message) through the bridge is byte-exact, and the figures are logged", async () => {
    const large = d().messages("alice")[4]!
    expect(large.length).toBeGreaterThan(5_000_000)

    // The CLI, streaming to stdout.
    const viaCli = await cli([...bridged(), "--user", "alice", "retr", "5"], pw("alice"))
    expect(viaCli.stderr).toEqual([])
    expect(viaCli.code).toBe(0)
    expect(firstDifference(viaCli.stdout, large)).toBeUndefined()

    // The client API, timed direct vs bridged (not asserted: loopback figures vary).
    const retr = async (layer: Layer.Layer<Transport>, options: ConnectOptions) => {
      const started = performance.now()
      const exit = await Effect.runPromiseExit(
        Effect.gen(function* () {
          const auth = yield* connect(options)
          const mailbox = yield* auth.login({ user: "alice", password: pw("alice") })
          const bytes = yield* collect(mailbox.retr(5))
          yield* mailbox.quit
          return bytes
        }).pipe(Effect.scoped, Effect.provide(layer))
      )
      if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
      return { bytes: exit.value, millis: performance.now() - started }
    }
    const timings: Array<string> = []
    for (let round = 1; round <= 2; round++) {
      const directRun = await retr(NodeTransport.layer, {
        host: "localhost",
        port: d().tlsPort,
        tls: "implicit",
        ca: d().ca,
        timeout: 30_000
      })
      const bridgedRun = await retr(WebSocketTransport.layerGlobal(bridgeUrl()), {
        host: "127.0.0.1",
        port: d().tlsPort,
        tls: "implicit",
        timeout: 30_000
      })
      expect(firstDifference(directRun.bytes, large)).toBeUndefined()
      expect(firstDifference(bridgedRun.bytes, large)).toBeUndefined()
      const mbps = (ms: number) => (large.length / 1e6 / (ms / 1000)).toFixed(1)
      timings.push(
        `round ${round}: direct ${directRun.millis.toFixed(0)} ms (${mbps(directRun.millis)} MB/s), ` +
          `bridge ${bridgedRun.millis.toFixed(0)} ms (${mbps(bridgedRun.millis)} MB/s)`
      )
    }
    console.log(`[bridge.test.ts] connect+login+RETR of ${large.length} bytes+QUIT: ${timings.join("; ")}`)
  })

  it("a target off the allowlist: exit 3 with the bridge's reason, refused before Dovecot is contacted", async () => {
    const before = b().metrics.render()
    const refusedBefore = b().metrics.refusals.get("target_not_allowed") ?? 0
    const logsBefore = logs.length
    // Dovecot's plain port: a real, listening POP3 server, just not on the allowlist.
    const r = await cli(
      [
        "--bridge",
        bridgeUrl(),
        "--host",
        "127.0.0.1",
        "--port",
        String(d().port),
        "--tls",
        "none",
        "--user",
        "alice",
        "stat"
      ],
      pw("alice")
    )
    expect(r.code).toBe(3)
    expect(r.stdout.length).toBe(0)
    expect(r.stderr).toEqual([
      `pop3: the bridge closed the connection (4001: 127.0.0.1:${d().port} is not allowed by this bridge)`
    ])

    expect(b().metrics.refusals.get("target_not_allowed")).toBe(refusedBefore + 1)
    const after = b().metrics.render()
    expect(metric(after, 'pop3_bridge_refusals_total{reason="target_not_allowed"}')).toBe(refusedBefore + 1)
    // No upstream connection was attempted, and not one byte went to or came from a server.
    expect(metric(after, "pop3_bridge_bytes_up_total")).toBe(metric(before, "pop3_bridge_bytes_up_total"))
    expect(metric(after, "pop3_bridge_bytes_down_total")).toBe(metric(before, "pop3_bridge_bytes_down_total"))
    for (const kind of ["connect", "tls", "timeout"]) {
      const name = `pop3_bridge_upstream_failures_total{kind="${kind}"}`
      expect(metric(after, name)).toBe(metric(before, name))
    }
    // The session's log line: refused by the bridge, no upstream address ever chosen.
    // Logged once both sides have closed, which may be a moment after the CLI returned.
    const refusedEntry = () => logs.slice(logsBefore).find((e) => e["target"] === `127.0.0.1:${d().port}`)
    await expect.poll(refusedEntry).toBeDefined()
    const entry = refusedEntry()
    expect(entry).toMatchObject({ event: "session", closeCode: 4001, closedBy: "bridge", bytesUp: 0, bytesDown: 0 })
    expect(entry?.["address"]).toBeUndefined()
  })

  it("Dovecot's log shows no connection for the refused target, only for an allowed one after it", async () => {
    // The harness keeps dovecot.log in its root, three levels above a user's Maildir
    // (root/mail/<user>/Maildir). pop3-login logs one line per connection that did not log in.
    const logFile = join(d().users.alice.maildir, "..", "..", "..", "dovecot.log")
    const loginLines = () =>
      readFileSync(logFile, "utf8")
        .split("\n")
        .filter((l) => l.includes(" pop3-login: "))
    const seen = loginLines().length
    expect(seen).toBeGreaterThan(0) // the harness's own readiness probes: the log is the right one

    const refused = await cli([
      "--bridge",
      bridgeUrl(),
      "--host",
      "127.0.0.1",
      "--port",
      String(d().port),
      "--tls",
      "none",
      "capa"
    ])
    expect(refused.code).toBe(3)
    // A control that does reach Dovecot (implicit TLS, no login: one pop3-login line), so a
    // line from the refused attempt, had there been one, would be in the log by now.
    expect((await both(undefined, ["capa"])).length).toBeGreaterThan(0)
    await expect.poll(() => loginLines().length).toBe(seen + 2) // direct + bridged control
    await new Promise((resolve) => setTimeout(resolve, 200))
    const added = loginLines().slice(seen)
    expect(added).toHaveLength(2)
    // Both new lines are TLS connections (the controls); the refused target was the plain
    // port, whose lines say "secured" instead.
    for (const line of added) expect(line).toMatch(/, TLS[,:]/)
  })

  it("the client API gets BridgeError 4001 for the same refusal", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(connect({ host: "127.0.0.1", port: d().port, tls: "none", timeout: 10_000 })).pipe(
        Effect.provide(WebSocketTransport.layerGlobal(bridgeUrl()))
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
    expect(error).toBeInstanceOf(BridgeError)
    expect(error).toMatchObject({ code: 4001, reason: `127.0.0.1:${d().port} is not allowed by this bridge` })
  })

  it("a bridge that does not trust Dovecot's certificate closes with 4011; the CLI exits 3 with that reason", async () => {
    const untrusting = await startBridge({ listen: "127.0.0.1:0", allow: [`127.0.0.1:${d().tlsPort}`], log: () => {} })
    try {
      const r = await cli(
        [
          "--bridge",
          `${untrusting.url}/pop3`,
          "--host",
          "127.0.0.1",
          "--port",
          String(d().tlsPort),
          "--tls",
          "implicit",
          "--user",
          "alice",
          "stat"
        ],
        pw("alice")
      )
      expect(r.code).toBe(3)
      expect(r.stderr).toHaveLength(1)
      expect(r.stderr[0]).toMatch(/^pop3: the bridge closed the connection \(4011: upstream TLS failed: [A-Z_]+\)$/)
      expect(untrusting.metrics.upstreamFailures.get("tls")).toBe(1)
    } finally {
      await untrusting.close(1000)
    }
  })
})
