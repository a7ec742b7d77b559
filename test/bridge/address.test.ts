// bridge/address.ts parses and range-checks addresses in plain JS (so the Workers bridge can
// share it). Node's `net.isIP` and `BlockList` were the implementation before; here they are
// the oracle: on generated input, the pure code must accept and classify exactly as they do.
import fc from "fast-check"
import { BlockList, isIP } from "node:net"
import { describe, expect, it } from "vitest"
import { canonicalIp, classifyAddress, ipFamily, peerIp, RANGES } from "../../bridge/address.ts"

/** Random IPv6 spellings: full, "::"-compressed anywhere, dotted tail, upper case, zone. */
const ipv6Text = fc
  .tuple(
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
    fc.integer({ min: -1, max: 7 }), // where "::" starts (-1: nowhere)
    fc.integer({ min: 1, max: 8 }), // how many groups it swallows
    fc.boolean(), // dotted IPv4 tail
    fc.boolean(), // upper case
    fc.constantFrom("", "%eth0", "%1", "%")
  )
  .map(([groups, at, length, dotted, upper, zone]) => {
    const hex = groups.map((g) => g.toString(16))
    if (dotted) {
      const [a = 0, b = 0] = groups.slice(6)
      hex.splice(6, 2, `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`)
    }
    const text = at < 0 ? hex.join(":") : `${hex.slice(0, at).join(":")}::${hex.slice(at + length).join(":")}`
    return (upper ? text.toUpperCase() : text) + zone
  })

/** Strings near the grammar: digits, hex, separators, and near-misses like "010" and ":::". */
const nearMiss = fc
  .array(
    fc.constantFrom("0", "1", "9", "25", "255", "256", "010", "f", "FFFF", "1ffff", "g", ".", ":", "::", "%", "x", ""),
    {
      maxLength: 12
    }
  )
  .map((parts) => parts.join(""))

/** Dotted quads, some out of range or with a leading zero ("010" is not an address). */
const ipv4Text = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 9 })), { minLength: 4, maxLength: 4 })
  .map((parts) => parts.map(([n, pad]) => (pad === 0 ? `0${n}` : String(n))).join("."))

describe("ipFamily accepts exactly what Node's net.isIP accepts", () => {
  it.each([
    "1.2.3.4",
    "0.0.0.0",
    "255.255.255.255",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    " 1.2.3.4",
    "::",
    "::1",
    "1::",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8::",
    "1::2::3",
    ":::",
    ":1::",
    "1::2:",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "1.2.3.4::",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5:6::1.2.3.4",
    "fe80::1%eth0",
    "fe80::1%",
    "fe80::1%e th0",
    "[::1]",
    "12345::",
    "localhost",
    ""
  ])("%s", (text) => {
    expect(ipFamily(text)).toBe(isIP(text))
  })
  it("on generated IPv6, IPv4 and near-miss strings", () => {
    fc.assert(
      fc.property(fc.oneof(ipv6Text, ipv4Text, nearMiss), (text) => ipFamily(text) === isIP(text)),
      { numRuns: 5000 }
    )
  })
})

describe("classifyAddress decides as Node's BlockList did", () => {
  // The old implementation: one BlockList per class and family over the same table.
  const lists = RANGES.map(([cidr, cls]) => {
    const [net = "", prefix = ""] = cidr.split("/")
    const type = isIP(net) === 6 ? "ipv6" : "ipv4"
    const list = new BlockList()
    list.addSubnet(net, Number(prefix), type)
    return { cls, type, list }
  })
  const global = new BlockList()
  global.addSubnet("2000::", 3, "ipv6")
  const nat64 = new BlockList()
  nat64.addSubnet("64:ff9b::", 96, "ipv6")
  const sixToFour = new BlockList()
  sixToFour.addSubnet("2002::", 16, "ipv6")
  const embedded = (address: string, at: number): string => {
    const groups = canonicalIp(address)
      .split(":")
      .map((g) => parseInt(g, 16))
    const word = (i: number) => groups[i] ?? 0
    const [hi, lo] = at === 12 ? [word(6), word(7)] : [word(1), word(2)]
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  }
  const oracle = (address: string): string | null => {
    const family = isIP(address)
    if (family === 0) return "reserved"
    const ip = address.split("%")[0] ?? ""
    const type = family === 4 ? "ipv4" : "ipv6"
    for (const { cls, type: t, list } of lists) if (t === type && list.check(ip, type)) return cls
    if (family === 4) return null
    if (nat64.check(ip, "ipv6")) return oracle(embedded(ip, 12))
    if (sixToFour.check(ip, "ipv6")) return oracle(embedded(ip, 2))
    return global.check(ip, "ipv6") ? null : "reserved"
  }

  // Addresses near every range boundary: each range's first address with a few bits flipped.
  const boundary = fc
    .tuple(fc.constantFrom(...RANGES.map(([cidr]) => cidr)), fc.integer({ min: 0, max: 127 }), fc.boolean())
    .map(([cidr, bit, flip]) => {
      const [net = ""] = cidr.split("/")
      if (isIP(net) === 4) {
        const n = net.split(".").reduce((acc, p) => acc * 256 + Number(p), 0)
        const value = flip ? (n ^ (1 << (bit % 32))) >>> 0 : n + (bit % 7)
        return [24, 16, 8, 0].map((s) => (value >>> s) & 255).join(".")
      }
      const groups = canonicalIp(net)
        .split(":")
        .map((g) => parseInt(g, 16))
      const index = Math.floor(bit / 16)
      if (flip) groups[index] = (groups[index] ?? 0) ^ (1 << (15 - (bit % 16)))
      else groups[7] = (groups[7] ?? 0) + bit
      return groups.map((g) => g.toString(16)).join(":")
    })

  it("on addresses around every range boundary, random addresses and non-addresses", () => {
    const anyV4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join("."))
    fc.assert(
      fc.property(
        fc.oneof(boundary, anyV4, ipv6Text, nearMiss),
        (address) => classifyAddress(address) === oracle(address)
      ),
      {
        numRuns: 10000
      }
    )
  })
})

describe("peerIp (the Workers bridge checks the peer the runtime reports)", () => {
  it.each([
    ["192.0.2.1:995", "192.0.2.1"],
    ["[2001:db8::1]:995", "2001:db8::1"],
    ["[::1]:110", "::1"],
    ["127.0.0.1", "127.0.0.1"],
    ["2001:db8::1", "2001:db8::1"],
    ["localhost:46281", undefined], // miniflare reports the name it was given
    ["mail.example.com:995", undefined],
    ["[mail.example.com]:995", undefined],
    ["01.2.3.4:995", undefined],
    [undefined, undefined]
  ])("%s -> %s", (peer, ip) => {
    expect(peerIp(peer)).toBe(ip)
  })
})
