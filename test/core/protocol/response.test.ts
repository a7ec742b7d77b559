import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { RemoteProtocolError } from "../../../core/protocol/errors.ts"
import { decodeText, parseStatusLine, retryability, type StatusLine } from "../../../core/protocol/response.ts"
import { latin1 } from "./chunks.ts"

const parse = (line: string): StatusLine => parseStatusLine(new TextEncoder().encode(line))

describe("parseStatusLine", () => {
  const cases: ReadonlyArray<readonly [string, StatusLine]> = [
    ["+OK", { kind: "ok", code: undefined, text: "" }],
    ["+OK ", { kind: "ok", code: undefined, text: "" }],
    ["+OK text", { kind: "ok", code: undefined, text: "text" }],
    [
      "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
      { kind: "ok", code: undefined, text: "POP3 server ready <1896.697170952@dbc.mtview.ca.us>" }
    ],
    ["+OK 2 320", { kind: "ok", code: undefined, text: "2 320" }],
    ["+ok lower case", { kind: "ok", code: undefined, text: "lower case" }],
    ["+Ok", { kind: "ok", code: undefined, text: "" }],
    ["-ERR", { kind: "err", code: undefined, text: "" }],
    ["-err no", { kind: "err", code: undefined, text: "no" }],
    ["-ERR no such message", { kind: "err", code: undefined, text: "no such message" }],
    ["-ERR [SYS/TEMP] text", { kind: "err", code: "SYS/TEMP", text: "text" }],
    ["-ERR [SYS/PERM] disk on fire", { kind: "err", code: "SYS/PERM", text: "disk on fire" }],
    ["-ERR [IN-USE]", { kind: "err", code: "IN-USE", text: "" }],
    ["-ERR [IN-USE] mailbox locked", { kind: "err", code: "IN-USE", text: "mailbox locked" }],
    ["-ERR [LOGIN-DELAY] wait 900 s", { kind: "err", code: "LOGIN-DELAY", text: "wait 900 s" }],
    [
      "-ERR [AUTH] Application-specific password required",
      { kind: "err", code: "AUTH", text: "Application-specific password required" }
    ],
    ["-ERR [UTF8] needs UTF8", { kind: "err", code: "UTF8", text: "needs UTF8" }],
    ["-ERR [FOO/BAR] unknown", { kind: "err", code: "FOO/BAR", text: "unknown" }],
    ["-ERR [in-use] lower", { kind: "err", code: "IN-USE", text: "lower" }],
    ["+OK [LOGIN-DELAY] codes on +OK too", { kind: "ok", code: "LOGIN-DELAY", text: "codes on +OK too" }],
    ["-ERR [not a code] x", { kind: "err", code: undefined, text: "[not a code] x" }],
    ["-ERR [] empty brackets", { kind: "err", code: undefined, text: "[] empty brackets" }],
    ["-ERR [UNCLOSED text", { kind: "err", code: undefined, text: "[UNCLOSED text" }],
    ["-ERR text [AUTH] later", { kind: "err", code: undefined, text: "text [AUTH] later" }],
    ["+ dGVzdA==", { kind: "continuation", code: undefined, text: "dGVzdA==" }],
    ["+ ", { kind: "continuation", code: undefined, text: "" }],
    ["+", { kind: "continuation", code: undefined, text: "" }],
    ["+ [AUTH] not a code", { kind: "continuation", code: undefined, text: "[AUTH] not a code" }]
  ]
  for (const [line, expected] of cases) {
    it(JSON.stringify(line), () => {
      expect(parse(line)).toEqual(expected)
    })
  }

  // Classified by the whole first token, never by the first character (hMailServer "+ERR").
  for (const line of [
    "+ERR",
    "+ERR bad",
    "OK",
    "ERR",
    "-OK",
    "+OKAY",
    "-ERROR",
    "+OK\tx",
    "",
    " +OK",
    "*",
    "-",
    "++",
    "+-ERR"
  ]) {
    it(`${JSON.stringify(line)} is a RemoteProtocolError`, () => {
      expect(() => parse(line)).toThrow(RemoteProtocolError)
    })
  }

  it("says so when the line is empty (there is no excerpt to show)", () => {
    expect(() => parse("")).toThrow("expected +OK, -ERR or a + continuation, got an empty line")
  })

  it("puts a bounded printable excerpt in the error", () => {
    try {
      parseStatusLine(latin1(`+ERR ${"\x01".repeat(500)}`))
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(RemoteProtocolError)
      const excerpt = (error as RemoteProtocolError).excerpt
      expect(excerpt.startsWith("+ERR ")).toBe(true)
      expect(excerpt.length).toBeLessThanOrEqual(61)
      expect(/[\x00-\x1f]/.test(excerpt)).toBe(false)
    }
  })

  it("decodes Latin-1 text without failing", () => {
    const status = parseStatusLine(latin1("-ERR Mot de passe erron\xe9"))
    expect(status.kind).toBe("err")
    expect(status.text).toBe("Mot de passe erron\ufffd")
    expect(decodeText(new TextEncoder().encode("é"))).toBe("é")
  })

  it("property: only the whole tokens +OK, -ERR and + are accepted", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), fc.string({ maxLength: 20 }), (token, rest) => {
        const line = rest === "" ? token : `${token} ${rest}`
        const upper = token.toUpperCase()
        if (token.includes(" ")) return
        if (upper === "+OK" || upper === "-ERR" || token === "+") {
          const kind = parse(line).kind
          expect(kind).toBe(upper === "+OK" ? "ok" : upper === "-ERR" ? "err" : "continuation")
        } else {
          expect(() => parse(line)).toThrow(RemoteProtocolError)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("property: a bracketed atom after +OK/-ERR is the code, upper-cased, and the rest is the text", () => {
    const atom = fc.string({ unit: fc.constantFrom(..."ABCxyz/-_0189"), minLength: 1, maxLength: 12 })
    const text = fc.string({ unit: fc.constantFrom(..."abc XYZ.,[]"), maxLength: 20 })
    fc.assert(
      fc.property(fc.constantFrom("+OK", "-ERR"), atom, text, (head, code, rest) => {
        const status = parse(`${head} [${code}] ${rest}`)
        expect(status.code).toBe(code.toUpperCase())
        expect(status.text).toBe(rest.trim())
      }),
      { numRuns: 200 }
    )
  })
})

describe("retryability", () => {
  const cases: ReadonlyArray<readonly [string | undefined, ReturnType<typeof retryability>]> = [
    ["SYS/TEMP", "temporary"],
    ["IN-USE", "temporary"],
    ["LOGIN-DELAY", "temporary"],
    ["AUTH", "permanent"],
    ["SYS/PERM", "permanent"],
    ["UTF8", "unknown"],
    ["FOO/BAR", "unknown"],
    [undefined, "unknown"],
    // RFC 2449 §8: codes are hierarchical; a sub-code inherits its parent's meaning.
    ["SYS/TEMP/QUOTA", "temporary"],
    ["SYS/PERM/QUOTA", "permanent"],
    ["AUTH/EXPIRED", "permanent"],
    ["IN-USE/SHARED", "temporary"],
    // … but only at a "/" boundary.
    ["SYS/TEMPORARY", "unknown"],
    ["SYS/PERMANENT", "unknown"],
    ["AUTHX", "unknown"],
    ["SYS", "unknown"]
  ]
  for (const [code, expected] of cases) {
    it(`${String(code)} → ${expected}`, () => {
      expect(retryability(code)).toBe(expected)
    })
  }

  it("works on parsed lines", () => {
    expect(retryability(parse("-ERR [SYS/TEMP] try later").code)).toBe("temporary")
    expect(retryability(parse("-ERR [auth] bad password").code)).toBe("permanent")
    expect(retryability(parse("-ERR lock busy").code)).toBe("unknown")
  })
})
