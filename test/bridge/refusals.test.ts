/**
 * Every way the bridge says no. Each test also checks that the upstream server saw no
 * connection at all: a refusal must be decided before the mail server is contacted.
 */
import { afterEach, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import type { BridgeOptions } from "../../bridge/config.ts"
import {
  closed,
  connect,
  fakeDns,
  httpStatus,
  opened,
  receive,
  sleep,
  startGreeter,
  startTestBridge,
  until,
  type Upstream
} from "./helpers.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const setup = async (options: (port: number) => BridgeOptions) => {
  const upstream = await startGreeter()
  cleanups.push(upstream.close)
  const bridge = await startTestBridge(options(upstream.port))
  cleanups.push(() => bridge.close(0))
  return { upstream, bridge, port: upstream.port }
}

/** The upstream saw nothing, even a little later. */
const untouched = async (upstream: Upstream): Promise<void> => {
  await sleep(50)
  expect(upstream.connections()).toBe(0)
}

describe("target policy (close codes after the upgrade)", () => {
  it("denies everything by default (no --allow)", async () => {
    const { upstream, bridge, port } = await setup(() => ({}))
    const result = await closed(connect(bridge, `host=127.0.0.1&port=${port}&tls=none`))
    expect(result.code).toBe(CloseCode.TargetNotAllowed)
    expect(result.reason).toBe(`127.0.0.1:${port} is not allowed by this bridge`)
    await untouched(upstream)
    expect(bridge.metrics.refusals.get("target_not_allowed")).toBe(1)
    expect(bridge.logs[0]).toMatchObject({ event: "session", closeCode: 4001, bytesUp: 0, bytesDown: 0 })
  })

  it("refuses a host that is not listed, and a listed host on another port", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`] }))
    expect((await closed(connect(bridge, `host=127.0.0.2&port=${port}&tls=none`))).code).toBe(4001)
    expect((await closed(connect(bridge, `host=127.0.0.1&port=${port + 1}&tls=none`))).code).toBe(4001)
    expect((await closed(connect(bridge, `host=localhost&port=${port}&tls=none`))).code).toBe(4001)
    await untouched(upstream)
  })

  it.each([
    ["127.0.0.1", "loopback"],
    ["10.1.2.3", "private"],
    ["169.254.169.254", "link-local"],
    ["::ffff:127.0.0.1", "ipv4-mapped"],
    ["::1", "loopback"],
    ["0.0.0.0", "unspecified"]
  ])("refuses an allowed NAME that resolves to %s (%s)", async (answer, cls) => {
    const { upstream, bridge, port } = await setup((p) => ({
      allow: [`mail.test:${p}`],
      resolve: fakeDns({ "mail.test": [answer] })
    }))
    const result = await closed(connect(bridge, `host=mail.test&port=${port}&tls=none`))
    expect(result).toEqual({
      code: CloseCode.TargetNotAllowed,
      reason: `mail.test resolves to a ${cls} address, which is not allowed`
    })
    await untouched(upstream)
    expect(bridge.metrics.refusals.get("address_not_allowed")).toBe(1)
  })

  it("connects a name to a special address only when that exact address is listed", async () => {
    const { upstream, bridge, port } = await setup((p) => ({
      allow: [`mail.test:${p}`, `127.0.0.1:${p}`],
      // The first answer is refused (not listed); the second is listed: it is used.
      resolve: fakeDns({ "mail.test": ["10.9.9.9", "127.0.0.1"] })
    }))
    const ws = connect(bridge, `host=mail.test&port=${port}&tls=none`)
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    expect(upstream.connections()).toBe(1)
    ws.close()
    await until(() => bridge.logs.length === 1)
    expect(bridge.logs[0]).toMatchObject({ target: `mail.test:${port}`, address: "127.0.0.1" })
  })

  it("reports a name that does not resolve as an upstream failure (4010)", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`nx.test:${p}`], resolve: fakeDns({}) }))
    const result = await closed(connect(bridge, `host=nx.test&port=${port}&tls=none`))
    expect(result).toEqual({ code: CloseCode.UpstreamConnectFailed, reason: "cannot resolve nx.test: ENOTFOUND" })
    await untouched(upstream)
  })

  it("refuses tls=starttls with a reason", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`] }))
    const result = await closed(connect(bridge, `host=127.0.0.1&port=${port}&tls=starttls`))
    expect(result.code).toBe(CloseCode.BadRequest)
    expect(result.reason).toMatch(/STLS cannot pass through a WebSocket; use tls=implicit/)
    await untouched(upstream)
    expect(bridge.metrics.refusals.get("starttls")).toBe(1)
  })

  it("refuses malformed requests with 4002", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`] }))
    for (const query of [`port=${port}&tls=none`, `host=127.0.0.1&port=x&tls=none`, `host=127.0.0.1&port=${port}`]) {
      expect((await closed(connect(bridge, query))).code).toBe(CloseCode.BadRequest)
    }
    await untouched(upstream)
  })
})

describe("origin and token (HTTP refusals at the upgrade)", () => {
  const origin = "https://mail.example.com"

  it("refuses a disallowed Origin with 403 and allows a listed one", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`], allowOrigin: [origin] }))
    const query = `host=127.0.0.1&port=${port}&tls=none`
    expect(await httpStatus(connect(bridge, query, { origin: "https://evil.example.com" }))).toBe(403)
    await untouched(upstream)
    expect(bridge.metrics.refusals.get("origin")).toBe(1)
    expect(bridge.logs[0]).toMatchObject({ event: "refused", status: 403, origin: "https://evil.example.com" })
    const ok = connect(bridge, query, { origin })
    await receive(ok, 21)
    ok.close()
  })

  it("refuses every browser Origin when no --allow-origin is set", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`] }))
    expect(await httpStatus(connect(bridge, `host=127.0.0.1&port=${port}&tls=none`, { origin }))).toBe(403)
    await untouched(upstream)
  })

  it("allows requests without Origin unless --require-origin", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`], requireOrigin: true }))
    expect(await httpStatus(connect(bridge, `host=127.0.0.1&port=${port}&tls=none`))).toBe(403)
    await untouched(upstream)
  })

  it("refuses a missing or wrong token with 401; accepts Bearer or ?token=", async () => {
    const token = "correct-horse-battery-staple"
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`], token }))
    const query = `host=127.0.0.1&port=${port}&tls=none`
    expect(await httpStatus(connect(bridge, query))).toBe(401)
    expect(await httpStatus(connect(bridge, `${query}&token=wrong-horse-battery-staple`))).toBe(401)
    expect(await httpStatus(connect(bridge, query, { headers: { Authorization: "Bearer nope" } }))).toBe(401)
    await untouched(upstream)
    expect(bridge.metrics.refusals.get("token")).toBe(3)

    const viaHeader = connect(bridge, query, { headers: { Authorization: `Bearer ${token}` } })
    await receive(viaHeader, 21)
    const viaQuery = connect(bridge, `${query}&token=${token}`)
    await receive(viaQuery, 21)
    viaHeader.close()
    viaQuery.close()
    await until(() => bridge.logs.filter((l) => l["event"] === "session").length === 2)
    expect(JSON.stringify(bridge.logs)).not.toContain(token)
  })

  it("refuses two Authorization headers with 401, whichever is right, without looking at ?token= (as the Workers bridge)", async () => {
    const token = "correct-horse-battery-staple"
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`], token }))
    const query = `host=127.0.0.1&port=${port}&tls=none`
    // Node's http sends an array as one header line per value; Node's server kept the first.
    const twice = (values: ReadonlyArray<string>) =>
      ({ headers: { Authorization: [...values] } }) as unknown as Parameters<typeof connect>[2]
    expect(await httpStatus(connect(bridge, query, twice([`Bearer ${token}`, "Bearer nope"])))).toBe(401)
    expect(await httpStatus(connect(bridge, `${query}&token=${token}`, twice(["Bearer no", "Bearer nope"])))).toBe(401)
    await untouched(upstream)
  })

  it("answers other paths with 404 before any WebSocket exists", async () => {
    const { upstream, bridge, port } = await setup((p) => ({ allow: [`127.0.0.1:${p}`] }))
    const ws = connect({ url: `${bridge.url}/elsewhere` }, `host=127.0.0.1&port=${port}&tls=none`)
    expect(await httpStatus(ws)).toBe(404)
    await untouched(upstream)
  })
})

describe("connection limits", () => {
  it("refuses sessions past the total limit with 4008, and accepts again after one ends", async () => {
    const { upstream, bridge, port } = await setup((p) => ({
      allow: [`127.0.0.1:${p}`],
      maxConnections: 3,
      maxConnectionsPerClient: 100
    }))
    const query = `host=127.0.0.1&port=${port}&tls=none`
    const live = [connect(bridge, query), connect(bridge, query), connect(bridge, query)]
    await Promise.all(live.map((ws) => receive(ws, 21)))
    expect(upstream.connections()).toBe(3)
    const flood = Array.from({ length: 20 }, () => connect(bridge, query))
    const results = await Promise.all(flood.map(closed))
    for (const r of results) expect(r).toEqual({ code: CloseCode.Limit, reason: "too many connections" })
    expect(upstream.connections()).toBe(3)
    expect(bridge.metrics.refusals.get("limit_total")).toBe(20)

    const end = closed(live[0]!)
    live[0]!.close()
    await end
    await until(() => bridge.metrics.sessionsActive === 2, 2000, "the slot to be released")
    const again = connect(bridge, query)
    await receive(again, 21)
    expect(upstream.connections()).toBe(4)
    for (const ws of [...live, again]) ws.close()
  })

  it("refuses sessions past the per-client limit with 4008", async () => {
    const { upstream, bridge, port } = await setup((p) => ({
      allow: [`127.0.0.1:${p}`],
      maxConnectionsPerClient: 2
    }))
    const query = `host=127.0.0.1&port=${port}&tls=none`
    const live = [connect(bridge, query), connect(bridge, query)]
    await Promise.all(live.map(opened))
    const extra = await Promise.all(Array.from({ length: 5 }, () => closed(connect(bridge, query))))
    for (const r of extra)
      expect(r).toEqual({ code: CloseCode.Limit, reason: "too many connections from your address" })
    await until(() => upstream.connections() === 2)
    await sleep(50)
    expect(upstream.connections()).toBe(2)
    for (const ws of live) ws.close()
  })

  it("counts clients by X-Forwarded-For only with trustProxy", async () => {
    const { bridge, port } = await setup((p) => ({
      allow: [`127.0.0.1:${p}`],
      maxConnectionsPerClient: 1,
      trustProxy: true
    }))
    const query = `host=127.0.0.1&port=${port}&tls=none`
    const a = connect(bridge, query, { headers: { "X-Forwarded-For": "203.0.113.9, 198.51.100.1" } })
    const b = connect(bridge, query, { headers: { "X-Forwarded-For": "198.51.100.2" } })
    await Promise.all([receive(a, 21), receive(b, 21)])
    const c = connect(bridge, query, { headers: { "X-Forwarded-For": "1.2.3.4, 198.51.100.2" } })
    expect((await closed(c)).code).toBe(CloseCode.Limit)
    a.close()
    b.close()
    await until(() => bridge.logs.filter((l) => l["event"] === "session").length === 3)
    expect(bridge.logs.map((l) => l["client"]).sort()).toEqual(["198.51.100.1", "198.51.100.2", "198.51.100.2"])
  })
})
