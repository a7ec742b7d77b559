// The byte stream test/runtimes/backpressure.ts and its parent test exchange: every byte
// is checkable on its own, so a lost, repeated or reordered chunk shows where it happened.

/** The byte at `offset`: not periodic at any buffer size used here. */
export const patternByte = (offset: number): number => (offset * 31 + Math.floor(offset / 65_521)) & 0xff

/** `length` bytes of the stream from `offset`. */
export const pattern = (offset: number, length: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = patternByte(offset + i)
  return bytes
}

/** The offset of the first byte of `chunk` (at `offset` in the stream) that is wrong, if any. */
export const firstWrong = (chunk: Uint8Array, offset: number): number | undefined => {
  for (let i = 0; i < chunk.length; i++) if (chunk[i] !== patternByte(offset + i)) return offset + i
  return undefined
}
