// The sync engine's body arena (core/sync/body-arena.ts): each finished body is its parts
// in order, and stays so while later bodies are collected — however the parts are cut,
// whether a body fits the slab or outgrows it, and after unfinished bodies left behind.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeBodyArena } from "../../../core/sync/body-arena.ts"

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]))

// A body: its parts, the size LIST announced (a hint, right or wrong), and whether it is
// finished or left behind (a sink that failed or spilled).
const body = fc.record({
  parts: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
  announced: fc.nat(3000),
  finished: fc.boolean()
})

describe("the body arena", () => {
  it("gives each finished body its parts in order, unchanged by the bodies after it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1024 }), fc.array(body, { maxLength: 40 }), (slab, bodies) => {
        const arena = makeBodyArena(slab)
        const kept: Array<{ readonly got: Uint8Array; readonly want: Uint8Array }> = []
        for (const { parts, announced, finished } of bodies) {
          arena.begin(announced)
          for (const part of parts) {
            // The part is a view that is overwritten after the push, as a socket's read buffer is.
            const view = Uint8Array.from(part)
            arena.append(view)
            view.fill(0xee)
          }
          expect(arena.current()).toEqual(concat(parts))
          if (finished) kept.push({ got: arena.finish(), want: concat(parts) })
        }
        for (const { got, want } of kept) expect(got).toEqual(want)
      }),
      { numRuns: 500 }
    )
  })

  it("keeps a slab grown for a large body only for that body", () => {
    const arena = makeBodyArena(16)
    arena.begin()
    arena.append(new Uint8Array(100).fill(1))
    const large = arena.finish()
    arena.begin()
    arena.append(Uint8Array.of(2, 3))
    const small = arena.finish()
    expect(large).toEqual(new Uint8Array(100).fill(1))
    expect(small).toEqual(Uint8Array.of(2, 3))
    // The small body's slab is a fresh one of the arena's size, not the large body's.
    expect(small.buffer).not.toBe(large.buffer)
    expect(small.buffer.byteLength).toBe(16)
  })

  it("moves a large body once into a slab of its announced size, unless that is far beyond what came", () => {
    const arena = makeBodyArena(16)
    arena.begin(100)
    arena.append(new Uint8Array(20).fill(1))
    arena.append(new Uint8Array(80).fill(2))
    const announced = arena.finish()
    expect(announced.buffer.byteLength).toBe(100)
    expect([...announced]).toEqual([...new Array(20).fill(1), ...new Array(80).fill(2)])
    // A million announced, twenty come: doubling as without a hint, not a megabyte.
    arena.begin(1_000_000)
    arena.append(new Uint8Array(20).fill(3))
    expect(arena.current().buffer.byteLength).toBe(40)
  })

  it("collects small bodies into one shared slab (no buffer of their own)", () => {
    const arena = makeBodyArena(1024)
    const bodies = Array.from({ length: 10 }, (_, i) => {
      arena.begin()
      arena.append(Uint8Array.of(i, i))
      arena.append(Uint8Array.of(i))
      return arena.finish()
    })
    expect(new Set(bodies.map((b) => b.buffer)).size).toBe(1)
    expect(bodies.map((b) => [...b])).toEqual(Array.from({ length: 10 }, (_, i) => [i, i, i]))
  })
})
