/**
 * Connection exhaustion before the upgrade (issue 14, item 1), with real sockets on
 * loopback: silent and slow connections are closed after the request timeout, pending
 * connections are capped in total and per client address, and hundreds of silent sockets
 * from one address (127.0.0.2; Linux routes all of 127/8 to loopback) leave another
 * address (127.0.0.1) its WebSocket and `/healthz`. Also the listen backlog. Every wait is
 * for an event or a counter, never for a duration.
 */
import { execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { connect as netConnect } from "node:net"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { afterEach, describe, expect, it } from "vitest"
import { DEFAULTS } from "../../bridge/defaults.ts"
import { closed, connect, makeCertificate, receive, startGreeter, startTestBridge, until } from "./helpers.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A raw TCP connection to the bridge from `localAddress`, with its fate recorded. */
const rawSocket = (port: number, localAddress = "127.0.0.1") => {
  const socket = netConnect({ host: "127.0.0.1", port, localAddress })
  const state = { connected: false, closed: false, received: 0 }
  socket.on("connect", () => (state.connected = true))
  socket.on("data", (chunk: Buffer) => (state.received += chunk.length))
  socket.on("error", () => {})
  socket.on("close", () => (state.closed = true))
  const whenClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
  cleanups.push(() => void socket.destroy())
  return { socket, state, whenClosed }
}

const healthz = (port: number, localAddress = "127.0.0.1"): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path: "/healthz", localAddress, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on("error", reject)
    req.end()
  })

const setup = async (options: Parameters<typeof startTestBridge>[0] = {}) => {
  const upstream = await startGreeter()
  cleanups.push(upstream.close)
  const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`], ...options })
  cleanups.push(() => bridge.close(0))
  return { upstream, bridge, query: `host=127.0.0.1&port=${upstream.port}&tls=none` }
}

describe("the request timeout (before the upgrade)", () => {
  it("closes a connection that sends nothing, and one that stops mid-request; counts both", async () => {
    const { bridge } = await setup({ requestTimeoutMs: 200 })
    const silent = rawSocket(bridge.port)
    const partial = rawSocket(bridge.port)
    partial.socket.write("GET /pop3?host=x HTTP/1.1\r\nHost: bridge\r\nUpgrade: websocket\r\n")
    await Promise.all([silent.whenClosed, partial.whenClosed])
    expect(silent.state.received).toBe(0)
    expect(partial.state.received).toBe(0)
    expect(bridge.metrics.dropped.get("request_timeout")).toBe(2)
    await until(() => bridge.metrics.pending() === 0, 2000, "no pending connections")
    expect(bridge.metrics.render()).toMatch(/^pop3_bridge_connections_dropped_total\{reason="request_timeout"\} 2$/m)
  })

  it("closes a connection that never starts its TLS handshake (wss:), or stops in the middle", async () => {
    const { cert, key } = makeCertificate("localhost", { ipSan: true })
    const { bridge } = await setup({ requestTimeoutMs: 200, tls: { cert, key } })
    const silent = rawSocket(bridge.port)
    // Half a ClientHello: the record header promises more than is sent.
    const stalled = rawSocket(bridge.port)
    stalled.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
    await Promise.all([silent.whenClosed, stalled.whenClosed])
    expect(bridge.metrics.dropped.get("request_timeout")).toBe(2)
  })

  it("wss: a WebSocket over TLS leaves the pending count once upgraded (the gate follows the TLS socket)", async () => {
    const { cert, key } = makeCertificate("localhost", { ipSan: true })
    const { bridge, query } = await setup({ tls: { cert, key } })
    const ws = connect(bridge, query, { ca: cert })
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    expect(bridge.metrics.pending()).toBe(0)
    ws.close()
    await closed(ws)
  })

  it("gives a keep-alive HTTP connection the same limit between requests", async () => {
    // Long enough for the request itself on a loaded machine; the silence after it is what ends the connection.
    const { bridge } = await setup({ requestTimeoutMs: 2000 })
    const conn = rawSocket(bridge.port)
    conn.socket.write("GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
    await conn.whenClosed
    expect(conn.state.received).toBeGreaterThan(0) // answered, then closed when silent
    await until(() => bridge.metrics.pending() === 0, 2000, "no pending connections")
  })
})

describe("caps on pending connections", () => {
  it("300 silent sockets from one address: at most maxPendingPerClient stay; another address gets its WebSocket and /healthz", async () => {
    const { upstream, bridge, query } = await setup({ maxPendingPerClient: 20, maxPending: 100 })
    const flood = Array.from({ length: 300 }, () => rawSocket(bridge.port, "127.0.0.2"))
    await until(() => (bridge.metrics.dropped.get("pending_per_client") ?? 0) === 280, 20_000, "280 sockets dropped")
    expect(bridge.metrics.pending()).toBe(20)
    await until(() => flood.filter((f) => f.state.closed).length === 280, 20_000, "280 closed at the client")

    const ws = connect(bridge, query, { localAddress: "127.0.0.1" })
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    expect(await healthz(bridge.port)).toBe(200)
    expect(upstream.connections()).toBe(1)
    // The flood's own address stays capped.
    const more = rawSocket(bridge.port, "127.0.0.2")
    await more.whenClosed
    expect(bridge.metrics.dropped.get("pending_per_client")).toBe(281)
    ws.close()
    await closed(ws)
  }, 30_000)

  it("caps pending connections in total; a newcomer from a quieter address replaces the busiest address's oldest", async () => {
    const { bridge, query } = await setup({ maxPendingPerClient: 10, maxPending: 25 })
    const count = (from: string, n: number) => Array.from({ length: n }, () => rawSocket(bridge.port, from))
    const busy = [...count("127.0.0.2", 10), ...count("127.0.0.3", 10)]
    await until(() => bridge.metrics.pending() === 20, 10_000, "20 pending")
    const third = count("127.0.0.4", 10)
    await until(
      () => bridge.metrics.pending() === 25 && third.every((t) => t.state.connected),
      10_000,
      "the third address's sockets"
    )
    await until(
      () =>
        (bridge.metrics.dropped.get("pending_evicted") ?? 0) + (bridge.metrics.dropped.get("pending_total") ?? 0) === 5,
      10_000,
      "5 over the cap"
    )
    expect(bridge.metrics.pending()).toBe(25)
    // The busiest addresses paid for the quieter one: it got more than the 5 left free.
    await until(() => [...busy, ...third].filter((f) => f.state.closed).length === 5, 10_000, "5 closed")
    expect(third.filter((f) => !f.state.closed).length).toBeGreaterThan(5)
    expect(bridge.metrics.render()).toMatch(/^pop3_bridge_pending_connections 25$/m)

    // With the total full, a WebSocket from yet another address still gets in.
    const ws = connect(bridge, query, { localAddress: "127.0.0.5" })
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    ws.close()
    await closed(ws)
  })

  it("a WebSocket leaves the pending count once upgraded; the session limits apply from then on", async () => {
    const { bridge, query } = await setup({ maxPendingPerClient: 2 })
    // One after another: each stops being pending once upgraded, so 5 sessions fit under a cap of 2.
    const sessions = []
    for (let i = 0; i < 5; i++) {
      const ws = connect(bridge, query)
      await receive(ws, 21)
      sessions.push(ws)
    }
    expect(bridge.metrics.pending()).toBe(0)
    expect(bridge.metrics.sessionsActive).toBe(5)
    for (const ws of sessions) ws.close()
    await Promise.all(sessions.map(closed))
  })

  it("the issue's scenario: under ulimit -n 256, 232 silent sockets from one address leave another its WebSocket", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const main = join(import.meta.dirname, "../../bridge/main.ts")
    const child = spawn(
      "sh",
      [
        "-c",
        `ulimit -n 256 && exec "$0" "$@"`,
        process.execPath,
        main,
        "--listen",
        "127.0.0.1:0",
        "--allow",
        `127.0.0.1:${upstream.port}`
      ],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    cleanups.push(async () => {
      child.kill("SIGKILL")
      await exited
    })
    const lines = createInterface({ input: child.stdout })
    const url = await new Promise<string>((resolve) =>
      lines.on("line", (line) => {
        const record = JSON.parse(line) as Record<string, unknown>
        if (record["event"] === "listening") resolve(String(record["url"]))
      })
    )
    const port = Number(new URL(url).port)
    const flood = Array.from({ length: 232 }, () => rawSocket(port, "127.0.0.2"))
    // Every socket is either held (at most the default 16) or closed by the bridge.
    await until(() => flood.filter((f) => f.state.closed).length >= 232 - 16, 20_000, "the flood to be capped")
    const ws = connect({ url }, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    expect(await healthz(port)).toBe(200)
    ws.close()
    await closed(ws)
  }, 30_000)
})

describe("listen backlog", () => {
  it("listens with the configured backlog (ss shows it as Send-Q), capped by net.core.somaxconn", async () => {
    const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"))
    expect(DEFAULTS.backlog).toBeGreaterThan(511) // Node's default, which a burst of 1000 connects overflows
    for (const backlog of [undefined, 1500]) {
      const { bridge } = await setup(backlog === undefined ? {} : { backlog })
      const out = execFileSync("ss", ["-Hltn", `sport = :${bridge.port}`], { encoding: "utf8" })
      const sendQ = Number(out.trim().split(/\s+/)[2])
      expect(sendQ).toBe(Math.min(backlog ?? DEFAULTS.backlog, somaxconn))
    }
  })
})
