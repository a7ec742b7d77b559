/**
 * Base64 a chunk at a time, for `pop3 --json retr` and `top`: each chunk's bytes are
 * encoded as they come (three bytes to four characters; the 0–2 left over wait for the
 * next chunk), so a message is never held whole, nor as one string — V8 caps a string
 * at 2^29 − 24 characters, which a 400 MB message's base64 passes.
 *
 * @module
 */
import { Buffer } from "node:buffer"

/**
 * An encoder: `push` returns the text for what it can encode so far, `end` the rest.
 * The chunks may be reused after `push` returns (what is kept is copied).
 * @category output
 */
export const makeBase64Stream = () => {
  let held = new Uint8Array(0)
  const encode = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
  return {
    push(chunk: Uint8Array): string {
      let text = ""
      let from = 0
      if (held.length > 0) {
        // Complete the held bytes to three from the front of this chunk.
        from = Math.min(3 - held.length, chunk.length)
        const joined = new Uint8Array(held.length + from)
        joined.set(held)
        joined.set(chunk.subarray(0, from), held.length)
        if (joined.length < 3) {
          held = joined
          return ""
        }
        text = encode(joined)
      }
      const whole = from + Math.floor((chunk.length - from) / 3) * 3
      text += encode(chunk.subarray(from, whole))
      held = chunk.slice(whole)
      return text
    },
    end(): string {
      const text = encode(held)
      held = new Uint8Array(0)
      return text
    }
  }
}
