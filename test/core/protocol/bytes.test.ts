import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { assertSearchesAsIndexOf } from "../../support/byte-search.ts"
import { asciiBytes, asciiText, concatBytes, indexOfByte, installedByteSearch } from "../../../core/protocol/bytes.ts"
import { decodeText } from "../../../core/protocol/response.ts"

const decoder = new TextDecoder("utf-8", { fatal: false })
const encoder = new TextEncoder()

// Bytes biased towards what servers send (printable ASCII, CR, LF), with the odd high byte.
const lineBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ min: 0x20, max: 0x7e, maxLength: 300 }),
  fc
    .array(fc.constantFrom(0x2b, 0x4f, 0x4b, 0x20, 0x0d, 0x0a, 0x7f, 0x80, 0xc3, 0xa9, 0xef, 0xbb, 0xbf), {
      maxLength: 40
    })
    .map((a) => Uint8Array.from(a))
)

describe("asciiText", () => {
  it("property: gives what TextDecoder gives, and declines exactly the long or non-ASCII runs", () => {
    fc.assert(
      fc.property(lineBytes, (bytes) => {
        const fast = asciiText(bytes)
        const ascii = bytes.every((b) => b <= 0x7f)
        if (ascii && bytes.length <= 256) expect(fast).toBe(decoder.decode(bytes))
        else expect(fast).toBeUndefined()
        // decodeText is the fast path with TextDecoder behind it: the same either way.
        expect(decodeText(bytes)).toBe(decoder.decode(bytes))
      }),
      { numRuns: 2000 }
    )
  })

  it("decodes a view at an offset, NUL and controls included", () => {
    const buffer = Uint8Array.from([0xff, 0x2b, 0x4f, 0x4b, 0x00, 0x1b, 0x0d, 0xff])
    expect(asciiText(buffer.subarray(1, 7))).toBe("+OK\u0000\u001b\r")
    expect(asciiText(buffer)).toBeUndefined()
  })
})

describe("asciiBytes", () => {
  it("property: gives what TextEncoder gives for ASCII strings, and declines any other", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.string({ unit: "binary", maxLength: 80 }),
          // Latin-1: one UTF-16 unit each, yet not ASCII from 0x80 on.
          fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 20 })
        ),
        (text) => {
          const fast = asciiBytes(text)
          if (/^[\x00-\x7f]*$/.test(text)) expect(fast).toEqual(encoder.encode(text))
          else expect(fast).toBeUndefined()
        }
      ),
      { numRuns: 2000 }
    )
  })
})

describe("concatBytes", () => {
  it("joins parts in order and returns a single part as it is", () => {
    const one = Uint8Array.of(1, 2)
    expect(concatBytes([one])).toBe(one)
    expect(concatBytes([one, Uint8Array.of(), Uint8Array.of(3)])).toEqual(Uint8Array.of(1, 2, 3))
  })
})

describe("indexOfByte", () => {
  it("property: answers what the typed array's indexOf answers, on views at any offset and from any start", () => {
    assertSearchesAsIndexOf(indexOfByte)
  })

  it("is the typed array's own search until a transport installs another", () => {
    const probe = Uint8Array.of(1, 46, 2)
    expect(installedByteSearch()(probe, 46, 0)).toBe(1)
    expect(installedByteSearch().toString()).toContain(".indexOf(byte, from)")
  })
})
