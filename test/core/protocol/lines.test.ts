import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { RemoteProtocolError } from "../../../core/protocol/errors.ts"
import { MAX_LISTING_LINE } from "../../../core/protocol/limits.ts"
import { makeLineSplitter } from "../../../core/protocol/lines.ts"
import { applyChunking, bytewise, type Chunking, chunkingArb, splitAt } from "./chunks.ts"

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

const split = (chunks: ReadonlyArray<Uint8Array>, maxLine?: number): Array<string> => {
  const splitter = maxLine === undefined ? makeLineSplitter() : makeLineSplitter(maxLine)
  const out: Array<string> = []
  for (const c of chunks) out.push(...splitter.push(c))
  out.push(...splitter.end())
  return out
}

const splitWith = (input: string, chunking: Chunking, maxLine?: number) =>
  split(applyChunking(utf8(input), chunking), maxLine)

describe("makeLineSplitter", () => {
  it("splits on CRLF and LF and strips only the final CR", () => {
    expect(splitWith("1 120\r\n2 200\n3\r300\r\n\r\n", { kind: "whole" })).toEqual(["1 120", "2 200", "3\r300", ""])
  })

  it("returns nothing until a line is complete, and a last unterminated line from end()", () => {
    const splitter = makeLineSplitter()
    expect(splitter.push(utf8("TOP\r\nUI"))).toEqual(["TOP"])
    expect(splitter.push(utf8("D"))).toEqual([])
    expect(splitter.push(utf8("L\r\nSASL"))).toEqual(["UIDL"])
    expect(splitter.end()).toEqual(["SASL"])
    expect(makeLineSplitter().end()).toEqual([])
  })

  it("decodes a UTF-8 character split across chunks", () => {
    const bytes = utf8("IMPLEMENTATION Käse 😀\r\n")
    for (let i = 1; i < bytes.length; i++) {
      expect(split(splitAt(bytes, [i]))).toEqual(["IMPLEMENTATION Käse 😀"])
    }
  })

  it("property: random chunkings give the same lines (numRuns: 300)", () => {
    const lineArb = fc
      .string({ unit: fc.constantFrom(..."ab 1\t\r.é😀"), maxLength: 30 })
      .filter((s) => !s.includes("\n"))
    const input = fc.tuple(
      fc.array(fc.tuple(lineArb, fc.constantFrom("\r\n", "\n")), { maxLength: 20 }),
      fc.option(lineArb, { nil: undefined })
    )
    fc.assert(
      fc.property(input, chunkingArb(), ([lines, last], chunking) => {
        const text = lines.map(([l, eol]) => l + eol).join("") + (last ?? "")
        const expected = lines.map(([l, eol]) => (eol === "\r\n" || !l.endsWith("\r") ? l : l.slice(0, -1)))
        if (last !== undefined && last !== "") expected.push(last.endsWith("\r") ? last.slice(0, -1) : last)
        expect(splitWith(text, chunking)).toEqual(expected)
        expect(splitWith(text, chunking)).toEqual(splitWith(text, { kind: "whole" }))
      }),
      { numRuns: 300 }
    )
  })

  describe("line limit", () => {
    const limit = 10
    const atLimit = "0123456789"
    const overLimit = "0123456789X"

    it("accepts a line of exactly the limit, with LF or CRLF, whole or in pieces", () => {
      for (const eol of ["\n", "\r\n"]) {
        expect(splitWith(`${atLimit}${eol}${atLimit}${eol}`, { kind: "whole" }, limit)).toEqual([atLimit, atLimit])
        expect(splitWith(`${atLimit}${eol}${atLimit}${eol}`, { kind: "bytewise" }, limit)).toEqual([atLimit, atLimit])
        expect(splitWith(`${atLimit}${eol}${atLimit}${eol}`, { kind: "fixed", size: 3 }, limit)).toEqual([
          atLimit,
          atLimit
        ])
      }
    })

    it("accepts an unterminated last line of exactly the limit", () => {
      expect(splitWith(atLimit, { kind: "bytewise" }, limit)).toEqual([atLimit])
    })

    it("refuses a line one octet over the limit, whatever the chunking", () => {
      for (const eol of ["\n", "\r\n", ""]) {
        for (const chunking of [
          { kind: "whole" },
          { kind: "bytewise" },
          { kind: "fixed", size: 4 },
          { kind: "fixed", size: 10 }
        ] satisfies Array<Chunking>) {
          expect(() => splitWith(`ok\r\n${overLimit}${eol}more\r\n`, chunking, limit)).toThrow(RemoteProtocolError)
        }
      }
    })

    it("counts octets, not characters", () => {
      // Five "é" are ten octets: at the limit. Six are over.
      expect(split(bytewise(utf8("ééééé\r\n")), limit)).toEqual(["ééééé"])
      expect(() => split(bytewise(utf8("éééééé\r\n")), limit)).toThrow(RemoteProtocolError)
    })

    it("enforces the limit across chunks before the line ends (an endless line)", () => {
      const splitter = makeLineSplitter(limit)
      expect(splitter.push(utf8("01234"))).toEqual([])
      expect(splitter.push(utf8("56789"))).toEqual([])
      expect(() => splitter.push(utf8("XY"))).toThrow(RemoteProtocolError)
    })

    it("uses MAX_LISTING_LINE by default", () => {
      const at = "u".repeat(MAX_LISTING_LINE)
      expect(split([utf8(`${at}\r\n`)])).toEqual([at])
      expect(() => split([utf8(`${at}u\r\n`)])).toThrow(RemoteProtocolError)
      expect(() => split(applyChunking(utf8(`${at}uuu`), { kind: "fixed", size: 1000 }))).toThrow(RemoteProtocolError)
    })

    it("property: a line fits iff its content (without line end) is at most the limit", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 20 }),
          fc.constantFrom("\r\n", "\n"),
          chunkingArb(),
          (n, eol, chunking) => {
            const line = "x".repeat(n)
            const run = () => splitWith(`${line}${eol}`, chunking, limit)
            if (n <= limit) expect(run()).toEqual([line])
            else expect(run).toThrow(RemoteProtocolError)
          }
        ),
        { numRuns: 200 }
      )
    })
  })
})
