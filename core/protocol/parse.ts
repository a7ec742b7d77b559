/**
 * Parsers for the bodies and texts of particular responses: the greeting's APOP
 * timestamp, STAT, LIST and UIDL lines, and CAPA.
 *
 * Servers differ in spacing (Comcast puts runs of spaces in UIDL lines) and add text
 * after numbers, so fields are split on runs of blanks and extra fields are ignored.
 * Sizes are hints only (LIST sizes lie on some servers); nothing here is used to find
 * the end of a message.
 *
 * @module
 */
import { RemoteProtocolError } from "./errors.ts"

/**
 * A LIST entry: message number and size in octets (as the server claims it).
 * @category models
 */
export interface ListEntry {
  readonly msg: number
  readonly size: number
}

/**
 * A UIDL entry: message number and unique id.
 * @category models
 */
export interface UidlEntry {
  readonly msg: number
  readonly uid: string
}

/**
 * The STAT answer.
 * @category models
 */
export interface Stat {
  readonly count: number
  readonly size: number
}

const fields = (line: string): Array<string> =>
  twoFields(line) ??
  line
    .trim()
    .split(/[ \t]+/)
    .filter((f) => f !== "")

// The common shape, "a b": printable ASCII around exactly one space. Checked in one pass,
// it gives what the general split gives, without the trim, the regular expression and the
// filter (listings of 10,000 lines spent ~4 µs a line there).
const twoFields = (line: string): Array<string> | undefined => {
  let space = -1
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c === 0x20) {
      if (space >= 0 || i === 0) return undefined
      space = i
    } else if (c < 0x21 || c > 0x7e) return undefined
  }
  return space < 0 || space === line.length - 1 ? undefined : [line.slice(0, space), line.slice(space + 1)]
}

const number = (what: string, value: string | undefined, line: string): number => {
  if (value === undefined || !/^\d{1,15}$/.test(value)) {
    throw new RemoteProtocolError(`${what} is not a number`, printableExcerpt(line))
  }
  return Number(value)
}

/**
 * The APOP timestamp (`<…@…>`, RFC 1939 §7) in a greeting's text, if any.
 * @category parsing
 */
export const apopTimestamp = (greeting: string): string | undefined => {
  const matches = greeting.match(/<[^<>\s]*@[^<>\s]*>/g)
  return matches === null ? undefined : matches[matches.length - 1]
}

/**
 * Parses the text of `+OK` to STAT: "nn mm".
 * @category parsing
 */
export const parseStat = (text: string): Stat => {
  const f = fields(text)
  const count = number("the STAT message count", f[0], text)
  // Office 365 sums sizes in a signed 32-bit integer: past 2 GiB the octets are negative
  // ("+OK 20437 -2061534620", MailKit #872). The count is right and the size only a hint:
  // read it back as the unsigned 32-bit value it wrapped from.
  const raw = f[1]
  if (raw !== undefined && /^-\d{1,10}$/.test(raw) && Number(raw) >= -(2 ** 31))
    return { count, size: Number(raw) + 2 ** 32 }
  return { count, size: number("the STAT size", raw, text) }
}

/**
 * Parses one LIST line, from a listing or from the text of `+OK` to `LIST n`.
 * @category parsing
 */
export const parseListLine = (line: string): ListEntry => {
  const f = fields(line)
  return { msg: number("the LIST message number", f[0], line), size: number("the LIST size", f[1], line) }
}

/**
 * Parses one UIDL line, from a listing or from the text of `+OK` to `UIDL n`.
 * RFC 1939 §7 allows only 0x21–0x7E in a UID; anything else (an escape sequence that would
 * retitle a terminal, a byte that is not ASCII) is a protocol violation. Over-long UIDs
 * (getmail6 saw some) are kept as sent.
 * @category parsing
 */
export const parseUidlLine = (line: string): UidlEntry => {
  const f = fields(line)
  const uid = f[1]
  if (uid === undefined) throw new RemoteProtocolError("a UIDL line has no unique id", printableExcerpt(line))
  const msg = number("the UIDL message number", f[0], line)
  if (!UID.test(uid))
    throw new RemoteProtocolError(
      `the UID of message ${msg} has characters outside 0x21–0x7E (RFC 1939 §7)`,
      printableExcerpt(line)
    )
  return { msg, uid }
}

const UID = /^[\x21-\x7e]+$/

// Server text quoted in an error: printable ASCII only, so it cannot drive a terminal.
const printableExcerpt = (line: string): string => line.slice(0, 60).replace(/[^\x20-\x7e]/g, ".")

/**
 * The server's capabilities (RFC 2449 CAPA): upper-cased names with their arguments.
 * @category models
 */
export interface Capabilities {
  readonly lines: ReadonlyArray<string>
  readonly entries: ReadonlyMap<string, ReadonlyArray<string>>
  /** Set when the server answered CAPA with `-ERR` (no RFC 2449): its text. */
  readonly refused?: string | undefined
}

/**
 * Parses the lines of a CAPA listing.
 * @category parsing
 */
export const parseCapa = (lines: ReadonlyArray<string>): Capabilities => {
  const entries = new Map<string, ReadonlyArray<string>>()
  for (const line of lines) {
    const f = fields(line)
    if (f[0] !== undefined) entries.set(f[0].toUpperCase(), f.slice(1))
  }
  return { lines, entries }
}

/**
 * Capabilities of a server that does not support CAPA: nothing is known.
 * @category constructors
 */
export const noCapabilities: Capabilities = { lines: [], entries: new Map() }

/**
 * Whether a capability is announced.
 * @category accessors
 */
export const hasCapability = (caps: Capabilities, name: string): boolean => caps.entries.has(name.toUpperCase())

/**
 * The SASL mechanisms announced by `SASL …`, upper-cased.
 * @category accessors
 */
export const saslMechanisms = (caps: Capabilities): ReadonlyArray<string> =>
  (caps.entries.get("SASL") ?? []).map((m) => m.toUpperCase())

/**
 * The LOGIN-DELAY seconds (RFC 2449 §6.8), if announced.
 * @category accessors
 */
export const loginDelay = (caps: Capabilities): number | undefined => {
  const v = caps.entries.get("LOGIN-DELAY")?.[0]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined
}

/**
 * The EXPIRE policy (RFC 2449 §6.7): days, or "NEVER".
 * @category accessors
 */
export const expire = (caps: Capabilities): number | "NEVER" | undefined => {
  const v = caps.entries.get("EXPIRE")?.[0]
  if (v === undefined) return undefined
  if (v.toUpperCase() === "NEVER") return "NEVER"
  return /^\d+$/.test(v) ? Number(v) : undefined
}

/**
 * The IMPLEMENTATION string (RFC 2449 §6.9), if announced.
 * @category accessors
 */
export const implementation = (caps: Capabilities): string | undefined => {
  const args = caps.entries.get("IMPLEMENTATION")
  return args === undefined ? undefined : args.join(" ")
}
