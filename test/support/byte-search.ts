// The property a byte search must keep (core/protocol/bytes.ts `ByteSearch`): the answers of
// the typed array's own indexOf, on views at any offset into a larger buffer and from any
// start, past the end included. Few distinct bytes, so the byte is often right at `from`.
import fc from "fast-check"
import { expect } from "vitest"
import type { ByteSearch } from "../../core/protocol/bytes.ts"

export const assertSearchesAsIndexOf = (search: ByteSearch): void =>
  fc.assert(
    fc.property(
      fc.uint8Array({ min: 44, max: 48, maxLength: 200 }),
      fc.nat(20),
      fc.nat(20),
      fc.nat(230),
      fc.integer({ min: 44, max: 48 }),
      (all, skip, cut, from, byte) => {
        const start = Math.min(skip, all.length)
        const view = all.subarray(start, Math.max(start, all.length - cut))
        expect(search(view, byte, from)).toBe(view.indexOf(byte, from))
      }
    ),
    { numRuns: 3000 }
  )
