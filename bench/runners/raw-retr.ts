/**
 * The physical limit: a raw socket that logs in with USER/PASS, sends RETR, and counts
 * bytes until the last five received are CRLF "." CRLF — no parsing, no unstuffing, no
 * copying, nothing written anywhere. Prints the byte count after the RETR status line.
 *
 *   POP3_PASSWORD=… node bench/runners/raw-retr.ts HOST PORT USER MSG
 */
import { connect } from "node:net"

const [host = "127.0.0.1", port = "110", user = "", msg = "1"] = process.argv.slice(2)
const password = process.env["POP3_PASSWORD"] ?? ""

const TERMINATOR = Buffer.from("\r\n.\r\n")
const socket = connect({ host, port: Number(port), noDelay: true })
// Greeting, USER, PASS, RETR: four status lines, then the body.
let lines = 0
let statusText = ""
let bodyBytes = 0
const tail = Buffer.alloc(5)
let tailLength = 0
let done = false

const fail = (why: string): never => {
  process.stderr.write(`raw-retr: ${why}\n`)
  process.exit(1)
}

const onStatus = (line: string): void => {
  if (!line.startsWith("+OK")) fail(`server said ${JSON.stringify(line)}`)
  lines++
  if (lines === 1) socket.write(`USER ${user}\r\n`)
  else if (lines === 2) socket.write(`PASS ${password}\r\n`)
  else if (lines === 3) socket.write(`RETR ${msg}\r\n`)
}

const onBody = (chunk: Buffer): void => {
  bodyBytes += chunk.length
  // Keep the last five bytes seen, across chunk boundaries.
  if (chunk.length >= 5) {
    chunk.copy(tail, 0, chunk.length - 5)
    tailLength = 5
  } else {
    const keep = Math.min(tailLength, 5 - chunk.length)
    tail.copy(tail, 0, tailLength - keep, tailLength)
    chunk.copy(tail, keep)
    tailLength = keep + chunk.length
  }
  if (tailLength === 5 && tail.equals(TERMINATOR)) {
    done = true
    socket.end("QUIT\r\n")
    process.stdout.write(`${bodyBytes}\n`)
  }
}

socket.on("data", (chunk: Buffer) => {
  if (done) return
  while (lines < 4) {
    const lf = chunk.indexOf(10)
    if (lf < 0) {
      statusText += chunk.toString("latin1")
      return
    }
    onStatus((statusText + chunk.toString("latin1", 0, lf)).trimEnd())
    statusText = ""
    chunk = chunk.subarray(lf + 1)
  }
  // The status line of RETR may end a chunk: an empty remainder is no body yet.
  if (chunk.length > 0) onBody(chunk)
})
socket.on("error", (error) => fail(error.message))
socket.on("close", () => {
  if (!done) fail("connection closed before the terminator")
})
