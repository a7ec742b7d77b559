/**
 * Logs and metrics on the open internet (issue 14, item 6): client-supplied text in log
 * records is cut and escaped, refusal lines are rate-limited (what is left out is counted
 * and reported), and `/metrics` can live on its own listener, off the public one.
 */
import { request as httpRequest } from "node:http"
import { connect as netConnect } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { LOG_TEXT_MAX } from "../../bridge/defaults.ts"
import { clientText } from "../../bridge/session-record.ts"
import { closed, connect, httpStatus, receive, sleep, startGreeter, startTestBridge, until } from "./helpers.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const get = (port: number, path: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8").on("data", (c: string) => (body += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.end()
  })

/** An upgrade request with raw header bytes (latin1), answered by the bridge; resolves with the status line. */
const rawUpgrade = (port: number, headers: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port })
    let answer = ""
    socket.on("data", (c: Buffer) => (answer += c.toString("latin1")))
    socket.on("error", reject)
    socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""))
    socket.write(
      Buffer.from(
        "GET /pop3?host=a.test&port=110&tls=none HTTP/1.1\r\nHost: bridge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          headers +
          "\r\n",
        "latin1"
      )
    )
  })

describe("client-supplied text in logs", () => {
  it("clientText cuts to the limit and escapes everything outside printable ASCII", () => {
    expect(clientText("https://mail.example.com")).toBe("https://mail.example.com")
    expect(clientText("a\nb\u001b[31mc\u202ed\\")).toBe("a\\x0ab\\x1b[31mc\\u{202e}d\\\\")
    expect(clientText("é😀")).toBe("\\xe9\\u{1f600}")
    expect(clientText("x".repeat(LOG_TEXT_MAX + 50))).toBe(`${"x".repeat(LOG_TEXT_MAX)}...(50 more)`)
    expect(clientText(undefined)).toBeUndefined()
  })

  it("a 15 KB Origin with 8-bit bytes becomes a short, escaped field in the refusal line", async () => {
    const bridge = await startTestBridge({ allowOrigin: ["https://mail.example.com"] })
    cleanups.push(() => bridge.close(0))
    const origin = `https://evil.example/\u00e9${"A".repeat(15_000)}`
    expect(await rawUpgrade(bridge.port, `Origin: ${origin}\r\n`)).toBe("HTTP/1.1 403 Forbidden")
    await until(() => bridge.logs.length === 1, 2000, "the refusal line")
    const line = JSON.stringify(bridge.logs[0])
    expect(line.length).toBeLessThan(600)
    expect(bridge.logs[0]).toMatchObject({ event: "refused", status: 403 })
    expect(String(bridge.logs[0]?.["origin"])).toMatch(/^https:\/\/evil\.example\/\\xe9A+\.\.\.\(\d+ more\)$/)
    expect(line).toMatch(/^[\x20-\x7e]*$/)
  })

  it("a client's close reason is escaped in its session line", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    await receive(ws, 21)
    ws.close(4000, 'bye\n{"event":"forged"}')
    await until(() => bridge.logs.length === 1, 2000, "the session line")
    expect(bridge.logs[0]).toMatchObject({ closedBy: "client", closeReason: 'bye\\x0a{"event":"forged"}' })
  })
})

describe("refusal lines are rate-limited", () => {
  it("200 refused upgrades: a burst of lines, the rest counted; a later line says how many were left out", async () => {
    const bridge = await startTestBridge({ allowOrigin: ["https://mail.example.com"], maxPendingPerClient: 1000 })
    cleanups.push(() => bridge.close(0))
    const origin = "https://evil.example"
    const statuses = await Promise.all(
      Array.from({ length: 200 }, () => httpStatus(connect(bridge, "host=a.test&port=110&tls=none", { origin })))
    )
    expect(statuses.every((s) => s === 403)).toBe(true)
    expect(bridge.metrics.refusals.get("origin")).toBe(200)
    const written = bridge.logs.length
    expect(written).toBeGreaterThanOrEqual(50) // the burst
    expect(written).toBeLessThan(200)
    expect(written + bridge.metrics.logSuppressed).toBe(200)
    expect(bridge.metrics.render()).toMatch(
      new RegExp(`^pop3_bridge_log_lines_suppressed_total ${bridge.metrics.logSuppressed}$`, "m")
    )
    // Refill comes with time: keep asking until one line gets through, and it carries the count.
    for (let i = 0; i < 100 && !bridge.logs.some((l) => l["suppressed"] !== undefined); i++) {
      await httpStatus(connect(bridge, "host=a.test&port=110&tls=none", { origin }))
      await sleep(20)
    }
    const reporting = bridge.logs.find((l) => l["suppressed"] !== undefined)
    expect(reporting).toMatchObject({ event: "refused", suppressed: expect.any(Number) })
  }, 20_000)

  it("refused sessions (close codes) go through the same limit", async () => {
    // No other limit may refuse them first; 300 refusals outrun the log rate for 25 s.
    const bridge = await startTestBridge({
      maxPendingPerClient: 1000,
      maxConnectionsPerClient: 1000,
      sessionRate: "off"
    })
    cleanups.push(() => bridge.close(0))
    const results = await Promise.all(
      Array.from({ length: 300 }, () => closed(connect(bridge, "host=a.test&port=110&tls=none")))
    )
    expect(results.every((r) => r.code === 4001)).toBe(true)
    await until(() => bridge.metrics.sessionsActive === 0, 10_000, "all sessions to end")
    expect(bridge.logs.length).toBeLessThan(300)
    expect(bridge.logs.length + bridge.metrics.logSuppressed).toBe(300)
  }, 20_000)
})

describe("/metrics on its own listener", () => {
  it("serves /metrics (and /healthz) on metricsListen, and not on the public listener", async () => {
    const bridge = await startTestBridge({ metricsListen: "127.0.0.1:0" })
    cleanups.push(() => bridge.close(0))
    const metricsPort = bridge.metricsPort ?? 0
    expect(metricsPort).toBeGreaterThan(0)
    expect((await get(bridge.port, "/metrics")).status).toBe(404)
    expect((await get(bridge.port, "/healthz")).status).toBe(200)
    const metrics = await get(metricsPort, "/metrics")
    expect(metrics.status).toBe(200)
    expect(metrics.body).toMatch(/^pop3_bridge_sessions_active 0$/m)
    expect((await get(metricsPort, "/healthz")).status).toBe(200)
    expect((await get(metricsPort, "/pop3")).status).toBe(404)
  })

  it("without metricsListen, /metrics stays on the main listener", async () => {
    const bridge = await startTestBridge()
    cleanups.push(() => bridge.close(0))
    expect(bridge.metricsPort).toBeUndefined()
    expect((await get(bridge.port, "/metrics")).status).toBe(200)
  })
})
