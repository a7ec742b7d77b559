/**
 * node-pop3 0.11 fetching a whole mailbox into a Maildir: UIDL, then RETR each message
 * (serially: node-pop3 has no pipelining), each written like pop3 fetch writes it.
 *
 * node-pop3 has no STLS (only plain TCP or implicit TLS), so this uses implicit TLS.
 * Its RETR returns a string decoded as UTF-8 (fine for these ASCII messages) with CRLF
 * line ends, dot-stuffing not undone and the last line's CRLF dropped together with the
 * terminator; we turn CRLF into LF like the others and store the rest as it comes.
 *
 *   POP3_PASSWORD=… node bench/runners/node-pop3-fetch.ts HOST TLS_PORT USER CA_FILE MAILDIR
 */
import { readFileSync } from "node:fs"
import Pop3Command from "node-pop3"
import { simpleMaildir } from "./maildir-writer.ts"

const [host = "127.0.0.1", port = "995", user = "", caFile = "", maildir = ""] = process.argv.slice(2)

const pop3 = new Pop3Command({
  host,
  port: Number(port),
  tls: true,
  user,
  password: process.env["POP3_PASSWORD"] ?? "",
  servername: "localhost",
  tlsOptions: { ca: readFileSync(caFile, "utf8") }
})
const box = simpleMaildir(maildir)
const list = (await pop3.UIDL()) as Array<Array<string>>
const encoder = new TextEncoder()
for (const [msg] of list) {
  if (msg === undefined) continue
  const text = await pop3.RETR(Number(msg))
  await box.deliver(encoder.encode(text.replace(/\r\n/g, "\n")))
}
await box.syncNew()
await pop3.QUIT()
