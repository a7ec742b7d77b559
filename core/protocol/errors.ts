/**
 * The engine's two error kinds, after h11: `LocalProtocolError` means *we* tried something
 * the protocol does not allow (a bad argument, a command illegal in this state); the
 * `RemoteProtocolError` means the *server* broke the protocol. After a remote error the
 * engine is in the ERROR state and every later call fails fast.
 *
 * Both are plain classes so the engine stays free of the Effect runtime; the client maps
 * them to its tagged errors. Neither ever carries a secret: local errors name the command
 * and the offending character's position, never the argument's value.
 *
 * @module
 */

/**
 * Why a local call was refused.
 * @category errors
 */
export type LocalReason = "InvalidArgument" | "LineTooLong" | "IllegalInState" | "Busy"

/**
 * We misused the protocol; nothing was sent.
 * @category errors
 */
export class LocalProtocolError extends Error {
  override readonly name = "LocalProtocolError"
  readonly reason: LocalReason
  constructor(reason: LocalReason, message: string) {
    super(message)
    this.reason = reason
  }
}

/**
 * The server sent something that is not POP3. `excerpt` is a short, printable prefix of
 * the offending bytes (server bytes are never secret, and the excerpt is bounded).
 * @category errors
 */
export class RemoteProtocolError extends Error {
  override readonly name = "RemoteProtocolError"
  readonly excerpt: string
  constructor(message: string, excerpt = "") {
    super(excerpt === "" ? message : `${message}: ${JSON.stringify(excerpt)}`)
    this.excerpt = excerpt
  }
}

/**
 * A printable, bounded excerpt of raw bytes for error messages.
 * @category errors
 */
export const excerptOf = (bytes: Uint8Array, max = 60): string => {
  const slice = bytes.subarray(0, max)
  let out = ""
  for (const b of slice)
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : b === 13 ? "\\r" : b === 10 ? "\\n" : "."
  return bytes.length > max ? out + "…" : out
}
