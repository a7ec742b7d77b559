// What the page and the MIME Worker (mime-worker.ts) say to each other. The page hands over a
// message's bytes by transferring their ArrayBuffer (no copy, and the page's heap lets go
// of them); the Worker answers twice: the header fields as soon as the header block is
// parsed, then the body. Attachments and the raw source come back as Blobs — handles to
// bytes the browser keeps outside the JavaScript heap — never as strings.
import type { Address, AttachmentDisposition } from "postal-mime"

/** Parse the first `length` bytes of `buffer` (transferred) as message `id`. */
export interface ParseRequest {
  readonly id: number
  readonly buffer: ArrayBuffer
  readonly length: number
}

/** The header fields the message view shows first. */
export interface Head {
  readonly subject: string | undefined
  readonly from: Address | undefined
  readonly to: ReadonlyArray<Address> | undefined
  readonly cc: ReadonlyArray<Address> | undefined
  readonly date: string | undefined
}

/** One attachment: its bytes as a Blob of type application/octet-stream (see message-view.ts). */
export interface Part {
  readonly filename: string | null
  readonly mimeType: string
  readonly disposition: AttachmentDisposition | null
  readonly related: boolean
  readonly contentId: string | undefined
  readonly size: number
  readonly blob: Blob
  /** The bytes, only for a part with a Content-ID: the HTML frame inlines it as a data: URL. */
  readonly content: ArrayBuffer | undefined
}

export interface Body {
  readonly text: string | undefined
  readonly html: string | undefined
  readonly attachments: ReadonlyArray<Part>
  /** The whole message as RETR returned it. */
  readonly raw: Blob
}

export type FromWorker =
  | { readonly id: number; readonly kind: "head"; readonly head: Head }
  | { readonly id: number; readonly kind: "body"; readonly body: Body }
  | { readonly id: number; readonly kind: "error"; readonly message: string }
