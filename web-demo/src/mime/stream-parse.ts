// The MIME Worker's parse (mime-worker.ts): postal-mime's own parser, fed the message line by
// line from a Blob instead of given it whole. `PostalMime.parse(buffer)` keeps the buffer to
// the end of the parse; read from a Blob (the browser's blob storage, outside the JavaScript
// heap) only a few hundred kilobytes of it are in the heap at a time. Issue 16, item 5.
import PostalMime, { type Email } from "postal-mime"

/**
 * The parts of postal-mime's parser that its own `parse(buffer)` runs (postal-mime 4.0.0,
 * src/postal-mime.ts), marked internal and so left out of its types. `parse` holds the
 * whole message in one ArrayBuffer until the end; fed line by line, the parser holds only
 * what it decodes (`parseStream` below).
 */
interface LineParser {
  started: boolean
  forceRfc822Attachments: boolean
  root: unknown
  currentNode: {
    state: "header" | "body" | "finished"
    contentDecoder: object | null
    contentType: { parsed: { value: string }; multipart: string | false }
  }
  processLine(line: Uint8Array<ArrayBuffer>, isFinal: boolean): Promise<void>
  hasReportParts(): boolean
  collectNode(node: unknown, alternative: false, related: false): Promise<void>
  renderTextContent(): void
  buildMessage(): Email
  encodeAttachments(): void
}

const lineParser = (): LineParser => {
  const parser = new PostalMime() as unknown as LineParser
  for (const m of [
    "processLine",
    "hasReportParts",
    "collectNode",
    "renderTextContent",
    "buildMessage",
    "encodeAttachments"
  ])
    if (typeof (parser as unknown as Record<string, unknown>)[m] !== "function")
      throw new Error(`postal-mime has no ${m}: this Worker follows postal-mime 4.0.0's parser`)
  return parser
}

/**
 * What Base64Decoder turns each line into a string with, in place of its TextDecoder: in
 * Chromium a TextDecoder's string is an external string, outside the V8 heap and not freed
 * before a full GC, so a 20 MB base64 part left ~20 MB of them in this Worker's heap by its
 * end. Base64 is ASCII; a byte over 0x7F becomes a character the decoder drops either way.
 */
const ascii = {
  decode: (line: Uint8Array): string => {
    let text = ""
    for (let i = 0; i < line.length; i += 8192)
      text += String.fromCharCode.apply(null, line.subarray(i, i + 8192) as unknown as Array<number>)
    return text
  }
}

type Node = LineParser["currentNode"]

/**
 * Whether the part being read keeps the lines it is given (postal-mime's pass-through decoder
 * keeps them as they are) rather than decoding them at once: a header line is decoded to a
 * string, base64 to a string (Base64Decoder's `remainder`), quoted-printable into the
 * decoder's own `buffer`. A view into the read buffer is handed over only when it does not.
 */
const keepsLines = (node: Node): boolean => {
  if (node.state === "header") return false
  const decoder = node.contentDecoder
  return !(node.state === "body" && decoder !== null && ("remainder" in decoder || "buffer" in decoder))
}

/** The parts postal-mime reads the content of as an ArrayBuffer (text, calendar, inline messages). */
const READ_AS_BYTES = new Set(["text/plain", "text/html", "text/calendar", "application/ics", "message/rfc822"])

/**
 * Adjusts a part's Base64Decoder when its body starts: its lines become strings through
 * `ascii`, and for a part that only becomes an attachment (whose content postal-mime just
 * hands on) the decoded chunks become a Blob, not an ArrayBuffer: Base64Decoder.finalize
 * makes that Blob and then reads it back whole, so the attachment was in the heap twice.
 * Such an attachment's `content` is then a Blob (application/octet-stream).
 */
const adopt = (node: Node, decoder: object): void => {
  if (!("remainder" in decoder && "decoder" in decoder && "chunks" in decoder && "flushRemainder" in decoder)) return
  const base64 = decoder as unknown as {
    decoder: unknown
    chunks: Array<ArrayBuffer>
    flushRemainder(): void
    finalize(): Promise<unknown>
  }
  base64.decoder = ascii
  if (node.contentType.multipart !== false || READ_AS_BYTES.has(node.contentType.parsed.value)) return
  base64.finalize = () => {
    base64.flushRemainder()
    const blob = new Blob(base64.chunks, { type: "application/octet-stream" })
    base64.chunks = []
    return Promise.resolve(blob)
  }
}

/** A line without the LF that ends it and the CRs before that, as postal-mime's readLine cuts it. */
const trimmed = (line: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => {
  let end = line.length
  while (end > 0 && (line[end - 1] === 13 || line[end - 1] === 10)) end--
  return line.subarray(0, end)
}

/** How much of the message is read at a time. */
const READ_SIZE = 256 * 1024

/**
 * The message's bytes, read into one buffer of READ_SIZE reused for every read where the
 * stream lets the reader bring its own buffer (a Blob's stream is a byte stream in Chromium):
 * a stream's own chunks are new ArrayBuffers that stay in the heap until a GC, which a heap
 * as small as this Worker's can put off for the whole message. `use` must copy what it keeps.
 */
const readChunks = async (
  blob: Blob,
  readSize: number,
  use: (chunk: Uint8Array<ArrayBuffer>) => Promise<void>
): Promise<void> => {
  const stream = blob.stream()
  let byob: ReadableStreamBYOBReader | undefined
  try {
    byob = stream.getReader({ mode: "byob" })
  } catch {
    byob = undefined
  }
  if (byob !== undefined) {
    let buffer = new ArrayBuffer(readSize)
    for (;;) {
      const { done, value } = await byob.read(new Uint8Array(buffer))
      if (done || value === undefined) return
      await use(value)
      buffer = value.buffer
    }
  }
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    await use(new Uint8Array(value.buffer as ArrayBuffer, value.byteOffset, value.length))
  }
}

/**
 * Parses a message read from `raw`, as `PostalMime.parse` does (same lines, same `isFinal`,
 * the same steps after the last line) but without the whole message in memory: each line is
 * copied out of the chunk read and handed over (a base64 part's lines are decoded at once).
 */
export const parseBlob = async (raw: Blob, readSize = READ_SIZE): Promise<Email> => {
  const parser = lineParser()
  parser.started = true
  // Whether the part being read keeps the lines it is given (postal-mime's pass-through
  // decoder keeps them as they are) rather than decoding them at once: a header line is
  // decoded to a string, base64 to a string (Base64Decoder's `remainder`), quoted-printable
  // into the decoder's own `buffer`. A view into the read buffer is handed over only then.
  const adopted = new WeakSet<object>()
  const feed = (line: Uint8Array<ArrayBuffer>, isFinal: boolean) => {
    const node = parser.currentNode
    const decoder = node.contentDecoder
    if (node.state === "body" && decoder !== null && !adopted.has(decoder)) {
      adopted.add(decoder)
      adopt(node, decoder)
    }
    return parser.processLine(line.buffer === readBuffer && keepsLines(node) ? line.slice() : line, isFinal)
  }
  let readBuffer: ArrayBufferLike | undefined
  // The line before the last LF seen: whether it is the final one is known only at the next byte.
  let pending: Uint8Array<ArrayBuffer> | undefined
  // Bytes after the last LF seen, copied.
  let carry = new Uint8Array(0)
  const join = (rest: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => {
    const joined = new Uint8Array(carry.length + rest.length)
    joined.set(carry)
    joined.set(rest, carry.length)
    carry = new Uint8Array(0)
    return joined
  }
  await readChunks(raw, readSize, async (chunk) => {
    readBuffer = chunk.buffer
    let from = 0
    for (let lf = chunk.indexOf(10); lf !== -1; lf = chunk.indexOf(10, from)) {
      const line = chunk.subarray(from, lf + 1)
      if (pending !== undefined) await feed(pending, false)
      // A CR before the LF may be the last byte of the chunk before: trimmed after joining.
      pending = carry.length > 0 ? trimmed(join(line)) : trimmed(line)
      from = lf + 1
    }
    if (from < chunk.length) {
      if (pending !== undefined) await feed(pending, false)
      pending = undefined
      carry = join(chunk.subarray(from))
    }
    // The next read reuses the buffer.
    if (pending?.buffer === readBuffer) pending = pending.slice()
  })
  if (carry.length > 0) await feed(trimmed(carry), true)
  else if (pending !== undefined) await feed(pending, true)
  parser.forceRfc822Attachments = parser.hasReportParts()
  await parser.collectNode(parser.root, false, false)
  parser.renderTextContent()
  const message = parser.buildMessage()
  parser.encodeAttachments()
  return message
}
