/**
 * Where the sync engine collects the bodies of pipelined messages: copied into shared slabs,
 * one after another, instead of each part into an ArrayBuffer of its own and the parts
 * then into another. A small message arrives in two or three parts (Dovecot's TLS records
 * cut most of them), so that was three ArrayBuffers a message — each a separate
 * allocation outside V8's heap that the GC must also sweep.
 *
 * A slab is never written twice: a body handed out stays valid however long it is kept,
 * and keeps its slab alive for as long (at most SLAB bytes, or the body's own size).
 *
 * @module
 */

/** Size of a slab; a body larger than the room left gets a slab of its own size (doubled while it grows). */
export const SLAB = 256 * 1024
/** How many times what a body has brought so far its announced size may be for a slab to take that size. */
const TRUSTED_GROWTH = 8

/**
 * Bodies collected one at a time: `begin` one, `append` its parts, then `finish` it.
 * @category models
 */
export interface BodyArena {
  /**
   * Starts a body (what an unfinished one had appended is left behind). `expected`, the
   * size LIST announced, is how large a slab to take once the body outgrows the current
   * one (a hint: it grows on beyond it, doubling, if the body does).
   */
  readonly begin: (expected?: number) => void
  /** Adds the next part of the body being collected (the bytes are copied). */
  readonly append: (bytes: Uint8Array) => void
  /** The body collected since the last `finish` (a view into a slab), and starts the next. */
  readonly finish: () => Uint8Array
  /** The body collected so far, without finishing it. */
  readonly current: () => Uint8Array
}

/**
 * An arena with fresh slabs of `slab` bytes.
 * @category constructors
 */
export const makeBodyArena = (slab = SLAB): BodyArena => {
  let bytes = new Uint8Array(0)
  // The body in progress is bytes[start, used).
  let start = 0
  let used = 0
  let expected = 0
  return {
    begin: (size = 0) => {
      // A slab grown for one large body is not kept for the small ones after it.
      if (bytes.length > slab) {
        bytes = new Uint8Array(0)
        used = 0
      }
      start = used
      expected = size
    },
    append: (part) => {
      if (used + part.length > bytes.length) {
        // A new slab, with what came so far of this body moved to its start. Doubling, or
        // straight to the size LIST announced once that is at most TRUSTED_GROWTH times what
        // has come: fewer moves, each of which touched fresh pages (a 5 MB body in 64 KiB
        // parts took 31 ms doubling from 256 KiB, 15 ms in one slab of its size). LIST is
        // only a hint: a server announcing more than it sends gets at most that factor.
        const sofar = used - start
        const need = sofar + part.length
        const size = expected <= TRUSTED_GROWTH * need ? Math.max(expected, 2 * need) : 2 * need
        const next = new Uint8Array(Math.max(slab, size))
        next.set(bytes.subarray(start, used))
        bytes = next
        start = 0
        used = sofar
      }
      bytes.set(part, used)
      used += part.length
    },
    finish: () => {
      const body = bytes.subarray(start, used)
      start = used
      return body
    },
    current: () => bytes.subarray(start, used)
  }
}
