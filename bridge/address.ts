/**
 * IP address facts the bridge's policy needs: which addresses are not ordinary public
 * unicast (so a host name must never lead there), a canonical form for exact comparison,
 * and the key that groups clients for the per-client connection limit.
 *
 * Pure: no sockets, no `ws`; only `node:net`'s `isIP` and `BlockList` (parsing and range
 * checks done by Node, not by hand).
 */
import { BlockList, isIP } from "node:net"

/** Why an address is not an ordinary public unicast address. @category address */
export type AddressClass =
  | "unspecified"
  | "loopback"
  | "private"
  | "shared"
  | "link-local"
  | "multicast"
  | "reserved"
  | "ipv4-mapped"

/**
 * The special ranges, from the IANA special-purpose registries (RFC 6890 and updates).
 * A name that resolves into any of these is refused unless that exact address is allowed.
 */
const RANGES: ReadonlyArray<readonly [cidr: string, cls: AddressClass]> = [
  // IPv4
  ["0.0.0.0/8", "unspecified"], // "this network"; 0.0.0.0 reaches localhost on Linux
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "shared"], // carrier-grade NAT, internal to a provider
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"], // includes cloud metadata at 169.254.169.254
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"], // IETF protocol assignments
  ["192.0.2.0/24", "reserved"], // documentation (TEST-NET-1)
  ["192.88.99.0/24", "reserved"], // deprecated 6to4 relay anycast
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"], // benchmarking
  ["198.51.100.0/24", "reserved"], // documentation (TEST-NET-2)
  ["203.0.113.0/24", "reserved"], // documentation (TEST-NET-3)
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"], // future use, and 255.255.255.255 broadcast
  // IPv6 (anything outside 2000::/3 is refused below as well)
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::ffff:0:0/96", "ipv4-mapped"], // a dual-stack socket would reach the embedded IPv4
  ["64:ff9b:1::/48", "private"], // local-use NAT64 (RFC 8215)
  ["100::/64", "reserved"], // discard-only
  ["2001::/23", "reserved"], // IETF protocol assignments, incl. Teredo 2001::/32
  ["2001:db8::/32", "reserved"], // documentation
  ["fc00::/7", "private"], // unique local
  ["fe80::/10", "link-local"],
  ["fec0::/10", "reserved"], // deprecated site-local
  ["ff00::/8", "multicast"]
]

/**
 * One BlockList per class and family. Families are kept apart on purpose: Node's BlockList
 * matches IPv4 addresses against IPv4-mapped IPv6 rules (and the reverse), so a shared
 * list would call 8.8.8.8 "ipv4-mapped".
 */
const LISTS: ReadonlyArray<readonly [AddressClass, 4 | 6, BlockList]> = (() => {
  const lists = new Map<string, readonly [AddressClass, 4 | 6, BlockList]>()
  for (const [cidr, cls] of RANGES) {
    const [net = "", prefix = ""] = cidr.split("/")
    const family = isIP(net) === 6 ? 6 : 4
    const entry = lists.get(`${cls}/${family}`) ?? ([cls, family, new BlockList()] as const)
    entry[2].addSubnet(net, Number(prefix), family === 6 ? "ipv6" : "ipv4")
    lists.set(`${cls}/${family}`, entry)
  }
  return [...lists.values()]
})()

const GLOBAL_UNICAST_V6 = new BlockList()
GLOBAL_UNICAST_V6.addSubnet("2000::", 3, "ipv6")

/** Embeddings whose IPv4 part decides: NAT64 64:ff9b::/96 (bytes 12..15), 6to4 2002::/16 (bytes 2..5). */
const NAT64 = new BlockList()
NAT64.addSubnet("64:ff9b::", 96, "ipv6")
const SIX_TO_FOUR = new BlockList()
SIX_TO_FOUR.addSubnet("2002::", 16, "ipv6")

/** The address without an IPv6 zone (`fe80::1%eth0`). */
const stripZone = (address: string): string => {
  const percent = address.indexOf("%")
  return percent === -1 ? address : address.slice(0, percent)
}

/** 4 or 6 for an IP literal, 0 for anything else (names, `[::1]`, `127.1`). @category address */
export const ipFamily = (text: string): 0 | 4 | 6 => {
  const family = isIP(text)
  return family === 4 || family === 6 ? family : 0
}

/**
 * The 16 bytes of a valid IPv6 literal (zone stripped); callers check `ipFamily` first.
 * Handles `::` compression and a trailing dotted IPv4 part.
 */
export const ipv6Bytes = (address: string): Uint8Array => {
  let text = stripZone(address).toLowerCase()
  const bytes = new Uint8Array(16)
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  const tail: number[] = []
  if (dotted?.[1] !== undefined) {
    const parts = dotted[1].split(".").map(Number)
    tail.push(((parts[0] ?? 0) << 8) | (parts[1] ?? 0), ((parts[2] ?? 0) << 8) | (parts[3] ?? 0))
    text = text.slice(0, text.length - dotted[1].length) + "0" // placeholder group, replaced below
  }
  const [head = "", rest] = text.split("::")
  const parse = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)))
  const left = parse(head)
  const right = rest === undefined ? [] : parse(rest)
  if (tail.length > 0) {
    // The placeholder "0" took one group where the dotted part needs two.
    const side = rest === undefined ? left : right
    side.pop()
    side.push(...tail)
  }
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8
    bytes[i * 2 + 1] = g & 0xff
  })
  return bytes
}

const dottedQuad = (b: Uint8Array, at: number): string =>
  `${b[at] ?? 0}.${b[at + 1] ?? 0}.${b[at + 2] ?? 0}.${b[at + 3] ?? 0}`

/**
 * One spelling per address, for exact comparison: IPv4 as is (Node rejects leading zeros),
 * IPv6 as eight lower-case hex groups without compression. Not an IP: returned unchanged.
 * @category address
 */
export const canonicalIp = (address: string): string => {
  const family = ipFamily(address)
  if (family !== 6) return address
  const b = ipv6Bytes(address)
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16))
  return groups.join(":")
}

/**
 * The class of a special address, or `null` for an ordinary public unicast address.
 * IPv4 embedded in NAT64 or 6to4 addresses is judged by its IPv4 part; IPv4-mapped IPv6 is
 * always special, so only an exact allowlist entry can reach it.
 * @category address
 */
export const classifyAddress = (address: string): AddressClass | null => {
  const family = ipFamily(address)
  if (family === 0) return "reserved" // not an address at all: never connect to it
  const ip = stripZone(address)
  const type = family === 4 ? "ipv4" : "ipv6"
  for (const [cls, listFamily, list] of LISTS) if (listFamily === family && list.check(ip, type)) return cls
  if (family === 4) return null
  if (NAT64.check(ip, "ipv6")) return classifyAddress(dottedQuad(ipv6Bytes(ip), 12))
  if (SIX_TO_FOUR.check(ip, "ipv6")) return classifyAddress(dottedQuad(ipv6Bytes(ip), 2))
  return GLOBAL_UNICAST_V6.check(ip, "ipv6") ? null : "reserved"
}

/** The IPv4 address inside `::ffff:a.b.c.d`, else the address unchanged. @category address */
export const unmapIpv4 = (address: string): string => {
  if (ipFamily(address) !== 6) return address
  const b = ipv6Bytes(address)
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff
  return mapped ? dottedQuad(b, 12) : address
}

/**
 * The key under which a client's connections are counted: its IPv4 address, or its IPv6
 * /64 (one subscriber usually holds a whole /64, so per-address limits would be moot).
 * @category address
 */
export const clientKey = (address: string): string => {
  const ip = unmapIpv4(address)
  if (ipFamily(ip) !== 6) return ip
  return canonicalIp(ip).split(":").slice(0, 4).join(":") + "::/64"
}
