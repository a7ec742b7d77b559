/**
 * The PROXY protocol version 2 header (HAProxy's proxy-protocol.txt, section 2.2): sent
 * first on the connection to a mail server that opted in (`--proxy-protocol HOST:PORT`), so
 * the server's own logs, limits and fail2ban see the browser's address instead of the
 * bridge's. Dovecot reads it on listeners with `haproxy = yes`, from the addresses in
 * `haproxy_trusted_networks`. With implicit TLS the header precedes the TLS handshake.
 *
 * Only the binary v2 form, command PROXY, TCP over IPv4 or IPv6, no TLVs. Pure and
 * runtime-neutral.
 */
import { ipBytes, unmapIpv4 } from "./address.ts"

/** The 12-byte signature every v2 header starts with. @category proxy protocol */
export const PROXY_V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a)

/** The two ends of the client's connection, as the mail server should see them. @category proxy protocol */
export interface ProxyAddresses {
  /** The client's IP address (the browser's, after X-Forwarded-For when trusted). */
  readonly source: string
  /** The client's port (0 when unknown, e.g. behind a reverse proxy). */
  readonly sourcePort: number
  /** The address and port the bridge connected to. */
  readonly destination: string
  readonly destinationPort: number
}

const mapped = (v4: Uint8Array): Uint8Array => {
  const out = new Uint8Array(16)
  out[10] = 0xff
  out[11] = 0xff
  out.set(v4, 12)
  return out
}

/**
 * The header for one connection. Both addresses in one family: IPv4 when both are IPv4
 * (IPv4-mapped IPv6 counts as IPv4), else IPv6 with an IPv4 side written as `::ffff:a.b.c.d`.
 * Throws if an address is not an IP literal (the caller always has IPs here).
 * @category proxy protocol
 */
export const proxyV2Header = (a: ProxyAddresses): Uint8Array => {
  const src = ipBytes(unmapIpv4(a.source))
  const dst = ipBytes(unmapIpv4(a.destination))
  if (src === undefined || dst === undefined) throw new Error("PROXY header: both addresses must be IP literals")
  const v4 = src.length === 4 && dst.length === 4
  const s = v4 || src.length === 16 ? src : mapped(src)
  const d = v4 || dst.length === 16 ? dst : mapped(dst)
  const length = s.length * 2 + 4
  const out = new Uint8Array(16 + length)
  out.set(PROXY_V2_SIGNATURE, 0)
  out[12] = 0x21 // version 2, command PROXY
  out[13] = v4 ? 0x11 : 0x21 // AF_INET or AF_INET6, SOCK_STREAM
  out[14] = length >> 8
  out[15] = length & 0xff
  out.set(s, 16)
  out.set(d, 16 + s.length)
  const ports = 16 + s.length * 2
  out[ports] = (a.sourcePort >> 8) & 0xff
  out[ports + 1] = a.sourcePort & 0xff
  out[ports + 2] = (a.destinationPort >> 8) & 0xff
  out[ports + 3] = a.destinationPort & 0xff
  return out
}
