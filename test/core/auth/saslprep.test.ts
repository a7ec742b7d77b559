// SASLprep (RFC 4013): the RFC's examples, and the tables it draws from (RFC 3454).

import { describe, expect, it } from "vitest"
import { saslprep } from "../../../core/auth/saslprep.ts"

describe("RFC 4013 §3 examples", () => {
  it.each([
    ["I\u00ADX", "IX", "SOFT HYPHEN mapped to nothing"],
    ["user", "user", "no transformation"],
    ["USER", "USER", "case preserved, will not match #2"],
    ["\u00AA", "a", "output is NFKC, input in ISO 8859-1"],
    ["\u2168", "IX", "output is NFKC, will match #1"]
  ])("%j → %j (%s)", (input, output) => {
    expect(saslprep(input)).toBe(output)
  })

  it("\\u0007 → error (prohibited character)", () => {
    expect(saslprep("\u0007")).toBeUndefined()
  })

  it("does not check the bidirectional rule (RFC 4013's example 7 passes; documented in saslprep.ts)", () => {
    expect(saslprep("\u0627\u0031")).toBe("\u0627\u0031")
  })
})

describe("mapping", () => {
  it("maps non-ASCII spaces (RFC 3454 C.1.2) to SPACE", () => {
    expect(saslprep("a\u00A0b\u3000c\u2003d")).toBe("a b c d")
  })

  it("removes the characters commonly mapped to nothing (B.1)", () => {
    expect(saslprep("p\u034Fa\u200Cs\u200Ds\u2060\uFEFFw\uFE0Fd")).toBe("passwd")
  })

  it("normalizes to NFKC: composed and decomposed spellings agree", () => {
    expect(saslprep("ju\u0308rgen")).toBe("jürgen")
    expect(saslprep("jürgen")).toBe("jürgen")
    expect(saslprep("\uFB01")).toBe("fi")
  })

  it("keeps ordinary non-ASCII text, including characters outside the BMP", () => {
    expect(saslprep("Grüße, 日本語")).toBe("Grüße, 日本語")
    expect(saslprep("pass🙂word")).toBe("pass🙂word")
    expect(saslprep("𝔘")).toBe("U") // MATHEMATICAL FRAKTUR CAPITAL U, NFKC
  })

  it("keeps ASCII space and punctuation", () => {
    expect(saslprep(" a b ~!@#$%^&*()")).toBe(" a b ~!@#$%^&*()")
  })
})

describe("prohibited output (RFC 3454 C.2–C.9)", () => {
  it.each([
    ["NUL", "a\u0000b"],
    ["CR", "a\rb"],
    ["LF", "a\nb"],
    ["DEL", "a\u007Fb"],
    ["C1 control", "a\u0085b"],
    ["LINE SEPARATOR", "a\u2028b"],
    ["INVISIBLE TIMES (C.2.2)", "a\u2062b"],
    ["private use (C.3)", "a\uE000b"],
    ["supplementary private use (C.3)", "a\u{F0000}b"],
    ["non-character (C.4)", "a\uFDD0b"],
    ["supplementary non-character (C.4)", "a\u{1FFFE}b"],
    ["lone high surrogate (C.5)", "a\uD800b"],
    ["lone low surrogate (C.5)", "a\uDC00b"],
    ["REPLACEMENT CHARACTER (C.6)", "a\uFFFDb"],
    ["ideographic description (C.7)", "a\u2FF0b"],
    ["LEFT-TO-RIGHT MARK (C.8)", "a\u200Eb"],
    ["tag (C.9)", "a\u{E0041}b"]
  ])("%s", (_, input) => {
    expect(saslprep(input)).toBeUndefined()
  })
})
