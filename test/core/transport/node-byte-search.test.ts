import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { assertSearchesAsIndexOf } from "../../support/byte-search.ts"
import { indexOfByte, installedByteSearch } from "../../../core/protocol/bytes.ts"
import { makeDecoder, NeedData } from "../../../core/protocol/decoder.ts"
import { installNodeByteSearch, nodeByteSearch } from "../../../core/transport/node-byte-search.ts"

describe("Node's search for one byte (the body decoder's, on Node)", () => {
  it("property: answers what the typed array's indexOf answers, on views at any offset and from any start", () => {
    assertSearchesAsIndexOf(nodeByteSearch)
  })

  it("is installed by the Node transports as they load", async () => {
    await import("../../../core/transport/node.ts")
    expect(installedByteSearch()).toBe(nodeByteSearch)
    await import("../../../core/transport/node-websocket-preconnect.ts")
    expect(installedByteSearch()).toBe(nodeByteSearch)
  })

  it("installed, the decoder unstuffs bodies split anywhere as before", () => {
    installNodeByteSearch()
    expect(installedByteSearch()).toBe(nodeByteSearch)
    const wire = new TextEncoder().encode("+OK\r\n..a\r\nb.c\r\n.d\r\n\r\n.\r\n")
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 8 }), (cuts) => {
        const decoder = makeDecoder()
        const points = [0, ...cuts.sort((a, b) => a - b), wire.length]
        for (let i = 1; i < points.length; i++) decoder.feed(wire.subarray(points[i - 1], points[i]))
        const status = decoder.next()
        expect(status).not.toBe(NeedData)
        decoder.readBody()
        const parts: Array<Uint8Array> = []
        for (;;) {
          const event = decoder.next()
          if (event === NeedData) throw new Error("the body did not end")
          if (event._tag === "BodyEnd") break
          if (event._tag === "Body") parts.push(event.bytes)
        }
        const body = new TextDecoder().decode(Uint8Array.from(parts.flatMap((p) => [...p])))
        expect(body).toBe(".a\r\nb.c\r\nd\r\n\r\n")
        expect(indexOfByte(wire, 46, 6)).toBe(wire.indexOf(46, 6))
      }),
      { numRuns: 300 }
    )
  })
})
