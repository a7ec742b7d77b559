/**
 * Byte helpers shared by the engine and the client.
 *
 * @module
 */

/**
 * Joins byte arrays. A single part is returned as it is (no copy).
 * @category bytes
 */
export const concatBytes = (
  parts: ReadonlyArray<Uint8Array>,
  length = parts.reduce((n, p) => n + p.length, 0)
): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
