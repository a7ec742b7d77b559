/**
 * The physical limit: a raw socket that logs in with USER/PASS, sends RETR, and counts
 * bytes until the last five received are CRLF "." CRLF — no parsing, no unstuffing, no
 * copying, nothing written anywhere. Prints the byte count after the RETR status line.
 *
 * With a bridge URL, the same through a WebSocket relay (pop3-bridge's URL, the target in
 * its query): the opening handshake written and checked by hand (RFC 6455 section 4: the
 * 101 and its Sec-WebSocket-Accept), each command sent as one masked binary frame, and
 * frames read by hand — only their headers are looked at; a payload is counted where it
 * lies, never copied. What a client with no library at all pays for the relay hop: the
 * floor under table 4's ratio.
 *
 *   POP3_PASSWORD=… node bench/runners/raw-retr.ts HOST PORT USER MSG [BRIDGE_URL]
 */
import { connect } from "node:net"
import { createHash, randomBytes } from "node:crypto"

const [host = "127.0.0.1", port = "110", user = "", msg = "1", bridge] = process.argv.slice(2)
const password = process.env["POP3_PASSWORD"] ?? ""

const TERMINATOR = Buffer.from("\r\n.\r\n")
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

const target = bridge === undefined ? undefined : new URL(bridge)
if (target !== undefined) {
  target.searchParams.set("host", host)
  target.searchParams.set("port", port)
  target.searchParams.set("tls", "none")
}
const socket =
  target === undefined
    ? connect({ host, port: Number(port), noDelay: true })
    : connect({ host: target.hostname, port: Number(target.port), noDelay: true })

// A client's frame: FIN + binary (or close), masked (RFC 6455 section 5.3); commands are short.
const frame = (opcode: number, text: string): Buffer => {
  const payload = Buffer.from(text, "latin1")
  if (payload.length > 125) fail("command too long for a one-byte frame length")
  const mask = randomBytes(4)
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, payload])
}
const send = (text: string): void => {
  socket.write(target === undefined ? text : frame(0x2, text))
}

const onStatus = (line: string): void => {
  if (!line.startsWith("+OK")) fail(`server said ${JSON.stringify(line)}`)
  lines++
  if (lines === 1) send(`USER ${user}\r\n`)
  else if (lines === 2) send(`PASS ${password}\r\n`)
  else if (lines === 3) send(`RETR ${msg}\r\n`)
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
    if (target === undefined) socket.end("QUIT\r\n")
    else socket.end(Buffer.concat([frame(0x2, "QUIT\r\n"), frame(0x8, "")]))
    process.stdout.write(`${bodyBytes}\n`)
  }
}

// What the mail server sent, in order (straight from the socket, or the frames' payloads).
const onPop = (chunk: Buffer): void => {
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
}

if (target === undefined) socket.on("data", onPop)
else {
  const key = randomBytes(16).toString("base64")
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64")
  socket.once("connect", () =>
    socket.write(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        "Sec-WebSocket-Protocol: binary\r\n\r\n"
    )
  )
  let response: Buffer | undefined = Buffer.alloc(0)
  // A frame header split across reads waits here (at most 14 bytes); payloads never do.
  let header = Buffer.alloc(0)
  let payloadLeft = 0
  let opcode = 0
  socket.on("data", (data: Buffer) => {
    if (response !== undefined) {
      response = Buffer.concat([response, data])
      const end = response.indexOf("\r\n\r\n")
      if (end < 0) return response.length > 8192 ? fail("no end to the handshake's response") : undefined
      const head = response.toString("latin1", 0, end)
      if (!/^HTTP\/1\.1 101 /.test(head)) fail(`bridge answered ${JSON.stringify(head.split("\r\n")[0])}`)
      const accepted = head
        .split("\r\n")
        .some((line) => /^sec-websocket-accept:/i.test(line) && line.slice(line.indexOf(":") + 1).trim() === accept)
      if (!accepted) fail("wrong Sec-WebSocket-Accept")
      data = response.subarray(end + 4)
      response = undefined
    }
    let at = 0
    while (at < data.length) {
      if (payloadLeft > 0) {
        const n = Math.min(payloadLeft, data.length - at)
        if (opcode === 0x2 || opcode === 0x0) onPop(data.subarray(at, at + n))
        payloadLeft -= n
        at += n
        continue
      }
      const bytes =
        header.length === 0 ? data.subarray(at, at + 14) : Buffer.concat([header, data.subarray(at, at + 14)])
      const need = bytes.length < 2 ? 2 : (bytes[1]! & 0x7f) === 126 ? 4 : (bytes[1]! & 0x7f) === 127 ? 10 : 2
      if (bytes.length < need) {
        header = Buffer.from(bytes)
        at = data.length
        continue
      }
      if ((bytes[1]! & 0x80) !== 0) fail("the bridge masked a frame")
      const length =
        need === 2 ? bytes[1]! & 0x7f : need === 4 ? bytes.readUInt16BE(2) : Number(bytes.readBigUInt64BE(2))
      opcode = bytes[0]! & 0x0f
      if (opcode === 0x8 && !done) fail("the bridge closed the WebSocket")
      at += need - header.length
      header = Buffer.alloc(0)
      payloadLeft = length
    }
  })
}
socket.on("error", (error) => fail(error.message))
socket.on("close", () => {
  if (!done) fail("connection closed before the terminator")
})
