/**
 * IP address facts the bridge's policy needs: which addresses are not ordinary public
 * unicast (so a host name must never lead there), a canonical form for exact comparison,
 * and the key that groups clients for the per-client connection limit.
 *
 * Pure and runtime-neutral (no `node:` imports): the Node bridge and the Workers bridge
 * share it. Addresses are parsed into bytes here and ranges compared bit by bit; the
 * parser accepts exactly what Node's `net.isIP` accepts (test/bridge/address.test.ts
 * compares them on generated input), so moving off `node:net` changed no decision.
 */

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
 * @category address
 */
export const RANGES: ReadonlyArray<readonly [cidr: string, cls: AddressClass]> = [
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

/** One decimal IPv4 part: 0–255 without leading zeros (Node and inet_pton refuse "010"). */
const V4_PART = /^(?:0|[1-9][0-9]{0,2})$/
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/
/** What may follow `%` in an IPv6 literal (the zone, e.g. `eth0`); as Node's isIP. */
const ZONE = /^[0-9a-zA-Z.:-]+$/

/** The 4 bytes of a dotted-quad IPv4 address, or undefined. */
const parseIpv4 = (text: string): Uint8Array | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  const bytes = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? ""
    if (!V4_PART.test(part) || Number(part) > 255) return undefined
    bytes[i] = Number(part)
  }
  return bytes
}

/** The 16-bit groups of one side of `::` (a trailing dotted IPv4 part only where allowed). */
const parseGroups = (text: string, ipv4Tail: boolean): number[] | undefined => {
  if (text === "") return []
  const parts = text.split(":")
  const groups: number[] = []
  for (const [i, part] of parts.entries()) {
    if (V6_GROUP.test(part)) {
      groups.push(parseInt(part, 16))
      continue
    }
    const v4 = ipv4Tail && i === parts.length - 1 ? parseIpv4(part) : undefined
    if (v4 === undefined) return undefined
    groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0))
  }
  return groups
}

/** The 16 bytes of an IPv6 literal (`::` compression, dotted IPv4 tail, `%zone`), or undefined. */
const parseIpv6 = (text: string): Uint8Array | undefined => {
  const percent = text.indexOf("%")
  if (percent !== -1 && !ZONE.test(text.slice(percent + 1))) return undefined
  const halves = (percent === -1 ? text : text.slice(0, percent)).split("::")
  if (halves.length > 2) return undefined
  const compressed = halves.length === 2
  // A dotted IPv4 part can only end the address, so not before "::".
  const left = parseGroups(halves[0] ?? "", !compressed)
  const right = compressed ? parseGroups(halves[1] ?? "", true) : []
  if (left === undefined || right === undefined) return undefined
  const given = left.length + right.length
  // "::" stands for at least one zero group.
  if (compressed ? given > 7 : given !== 8) return undefined
  const groups = [...left, ...new Array<number>(8 - given).fill(0), ...right]
  const bytes = new Uint8Array(16)
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8
    bytes[i * 2 + 1] = g & 0xff
  })
  return bytes
}

/** 4 or 6 for an IP literal, 0 for anything else (names, `[::1]`, `127.1`). @category address */
export const ipFamily = (text: string): 0 | 4 | 6 =>
  parseIpv4(text) !== undefined ? 4 : parseIpv6(text) !== undefined ? 6 : 0

/** The 16 bytes of a valid IPv6 literal (zone dropped); callers check `ipFamily` first. */
export const ipv6Bytes = (address: string): Uint8Array => parseIpv6(address) ?? new Uint8Array(16)

/** The 4 or 16 bytes of an IP literal (IPv6 zone dropped), or undefined for anything else. @category address */
export const ipBytes = (address: string): Uint8Array | undefined => parseIpv4(address) ?? parseIpv6(address)

/** A parsed CIDR range. */
interface Range {
  readonly bytes: Uint8Array
  readonly prefix: number
}

const range = (cidr: string): Range => {
  const [net = "", prefix = ""] = cidr.split("/")
  const bytes = parseIpv4(net) ?? parseIpv6(net)
  if (bytes === undefined) throw new Error(`bad range ${cidr}`) // a typo in the table above
  return { bytes, prefix: Number(prefix) }
}

/** Whether `bytes` (same family as the range) lies inside it: the first `prefix` bits agree. */
const inRange = (bytes: Uint8Array, r: Range): boolean => {
  if (bytes.length !== r.bytes.length) return false // families never match each other
  const whole = r.prefix >> 3
  for (let i = 0; i < whole; i++) if (bytes[i] !== r.bytes[i]) return false
  const rest = r.prefix & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return ((bytes[whole] ?? 0) & mask) === ((r.bytes[whole] ?? 0) & mask)
}

const SPECIAL: ReadonlyArray<readonly [Range, AddressClass]> = RANGES.map(([cidr, cls]) => [range(cidr), cls])
const GLOBAL_UNICAST_V6 = range("2000::/3")
/** Embeddings whose IPv4 part decides: NAT64 64:ff9b::/96 (bytes 12..15), 6to4 2002::/16 (bytes 2..5). */
const NAT64 = range("64:ff9b::/96")
const SIX_TO_FOUR = range("2002::/16")

const dottedQuad = (b: Uint8Array, at: number): string =>
  `${b[at] ?? 0}.${b[at + 1] ?? 0}.${b[at + 2] ?? 0}.${b[at + 3] ?? 0}`

/**
 * One spelling per address, for exact comparison: IPv4 as is (leading zeros are not accepted),
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
  const bytes = parseIpv4(address) ?? parseIpv6(address)
  if (bytes === undefined) return "reserved" // not an address at all: never connect to it
  for (const [r, cls] of SPECIAL) if (inRange(bytes, r)) return cls
  if (bytes.length === 4) return null
  if (inRange(bytes, NAT64)) return classifyAddress(dottedQuad(bytes, 12))
  if (inRange(bytes, SIX_TO_FOUR)) return classifyAddress(dottedQuad(bytes, 2))
  return inRange(bytes, GLOBAL_UNICAST_V6) ? null : "reserved"
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

/**
 * The IP address in a peer description as sockets report it (`192.0.2.1:995`,
 * `[2001:db8::1]:995`, or a bare address), or undefined when the host part is a name.
 * The Workers runtime reports the peer this way after `connect()`; miniflare reports the
 * name it was given, so there may be no address to check.
 * @category address
 */
export const peerIp = (peer: string | undefined): string | undefined => {
  if (peer === undefined) return undefined
  if (ipFamily(peer) !== 0) return peer
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer)?.[1]
  if (bracketed !== undefined) return ipFamily(bracketed) === 6 ? bracketed : undefined
  const colon = peer.indexOf(":")
  if (colon <= 0 || colon !== peer.lastIndexOf(":")) return undefined
  const host = peer.slice(0, colon)
  return ipFamily(host) === 4 ? host : undefined
}
