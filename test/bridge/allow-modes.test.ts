/**
 * Allowlist entries with TLS modes (issue 14, item 4): `HOST:PORT[/MODE[,MODE…]]`, a
 * public contract shared by the Node and the Workers bridge (both parse it with
 * policy.ts). Without modes, port 995 allows only `implicit`; other ports `implicit` and
 * `none`; `passthrough` (issue 19) only where an entry names it.
 */
import { afterEach, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import { makeLimiter } from "../../bridge/limits.ts"
import { admit, parseAllowEntry, parseAllowlist, splitAllowlist } from "../../bridge/policy.ts"
import { workerSettingsFrom } from "../../bridge/worker-config.ts"
import { closed, connect, receive, sleep, startGreeter, startTestBridge } from "./helpers.ts"

describe("parsing HOST:PORT[/MODE[,MODE…]]", () => {
  it.each([
    ["pop.example.com:995", ["implicit"]],
    ["pop.example.com:110", ["implicit", "none"]],
    ["pop.example.com:995/passthrough", ["passthrough"]],
    ["pop.example.com:995/implicit, PASSTHROUGH", ["implicit", "passthrough"]],
    ["pop.example.com:110/none,passthrough,implicit", ["none", "passthrough", "implicit"]],
    ["pop.example.com:995/implicit,none", ["implicit", "none"]],
    ["pop.example.com:995/none", ["none"]],
    ["pop.example.com:110/implicit", ["implicit"]],
    ["[2001:db8::1]:110/none,implicit", ["none", "implicit"]],
    ["192.0.2.1:110/IMPLICIT, implicit", ["implicit"]]
  ])("%s allows %j", (text, modes) => {
    expect(parseAllowEntry(text).modes).toEqual(modes)
  })

  it.each([
    ["pop.example.com:995/", /unknown TLS mode ""/],
    ["pop.example.com:995/starttls", /unknown TLS mode "starttls" \(modes: implicit, none, passthrough\)/],
    ["pop.example.com:995/pass-through", /unknown TLS mode "pass-through"/],
    ["pop.example.com/implicit", /is not HOST:PORT/]
  ])("refuses %s", (text, message) => {
    expect(() => parseAllowEntry(text)).toThrow(message)
  })

  it("splits the Workers bridge's ALLOW string: commas separate entries and an entry's modes", () => {
    expect(splitAllowlist("a.test:995/implicit,none, b.test:110  c.test:995,[::1]:110/none,passthrough")).toEqual([
      "a.test:995/implicit,none",
      "b.test:110",
      "c.test:995",
      "[::1]:110/none,passthrough"
    ])
    expect(
      workerSettingsFrom({ ALLOW: "a.test:995/implicit,none, b.test:995 c.test:995/passthrough" }).allow.map(
        (e) => e.modes
      )
    ).toEqual([["implicit", "none"], ["implicit"], ["passthrough"]])
  })
})

describe("admit with modes", () => {
  const params = (q: string) => new URLSearchParams(q)
  it("refuses tls=none to port 995 by default, with 4001 naming what is allowed", () => {
    const allow = parseAllowlist(["pop.example.com:995"])
    expect(admit(makeLimiter(9, 9), "c", allow, params("host=pop.example.com&port=995&tls=none"))).toMatchObject({
      ok: false,
      holdsSlot: true,
      refusal: {
        code: CloseCode.TargetNotAllowed,
        reason: "tls=none is not allowed for pop.example.com:995 (allowed: implicit)",
        metric: "tls_mode_not_allowed"
      }
    })
    expect(admit(makeLimiter(9, 9), "c", allow, params("host=pop.example.com&port=995&tls=implicit")).ok).toBe(true)
  })
  it("joins the modes of several entries for the same target", () => {
    const allow = parseAllowlist(["pop.example.com:995", "POP.example.com:995/none"])
    expect(admit(makeLimiter(9, 9), "c", allow, params("host=pop.example.com&port=995&tls=none")).ok).toBe(true)
  })
  it("refuses tls=passthrough unless an entry names it: never a default, on 995 or elsewhere", () => {
    const ask = (allow: readonly string[], port: number) =>
      admit(makeLimiter(9, 9), "c", parseAllowlist(allow), params(`host=pop.example.com&port=${port}&tls=passthrough`))
    expect(ask(["pop.example.com:995"], 995)).toMatchObject({
      ok: false,
      refusal: {
        code: CloseCode.TargetNotAllowed,
        reason: "tls=passthrough is not allowed for pop.example.com:995 (allowed: implicit)",
        metric: "tls_mode_not_allowed"
      }
    })
    expect(ask(["pop.example.com:110"], 110)).toMatchObject({
      ok: false,
      refusal: { reason: "tls=passthrough is not allowed for pop.example.com:110 (allowed: implicit, none)" }
    })
    expect(ask(["pop.example.com:995/passthrough"], 995).ok).toBe(true)
    expect(ask(["pop.example.com:110", "pop.example.com:110/passthrough"], 110).ok).toBe(true)
    // Passthrough alone permits neither other mode.
    const only = parseAllowlist(["pop.example.com:995/passthrough"])
    expect(admit(makeLimiter(9, 9), "c", only, params("host=pop.example.com&port=995&tls=implicit")).ok).toBe(false)
  })
})

describe("the Node bridge", () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  it("refuses a mode the entry does not list before contacting the server; relays the one it does", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}/none`] })
    cleanups.push(() => bridge.close(0))
    const refused = await closed(connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=implicit`))
    expect(refused).toEqual({
      code: CloseCode.TargetNotAllowed,
      reason: `tls=implicit is not allowed for 127.0.0.1:${upstream.port} (allowed: none)`
    })
    await sleep(50)
    expect(upstream.connections()).toBe(0)
    expect(bridge.metrics.refusals.get("tls_mode_not_allowed")).toBe(1)
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    ws.close()
    await closed(ws)
  })
})
