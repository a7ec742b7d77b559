// The demo's sample mailbox (user "demo", password "demo"): a dozen realistic messages that
// exercise what a POP3 client and a mail viewer meet in practice — MIME structures, RFC 2047
// headers in several charsets, a thread, dot-stuffing and a large message with a 100 KB line.
//
// Deterministic: no randomness, and dates are fixed offsets from the start of the current
// UTC day (or of `now` when given), so the content — and the UIDs derived from it — only
// change once a day, while the dates always look recent. Portable: no Node APIs.

import type { MailStore } from "./store.ts"
import { makeMailStore } from "./store.ts"

export const DEMO_USER = "demo"
export const DEMO_PASSWORD = "demo"

const DAY = 24 * 60 * 60 * 1000
const HOUR = 60 * 60 * 1000
const MINUTE = 60 * 1000
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** RFC 5322 date-time of an instant as seen in a zone `offsetMinutes` east of UTC. */
function rfc5322Date(instant: number, offsetMinutes: number): string {
  const d = new Date(instant + offsetMinutes * MINUTE)
  const sign = offsetMinutes < 0 ? "-" : "+"
  const abs = Math.abs(offsetMinutes)
  return (
    `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  )
}

// ── Encodings (small, local: the sample must not depend on the code it helps to test) ──

type Charset = "UTF-8" | "ISO-8859-1" | "windows-1252"

/** windows-1252's 0x80–0x9F block, for the characters used below. */
const CP1252: Readonly<Record<string, number>> = {
  "€": 0x80,
  "‚": 0x82,
  "„": 0x84,
  "…": 0x85,
  "‘": 0x91,
  "’": 0x92,
  "“": 0x93,
  "”": 0x94,
  "–": 0x96,
  "—": 0x97,
  "™": 0x99
}

function encodeText(text: string, charset: Charset): Uint8Array {
  if (charset === "UTF-8") return new TextEncoder().encode(text)
  const out: number[] = []
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0x3f
    const mapped = charset === "windows-1252" ? CP1252[ch] : undefined
    if (mapped !== undefined) out.push(mapped)
    else if (code < 0x100 && !(charset === "windows-1252" && code >= 0x80 && code < 0xa0)) out.push(code)
    else throw new Error(`sample mailbox: ${JSON.stringify(ch)} is not in ${charset}`)
  }
  return Uint8Array.from(out)
}

const hex = (b: number): string => `=${b.toString(16).toUpperCase().padStart(2, "0")}`

function base64(bytes: Uint8Array): string {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

/** Base64 body in 76-character lines (RFC 2045 §6.8). */
function base64Body(bytes: Uint8Array): string {
  return base64(bytes).replace(/.{1,76}/g, "$&\n")
}

/** Quoted-printable body (RFC 2045 §6.7); the lines used here are short, so no soft breaks. */
function quotedPrintable(text: string, charset: Charset): string {
  return text
    .split("\n")
    .map((line) => {
      let out = ""
      for (const b of encodeText(line, charset)) out += b === 0x3d || b > 0x7e ? hex(b) : String.fromCharCode(b)
      return out.replace(/ $/, "=20")
    })
    .join("\n")
}

/** RFC 2047 encoded-words, split so each stays within 75 characters, folded onto new lines. */
function encodedWords(text: string, charset: Charset, encoding: "B" | "Q"): string {
  const words: string[] = []
  let chars: string[] = []
  const budget = 75 - `=?${charset}?${encoding}??=`.length
  const encode = (part: string): string => {
    const bytes = encodeText(part, charset)
    if (encoding === "B") return base64(bytes)
    let out = ""
    for (const b of bytes) {
      const c = String.fromCharCode(b)
      out += b === 0x20 ? "_" : /[A-Za-z0-9!*+\-/]/.test(c) ? c : hex(b)
    }
    return out
  }
  for (const ch of text) {
    if (chars.length > 0 && encode([...chars, ch].join("")).length > budget) {
      words.push(`=?${charset}?${encoding}?${encode(chars.join(""))}?=`)
      chars = []
    }
    chars.push(ch)
  }
  if (chars.length > 0) words.push(`=?${charset}?${encoding}?${encode(chars.join(""))}?=`)
  return words.join("\n ")
}

// ── Fixed payloads ──────────────────────────────────────────────────────────────────

/** A 16×16 PNG (a blue disc), the inline image of the newsletter. */
const LOGO_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAOklEQVR42mP4TyJgQONr52xAQ/g0YKrG1MNAUDWaHgZiVCPrYSBSNVzPiNVAcrCSE3HkJA1yEh8xAACTavIosEeL4QAAAABJRU5ErkJggg=="

/** A one-page PDF, built with a correct cross-reference table so viewers open it. */
function tinyPdf(title: string): Uint8Array {
  const content = `BT /F1 24 Tf 72 760 Td (${title}) Tj 0 -36 Td /F1 12 Tf (Served by the POP3 dev server.) Tj ET`
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
  ]
  let pdf = "%PDF-1.4\n"
  const offsets: number[] = []
  objects.forEach((body, i) => {
    offsets.push(pdf.length)
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = pdf.length
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const o of offsets) pdf += `${pad(o, 10)} 00000 n \n`
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return new TextEncoder().encode(pdf)
}

// ISO-2022-JP (RFC 1468) has no encoder on the web platform, so these are precomputed.
/** "会議の議事録（第3回）" */
const JP_SUBJECT_B64 = "GyRCMnE1RCRONUQ7dk8/IUpCaBsoQjMbJEIycyFLGyhC"
/** "山田 太郎" */
const JP_NAME_B64 = "GyRCOzNFRBsoQiAbJEJCQE86GyhC"
/**
 * 田中さん / お疲れさまです。山田です。/ 第3回の会議の議事録を送ります。/
 * ・POP3クライアントの設計レビュー / ・次回は来週の水曜日です。/ よろしくお願いします。
 */
const JP_BODY =
  "\x1b$BEDCf$5$s\x1b(B\n\n\x1b$B$*Hh$l$5$^$G$9!#;3ED$G$9!#\x1b(B\n\x1b$BBh\x1b(B3\x1b$B2s$N2q5D$N5D;vO?$rAw$j$^$9!#\x1b(B\n\n" +
  '\x1b$B!&\x1b(BPOP3\x1b$B%/%i%$%"%s%H$N@_7W%l%S%e!<\x1b(B\n\x1b$B!&<!2s$OMh=5$N?eMKF|$G$9!#\x1b(B\n\n\x1b$B$h$m$7$/$*4j$$$7$^$9!#\x1b(B\n'

// ── The messages ────────────────────────────────────────────────────────────────────

const TO = "Demo User <demo@example.com>"
const ALICE = "Alice Example <alice@example.org>"
const BOB = "Bob Builder <bob@example.net>"
const CAROL = "Carol Jones <carol@example.org>"

interface Header {
  readonly from: string
  readonly subject: string
  readonly date: string
  readonly id: string
  readonly extra?: ReadonlyArray<string>
}

function headers(h: Header): string {
  return [
    `From: ${h.from}`,
    `To: ${TO}`,
    `Subject: ${h.subject}`,
    `Date: ${h.date}`,
    `Message-ID: <${h.id}>`,
    "MIME-Version: 1.0",
    ...(h.extra ?? [])
  ].join("\n")
}

function serverLog(start: number, octets: number): Uint8Array {
  const lines: string[] = []
  let size = 0
  for (let i = 0; size < octets; i++) {
    const at = new Date(start + i * 7_000).toISOString().replace(/\.\d+Z$/, "Z")
    const line = `${at} pop3d[4242]: conn=${1000 + i} user=demo cmd=${["STAT", "UIDL", "RETR", "DELE", "QUIT"][i % 5]} msg=${(i % 14) + 1} octets=${(i * 7919) % 65536} rtt_ms=${(i * 37) % 600} ok\n`
    lines.push(line)
    size += line.length
  }
  return new TextEncoder().encode(lines.join(""))
}

/** One line of about 100 KB of minified HTML, as real newsletters and reports send. */
function wideHtml(rows: number): string {
  let html = "<!doctype html><html><body><table>"
  for (let i = 1; i <= rows; i++)
    html += `<tr><td>${i}</td><td>session ${i}</td><td>${(i * 7919) % 65536} octets</td></tr>`
  return `${html}</table></body></html>`
}

/** The sample messages, oldest first, dated relative to the start of `now`'s UTC day. */
export function sampleMessages(now: Date = new Date()): string[] {
  const today = Math.floor(now.getTime() / DAY) * DAY
  const at = (daysAgo: number, hour: number, minute: number, offsetMinutes = 0): string =>
    rfc5322Date(today - daysAgo * DAY + hour * HOUR + minute * MINUTE - offsetMinutes * MINUTE, offsetMinutes)

  const kickoff = "kickoff.1@alice.example.org"
  const reply1 = "reply.2@bob.example.net"
  const reply2 = "reply.3@carol.example.org"
  const reply3 = "reply.4@alice.example.org"

  const messages: string[] = []

  // 1. Plain text, the welcome note.
  messages.push(`${headers({ from: "POP3 Dev Server <postmaster@example.com>", subject: "Welcome to the POP3 dev server", date: at(27, 8, 0), id: "welcome@pop3-dev-server.example.com", extra: ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"] })}

Hello!

This mailbox is served by the project's development POP3 server. It holds a
dozen sample messages that show what a client meets in practice:

  - plain text, HTML with inline and remote images, attachments
  - headers encoded in UTF-8, ISO-8859-1, ISO-2022-JP and windows-1252
  - a thread linked by In-Reply-To and References
  - lines starting with "." (dot-stuffing on the wire)
  - a large message with a 100 KB line

Log in as demo / demo. Deleting is safe: the sample mailbox is rebuilt when
the server restarts.

-- 
The POP3 dev server
`)

  // 2. A thread, first message.
  messages.push(`${headers({ from: ALICE, subject: "Project kickoff: POP3 client", date: at(21, 9, 12, 60), id: kickoff, extra: ["Content-Type: text/plain; charset=utf-8; format=flowed", "Content-Transfer-Encoding: 8bit"] })}

Hi all,

let's kick off the POP3 client project. Proposal for the first milestone:

1. sans-I/O protocol engine with a streaming decoder
2. Node TCP/TLS transport
3. a dev server to test against

Thursday 10:00 for a call?

Alice
`)

  // 3. Reply.
  messages.push(`${headers({ from: BOB, subject: "Re: Project kickoff: POP3 client", date: at(21, 11, 40, -480), id: reply1, extra: [`In-Reply-To: <${kickoff}>`, `References: <${kickoff}>`, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"] })}

Thursday works. I'd add pipelining to milestone 1 — latency dominates
everything else on a slow link.

Bob

On ${at(21, 9, 12, 60)}, Alice Example wrote:
> let's kick off the POP3 client project. Proposal for the first milestone:
>
> 1. sans-I/O protocol engine with a streaming decoder
> 2. Node TCP/TLS transport
> 3. a dev server to test against
`)

  // 4. HTML newsletter: multipart/alternative with a multipart/related HTML part holding an
  // inline image (cid:) and a remote image the viewer must block.
  messages.push(`${headers({ from: "Mail Weekly <news@example.com>", subject: "Mail Weekly #42: the state of POP3", date: at(19, 6, 30), id: "issue-42@news.example.com", extra: ["List-Unsubscribe: <https://news.example.com/unsubscribe?u=demo>", 'Content-Type: multipart/alternative; boundary="alt-42"'] })}

This is a multi-part message in MIME format.

--alt-42
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

MAIL WEEKLY #42

POP3 is 30 years old and still everywhere. This week: pipelining, STLS and
why your client should strip every leading dot.

Read online: https://news.example.com/42

--alt-42
Content-Type: multipart/related; boundary="rel-42"; type="text/html"

--rel-42
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<!doctype html>
<html>
<body style="font-family: sans-serif">
<p><img src="cid:logo@news.example.com" alt="Mail Weekly logo" width="16" height="16"> <b>Mail Weekly #42</b></p>
<h1>The state of POP3</h1>
<p>POP3 is 30 years old and still everywhere. This week: pipelining, STLS and
why your client should strip <em>every</em> leading dot.</p>
<p><img src="https://images.example.com/banner-42.png" alt="Remote banner (should be blocked)" width="600" height="120"></p>
<p><a href="https://news.example.com/42">Read online</a></p>
</body>
</html>

--rel-42
Content-Type: image/png; name="logo.png"
Content-Transfer-Encoding: base64
Content-ID: <logo@news.example.com>
Content-Disposition: inline; filename="logo.png"

${LOGO_PNG}

--rel-42--

--alt-42--
`)

  // 5. Thread, second reply.
  messages.push(`${headers({ from: CAROL, subject: "Re: Project kickoff: POP3 client", date: at(18, 14, 5, 60), id: reply2, extra: [`In-Reply-To: <${reply1}>`, `References: <${kickoff}> <${reply1}>`, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"] })}

+1 to pipelining. I'll take the dev server: scriptable misbehaviours, so the
client's tests can make it fail on purpose.

Carol

> Thursday works. I'd add pipelining to milestone 1.
`)

  // 6. Attachments: a text file and a PDF, base64.
  const notes = "Quarterly notes\n===============\n\n- 99.98% uptime\n- 12,403 sessions per day\n- median RETR: 31 ms\n"
  messages.push(`${headers({ from: ALICE, subject: "Quarterly report (PDF + notes)", date: at(14, 16, 45, 60), id: "report.q4@alice.example.org", extra: ['Content-Type: multipart/mixed; boundary="mix-q4"'] })}

--mix-q4
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Hi,

the quarterly report is attached, with my notes as a text file.

Alice

--mix-q4
Content-Type: application/pdf; name="report.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="report.pdf"

${base64Body(tinyPdf("Quarterly report"))}
--mix-q4
Content-Type: text/plain; charset=utf-8; name="notes.txt"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="notes.txt"

${base64Body(new TextEncoder().encode(notes))}
--mix-q4--
`)

  // 7. RFC 2047 in UTF-8: B-encoded subject, Q-encoded display name, 8-bit UTF-8 body.
  messages.push(`${headers({ from: `${encodedWords("Jürgen Müller", "UTF-8", "Q")} <juergen@example.net>`, subject: encodedWords("Grüße aus Köln 🌷 – Fotos vom Wochenende", "UTF-8", "B"), date: at(12, 19, 20, 60), id: "koeln.7@example.net", extra: ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"] })}

Hallo!

Schöne Grüße aus Köln. Die Fotos vom Wochenende schicke ich später – der
Dom war beeindruckend, das Kölsch auch. 🍺

Bis bald,
Jürgen
`)

  // 8. Thread, third reply.
  messages.push(`${headers({ from: ALICE, subject: "Re: Project kickoff: POP3 client", date: at(10, 8, 55, 60), id: reply3, extra: [`In-Reply-To: <${reply2}>`, `References: <${kickoff}> <${reply1}> <${reply2}>`, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"] })}

Great, thanks Carol. Milestone 1 then: engine + pipelining + dev server.

> I'll take the dev server: scriptable misbehaviours, so the
> client's tests can make it fail on purpose.
`)

  // 9. ISO-8859-1: Q-encoded subject, quoted-printable Latin-1 body.
  messages.push(`${headers({ from: `${encodedWords("Amélie Dubois", "ISO-8859-1", "Q")} <amelie@example.org>`, subject: encodedWords("Café crème à Paris", "ISO-8859-1", "Q"), date: at(8, 7, 10, 60), id: "cafe.9@example.org", extra: ["Content-Type: text/plain; charset=ISO-8859-1", "Content-Transfer-Encoding: quoted-printable"] })}

${quotedPrintable("Bonjour,\n\nle café crème est prêt à la brasserie près de la gare.\nOn se voit là-bas à 9 h ? Ça me ferait très plaisir.\n\nÀ bientôt,\nAmélie\n", "ISO-8859-1")}`)

  // 10. ISO-2022-JP: B-encoded subject and name, 7-bit JIS body.
  messages.push(`${headers({ from: `=?ISO-2022-JP?B?${JP_NAME_B64}?= <yamada@example.jp>`, subject: `=?ISO-2022-JP?B?${JP_SUBJECT_B64}?=`, date: at(6, 13, 0, 540), id: "gijiroku.10@example.jp", extra: ["Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit"] })}

${JP_BODY}`)

  // 11. windows-1252: curly quotes, euro sign and dashes in 0x80–0x9F.
  messages.push(`${headers({ from: `${encodedWords("Sam O’Neill", "windows-1252", "Q")} <sam@example.com>`, subject: encodedWords("“Special offer” – 20 € off … today only", "windows-1252", "Q"), date: at(4, 17, 30, -300), id: "offer.11@example.com", extra: ["Content-Type: text/plain; charset=windows-1252", "Content-Transfer-Encoding: quoted-printable"] })}

${quotedPrintable("Hi,\n\nit’s our “special offer” – 20 € off every plan… today only.\nThe Demo™ team — thanks for reading!\n", "windows-1252")}`)

  // 12. Dot-stuffing: body lines starting with "." go out as ".." on the wire; a lone "."
  // would end the message early on a server that does not stuff.
  messages.push(`${headers({ from: BOB, subject: "Lines that start with a dot", date: at(3, 10, 15, -480), id: "dots.12@bob.example.net", extra: ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"] })}

The next lines start with dots. On the wire each gets one more dot, and the
client must strip exactly one from every line that starts with a dot:

.
..
...
.hidden
..double
. a dot and a space
.. two dots and a space

A line with a dot . in the middle is left alone, and so is this last one.
.
The line above is a single dot; if you can read this, the message did not end there.
`)

  // 13. Thread, last reply.
  messages.push(`${headers({ from: BOB, subject: "Re: Project kickoff: POP3 client", date: at(2, 15, 25, -480), id: "reply.5@bob.example.net", extra: [`In-Reply-To: <${reply3}>`, `References: <${kickoff}> <${reply1}> <${reply2}> <${reply3}>`, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"] })}

Milestone 1 is done: the client talks to the dev server, pipelining and all.

Bob
`)

  // 14. Large (~300 KB): a 100 KB single-line HTML part and a base64 log attachment.
  const logStart = today - DAY + 2 * HOUR
  messages.push(`${headers({ from: "Monitoring <monitor@example.com>", subject: "Server logs and session table (large message)", date: at(1, 3, 0), id: "logs.14@monitor.example.com", extra: ['Content-Type: multipart/mixed; boundary="mix-logs"'] })}

--mix-logs
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Yesterday's POP3 server log is attached; the session table follows as HTML
(one very long line, as some generators write it).

--mix-logs
Content-Type: text/html; charset=us-ascii
Content-Transfer-Encoding: 8bit

${wideHtml(1600)}

--mix-logs
Content-Type: text/plain; charset=us-ascii; name="pop3d.log"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="pop3d.log"

${base64Body(serverLog(logStart, 145_000))}
--mix-logs--
`)

  return messages
}

/** The seed for makeMailStore: the demo user and its messages. */
export function sampleMailbox(now?: Date): Record<string, { password: string; messages: string[] }> {
  return { [DEMO_USER]: { password: DEMO_PASSWORD, messages: sampleMessages(now) } }
}

/** A store holding only the sample mailbox. */
export function makeSampleStore(now?: Date): MailStore {
  return makeMailStore(sampleMailbox(now))
}
