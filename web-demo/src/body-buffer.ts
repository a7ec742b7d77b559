// A RETR body collected into one ArrayBuffer as it arrives. The library's `collect` keeps
// every chunk until the end and then copies them into one array (twice the message in the
// heap at the peak); here each chunk is copied into a buffer sized from LIST at once and then
// let go, and the buffer can be transferred to the MIME Worker whole.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

export interface Collected {
  /** Holds the body in its first `length` bytes. */
  readonly buffer: ArrayBuffer
  readonly length: number
}

/**
 * Runs `body` into one buffer of `expected` bytes (LIST's size). A server's LIST size can be
 * wrong: a longer body grows the buffer by half again each time, a shorter one leaves the rest unused.
 */
export const collectInto = <E, R>(
  body: Stream.Stream<Uint8Array, E, R>,
  expected: number
): Effect.Effect<Collected, E, R> =>
  Effect.suspend(() => {
    let bytes = new Uint8Array(Math.max(expected, 0))
    let length = 0
    return Stream.runForEachArray(body, (chunks) =>
      Effect.sync(() => {
        for (const chunk of chunks) {
          if (length + chunk.length > bytes.length) {
            const grown = new Uint8Array(Math.max(length + chunk.length, Math.ceil(bytes.length * 1.5), 4096))
            grown.set(bytes.subarray(0, length))
            bytes = grown
          }
          bytes.set(chunk, length)
          length += chunk.length
        }
      })
    ).pipe(Effect.map(() => ({ buffer: bytes.buffer, length })))
  })
