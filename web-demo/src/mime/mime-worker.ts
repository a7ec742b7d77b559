// The MIME Worker: postal-mime parses here, off the page's main thread, so decoding a
// 20 MB base64 attachment never freezes the page. The header block is parsed on its own
// first (a few hundred bytes) and posted at once; the full parse follows.
import "../text-decoder-fix.ts"
import PostalMime from "postal-mime"
import type { Body, FromWorker, Head, ParseRequest, Part } from "./protocol.ts"

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

self.onmessage = async (event: MessageEvent<ParseRequest>) => {
  const { id, length } = event.data
  try {
    // postal-mime copies a view but keeps an ArrayBuffer as it is: give it one of the right length.
    const buffer = length === event.data.buffer.byteLength ? event.data.buffer : event.data.buffer.slice(0, length)
    const bytes = new Uint8Array(buffer)
    post({ id, kind: "head", head: headOf(await PostalMime.parse(bytes.subarray(0, headerEnd(bytes)))) })
    // Blobs before the parse: the raw bytes move to the browser's blob storage.
    const raw = new Blob([buffer], { type: "application/octet-stream" })
    const email = await PostalMime.parse(buffer)
    const transfer: Array<Transferable> = []
    const attachments = email.attachments.map((a): Part => {
      const content =
        typeof a.content === "string"
          ? new TextEncoder().encode(a.content).buffer
          : a.content instanceof ArrayBuffer
            ? a.content
            : (a.content.slice().buffer as ArrayBuffer)
      const inline = a.contentId !== undefined ? content : undefined
      if (inline !== undefined) transfer.push(inline)
      return {
        filename: a.filename,
        mimeType: a.mimeType,
        disposition: a.disposition,
        related: a.related === true,
        contentId: a.contentId,
        size: content.byteLength,
        // Always application/octet-stream, whatever the sender declared (message-view.ts says why).
        blob: new Blob([content], { type: "application/octet-stream" }),
        content: inline
      }
    })
    const body: Body = { text: email.text, html: email.html, attachments, raw }
    post({ id, kind: "body", body }, transfer)
  } catch (error) {
    post({ id, kind: "error", message: error instanceof Error ? error.message : String(error) })
  }
}
