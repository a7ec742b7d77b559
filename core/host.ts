/**
 * Host names as written and as shown. An IPv6 address is written in brackets where a port
 * may follow it (`[::1]:110`, RFC 3986 §3.2.2); sockets and DNS want it bare, and messages
 * show it bracketed again, or `::1:110` could be read as the address `::1:110`.
 *
 * @module
 */

/**
 * The host to connect to: an IPv6 address given in brackets (`[::1]`) without them. A host
 * name never holds brackets or colons, so nothing else changes.
 * @category internals
 */
export const bareHost = (host: string): string => /^\[([^[\]]*:[^[\]]*)\]$/.exec(host)?.[1] ?? host

/**
 * `host:port` for messages and traces, an IPv6 address in brackets (`[::1]:110`).
 * @category internals
 */
export const hostPort = (host: string, port: number): string => `${host.includes(":") ? `[${host}]` : host}:${port}`
