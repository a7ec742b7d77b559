// A big multipart message for the web demo's big-message test and bench: a short text part
// and one base64 attachment of random bytes, CRLF line ends, 76-character base64 lines (no
// line starts with ".", so the bytes on the wire are the message's own).
import { randomBytes } from "node:crypto"

export interface BigMime {
  readonly message: Buffer
  readonly attachment: Buffer
  readonly subject: string
  readonly filename: string
  /** A sentence of the text part. */
  readonly text: string
}

/** A message of about `attachmentBytes` × 4/3 octets. */
export function bigMimeMessage(attachmentBytes: number, subject = "Big message with an attachment"): BigMime {
  const attachment = randomBytes(attachmentBytes)
  const filename = "big-attachment.bin"
  const text = "The attachment below is random bytes, base64-encoded."
  const b64 = attachment.toString("base64")
  const lines: Array<string> = []
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76))
  const head = [
    "From: Bench <bench@example.test>",
    "To: demo@example.test",
    `Subject: ${subject}`,
    "Date: Mon, 01 Jan 2024 16:00:00 +0000",
    "Message-ID: <big-message@example.test>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="big-boundary"',
    "",
    "--big-boundary",
    "Content-Type: text/plain; charset=utf-8",
    "",
    text,
    "",
    "--big-boundary",
    `Content-Type: application/octet-stream; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    "Content-Transfer-Encoding: base64",
    "",
    ""
  ].join("\r\n")
  const message = Buffer.concat([
    Buffer.from(head),
    Buffer.from(lines.join("\r\n")),
    Buffer.from("\r\n--big-boundary--\r\n")
  ])
  return { message, attachment, subject, filename, text }
}
