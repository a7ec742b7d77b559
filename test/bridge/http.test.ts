import { afterEach, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import { startBridge } from "../../bridge/server.ts"
import { closed, connect, receive, startGreeter, startTestBridge, until } from "./helpers.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const setup = async () => {
  const upstream = await startGreeter()
  cleanups.push(upstream.close)
  const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
  cleanups.push(() => bridge.close(0))
  const http = bridge.url.replace(/^ws/, "http")
  return { upstream, bridge, http, query: `host=127.0.0.1&port=${upstream.port}&tls=none` }
}

describe("HTTP endpoints", () => {
  it("GET /healthz answers ok", async () => {
    const { http } = await setup()
    const res = await fetch(`${http}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe("ok\n")
    expect(res.headers.get("cache-control")).toBe("no-store")
  })

  it("GET /metrics reports sessions, bytes and refusals in Prometheus text format", async () => {
    const { bridge, http, query, upstream } = await setup()
    const ws = connect(bridge, query)
    await receive(ws, 21)
    ws.send(Buffer.from("QUIT\r\n"))
    await closed(ws)
    await closed(connect(bridge, `host=192.0.2.1&port=${upstream.port}&tls=none`))
    await until(() => bridge.metrics.sessionsActive === 0)

    const res = await fetch(`${http}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
    const text = await res.text()
    for (const line of [
      "# TYPE pop3_bridge_sessions_active gauge",
      "pop3_bridge_sessions_active 0",
      "# TYPE pop3_bridge_sessions_total counter",
      "pop3_bridge_sessions_total 2",
      "pop3_bridge_bytes_up_total 6",
      "pop3_bridge_bytes_down_total 30",
      'pop3_bridge_refusals_total{reason="target_not_allowed"} 1',
      "pop3_bridge_buffered_bytes 0"
    ]) {
      expect(text.split("\n")).toContain(line)
    }
    expect(text).not.toContain("127.0.0.1") // aggregates only
  })

  it("answers other paths with 404, a plain GET /pop3 with 426, and POST /metrics with 405", async () => {
    const { http } = await setup()
    expect((await fetch(`${http}/`)).status).toBe(404)
    expect((await fetch(`${http}/admin`)).status).toBe(404)
    expect((await fetch(`${http}/pop3?host=a&port=1&tls=none`)).status).toBe(426)
    expect((await fetch(`${http}/metrics`, { method: "POST" })).status).toBe(405)
  })
})

describe("graceful shutdown (close(deadline), as on SIGTERM)", () => {
  it("stops accepting at once and waits for live sessions to finish", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startBridge({ listen: "127.0.0.1:0", allow: [`127.0.0.1:${upstream.port}`], log: () => {} })
    const query = `host=127.0.0.1&port=${upstream.port}&tls=none`
    const ws = connect(bridge, query)
    await receive(ws, 21)

    // A deadline far beyond the test's time limit: had close() waited for it rather than
    // for the last session, the test would fail by timing out. No clock is read.
    let stopped = false
    const closing = bridge.close(600_000).then(() => {
      stopped = true
    })
    // New clients are turned away…
    const late = connect(bridge, query)
    const lateError = await new Promise<string>((resolve) => late.once("error", (e) => resolve(String(e))))
    expect(lateError).toMatch(/ECONNREFUSED/)
    // …while the live session keeps working until the client quits.
    ws.send(Buffer.from("QUIT\r\n"))
    expect((await receive(ws, 9)).toString()).toBe("+OK bye\r\n")
    expect(await closed(ws)).toEqual({ code: 1000, reason: "upstream closed" })
    await closing
    expect(stopped).toBe(true)
  })

  it("closes sessions still open at the deadline with 1001", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const logs: Array<Readonly<Record<string, unknown>>> = []
    const bridge = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`127.0.0.1:${upstream.port}`],
      log: (e) => logs.push(e)
    })
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    await receive(ws, 21)
    const started = Date.now()
    const end = closed(ws)
    await bridge.close(300)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(await end).toEqual({ code: CloseCode.GoingAway, reason: "bridge shutting down" })
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatchObject({ closeCode: 1001, closedBy: "bridge" })
    await until(() => upstream.sockets.every((s) => s.destroyed || s.readableEnded), 2000, "upstream closed")
  })
})
