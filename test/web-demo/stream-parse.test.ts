// The MIME Worker's parse (web-demo/src/mime/stream-parse.ts) feeds postal-mime line by line
// from a Blob read in small pieces: for any read size it must give what PostalMime.parse
// gives the same bytes whole — line ends split between reads, lines longer than a read, no
// final newline, LF-only mail, and every transfer encoding (base64 decodes through its own
// ASCII decoder, quoted-printable and 8bit keep or copy lines). Pure code, so it runs in Node.
import PostalMime, { type Email } from "postal-mime"
import { describe, expect, it } from "vitest"
import { parseBlob } from "../../web-demo/src/mime/stream-parse.ts"
import { bigMimeMessage } from "../support/big-mime.ts"

const crlf = (lines: Array<string>) => lines.join("\r\n")

const multipart = crlf([
  "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.test>",
  "To: a@example.test, b@example.test",
  "Subject: =?utf-8?b?w5xiZXIgZGllIEJyw7xja2U=?=",
  "Date: Tue, 02 Jan 2024 10:00:00 +0000",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="outer"',
  "",
  "--outer",
  'Content-Type: multipart/alternative; boundary="inner"',
  "",
  "--inner",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: quoted-printable",
  "",
  "Gr=C3=BC=C3=9Fe, a soft=",
  " break and a long line " + "x".repeat(300),
  "--inner",
  "Content-Type: text/html; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  "",
  '<p>Grüße <img src="cid:pic@x"></p>',
  "--inner--",
  "--outer",
  'Content-Type: application/octet-stream; name="padded.bin"',
  "Content-Transfer-Encoding: base64",
  "",
  // Padding inside the part (a mailer that pads every line) and a stray non-ASCII byte.
  "AQID",
  "BA==",
  "BQY=é",
  "--outer",
  'Content-Type: text/plain; name="raw.txt"',
  "Content-Disposition: attachment",
  "",
  "kept as it is\r\r",
  "  second line ",
  "--outer",
  "Content-Type: message/rfc822",
  "",
  "Subject: inner message",
  "",
  "inner body",
  "--outer--",
  ""
])

const messages: Record<string, Uint8Array<ArrayBuffer>> = {
  "multipart, CRLF": new TextEncoder().encode(multipart),
  "multipart, LF only": new TextEncoder().encode(multipart.replaceAll("\r\n", "\n")),
  "no final newline": new TextEncoder().encode("Subject: short\r\n\r\nno newline at the end"),
  "headers only": new TextEncoder().encode("Subject: only\r\n"),
  empty: new Uint8Array(0),
  "one big base64 attachment": new Uint8Array(bigMimeMessage(50_000).message)
}

/**
 * An Email with its attachments' content as arrays of bytes, so toEqual compares the
 * contents: parseBlob gives a base64 attachment as a Blob, PostalMime.parse as an ArrayBuffer.
 */
const comparable = async (email: Email) => ({
  ...email,
  attachments: await Promise.all(
    email.attachments.map(async (a) => {
      const content = a.content as ArrayBuffer | string | Blob
      return {
        ...a,
        content:
          typeof content === "string"
            ? content
            : [...new Uint8Array(content instanceof Blob ? await content.arrayBuffer() : content)]
      }
    })
  )
})

describe("parseBlob", () => {
  for (const [name, bytes] of Object.entries(messages))
    it(`gives what PostalMime.parse gives: ${name}`, async () => {
      const whole = await comparable(await PostalMime.parse(bytes.slice()))
      for (const readSize of [1, 2, 3, 7, 64, 1000, 256 * 1024])
        expect(await comparable(await parseBlob(new Blob([bytes]), readSize)), `read size ${readSize}`).toEqual(whole)
    })
})
