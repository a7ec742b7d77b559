import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { canonicalIp, classifyAddress, clientKey, unmapIpv4 } from "../../bridge/address.ts"
import { CloseCode, closeReason } from "../../bridge/close-codes.ts"
import { makeLimiter } from "../../bridge/limits.ts"
import {
  admit,
  checkAddresses,
  isOriginAllowed,
  isRefusal,
  isTargetAllowed,
  parseAllowlist,
  parseHostPort,
  parseTarget,
  presentedToken,
  tokenMatches,
  type Target
} from "../../bridge/policy.ts"

describe("classifyAddress", () => {
  it.each([
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["10.1.2.3", "private"],
    ["100.64.0.1", "shared"],
    ["100.127.255.255", "shared"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["169.254.169.254", "link-local"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["192.0.2.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "reserved"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["::ffff:127.0.0.1", "ipv4-mapped"],
    ["::ffff:7f00:1", "ipv4-mapped"],
    ["::ffff:8.8.8.8", "ipv4-mapped"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"],
    ["2001::1", "reserved"], // Teredo
    ["64:ff9b::127.0.0.1", "loopback"], // NAT64 judged by its IPv4
    ["64:ff9b::a00:1", "private"],
    ["2002:7f00:1::1", "loopback"], // 6to4 judged by its IPv4
    ["::127.0.0.1", "reserved"], // deprecated IPv4-compatible
    ["not-an-ip", "reserved"]
  ])("%s is %s", (address, cls) => {
    expect(classifyAddress(address)).toBe(cls)
  })

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "172.32.0.1",
    "2a00:1450:4001::1",
    "64:ff9b::808:808",
    "2002:808:808::1"
  ])("%s is ordinary public unicast", (address) => {
    expect(classifyAddress(address)).toBeNull()
  })
})

describe("address helpers", () => {
  it("canonicalIp gives one spelling per address", () => {
    expect(canonicalIp("::1")).toBe(canonicalIp("0:0:0:0:0:0:0:1"))
    expect(canonicalIp("::FFFF:127.0.0.1")).toBe(canonicalIp("::ffff:7f00:1"))
    expect(canonicalIp("1.2.3.4")).toBe("1.2.3.4")
    expect(canonicalIp("2001:db8::1:2")).toBe("2001:db8:0:0:0:0:1:2")
  })
  it("canonicalIp agrees with the WHATWG URL parser for every IPv6 spelling", () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }))
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const full = groups.map((g) => g.toString(16)).join(":")
        const compressed = new URL(`http://[${full}]`).hostname.slice(1, -1)
        const [a = 0, b = 0] = groups.slice(6)
        const dotted = `${groups
          .slice(0, 6)
          .map((g) => g.toString(16))
          .join(":")}:${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`
        expect(canonicalIp(compressed)).toBe(full)
        expect(canonicalIp(dotted.toUpperCase())).toBe(full)
      })
    )
  })
  it("unmapIpv4 and clientKey group clients", () => {
    expect(unmapIpv4("::ffff:10.0.0.1")).toBe("10.0.0.1")
    expect(clientKey("::ffff:10.0.0.1")).toBe("10.0.0.1")
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe(clientKey("2001:db8:1:2:bbbb::2"))
    expect(clientKey("2001:db8:1:2::1")).not.toBe(clientKey("2001:db8:1:3::1"))
  })
})

describe("parseHostPort / parseAllowlist", () => {
  it("parses names, IPv4 and bracketed IPv6", () => {
    expect(parseHostPort("Pop.Example.COM.:995")).toEqual({ host: "pop.example.com", port: 995, isIp: false })
    expect(parseHostPort("192.0.2.1:110")).toEqual({ host: "192.0.2.1", port: 110, isIp: true })
    expect(parseHostPort("[::1]:110")).toEqual({ host: "0:0:0:0:0:0:0:1", port: 110, isIp: true })
  })
  it.each([
    "pop.example.com",
    "pop.example.com:0",
    "pop.example.com:70000",
    "::1:110",
    "bad_host!:110",
    ":110",
    "a..b:1"
  ])("rejects %s", (text) => {
    expect(() => parseHostPort(text)).toThrow()
  })
  it("allows port 0 only for listening", () => {
    expect(parseHostPort("127.0.0.1:0", true).port).toBe(0)
  })
})

describe("parseTarget", () => {
  const parse = (query: string) => parseTarget(new URLSearchParams(query))
  it("reads host, port and tls", () => {
    expect(parse("host=POP.example.com&port=995&tls=implicit")).toEqual({
      host: "pop.example.com",
      port: 995,
      tls: "implicit",
      isIp: false
    })
    expect(parse("host=[::1]&port=110&tls=none")).toMatchObject({ host: "0:0:0:0:0:0:0:1", isIp: true })
    expect(parse("host=pop.example.com&port=995&tls=passthrough")).toMatchObject({ tls: "passthrough" })
  })
  it.each([
    ["port=110&tls=none", "missing host"],
    ["host=a.b&tls=none", "missing port"],
    ["host=a.b&port=110", "tls parameter must be"],
    ["host=a.b&port=110&tls=ssl", "tls parameter must be implicit, none, passthrough"],
    ["host=a.b&port=110&tls=PASSTHROUGH", "tls parameter must be"],
    ["host=a.b&port=0&tls=none", "invalid port"],
    ["host=a.b&port=1e3&tls=none", "invalid port"],
    ["host=a.b&port=-1&tls=none", "invalid port"],
    ["host=a b&port=110&tls=none", "invalid host"],
    ["host=fe80::1%25eth0&port=110&tls=none", "invalid host"],
    ["host=a.b&host=c.d&port=110&tls=none", "repeated"]
  ])("refuses %s (%s)", (query, reason) => {
    const result = parse(query)
    expect(isRefusal(result)).toBe(true)
    if (isRefusal(result)) {
      expect(result.code).toBe(CloseCode.BadRequest)
      expect(result.reason).toContain(reason)
    }
  })
  it("refuses tls=starttls, explaining why", () => {
    const result = parse("host=a.b&port=110&tls=starttls")
    expect(result).toMatchObject({ code: CloseCode.BadRequest, metric: "starttls" })
    if (isRefusal(result)) {
      expect(result.reason).toMatch(/STLS cannot pass through a WebSocket; use tls=implicit, or tls=passthrough/)
      // RFC 6455: a close reason fits in 123 bytes, or closeReason() would cut it.
      expect(new TextEncoder().encode(result.reason).length).toBeLessThanOrEqual(123)
    }
  })
})

describe("allowlist and address checks", () => {
  const allow = parseAllowlist([
    "pop.example.com:995",
    "127.0.0.1:1110",
    "[::1]:1110",
    "intranet.test:110",
    "10.0.0.5:110"
  ])
  const target = (host: string, port: number): Target => {
    const t = parseTarget(new URLSearchParams({ host, port: String(port), tls: "none" }))
    if (isRefusal(t)) throw new Error(t.reason)
    return t
  }
  it("matches host and port exactly", () => {
    expect(isTargetAllowed(allow, target("POP.example.com", 995))).toBe(true)
    expect(isTargetAllowed(allow, target("pop.example.com", 110))).toBe(false)
    expect(isTargetAllowed(allow, target("evil.example.com", 995))).toBe(false)
    expect(isTargetAllowed(allow, target("0:0::1", 1110))).toBe(true)
    expect(isTargetAllowed([], target("pop.example.com", 995))).toBe(false)
  })
  it("refuses special addresses unless listed exactly, keeping the good ones in order", () => {
    const t = target("intranet.test", 110)
    expect(checkAddresses(allow, t, ["8.8.8.8"])).toEqual(["8.8.8.8"])
    expect(checkAddresses(allow, t, ["10.0.0.5"])).toEqual(["10.0.0.5"]) // listed with this port
    expect(checkAddresses(allow, t, ["10.0.0.6", "8.8.4.4"])).toEqual(["8.8.4.4"])
    expect(checkAddresses(allow, target("127.0.0.1", 1110), ["127.0.0.1"])).toEqual(["127.0.0.1"])
    const refused = checkAddresses(allow, t, ["127.0.0.1", "10.0.0.6"])
    expect(refused).toMatchObject({ code: CloseCode.TargetNotAllowed, metric: "address_not_allowed" })
    if (isRefusal(refused)) expect(refused.reason).toContain("loopback")
    // The exact address is allowed only with its own port.
    expect(isRefusal(checkAddresses(allow, target("pop.example.com", 995), ["127.0.0.1"]))).toBe(true)
    expect(isRefusal(checkAddresses(allow, t, []))).toBe(true)
  })
})

describe("origin and token", () => {
  it("allows listed origins, normalising spelling", () => {
    expect(isOriginAllowed("https://mail.example.com", ["https://MAIL.example.com:443"], false)).toBe(true)
    expect(isOriginAllowed("https://evil.example.com", ["https://mail.example.com"], false)).toBe(false)
    expect(isOriginAllowed("http://mail.example.com", ["https://mail.example.com"], false)).toBe(false)
    expect(isOriginAllowed("https://anything.test", ["*"], false)).toBe(true)
    expect(isOriginAllowed("null", [], false)).toBe(false)
    expect(isOriginAllowed("https://mail.example.com", [], false)).toBe(false)
  })
  it("allows requests without Origin unless requireOrigin", () => {
    expect(isOriginAllowed(undefined, [], false)).toBe(true)
    expect(isOriginAllowed(undefined, ["https://a.test"], true)).toBe(false)
  })
  it("reads Bearer before the query parameter and compares exactly", () => {
    expect(presentedToken("Bearer abc", new URLSearchParams("token=xyz"))).toBe("abc")
    expect(presentedToken(undefined, new URLSearchParams("token=xyz"))).toBe("xyz")
    expect(presentedToken("Basic abc", new URLSearchParams())).toBeUndefined()
    // Two headers (joined by ", " as fetch joins them): no token, and no fallback to the query.
    expect(presentedToken("Bearer abc, Bearer xyz", new URLSearchParams("token=xyz"))).toBeUndefined()
    expect(tokenMatches("s3cret-s3cret-s3cret", "s3cret-s3cret-s3cret")).toBe(true)
    expect(tokenMatches("s3cret-s3cret-s3creT", "s3cret-s3cret-s3cret")).toBe(false)
    expect(tokenMatches("short", "s3cret-s3cret-s3cret")).toBe(false)
    expect(tokenMatches(undefined, "s3cret-s3cret-s3cret")).toBe(false)
  })
  it("cuts close reasons to 123 bytes", () => {
    expect(new TextEncoder().encode(closeReason("é".repeat(100))).length).toBeLessThanOrEqual(123)
    expect(closeReason("short")).toBe("short")
  })
})

describe("admit: the rules both bridges apply before connecting, in order", () => {
  const allow = parseAllowlist(["pop.example.com:995"])
  const params = (query: string) => new URLSearchParams(query)
  const ok = "host=pop.example.com&port=995&tls=implicit"

  it("admits an allowed target and takes a slot", () => {
    const limiter = makeLimiter(10, 10)
    const a = admit(limiter, "c1", allow, params(ok))
    expect(a).toMatchObject({
      ok: true,
      holdsSlot: true,
      target: { host: "pop.example.com", port: 995, tls: "implicit" }
    })
    expect(limiter.active()).toBe(1)
  })

  it("refuses a full bridge before looking at the target, without taking a slot", () => {
    const limiter = makeLimiter(1, 1)
    admit(limiter, "c1", allow, params(ok))
    const a = admit(limiter, "c2", allow, params("host=evil.example&port=25"))
    expect(a).toMatchObject({
      ok: false,
      holdsSlot: false,
      target: undefined,
      refusal: { code: 4008, metric: "limit_total" }
    })
    expect(limiter.active()).toBe(1)
  })

  it("refuses a client over its own limit", () => {
    const limiter = makeLimiter(10, 1)
    admit(limiter, "c1", allow, params(ok))
    expect(admit(limiter, "c1", allow, params(ok))).toMatchObject({
      ok: false,
      holdsSlot: false,
      refusal: { metric: "limit_per_client" }
    })
  })

  it("refuses a target off the allowlist, keeping the target for the log and the slot for release", () => {
    const limiter = makeLimiter(10, 10)
    const a = admit(limiter, "c1", allow, params("host=pop.example.com&port=110&tls=none"))
    expect(a).toMatchObject({
      ok: false,
      holdsSlot: true,
      target: { host: "pop.example.com", port: 110 },
      refusal: { code: 4001, reason: "pop.example.com:110 is not allowed by this bridge", metric: "target_not_allowed" }
    })
  })
})
