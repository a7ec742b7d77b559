// Display helpers: sizes, dates, addresses.
import type { Address } from "postal-mime"

export const octets = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`
      : `${(n / 1024 / 1024).toFixed(1)} MB`

export const exactOctets = (n: number): string => `${n.toLocaleString("en")} octets`

const sameDay = (a: Date, b: Date) => a.toDateString() === b.toDateString()

/** "14:05" today, "Mon 3 Nov" this year, "3 Nov 2025" otherwise. */
export const shortDate = (iso: string | undefined): string => {
  if (iso === undefined) return ""
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const now = new Date()
  if (sameDay(d, now)) return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })
  if (d.getFullYear() === now.getFullYear())
    return d.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" })
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" })
}

export const longDate = (iso: string | undefined): string => {
  if (iso === undefined) return ""
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString("en-GB", { dateStyle: "full", timeStyle: "short" })
}

/** The display name, or the address. */
export const who = (address: Address | undefined): string => {
  if (address === undefined) return ""
  if (address.group !== undefined) return address.name
  return address.name !== "" ? address.name : address.address
}

/** "Name <address>" for the message header. */
export const fullAddress = (address: Address): string => {
  if (address.group !== undefined) return `${address.name}: ${address.group.map(fullAddress).join(", ")};`
  return address.name !== "" ? `${address.name} <${address.address}>` : address.address
}

/**
 * A bridge URL fit to show: the query values that may be secrets (`token`, or anything
 * named like a key, password or secret) and any user:password@ become ****. A URL that does
 * not parse is not shown at all.
 */
export const displayBridgeUrl = (url: string): string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "(the bridge URL)"
  }
  if (parsed.username !== "" || parsed.password !== "") {
    parsed.username = "****"
    parsed.password = ""
  }
  for (const name of [...new Set(parsed.searchParams.keys())]) {
    if (/token|key|pass|secret|auth/i.test(name)) parsed.searchParams.set(name, "****")
  }
  return parsed.toString().replace(/%2A%2A%2A%2A/g, "****")
}

/** Milliseconds as "12 ms" or "1.25 s". */
export const millis = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`)

/** `host:port`, an IPv6 address in brackets (`[::1]:110`), as the library's messages write it. */
export const hostPort = (host: string, port: number): string => `${host.includes(":") ? `[${host}]` : host}:${port}`
