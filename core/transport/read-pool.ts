/**
 * Read buffers reused from one read to the next, for a runtime that reads into a buffer it
 * is given (Node's `onread`). A buffer is in one of four places: free, being read into,
 * queued in the reader, or handed to the consumer by a pull; it is free again when the
 * consumer pulls next (so the bytes of a pull are valid until the next pull). The pool
 * grows only while every buffer is busy, which the reader's flow control bounds (it pauses
 * the socket once 64 KiB wait unread): a handful of buffers for a whole 1 GB message,
 * instead of one dead 64 KiB buffer per read waiting for the garbage collector.
 *
 * @module
 */

/**
 * A pool of read buffers.
 * @category models
 */
export interface ReadPool {
  /** A free buffer for the next read (a new one when none is free). */
  readonly next: () => Uint8Array
  /** Marks the chunks a pull returned as held by the consumer. */
  readonly delivered: (chunks: ReadonlyArray<Uint8Array>) => void
  /** The consumer is done with the chunks of its last pull: their buffers are free. */
  readonly releaseDelivered: () => void
  /** How many buffers the pool has made. */
  readonly allocated: () => number
}

/**
 * A pool of `size`-byte buffers.
 * @category constructors
 */
export const makeReadPool = (size = 64 * 1024): ReadPool => {
  const owned = new Set<ArrayBufferLike>()
  const free: Array<ArrayBufferLike> = []
  let held: Array<ArrayBufferLike> = []
  return {
    next: () => {
      let buffer = free.pop()
      if (buffer === undefined) {
        buffer = new ArrayBuffer(size)
        owned.add(buffer)
      }
      return new Uint8Array(buffer)
    },
    delivered: (chunks) => {
      // Only the pool's own: chunks from elsewhere (Node's after STLS) are left to the GC.
      for (const chunk of chunks) if (owned.has(chunk.buffer)) held.push(chunk.buffer)
    },
    releaseDelivered: () => {
      if (held.length === 0) return
      for (const buffer of held) free.push(buffer)
      held = []
    },
    allocated: () => owned.size
  }
}
