// The --json retr/top encoder: any chunking gives Node's own base64 of the whole, and the
// chunks may be reused after each push (as the transports' read buffers are).
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeBase64Stream } from "../../core/cli/base64-stream.ts"

describe("makeBase64Stream", () => {
  it("any chunking of any bytes encodes as the whole would, with the chunks overwritten after each push", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 12 }),
        (bytes, cuts) => {
          const at = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b)
          const encoder = makeBase64Stream()
          let text = ""
          let from = 0
          for (const to of [...at, bytes.length]) {
            // A buffer of the transport's: filled, pushed, then reused.
            const chunk = bytes.slice(from, to)
            text += encoder.push(chunk)
            chunk.fill(0xee)
            from = to
          }
          text += encoder.end()
          expect(text).toBe(Buffer.from(bytes).toString("base64"))
        }
      ),
      { numRuns: 500 }
    )
  })

  it("a push that completes no group of three returns nothing yet", () => {
    const encoder = makeBase64Stream()
    expect(encoder.push(Uint8Array.of(1))).toBe("")
    expect(encoder.push(Uint8Array.of(2))).toBe("")
    expect(encoder.push(Uint8Array.of(3, 4))).toBe(Buffer.from([1, 2, 3]).toString("base64"))
    expect(encoder.end()).toBe(Buffer.from([4]).toString("base64"))
  })
})
