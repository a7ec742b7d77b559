// The demo's RETR collector (web-demo/src/body-buffer.ts): every chunking gives the same
// bytes, whether LIST's size was right, too large or too small (a server's LIST can lie —
// the playground's "Wrong LIST sizes" switch). Pure code, so it runs in Node.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { collectInto } from "../../web-demo/src/body-buffer.ts"

const message = new TextEncoder().encode("Subject: hi\r\n\r\n" + "line of the body\r\n".repeat(700))

/** `bytes` cut into chunks of `size`, as a stream. */
const chunked = (bytes: Uint8Array, size: number) => {
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return Stream.fromIterable(chunks)
}
const collected = async (size: number, expected: number) => {
  const { buffer, length } = await Effect.runPromise(collectInto(chunked(message, size), expected))
  return { bytes: new Uint8Array(buffer, 0, length), capacity: buffer.byteLength }
}

describe("collectInto", () => {
  it("fills one buffer of LIST's size exactly, for any chunking", async () => {
    for (const size of [1, 7, 1000, message.length]) {
      const { bytes, capacity } = await collected(size, message.length)
      expect(bytes).toEqual(message)
      // Sized right: the buffer can be transferred whole, nothing to trim.
      expect(capacity).toBe(message.length)
    }
  })

  it("grows when the body is longer than LIST said, and keeps only the body when shorter", async () => {
    for (const expected of [0, 10, message.length - 1]) {
      const { bytes, capacity } = await collected(100, expected)
      expect(bytes).toEqual(message)
      expect(capacity).toBeGreaterThanOrEqual(message.length)
    }
    const { bytes, capacity } = await collected(100, message.length * 2)
    expect(bytes).toEqual(message)
    expect(capacity).toBe(message.length * 2)
  })

  it("collects an empty body", async () => {
    const { buffer, length } = await Effect.runPromise(collectInto(Stream.empty, 0))
    expect(length).toBe(0)
    expect(buffer.byteLength).toBe(0)
  })
})
