import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type Command, encodeCommand, isMultiline, REDACTED, validateCommand } from "../../../core/protocol/command.ts"
import { LocalProtocolError } from "../../../core/protocol/errors.ts"
import { MAX_COMMAND_LINE, MAX_SASL_LINE } from "../../../core/protocol/limits.ts"

const wire = (command: Command): string => new TextDecoder().decode(encodeCommand(command).bytes)

// Runs `f` and returns the LocalProtocolError it throws (fails the test otherwise).
const refusal = (f: () => unknown): LocalProtocolError => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(LocalProtocolError)
    return error as LocalProtocolError
  }
  throw new Error("expected a LocalProtocolError, but nothing was thrown")
}

describe("encodeCommand: exact bytes", () => {
  const cases: ReadonlyArray<readonly [Command, string]> = [
    [{ name: "USER", user: "mrose" }, "USER mrose\r\n"],
    [{ name: "USER", user: "first last" }, "USER first last\r\n"],
    [{ name: "PASS", password: "secret" }, "PASS secret\r\n"],
    [{ name: "PASS", password: "with space" }, "PASS with space\r\n"],
    [
      { name: "APOP", user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb" },
      "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
    ],
    [{ name: "AUTH", mechanism: "PLAIN" }, "AUTH PLAIN\r\n"],
    [{ name: "AUTH", mechanism: "PLAIN", initialResponse: undefined }, "AUTH PLAIN\r\n"],
    [{ name: "AUTH", mechanism: "PLAIN", initialResponse: "AGZvbwBiYXI=" }, "AUTH PLAIN AGZvbwBiYXI=\r\n"],
    [{ name: "SaslResponse", response: "dGVzdA==" }, "dGVzdA==\r\n"],
    [{ name: "SaslResponse", response: "*" }, "*\r\n"],
    [{ name: "SaslResponse", response: "" }, "\r\n"],
    [{ name: "STAT" }, "STAT\r\n"],
    [{ name: "LIST" }, "LIST\r\n"],
    [{ name: "LIST", msg: undefined }, "LIST\r\n"],
    [{ name: "LIST", msg: 2 }, "LIST 2\r\n"],
    [{ name: "UIDL" }, "UIDL\r\n"],
    [{ name: "UIDL", msg: 17 }, "UIDL 17\r\n"],
    [{ name: "RETR", msg: 1 }, "RETR 1\r\n"],
    [{ name: "TOP", msg: 10, lines: 0 }, "TOP 10 0\r\n"],
    [{ name: "TOP", msg: 3, lines: 25 }, "TOP 3 25\r\n"],
    [{ name: "DELE", msg: 42 }, "DELE 42\r\n"],
    [{ name: "NOOP" }, "NOOP\r\n"],
    [{ name: "RSET" }, "RSET\r\n"],
    [{ name: "QUIT" }, "QUIT\r\n"],
    [{ name: "CAPA" }, "CAPA\r\n"],
    [{ name: "STLS" }, "STLS\r\n"],
    [{ name: "UTF8" }, "UTF8\r\n"]
  ]
  for (const [command, expected] of cases) {
    it(`${JSON.stringify(command)} → ${JSON.stringify(expected)}`, () => {
      const encoded = encodeCommand(command)
      expect(encoded.bytes).toEqual(new TextEncoder().encode(expected))
      expect(encoded.command).toBe(command)
    })
  }

  it("encodes non-ASCII arguments as UTF-8", () => {
    expect(Array.from(encodeCommand({ name: "USER", user: "jö" }).bytes)).toEqual([
      0x55, 0x53, 0x45, 0x52, 0x20, 0x6a, 0xc3, 0xb6, 0x0d, 0x0a
    ])
  })

  it("encodes the largest safe message number", () => {
    expect(wire({ name: "RETR", msg: Number.MAX_SAFE_INTEGER })).toBe(`RETR ${Number.MAX_SAFE_INTEGER}\r\n`)
  })

  // RFC 5034 §4: an empty initial response is sent as "=", never as "AUTH PLAIN " with a
  // trailing space (which servers read as "no initial response", or reject).
  it('sends an empty AUTH initial response as "="', () => {
    expect(wire({ name: "AUTH", mechanism: "PLAIN", initialResponse: "" })).toBe("AUTH PLAIN =\r\n")
  })
})

describe("encodeCommand: multiline flag", () => {
  const cases: ReadonlyArray<readonly [Command, boolean]> = [
    [{ name: "LIST" }, true],
    [{ name: "LIST", msg: 1 }, false],
    [{ name: "UIDL" }, true],
    [{ name: "UIDL", msg: 1 }, false],
    [{ name: "RETR", msg: 1 }, true],
    [{ name: "TOP", msg: 1, lines: 0 }, true],
    [{ name: "CAPA" }, true],
    [{ name: "USER", user: "u" }, false],
    [{ name: "PASS", password: "p" }, false],
    [{ name: "APOP", user: "u", digest: "d" }, false],
    [{ name: "AUTH", mechanism: "PLAIN" }, false],
    [{ name: "SaslResponse", response: "x" }, false],
    [{ name: "STAT" }, false],
    [{ name: "DELE", msg: 1 }, false],
    [{ name: "NOOP" }, false],
    [{ name: "RSET" }, false],
    [{ name: "QUIT" }, false],
    [{ name: "STLS" }, false],
    [{ name: "UTF8" }, false]
  ]
  for (const [command, multiline] of cases) {
    it(`${JSON.stringify(command)} multiline=${multiline}`, () => {
      expect(isMultiline(command)).toBe(multiline)
      expect(encodeCommand(command).multiline).toBe(multiline)
    })
  }
})

describe("encodeCommand: redaction", () => {
  it("hides the PASS password", () => {
    const e = encodeCommand({ name: "PASS", password: "hunter2" })
    expect(e.redacted).toBe(`PASS ${REDACTED}`)
    expect(e.redacted).not.toContain("hunter2")
  })
  it("hides the APOP digest but shows the user", () => {
    const e = encodeCommand({ name: "APOP", user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb" })
    expect(e.redacted).toBe(`APOP mrose ${REDACTED}`)
  })
  it("hides the AUTH initial response but shows the mechanism", () => {
    const e = encodeCommand({ name: "AUTH", mechanism: "PLAIN", initialResponse: "AGZvbwBiYXI=" })
    expect(e.redacted).toBe(`AUTH PLAIN ${REDACTED}`)
    expect(encodeCommand({ name: "AUTH", mechanism: "XOAUTH2" }).redacted).toBe("AUTH XOAUTH2")
  })
  it('hides SASL responses, except the "*" cancel', () => {
    expect(encodeCommand({ name: "SaslResponse", response: "dGVzdA==" }).redacted).toBe(REDACTED)
    expect(encodeCommand({ name: "SaslResponse", response: "" }).redacted).toBe(REDACTED)
    expect(encodeCommand({ name: "SaslResponse", response: "*" }).redacted).toBe("*")
  })
  it("shows non-secret commands as sent, without CRLF", () => {
    expect(encodeCommand({ name: "USER", user: "mrose" }).redacted).toBe("USER mrose")
    expect(encodeCommand({ name: "TOP", msg: 1, lines: 5 }).redacted).toBe("TOP 1 5")
    expect(encodeCommand({ name: "QUIT" }).redacted).toBe("QUIT")
  })
  it("property: a redacted secret never appears in the rendering", () => {
    // Secrets drawn from letters that no command name or REDACTED contains.
    const secret = fc.string({ unit: fc.constantFrom(..."ĀāĂăĄą€☃"), minLength: 1, maxLength: 40 })
    fc.assert(
      fc.property(secret, (s) => {
        for (const command of [
          { name: "PASS", password: s },
          { name: "APOP", user: "u", digest: s },
          { name: "AUTH", mechanism: "X", initialResponse: s },
          { name: "SaslResponse", response: s }
        ] satisfies ReadonlyArray<Command>) {
          const redacted = encodeCommand(command).redacted
          expect(/[ĀāĂăĄą€☃]/.test(redacted)).toBe(false)
        }
      }),
      { numRuns: 200 }
    )
  })
})

describe("encodeCommand: injection", () => {
  // Every text argument of every command, as a function from the value to a command.
  const textArguments: ReadonlyArray<readonly [string, (value: string) => Command]> = [
    ["USER user", (v) => ({ name: "USER", user: `u${v}` })],
    ["PASS password", (v) => ({ name: "PASS", password: v })],
    ["APOP user", (v) => ({ name: "APOP", user: `u${v}`, digest: "d" })],
    ["APOP digest", (v) => ({ name: "APOP", user: "u", digest: v })],
    ["AUTH mechanism", (v) => ({ name: "AUTH", mechanism: `M${v}` })],
    ["AUTH initial response", (v) => ({ name: "AUTH", mechanism: "PLAIN", initialResponse: v })],
    ["SASL response", (v) => ({ name: "SaslResponse", response: v })]
  ]

  for (const [what, make] of textArguments) {
    for (const [label, ch] of [
      ["CR", "\r"],
      ["LF", "\n"],
      ["NUL", "\0"],
      ["CRLF", "\r\n"]
    ] as const) {
      for (const [where, value] of [
        ["start", `${ch}abc`],
        ["middle", `ab${ch}c`],
        ["end", `abc${ch}`],
        ["alone", ch]
      ] as const) {
        it(`${what}: ${label} at the ${where} is refused`, () => {
          const error = refusal(() => encodeCommand(make(value)))
          expect(error.reason).toBe("InvalidArgument")
        })
      }
    }
  }

  it("names the offending character and position, not the value", () => {
    const error = refusal(() => encodeCommand({ name: "PASS", password: "Tr0ub4dor\r\nDELE 1" }))
    expect(error.message).toContain("CR")
    expect(error.message).toContain("position 9")
    expect(error.message).not.toContain("Tr0ub4dor")
    expect(error.message).not.toContain("DELE 1")
  })

  // Secrets made of letters that never occur in an error message: if any character of the
  // value leaked into the message, the test would see it.
  const leakAlphabet = "αβγδεζηθικλμνξοπρστυφχψω"
  const leakChar = new RegExp(`[${leakAlphabet}]`)
  const withInjection = (body: fc.Arbitrary<string>) =>
    fc.tuple(body, body, fc.constantFrom("\r", "\n", "\0", "\r\n")).map(([a, b, ch]) => `${a}${ch}${b}`)

  it("property: CR/LF/NUL anywhere is refused, and no character of the value reaches the message", () => {
    const body = fc.string({ unit: fc.constantFrom(...leakAlphabet), maxLength: 30 })
    fc.assert(
      fc.property(withInjection(body), fc.constantFrom(...textArguments), (value, [, make]) => {
        const error = refusal(() => encodeCommand(make(value)))
        expect(error.reason).toBe("InvalidArgument")
        expect(leakChar.test(error.message)).toBe(false)
        expect(leakChar.test(String(error.stack))).toBe(false)
      }),
      { numRuns: 300 }
    )
  })

  it("property: arbitrary strings with an injected CR/LF/NUL are refused without echoing them", () => {
    // Any code points around the injected character; the parts are long enough that an echo
    // of either would be noticed.
    const body = fc.string({ unit: "binary", minLength: 12, maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s))
    fc.assert(
      fc.property(
        body,
        body,
        fc.constantFrom("\r", "\n", "\0"),
        fc.constantFrom(...textArguments),
        (a, b, ch, [, make]) => {
          const error = refusal(() => encodeCommand(make(`${a}${ch}${b}`)))
          expect(error.reason).toBe("InvalidArgument")
          expect(error.message).not.toContain(a)
          expect(error.message).not.toContain(b)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("refuses spaces where the grammar has none", () => {
    expect(refusal(() => encodeCommand({ name: "APOP", user: "a b", digest: "d" })).reason).toBe("InvalidArgument")
    expect(refusal(() => encodeCommand({ name: "APOP", user: "u", digest: "d d" })).reason).toBe("InvalidArgument")
    expect(refusal(() => encodeCommand({ name: "AUTH", mechanism: "X Y" })).reason).toBe("InvalidArgument")
    expect(refusal(() => encodeCommand({ name: "AUTH", mechanism: "PLAIN", initialResponse: "a b" })).reason).toBe(
      "InvalidArgument"
    )
    expect(refusal(() => encodeCommand({ name: "SaslResponse", response: "a b" })).reason).toBe("InvalidArgument")
    const error = refusal(() => encodeCommand({ name: "APOP", user: "u", digest: "top secret" }))
    expect(error.message).not.toContain("secret")
  })

  it("refuses empty names", () => {
    expect(refusal(() => encodeCommand({ name: "USER", user: "" })).reason).toBe("InvalidArgument")
    expect(refusal(() => encodeCommand({ name: "APOP", user: "", digest: "d" })).reason).toBe("InvalidArgument")
    expect(refusal(() => encodeCommand({ name: "AUTH", mechanism: "" })).reason).toBe("InvalidArgument")
  })
})

describe("encodeCommand: numbers", () => {
  const bad = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1]
  const numbered: ReadonlyArray<readonly [string, (n: number) => Command]> = [
    ["LIST", (n) => ({ name: "LIST", msg: n })],
    ["UIDL", (n) => ({ name: "UIDL", msg: n })],
    ["RETR", (n) => ({ name: "RETR", msg: n })],
    ["DELE", (n) => ({ name: "DELE", msg: n })],
    ["TOP msg", (n) => ({ name: "TOP", msg: n, lines: 0 })]
  ]
  for (const [what, make] of numbered) {
    for (const n of bad) {
      it(`${what} ${n} is refused`, () => {
        expect(refusal(() => encodeCommand(make(n))).reason).toBe("InvalidArgument")
      })
    }
  }
  for (const n of [-1, 1.5, Number.NaN]) {
    it(`TOP line count ${n} is refused`, () => {
      expect(refusal(() => encodeCommand({ name: "TOP", msg: 1, lines: n })).reason).toBe("InvalidArgument")
    })
  }
  it("TOP line count 0 is fine, message number 0 is not", () => {
    expect(wire({ name: "TOP", msg: 1, lines: 0 })).toBe("TOP 1 0\r\n")
    expect(refusal(() => encodeCommand({ name: "TOP", msg: 0, lines: 1 })).reason).toBe("InvalidArgument")
  })
  it("property: every positive safe integer encodes as its decimal form", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(wire({ name: "RETR", msg: n })).toBe(`RETR ${n}\r\n`)
      }),
      { numRuns: 200 }
    )
  })
})

describe("validateCommand (the pipeline's check before anything is sent)", () => {
  const outcome = (f: () => unknown): string => {
    try {
      f()
      return "ok"
    } catch (error) {
      if (error instanceof LocalProtocolError) return `${error.reason}: ${error.message}`
      throw error
    }
  }
  it("property: refuses exactly what encodeCommand refuses, with the same error", () => {
    const n = fc.oneof(
      fc.integer({ min: -2, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1)
    )
    const command: fc.Arbitrary<Command> = fc.oneof(
      n.map((msg): Command => ({ name: "RETR", msg })),
      n.map((msg): Command => ({ name: "DELE", msg })),
      fc.tuple(n, n).map(([msg, lines]): Command => ({ name: "TOP", msg, lines })),
      n.map((msg): Command => ({ name: "LIST", msg })),
      fc.string({ maxLength: 300 }).map((user): Command => ({ name: "USER", user }))
    )
    fc.assert(
      fc.property(command, (c) => {
        expect(outcome(() => validateCommand(c))).toBe(outcome(() => encodeCommand(c)))
      }),
      { numRuns: 500 }
    )
  })
})

describe("encodeCommand: line length (RFC 2449: 255 octets with CRLF)", () => {
  // "USER " + name + "\r\n" = 7 + name octets.
  it("accepts 255 octets and refuses 256", () => {
    expect(MAX_COMMAND_LINE).toBe(255)
    expect(encodeCommand({ name: "USER", user: "a".repeat(248) }).bytes.length).toBe(255)
    const error = refusal(() => encodeCommand({ name: "USER", user: "a".repeat(249) }))
    expect(error.reason).toBe("LineTooLong")
  })

  it("counts octets, not characters", () => {
    // 124 × "é" is 248 octets but only 124 characters.
    expect(encodeCommand({ name: "USER", user: "é".repeat(124) }).bytes.length).toBe(255)
    expect(refusal(() => encodeCommand({ name: "USER", user: `${"é".repeat(124)}a` })).reason).toBe("LineTooLong")
    // A 4-octet character pushing the line from 253 to 257.
    expect(refusal(() => encodeCommand({ name: "USER", user: `${"a".repeat(246)}😀` })).reason).toBe("LineTooLong")
  })

  it("applies to PASS without echoing the password", () => {
    // "PASS " + 248 + CRLF = 255.
    expect(encodeCommand({ name: "PASS", password: "p".repeat(248) }).bytes.length).toBe(255)
    const secret = `S3CR3T${"x".repeat(250)}`
    const error = refusal(() => encodeCommand({ name: "PASS", password: secret }))
    expect(error.reason).toBe("LineTooLong")
    expect(error.message).not.toContain("S3CR3T")
  })

  it("applies to an AUTH initial response (RFC 5034: send it after the continuation instead)", () => {
    const ok = encodeCommand({
      name: "AUTH",
      mechanism: "PLAIN",
      initialResponse: "A".repeat(255 - "AUTH PLAIN \r\n".length)
    })
    expect(ok.bytes.length).toBe(255)
    const error = refusal(() =>
      encodeCommand({ name: "AUTH", mechanism: "XOAUTH2", initialResponse: "T".repeat(2000) })
    )
    expect(error.reason).toBe("LineTooLong")
  })

  it("lets a SASL response exceed 255 octets, up to its own limit", () => {
    expect(encodeCommand({ name: "SaslResponse", response: "T".repeat(4000) }).bytes.length).toBe(4002)
    expect(encodeCommand({ name: "SaslResponse", response: "T".repeat(MAX_SASL_LINE - 2) }).bytes.length).toBe(
      MAX_SASL_LINE
    )
    expect(refusal(() => encodeCommand({ name: "SaslResponse", response: "T".repeat(MAX_SASL_LINE - 1) })).reason).toBe(
      "LineTooLong"
    )
  })

  it("checks the arguments before the length", () => {
    expect(refusal(() => encodeCommand({ name: "PASS", password: `${"x".repeat(400)}\n` })).reason).toBe(
      "InvalidArgument"
    )
  })
})
