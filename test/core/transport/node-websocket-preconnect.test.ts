// A WebSocket to the bridge opened before the client has loaded
// (node-websocket-preconnect.ts's `preconnect`, the `pop3` CLI's first lines with
// --bridge): the client adopts it instead of opening another — one session at the bridge,
// one connection at the mail server — and reads what came meanwhile, which stayed bounded;
// one for another URL is left alone; one that failed fails the adopting client as a fresh
// one would; never adopted, it does not keep a process alive; and the CLI opens it before
// it has loaded Effect. Through a real in-process pop3-bridge to the dev server's POP3 over TCP.
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { firstBridgeConnection } from "../../../core/cli/bridge-url.ts"
import { parseArgv } from "../../../core/cli/argv.ts"
import { connect } from "../../../core/client/client.ts"
import { resolveOptions } from "../../../core/client/options.ts"
import { bridgeTransport } from "../../../core/transport/bridge-transport.ts"
import { layer, makeSocket } from "../../../core/transport/node-websocket.ts"
import { connectionUrl, preconnect } from "../../../core/transport/node-websocket-preconnect.ts"
import type { Target } from "../../../core/transport/transport.ts"
import { makeMailStore } from "../../../dev-server/server.ts"
import { listenTcp, type TcpListener } from "../../../dev-server/tcp.ts"
import { makeCertificate, startTestBridge, startUpstream, until } from "../../bridge/helpers.ts"
import { BIN, runNode } from "../../support/child-node.ts"
import { type Served, stalled, writeLines } from "../../support/flood.ts"
import { closedPort, silentServer } from "../../support/tcp-peers.ts"

const USER = "carol"
const PASSWORD = "preconnect-secret"
const MESSAGES = ["Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\nsecond\r\n"]

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

let server: TcpListener | undefined
let port = 0
beforeAll(async () => {
  server = await listenTcp(makeMailStore({ [USER]: { password: PASSWORD, messages: MESSAGES } }))
  port = server.port
})
afterAll(async () => {
  await server?.close()
})

const startBridge = async () => {
  const bridge = await startTestBridge({ allow: [`127.0.0.1:${port}`] })
  cleanups.push(() => bridge.close(0))
  return { bridge, base: `${bridge.url}/pop3` }
}

/** Node in a child process with `args`, the password and `env` in its environment; stdout as text. */
const spawnNode = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const exited = await runNode(args, { env: { POP3_PASSWORD: PASSWORD, ...env }, timeout: 15_000 })
  return { ...exited, stdout: exited.stdout.toString("utf8") }
}
/** The `pop3` executable (bin.ts) with `argv`. */
const spawnCli = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => spawnNode([BIN, ...argv], env)

const plainTarget = (p: number) => ({ host: "127.0.0.1", port: p, tls: "none" as const })

/** A whole session through the bridge at `base`: login, STAT, QUIT. */
const statThrough = (base: string) =>
  Effect.runPromiseExit(
    Effect.gen(function* () {
      const session = yield* connect({ ...plainTarget(port), timeout: 10_000 })
      const mailbox = yield* session.login({ user: USER, password: PASSWORD, allowPlaintext: true })
      const stat = yield* mailbox.stat
      yield* mailbox.quit
      return stat.count
    }).pipe(Effect.scoped, Effect.provide(layer(base)))
  )

describe("a WebSocket to the bridge opened early (node-websocket-preconnect.ts's preconnect)", () => {
  it("is adopted by the client's connection to the same URL: one session, the greeting that came first is read", async () => {
    const { bridge, base } = await startBridge()
    expect(await preconnect(connectionUrl(base, {}, plainTarget(port)))).toBe(true)
    // The session is up and the server's greeting has gone down to the client before the
    // client exists.
    await until(() => bridge.metrics.sessionsTotal === 1 && bridge.metrics.bytesDown > 0, 5000, "the greeting")
    const exit = await statThrough(base)
    expect(exit).toEqual(Exit.succeed(MESSAGES.length))
    expect(bridge.metrics.sessionsTotal).toBe(1)
  })

  it("is not adopted for another URL: the client opens its own, the early one stays unused", async () => {
    const { bridge, base } = await startBridge()
    // Another target: one the bridge does not allow.
    expect(await preconnect(connectionUrl(base, {}, plainTarget(port === 65535 ? port - 1 : port + 1)))).toBe(true)
    expect(await statThrough(base)).toEqual(Exit.succeed(MESSAGES.length))
    // The early one (refused by the allowlist: another port) and the client's.
    expect(bridge.metrics.sessionsTotal).toBe(2)
  })

  it("is taken once: a second connection to the same URL opens its own", async () => {
    const { bridge, base } = await startBridge()
    await preconnect(connectionUrl(base, {}, plainTarget(port)))
    expect(await statThrough(base)).toEqual(Exit.succeed(MESSAGES.length))
    expect(await statThrough(base)).toEqual(Exit.succeed(MESSAGES.length))
    expect(bridge.metrics.sessionsTotal).toBe(2)
  })

  it("one waits at a time: a second preconnect closes the first, which nobody could take any more", async () => {
    const { bridge, base } = await startBridge()
    await preconnect(connectionUrl(base, {}, plainTarget(port)))
    await until(() => bridge.metrics.sessionsActive === 1, 5000, "the first session")
    // To a target the bridge refuses: that one ends at once, and the first must end too.
    await preconnect(connectionUrl(base, {}, plainTarget(port === 65535 ? port - 1 : port + 1)))
    await until(() => bridge.metrics.sessionsActive === 0, 5000, "both sessions to end")
    expect(bridge.metrics.sessionsTotal).toBe(2)
  })

  it("that failed before it was adopted fails the client as a fresh connection does", async () => {
    // No bridge listens there.
    const base = `ws://127.0.0.1:${await closedPort()}/pop3`
    const fresh = await statThrough(base)
    expect(await preconnect(connectionUrl(base, {}, plainTarget(port)))).toBe(true)
    const adopted = await statThrough(base)
    expect(Exit.isFailure(fresh) && Exit.isFailure(adopted)).toBe(true)
    const failure = (exit: typeof fresh) =>
      Exit.isFailure(exit) ? Cause.squash(exit.cause) : new Error("it succeeded")
    const [a, b] = [failure(fresh), failure(adopted)] as Array<{ _tag?: string; message?: string }>
    expect(b?._tag).toBe(a?._tag)
    expect(b?.message).toBe(a?.message)
    // No bridge at all: the client cannot connect (bridge-rules.ts classifies it).
    expect(a?._tag).toBe("ConnectError")
  })

  it("never adopted, it keeps no process alive", async () => {
    const { bridge, base } = await startBridge()
    const url = connectionUrl(base, {}, plainTarget(port))
    const module = new URL("../../../core/transport/node-websocket-preconnect.ts", import.meta.url).pathname
    const script = `const { preconnect } = await import(${JSON.stringify(module)}); console.log(await preconnect(${JSON.stringify(url)}))`
    // Held open, the child would run until the timeout kills it (code null).
    const { code, stdout } = await spawnNode(["--input-type=module", "-e", script])
    expect({ code, stdout }).toEqual({ code: 0, stdout: "true\n" })
    expect(bridge.metrics.sessionsTotal).toBe(1)
  }, 20_000)
})

describe("what an early WebSocket holds before it is adopted", () => {
  const FLOOD = 64 * 1024 * 1024
  // As node-websocket.test.ts's bound: the bridge's 1 MiB, what the client read, and the
  // kernel buffers of two loopback connections (Linux sizes them itself), far below FLOOD.
  const BOUND = 24 * 1024 * 1024

  it("a server that floods before the client has loaded: it pauses within a few MiB, then the client reads every byte in order", async () => {
    const served: Served = { written: 0, blocked: false }
    const upstream = await startUpstream((socket) => void writeLines(socket, FLOOD, served))
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))
    const url = connectionUrl(`${bridge.url}/pop3`, {}, plainTarget(upstream.port))

    expect(await preconnect(url)).toBe(true)
    await stalled(served, FLOOD)
    // Nobody has taken it yet: what it read waits in it, and past 64 KiB it stopped reading.
    expect(served.written).toBeLessThan(BOUND)

    const hash = createHash("sha256")
    let received = 0
    await Effect.runPromise(
      Effect.gen(function* () {
        const socket = yield* makeSocket(url, { host: "127.0.0.1", port: upstream.port, connectTimeoutMillis: 30_000 })
        const reader = yield* socket.reader
        while (received < FLOOD) {
          // A pull's chunks are valid until the next pull: hashed at once.
          for (const chunk of yield* reader.pull) {
            hash.update(chunk as Uint8Array)
            received += chunk.length
          }
        }
      }).pipe(Effect.scoped)
    )
    expect(received).toBe(FLOOD)
    expect(hash.digest("hex")).toBe(served.hash)
    // The early WebSocket was the one read: no second session.
    expect(bridge.metrics.sessionsTotal).toBe(1)
  }, 120_000)
})

describe("the CLI's early WebSocket (bin.ts, bridge-url.ts): the URL the transport opens", () => {
  // The URLs the transport asks for, recorded instead of opened.
  const opened = (base: string, endToEnd: boolean, target: Target): Promise<string> =>
    new Promise((resolve) => {
      const service = bridgeTransport(base, { endToEnd }, (url) => {
        resolve(url)
        return Effect.die("recorded, not opened")
      })
      void Effect.runPromiseExit(service.open(target))
    })

  const cases: ReadonlyArray<ReadonlyArray<string>> = [
    ["--tls", "none"],
    ["--tls", "implicit"],
    ["--port", "995"],
    ["--tls", "implicit", "--port", "1995"],
    ["--end-to-end", "--tls", "implicit"],
    ["--end-to-end", "--tls", "starttls"],
    ["--end-to-end", "--port", "110"]
  ]
  for (const extra of cases) {
    it(`is the one the client's first connection opens: ${extra.join(" ")}`, async () => {
      const argv = [
        "--bridge",
        "wss://bridge.example/pop3?x=1",
        "--host",
        "pop.example.com",
        ...extra,
        "--user",
        "u",
        "stat"
      ]
      const parsed = parseArgv(argv, undefined)
      if (parsed._tag !== "Run") throw new Error(`not a run: ${JSON.stringify(parsed)}`)
      const env = { POP3_BRIDGE_TOKEN: "t0ken" }
      const first = firstBridgeConnection(parsed.options, env)
      if (first === undefined) throw new Error("no first connection")
      const early = connectionUrl(first.bridge, { endToEnd: first.endToEnd }, first.target)
      const { target } = resolveOptions({
        host: parsed.options.host,
        port: parsed.options.port,
        tls: parsed.options.tls
      })
      const base = "wss://bridge.example/pop3?x=1&token=t0ken"
      expect(early).toBe(await opened(base, parsed.options.endToEnd, target))
    })
  }

  it("is none where the client will not connect through the bridge: STLS without end-to-end TLS, a refused URL", () => {
    const run = (argv: ReadonlyArray<string>) => {
      const parsed = parseArgv([...argv, "--host", "pop.example.com", "--user", "u", "stat"], undefined)
      if (parsed._tag !== "Run") throw new Error("not a run")
      return firstBridgeConnection(parsed.options, {})
    }
    expect(run(["--bridge", "wss://bridge.example/pop3"])).toBeUndefined()
    expect(run(["--bridge", "wss://bridge.example/pop3", "--tls", "starttls"])).toBeUndefined()
    expect(run(["--bridge", "https://bridge.example/pop3", "--tls", "implicit"])).toBeUndefined()
    expect(run(["--tls", "implicit"])).toBeUndefined()
  })
})

describe("the pop3 executable through --bridge (bin.ts in a child process)", () => {
  const target = () => ["--host", "127.0.0.1", "--port", String(port), "--tls", "none", "--user", USER]

  it("opens one session: the WebSocket bin.ts opened first is the one the client uses", async () => {
    const { bridge, base } = await startBridge()
    const result = await spawnCli(["--bridge", base, ...target(), "stat"])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^2 \d+\n$/)
    expect(bridge.metrics.sessionsTotal).toBe(1)
  }, 20_000)

  it("connects before it has loaded Effect: the early WebSocket needs only ws", async () => {
    const { bridge, base } = await startBridge()
    const dir = mkdtempSync(join(tmpdir(), "pop3-module-trace-"))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    const trace = join(dir, "trace.jsonl")
    const hook = new URL("../../support/module-trace.ts", import.meta.url).href
    const result = await spawnNode(["--import", hook, BIN, "--bridge", base, ...target(), "stat"], {
      MODULE_TRACE_OUT: trace
    })
    expect(result.stderr).toBe("")
    expect(result.stdout).toMatch(/^2 \d+\n$/)
    const events = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; loaded: Array<string> })
    const at = (event: string) => events.find((e) => e.event === event)?.loaded ?? []
    const effect = (urls: Array<string>) => urls.filter((u) => u.includes("/node_modules/effect/"))
    // The first connection is the bridge's WebSocket: ws was loaded for it, Effect not yet.
    expect(at("connect").some((u) => u.includes("/node_modules/ws/"))).toBe(true)
    expect(effect(at("connect"))).toEqual([])
    // The trace sees Effect when it loads: the client did, afterwards.
    expect(effect(at("exit")).length).toBeGreaterThan(0)
    expect(bridge.metrics.sessionsTotal).toBe(1)
  }, 20_000)

  it("a refusal that came before the client loaded: exit 3 and the bridge's reason on one line", async () => {
    const { bridge, base } = await startBridge()
    const other = port === 65535 ? port - 1 : port + 1
    const argv = ["--bridge", base, "--host", "127.0.0.1", "--port", String(other), "--tls", "none", "--user", USER]
    const result = await spawnCli([...argv, "stat"])
    expect(result.code).toBe(3)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(
      `pop3: the bridge closed the connection (4001: 127.0.0.1:${other} is not allowed by this bridge)\n`
    )
    expect(bridge.metrics.sessionsTotal).toBe(1)
  }, 20_000)

  it.each([
    ["localhost", 0, 1],
    ["bridge.other.example", 3, 0]
  ] as const)(
    "over wss: with a certificate for %s: exit %i, %i session(s) (the bridge's name is checked)",
    async (name, code, sessions) => {
      // The executable trusts the bridge's self-signed certificate through NODE_EXTRA_CA_CERTS.
      const certificate = makeCertificate(name, { keepFiles: true })
      cleanups.push(async () => rmSync(certificate.dir, { recursive: true, force: true }))
      const bridge = await startTestBridge({
        allow: [`127.0.0.1:${port}`],
        tls: { cert: certificate.cert, key: certificate.key }
      })
      cleanups.push(() => bridge.close(0))
      const bridgePort = new URL(bridge.url).port
      const result = await spawnCli(["--bridge", `wss://localhost:${bridgePort}/pop3`, ...target(), "stat"], {
        NODE_EXTRA_CA_CERTS: join(certificate.dir, "cert.pem")
      })
      expect(result.code, result.stderr).toBe(code)
      if (code === 0) expect(result.stdout).toMatch(/^2 \d+\n$/)
      else
        expect(result.stderr).toBe(
          `pop3: cannot connect to localhost:${bridgePort}: no WebSocket to the pop3-bridge at wss://localhost:${bridgePort}/pop3: its TLS certificate was not accepted (ERR_TLS_CERT_ALTNAME_INVALID)\n`
        )
      expect(bridge.metrics.sessionsTotal).toBe(sessions)
    },
    20_000
  )

  it("a bridge that takes the connection and never answers the upgrade: --timeout ends it, exit 3", async () => {
    const { port: silentPort } = await silentServer(cleanups)
    const result = await spawnCli([
      "--bridge",
      `ws://127.0.0.1:${silentPort}/pop3`,
      ...target(),
      "--timeout",
      "1",
      "stat"
    ])
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(`pop3: timed out after 1000 ms waiting for connecting to 127.0.0.1:${port}\n`)
  }, 20_000)

  it("opens nothing for a command line main refuses: an unreadable --ca", async () => {
    const { bridge, base } = await startBridge()
    // --ca through a bridge is TLS in the client: --end-to-end.
    const e2e = ["--host", "127.0.0.1", "--port", String(port), "--tls", "implicit", "--end-to-end", "--user", USER]
    const result = await spawnCli(["--bridge", base, ...e2e, "--ca", "/nonexistent/ca.pem", "stat"])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^pop3: cannot read --ca \/nonexistent\/ca\.pem/)
    expect(bridge.metrics.sessionsTotal).toBe(0)
  }, 20_000)
})

describe("the pop3 executable with STLS (bin.ts's TCP preconnect)", () => {
  it("opens nothing for a command line main refuses: an unreadable --ca", async () => {
    const peer = await silentServer(cleanups)
    const argv = ["--host", "127.0.0.1", "--port", String(peer.port), "--tls", "starttls", "--user", USER]
    const result = await spawnCli([...argv, "--ca", "/nonexistent/ca.pem", "stat"])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^pop3: cannot read --ca/)
    expect(peer.accepted()).toBe(0)
  }, 20_000)
})
