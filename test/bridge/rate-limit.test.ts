/**
 * The per-client session rate (issue 14, item 2): the token bucket in bridge/rate-limit.ts
 * on a test clock, and the Node bridge refusing with 4029 and counting it, per address.
 */
import { afterEach, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import { makeLimiter } from "../../bridge/limits.ts"
import { admit, parseAllowlist } from "../../bridge/policy.ts"
import { makeRateLimiter, parseRate } from "../../bridge/rate-limit.ts"
import { makeRefusalLog } from "../../bridge/refusal-log.ts"
import { parseDuration } from "../../bridge/units.ts"
import { closed, connect, receive, startGreeter, startTestBridge, until } from "./helpers.ts"

describe("token buckets (pure, test clock)", () => {
  it("allows a burst, then one token per period; buckets are per key", () => {
    let now = 0
    const rate = makeRateLimiter({ count: 1, perMs: 1000 }, 3, () => now)
    expect([rate.take("a"), rate.take("a"), rate.take("a"), rate.take("a")]).toEqual([true, true, true, false])
    expect(rate.take("b")).toBe(true) // another client has its own bucket
    now = 999
    expect(rate.take("a")).toBe(false)
    now = 1000
    expect(rate.take("a")).toBe(true)
    expect(rate.take("a")).toBe(false)
    now = 1_000_000 // refilled to the burst, not beyond
    expect([rate.take("a"), rate.take("a"), rate.take("a"), rate.take("a")]).toEqual([true, true, true, false])
  })

  it("holds at most maxKeys buckets, dropping full ones first", () => {
    let now = 0
    const rate = makeRateLimiter({ count: 1, perMs: 1000 }, 2, () => now, 100)
    for (let i = 0; i < 1000; i++) rate.take(`k${i}`)
    expect(rate.size()).toBeLessThanOrEqual(100)
    now = 10_000 // every bucket is full again: all are dropped on the next sweep
    for (let i = 0; i < 101; i++) rate.take(`new${i}`)
    expect(rate.size()).toBeLessThanOrEqual(100)
  })

  it("parses N/TIME", () => {
    expect(parseRate("30/1m", parseDuration)).toEqual({ count: 30, perMs: 60_000 })
    expect(parseRate("5/s", parseDuration)).toEqual({ count: 5, perMs: 1000 })
    expect(() => parseRate("fast", parseDuration)).toThrow(/not a rate like 10\/1m/)
  })

  it("admit: a client over its rate is refused with 4029 before a slot is taken or the target is looked at", () => {
    const now = 0
    const rate = makeRateLimiter({ count: 1, perMs: 60_000 }, 2, () => now)
    const limiter = makeLimiter(10, 10)
    const allow = parseAllowlist(["pop.example.com:995"])
    const params = new URLSearchParams("host=pop.example.com&port=995&tls=implicit")
    expect(admit(limiter, "c", allow, params, rate).ok).toBe(true)
    expect(admit(limiter, "c", allow, new URLSearchParams("host=nope.example"), rate).ok).toBe(false) // costs a token too
    expect(admit(limiter, "c", allow, params, rate)).toMatchObject({
      ok: false,
      holdsSlot: false,
      refusal: { code: CloseCode.RateLimited, metric: "rate_limited" }
    })
    expect(limiter.active()).toBe(2)
  })

  it("refusal log lines: a burst, then the rate; the next line says how many were left out", () => {
    let now = 0
    const lines: Array<Readonly<Record<string, unknown>>> = []
    let suppressed = 0
    const log = makeRefusalLog(
      (e) => lines.push(e),
      () => now,
      () => (suppressed += 1)
    )
    for (let i = 0; i < 1000; i++) log({ event: "refused", i })
    expect(lines.length).toBe(50)
    expect(suppressed).toBe(950)
    now = 100 // one more token (10 a second)
    log({ event: "refused", i: 1000 })
    expect(lines.at(-1)).toEqual({ event: "refused", i: 1000, suppressed: 950 })
  })
})

describe("the Node bridge's session rate", () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  it("refuses a client's sessions past the burst with 4029, counts them, and leaves other addresses alone", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({
      allow: [`127.0.0.1:${upstream.port}`],
      sessionBurst: 3,
      sessionRate: { count: 1, perMs: 3_600_000 }
    })
    cleanups.push(() => bridge.close(0))
    const query = `host=127.0.0.1&port=${upstream.port}&tls=none`
    for (let i = 0; i < 3; i++) {
      const ws = connect(bridge, query)
      await receive(ws, 21)
      ws.close()
      await closed(ws)
    }
    const refused = await Promise.all(Array.from({ length: 4 }, () => closed(connect(bridge, query))))
    for (const r of refused) {
      expect(r).toEqual({
        code: CloseCode.RateLimited,
        reason: "too many new sessions from your address; try again later"
      })
    }
    expect(upstream.connections()).toBe(3)
    expect(bridge.metrics.rateLimited).toBe(4)
    expect(bridge.metrics.refusals.get("rate_limited")).toBe(4)
    expect(bridge.metrics.render()).toMatch(/^pop3_bridge_rate_limited_total 4$/m)
    expect(bridge.metrics.render()).toMatch(/^pop3_bridge_refusals_total\{reason="rate_limited"\} 4$/m)

    const other = connect(bridge, query, { localAddress: "127.0.0.2" })
    expect((await receive(other, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    other.close()
    await closed(other)
    await until(() => bridge.metrics.sessionsActive === 0, 2000, "all sessions to end")
  })

  it("sessionRate off: no limit", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`], sessionRate: "off", sessionBurst: 1 })
    cleanups.push(() => bridge.close(0))
    for (let i = 0; i < 5; i++) {
      const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
      await receive(ws, 21)
      ws.close()
      await closed(ws)
    }
    expect(bridge.metrics.rateLimited).toBe(0)
  })
})
