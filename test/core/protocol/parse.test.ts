import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { RemoteProtocolError } from "../../../core/protocol/errors.ts"
import {
  apopTimestamp,
  expire,
  hasCapability,
  implementation,
  loginDelay,
  noCapabilities,
  parseCapa,
  parseListLine,
  parseStat,
  parseUidlLine,
  saslMechanisms
} from "../../../core/protocol/parse.ts"

describe("apopTimestamp", () => {
  it("finds RFC 1939's example timestamp", () => {
    expect(apopTimestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>")).toBe(
      "<1896.697170952@dbc.mtview.ca.us>"
    )
    expect(apopTimestamp("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>")).toBe(
      "<1896.697170952@dbc.mtview.ca.us>"
    )
  })
  it("finds one in the middle of the text", () => {
    expect(apopTimestamp("Dovecot <12.34@host> ready.")).toBe("<12.34@host>")
  })
  it("returns undefined without one", () => {
    expect(apopTimestamp("POP3 server ready")).toBeUndefined()
    expect(apopTimestamp("")).toBeUndefined()
    expect(apopTimestamp("ready <no-at-sign>")).toBeUndefined()
    expect(apopTimestamp("ready <a @b>")).toBeUndefined()
    expect(apopTimestamp("ready <unclosed@host")).toBeUndefined()
    expect(apopTimestamp("ready unopened@host>")).toBeUndefined()
  })
  it("takes the last of several", () => {
    expect(apopTimestamp("<admin@example.org> says hi <1.2@host>")).toBe("<1.2@host>")
  })
  it("property: a timestamp appended to any text without angle brackets is found", () => {
    const text = fc.string({ maxLength: 30 }).filter((s) => !/[<>]/.test(s))
    const part = fc.string({ unit: fc.constantFrom(..."abc123.-_"), minLength: 1, maxLength: 12 })
    fc.assert(
      fc.property(text, part, part, (t, a, b) => {
        expect(apopTimestamp(`${t} <${a}@${b}>`)).toBe(`<${a}@${b}>`)
        expect(apopTimestamp(t)).toBeUndefined()
      }),
      { numRuns: 200 }
    )
  })
})

describe("parseStat", () => {
  it('parses "nn mm"', () => {
    expect(parseStat("2 320")).toEqual({ count: 2, size: 320 })
    expect(parseStat("0 0")).toEqual({ count: 0, size: 0 })
  })
  it("ignores extra text and extra blanks", () => {
    expect(parseStat("2 320 messages in maildrop")).toEqual({ count: 2, size: 320 })
    expect(parseStat("  2 \t 320  ")).toEqual({ count: 2, size: 320 })
  })
  it("reads a negative size as the unsigned 32-bit sum it wrapped from (Office 365, MailKit #872)", () => {
    expect(parseStat("20437 -2061534620")).toEqual({ count: 20437, size: 2233432676 })
    expect(parseStat("2 -320")).toEqual({ count: 2, size: 2 ** 32 - 320 })
    expect(parseStat(`1 -${2 ** 31}`)).toEqual({ count: 1, size: 2 ** 31 })
    // Beyond what a 32-bit sum can wrap to: still a protocol error.
    expect(() => parseStat(`1 -${2 ** 31 + 1}`)).toThrow(RemoteProtocolError)
    expect(() => parseStat("1 -")).toThrow(RemoteProtocolError)
  })
  it("accepts 15-digit numbers (huge mailboxes)", () => {
    expect(parseStat("20000 999999999999999")).toEqual({ count: 20000, size: 999999999999999 })
  })
  for (const bad of ["", "2", "two 320", "2 three", "-1 320", "2.5 320", "1e3 5", "0x10 5", "1234567890123456 1"]) {
    it(`${JSON.stringify(bad)} is a RemoteProtocolError`, () => {
      expect(() => parseStat(bad)).toThrow(RemoteProtocolError)
    })
  }
})

describe("parseListLine", () => {
  it('parses "msg size" with runs of spaces, tabs and trailing blanks', () => {
    expect(parseListLine("1 120")).toEqual({ msg: 1, size: 120 })
    expect(parseListLine("2   200")).toEqual({ msg: 2, size: 200 })
    expect(parseListLine("3\t300")).toEqual({ msg: 3, size: 300 })
    expect(parseListLine(" 4 \t  400   ")).toEqual({ msg: 4, size: 400 })
    expect(parseListLine("5 500 extra")).toEqual({ msg: 5, size: 500 })
  })
  for (const bad of ["", "1", "x 120", "1 big", "1,120", "-1 5"]) {
    it(`${JSON.stringify(bad)} is a RemoteProtocolError`, () => {
      expect(() => parseListLine(bad)).toThrow(RemoteProtocolError)
    })
  }
  it("property: any blank separators give the same entry", () => {
    const blanks = fc.string({ unit: fc.constantFrom(" ", "\t"), minLength: 1, maxLength: 5 })
    const opt = fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 })
    fc.assert(
      fc.property(fc.nat(), fc.nat(), opt, blanks, opt, (msg, size, a, b, c) => {
        expect(parseListLine(`${a}${msg}${b}${size}${c}`)).toEqual({ msg, size })
      }),
      { numRuns: 200 }
    )
  })
})

describe("parseUidlLine", () => {
  it('parses "msg uid" with runs of spaces and tabs (Comcast) and trailing blanks', () => {
    expect(parseUidlLine("1 whqtswO00WBw418f9t5JxYwZ")).toEqual({ msg: 1, uid: "whqtswO00WBw418f9t5JxYwZ" })
    expect(parseUidlLine("2    QhdPYR:00WBw1Ph7x7")).toEqual({ msg: 2, uid: "QhdPYR:00WBw1Ph7x7" })
    expect(parseUidlLine("3\t\tabc")).toEqual({ msg: 3, uid: "abc" })
    expect(parseUidlLine("  4 \t xyz  \t")).toEqual({ msg: 4, uid: "xyz" })
  })
  it("keeps over-long UIDs as sent", () => {
    const uid = "U".repeat(500)
    expect(parseUidlLine(`7 ${uid}`)).toEqual({ msg: 7, uid })
  })
  it("keeps the UID's case and punctuation", () => {
    expect(parseUidlLine("1 AbC!~/+=")).toEqual({ msg: 1, uid: "AbC!~/+=" })
  })
  for (const bad of ["", "1", "1   ", "x abc", "-1 abc", "abc 1"]) {
    it(`${JSON.stringify(bad)} is a RemoteProtocolError`, () => {
      expect(() => parseUidlLine(bad)).toThrow(RemoteProtocolError)
    })
  }
  it("bounds the excerpt of a garbage line", () => {
    try {
      parseUidlLine(`x${"y".repeat(1000)}`)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(RemoteProtocolError)
      expect((error as RemoteProtocolError).excerpt.length).toBeLessThanOrEqual(60)
    }
  })
})

describe("listing lines: the one-space fast path", () => {
  // A trailing tab sends a line down the general split (trim, split on blanks), which the
  // fast path for "a b" must agree with, in entries and in errors alike.
  const outcome = (parse: (line: string) => unknown, line: string) => {
    try {
      return { value: parse(line) }
    } catch (error) {
      // The excerpt quotes the line itself, tab included: compared without it.
      const e = error as RemoteProtocolError
      return { error: e.excerpt === "" ? e.message : e.message.slice(0, -(JSON.stringify(e.excerpt).length + 2)) }
    }
  }
  const line = fc.string({
    unit: fc.constantFrom("1", "2", "0", "9", "a", "Z", "!", "~", " ", " ", "\t", "\u007f", "\u00a0", "\v", "é"),
    maxLength: 12
  })
  it("property: LIST and UIDL lines parse as the general split parses them", () => {
    fc.assert(
      fc.property(line, (l) => {
        expect(outcome(parseListLine, l)).toEqual(outcome(parseListLine, `${l}\t`))
        expect(outcome(parseUidlLine, l)).toEqual(outcome(parseUidlLine, `${l}\t`))
      }),
      { numRuns: 3000 }
    )
  })
})

describe("parseCapa and accessors", () => {
  const caps = parseCapa([
    "TOP",
    "uidl",
    "SASL PLAIN xoauth2 ScRaM-SHA-256",
    "RESP-CODES",
    "LOGIN-DELAY 900",
    "PIPELINING",
    "EXPIRE 31 USER",
    "USER",
    "IMPLEMENTATION  Dovecot   (Ubuntu)",
    "",
    "   "
  ])

  it("upper-cases names and keeps arguments as sent", () => {
    expect([...caps.entries.keys()]).toEqual([
      "TOP",
      "UIDL",
      "SASL",
      "RESP-CODES",
      "LOGIN-DELAY",
      "PIPELINING",
      "EXPIRE",
      "USER",
      "IMPLEMENTATION"
    ])
    expect(caps.entries.get("SASL")).toEqual(["PLAIN", "xoauth2", "ScRaM-SHA-256"])
    expect(caps.entries.get("TOP")).toEqual([])
    expect(caps.lines.length).toBe(11)
  })
  it("hasCapability ignores case", () => {
    expect(hasCapability(caps, "uidl")).toBe(true)
    expect(hasCapability(caps, "Pipelining")).toBe(true)
    expect(hasCapability(caps, "STLS")).toBe(false)
    expect(hasCapability(noCapabilities, "TOP")).toBe(false)
  })
  it("saslMechanisms are upper-cased", () => {
    expect(saslMechanisms(caps)).toEqual(["PLAIN", "XOAUTH2", "SCRAM-SHA-256"])
    expect(saslMechanisms(noCapabilities)).toEqual([])
    expect(saslMechanisms(parseCapa(["SASL"]))).toEqual([])
  })
  it("loginDelay", () => {
    expect(loginDelay(caps)).toBe(900)
    expect(loginDelay(parseCapa(["LOGIN-DELAY 0"]))).toBe(0)
    expect(loginDelay(parseCapa(["LOGIN-DELAY 300 USER"]))).toBe(300)
    expect(loginDelay(parseCapa(["LOGIN-DELAY soon"]))).toBeUndefined()
    expect(loginDelay(parseCapa(["LOGIN-DELAY"]))).toBeUndefined()
    expect(loginDelay(noCapabilities)).toBeUndefined()
  })
  it("expire: days or NEVER", () => {
    expect(expire(caps)).toBe(31)
    expect(expire(parseCapa(["EXPIRE NEVER"]))).toBe("NEVER")
    expect(expire(parseCapa(["expire never"]))).toBe("NEVER")
    expect(expire(parseCapa(["EXPIRE 0"]))).toBe(0)
    expect(expire(parseCapa(["EXPIRE later"]))).toBeUndefined()
    expect(expire(parseCapa(["EXPIRE"]))).toBeUndefined()
    expect(expire(noCapabilities)).toBeUndefined()
  })
  it("implementation joins its words", () => {
    expect(implementation(caps)).toBe("Dovecot (Ubuntu)")
    expect(implementation(parseCapa(["IMPLEMENTATION"]))).toBe("")
    expect(implementation(noCapabilities)).toBeUndefined()
  })
  it("the later of two lines with the same name wins", () => {
    expect(parseCapa(["SASL PLAIN", "SASL LOGIN"]).entries.get("SASL")).toEqual(["LOGIN"])
  })
})

describe("UIDs are 0x21–0x7E (RFC 1939 §7; issue 12)", () => {
  it("refuses a UID with control characters, a space-free escape sequence or non-ASCII, and quotes it printably", () => {
    for (const uid of ["\x1b]0;TITLE\x07", "abc\x1b[31m", "ünïcode", "a\u009bb", "del\x7f"]) {
      let error: unknown
      try {
        parseUidlLine(`3 ${uid}`)
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(uid)).toBeInstanceOf(RemoteProtocolError)
      expect((error as Error).message).toMatch(/^the UID of message 3 has characters outside 0x21–0x7E/)
      expect((error as Error).message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/)
    }
    expect(parseUidlLine("3 !~azAZ09.-").uid).toBe("!~azAZ09.-")
  })
})
