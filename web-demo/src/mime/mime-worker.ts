// The MIME Worker: postal-mime parses here, off the page's main thread, so decoding a
// 20 MB base64 attachment never freezes the page. The header block is parsed on its own
// first (a few hundred bytes) and posted at once; the full parse follows.
import { fixTextDecoder } from "../text-decoder-fix.ts"
import PostalMime from "postal-mime"
import type { Body, FromWorker, Head, ParseRequest, Part } from "./protocol.ts"
import { parseBlob } from "./stream-parse.ts"

// Before anything decodes mail (text-decoder-fix.ts says why it is called, not imported).
fixTextDecoder()

const post = (message: FromWorker, transfer: Array<Transferable> = []) => self.postMessage(message, { transfer })

/** Where the header block ends: after the first empty line (CRLF CRLF, or LF LF), else the end. */
const headerEnd = (bytes: Uint8Array): number => {
  for (let i = 0; i < bytes.length - 1; i++) {
    if (bytes[i] !== 10) continue
    if (bytes[i + 1] === 10) return i + 2
    if (bytes[i + 1] === 13 && bytes[i + 2] === 10) return i + 3
  }
  return bytes.length
}

const headOf = (email: {
  subject?: string | undefined
  from?: Head["from"]
  to?: Head["to"]
  cc?: Head["cc"]
  date?: string | undefined
}): Head => ({
  subject: email.subject,
  from: email.from,
  to: email.to,
  cc: email.cc,
  date: email.date
})

const parseBody = async (id: number, raw: Blob): Promise<void> => {
  const email = await parseBlob(raw)
  const transfer: Array<Transferable> = []
  const attachments: Array<Part> = []
  for (const a of email.attachments) {
    // A Blob for a base64 attachment (stream-parse.ts's `adopt`), else postal-mime's bytes.
    const found = a.content as ArrayBuffer | Uint8Array<ArrayBuffer> | string | Blob
    // Always application/octet-stream, whatever the sender declared (message-view.ts says why).
    const blob =
      found instanceof Blob
        ? found
        : new Blob([typeof found === "string" ? new TextEncoder().encode(found) : found], {
            type: "application/octet-stream"
          })
    // The bytes only for a part with a Content-ID, which the HTML frame inlines.
    const inline = a.contentId === undefined ? undefined : await blob.arrayBuffer()
    if (inline !== undefined) transfer.push(inline)
    attachments.push({
      filename: a.filename,
      mimeType: a.mimeType,
      disposition: a.disposition,
      related: a.related === true,
      contentId: a.contentId,
      size: blob.size,
      blob,
      content: inline
    })
  }
  const body: Body = { text: email.text, html: email.html, attachments, raw }
  post({ id, kind: "body", body }, transfer)
}

const fail = (id: number, error: unknown) =>
  post({ id, kind: "error", message: error instanceof Error ? error.message : String(error) })

self.onmessage = (event: MessageEvent<ParseRequest>) => {
  const { id, buffer, length } = event.data
  try {
    const bytes = new Uint8Array(buffer, 0, length)
    const head = PostalMime.parse(bytes.subarray(0, headerEnd(bytes)))
    // The raw source as a Blob: the bytes move to the browser's blob storage, the body is
    // parsed from there, and the buffer is let go at once rather than held for the parse.
    const raw = new Blob([bytes], { type: "application/octet-stream" })
    ;(buffer as { transfer?: (length: number) => ArrayBuffer }).transfer?.(0)
    head
      .then((email) => {
        post({ id, kind: "head", head: headOf(email) })
        return parseBody(id, raw)
      })
      .catch((error: unknown) => fail(id, error))
  } catch (error) {
    fail(id, error)
  }
}
