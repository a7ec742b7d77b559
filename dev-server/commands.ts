// The dev server's command table: RFC 1939 (USER, PASS, APOP, STAT, LIST, RETR, DELE, NOOP,
// RSET, QUIT, TOP, UIDL), RFC 2449 (CAPA), RFC 2595 (STLS) and RFC 5034 (AUTH, with the
// mechanisms supplied by the caller). Portable.

import { md5 } from "@noble/hashes/legacy.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import type { CommandSpec, CommandTable, ParsedCommand, Session } from "./session.ts"
import { fromBase64, SaslAbort } from "./session.ts"
import { topEnd, utf8 } from "./wire.ts"

const AUTHORIZATION = ["AUTHORIZATION"] as const
const TRANSACTION = ["TRANSACTION"] as const
const EITHER = ["AUTHORIZATION", "TRANSACTION"] as const

/** Answers -ERR and returns false unless the command has between min and max arguments. */
function arity(s: Session, c: ParsedCommand, min: number, max: number): boolean {
  if (c.args.length >= min && c.args.length <= max) return true
  s.err(`Syntax error: ${c.keyword} takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"}`)
  return false
}

function simple(states: CommandSpec["states"], run: (s: Session) => void): CommandSpec {
  return { states, run: (s, c) => (arity(s, c, 0, 0) ? run(s) : undefined) }
}

function separator(s: Session): string {
  return s.behaviour.uidlSpaces ? "   " : " "
}

function extra(s: Session): string {
  const text = s.behaviour.extraStatusText
  return text === undefined || text === "" ? "" : ` ${text}`
}

/** The CAPA lines this session would advertise (RFC 2449 §6). */
export function defaultCapabilities(s: Session): string[] {
  const b = s.behaviour
  const lines = ["TOP", "UIDL"]
  if (!b.requireTlsForLogin || s.tls) lines.push("USER")
  lines.push("RESP-CODES", "AUTH-RESP-CODE", "PIPELINING")
  if (s.saslMechanisms.length > 0) lines.push(`SASL ${s.saslMechanisms.map((m) => m.name).join(" ")}`)
  if (s.canStartTls && s.state === "AUTHORIZATION") lines.push("STLS")
  if (b.loginDelay !== undefined) lines.push(`LOGIN-DELAY ${b.loginDelay}`)
  lines.push("IMPLEMENTATION pop3-dev-server")
  return lines
}

function plaintextRefused(s: Session): boolean {
  if (!s.behaviour.requireTlsForLogin || s.tls) return false
  s.err("Plaintext authentication disallowed on non-secure (SSL/TLS) connections", "AUTH")
  return true
}

const USER: CommandSpec = {
  states: AUTHORIZATION,
  run(s, c) {
    if (!arity(s, c, 1, 1) || plaintextRefused(s)) return
    // Unknown names are accepted here and fail at PASS, so USER does not reveal who exists.
    s.pendingUser = c.args[0]
    s.ok("Send PASS")
  }
}

const PASS: CommandSpec = {
  states: AUTHORIZATION,
  run(s, c) {
    if (plaintextRefused(s)) return
    const user = s.pendingUser
    if (user === undefined) return s.err("Send USER first")
    if (c.args.length === 0 && c.rest === "") return s.err("Syntax error: PASS takes a password")
    // RFC 1939 §7: the argument is the rest of the line, spaces included.
    s.login(user, s.store.checkPassword(user, c.rest))
  }
}

const APOP: CommandSpec = {
  states: AUTHORIZATION,
  run(s, c) {
    if (!arity(s, c, 2, 2)) return
    const timestamp = s.apopTimestamp
    if (timestamp === undefined) return s.err("APOP is not available")
    const [user = "", digest = ""] = c.args
    const secret = s.store.secret(user)
    const expected = secret === undefined ? undefined : bytesToHex(md5(utf8(timestamp + secret)))
    s.login(user, expected !== undefined && digest.toLowerCase() === expected)
  }
}

const AUTH: CommandSpec = {
  states: AUTHORIZATION,
  async run(s, c) {
    if (c.args.length === 0) {
      // Not in RFC 5034, but old clients probe with a bare AUTH and many servers list.
      s.ok("Supported mechanisms follow")
      for (const m of s.saslMechanisms) s.line(m.name)
      return s.end()
    }
    if (!arity(s, c, 1, 2)) return
    const name = (c.args[0] ?? "").toUpperCase()
    const mechanism = s.saslMechanisms.find((m) => m.name.toUpperCase() === name)
    if (mechanism === undefined) return s.err("Unsupported authentication mechanism")
    const initialArg = c.args[1]
    let initial: Uint8Array | undefined
    if (initialArg !== undefined) {
      initial = initialArg === "=" ? new Uint8Array(0) : fromBase64(initialArg)
      if (initial === undefined) return s.err("Invalid base64 in initial response")
    }
    try {
      const outcome = await mechanism.authenticate(s.saslExchange(), initial)
      if (outcome.ok) s.login(outcome.user, true)
      else s.authFailed(outcome.text)
    } catch (e) {
      if (e instanceof SaslAbort) return s.err(e.message)
      throw e
    }
  }
}

const CAPA: CommandSpec = {
  states: EITHER,
  run(s, c) {
    if (!arity(s, c, 0, 0)) return
    const custom = s.behaviour.capa
    if (custom === false) return s.err("Unknown command")
    const lines =
      custom === undefined ? defaultCapabilities(s) : typeof custom === "function" ? custom(s.state, s.tls) : custom
    s.ok("Capability list follows")
    for (const line of lines) s.line(line)
    s.end()
  }
}

const STLS: CommandSpec = {
  states: AUTHORIZATION,
  async run(s, c) {
    if (!arity(s, c, 0, 0)) return
    await s.startTls()
  }
}

const STAT = simple(TRANSACTION, (s) => {
  const { count, octets } = s.stats()
  s.okData(`${count} ${octets}${extra(s)}`)
})

// A long listing (the big mailbox's 100,000 lines) goes out in pieces as it is made, under
// the stream's backpressure, instead of as one buffer once every line is made.
const LISTING_FLUSH = 2000

const LIST: CommandSpec = {
  states: TRANSACTION,
  async run(s, c) {
    if (!arity(s, c, 0, 1)) return
    const sep = separator(s)
    if (c.args.length === 1) {
      const found = s.message(c.args[0])
      if (found !== undefined) s.okData(`${found.n}${sep}${s.reportedSize(found.message)}${extra(s)}`)
      return
    }
    const { count, octets } = s.stats()
    s.ok(`${count} messages (${octets} octets)`)
    const all = s.messages
    for (let i = 0; i < all.length; i++) {
      if (!s.isDeleted(i + 1)) s.line(`${i + 1}${sep}${s.reportedSize(all[i]!)}${extra(s)}`)
      if (i % LISTING_FLUSH === LISTING_FLUSH - 1) await s.flush()
    }
    s.end()
  }
}

const UIDL: CommandSpec = {
  states: TRANSACTION,
  async run(s, c) {
    if (!arity(s, c, 0, 1)) return
    const sep = separator(s)
    if (c.args.length === 1) {
      const found = s.message(c.args[0])
      if (found !== undefined) s.okData(`${found.n}${sep}${s.reportedUid(found.n)}`)
      return
    }
    s.ok("Unique-ID listing follows")
    const count = s.messages.length
    for (let i = 0; i < count; i++) {
      if (!s.isDeleted(i + 1)) s.line(`${i + 1}${sep}${s.reportedUid(i + 1)}`)
      if (i % LISTING_FLUSH === LISTING_FLUSH - 1) await s.flush()
    }
    s.end()
  }
}

const RETR: CommandSpec = {
  states: TRANSACTION,
  async run(s, c) {
    if (!arity(s, c, 1, 1)) return
    const found = s.message(c.args[0])
    if (found === undefined) return
    s.ok(`${s.reportedSize(found.message)} octets`)
    await s.body(found.message.data)
  }
}

const TOP: CommandSpec = {
  states: TRANSACTION,
  async run(s, c) {
    if (!arity(s, c, 2, 2)) return
    const found = s.message(c.args[0])
    if (found === undefined) return
    const lines = c.args[1] ?? ""
    if (!/^[0-9]{1,10}$/.test(lines)) return s.err("Invalid line count")
    const data = found.message.data
    s.ok("Top of message follows")
    await s.body(data.subarray(0, topEnd(data, Number(lines))))
  }
}

const DELE: CommandSpec = {
  states: TRANSACTION,
  run(s, c) {
    if (!arity(s, c, 1, 1)) return
    const found = s.message(c.args[0])
    if (found === undefined) return
    s.markDeleted(found.n)
    s.ok(`Message ${found.n} deleted`)
  }
}

const NOOP = simple(TRANSACTION, (s) => s.ok())

const RSET = simple(TRANSACTION, (s) => {
  s.unmarkAll()
  const { count, octets } = s.stats()
  s.ok(`Maildrop has ${count} messages (${octets} octets)`)
})

const QUIT = simple(EITHER, (s) => s.quit())

export const defaultCommands: CommandTable = {
  USER,
  PASS,
  APOP,
  AUTH,
  CAPA,
  STLS,
  STAT,
  LIST,
  UIDL,
  RETR,
  TOP,
  DELE,
  NOOP,
  RSET,
  QUIT
}
