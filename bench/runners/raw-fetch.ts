/**
 * The floor for a fetch in Node: the least a Node program does per message to fetch a
 * mailbox into a Maildir the way `pop3 fetch` and mpop do — STLS (the CA checked), AUTH
 * PLAIN, UIDL and LIST, RETR pipelined (the same window as pop3's), the terminator found,
 * dot-unstuffing and CRLF → LF, a SHA-256 key per UID in the file name, and per message the
 * same five synchronous calls as `pop3 fetch` (open in tmp/, write, fsync, close, rename
 * into new/); the UIDs written to a state file and new/ fsynced at the end. No library, no
 * error recovery, no trace, no streaming of large messages: what is left is the platform's
 * cost (TLS, sockets, node:fs, V8), against which the library's own per-message cost shows
 * in bench 9.
 *
 *   POP3_PASSWORD=… node bench/runners/raw-fetch.ts HOST PORT CA_FILE USER MAILDIR STATE WINDOW REFILL
 *
 * WINDOW and REFILL are pop3's (PIPELINE_WINDOW, PIPELINE_REFILL), passed in so that this
 * script loads nothing of the library.
 */
import { hash } from "node:crypto"
import {
  closeSync,
  constants,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync
} from "node:fs"
import { connect as connectTcp, type Socket } from "node:net"
import { connect as connectTls } from "node:tls"

const [
  host = "localhost",
  port = "110",
  caFile = "",
  user = "",
  maildir = "",
  statePath = "",
  window = "300",
  refillEvery = "20"
] = process.argv.slice(2)
const WINDOW = Number(window)
const REFILL = Number(refillEvery)
const password = process.env["POP3_PASSWORD"] ?? ""

const fail = (why: string): never => {
  process.stderr.write(`raw-fetch: ${why}\n`)
  process.exit(1)
}

for (const sub of ["tmp", "new", "cur"]) mkdirSync(`${maildir}/${sub}`, { recursive: true })

// What has arrived and not been taken, and who waits for the next line or the next body.
let pending: Buffer = Buffer.alloc(0)
type Waiter =
  | { readonly kind: "line"; readonly take: (line: string) => void }
  | { readonly kind: "body"; readonly take: (body: Buffer) => void }
const waiters: Array<Waiter> = []
const TERMINATOR = Buffer.from("\r\n.\r\n")

const pump = (): void => {
  while (waiters.length > 0) {
    const waiter = waiters[0]!
    if (waiter.kind === "line") {
      const end = pending.indexOf("\r\n")
      if (end < 0) return
      waiters.shift()
      const line = pending.toString("latin1", 0, end)
      pending = pending.subarray(end + 2)
      waiter.take(line)
      continue
    }
    // A body after its status line: empty when it starts with the terminator's "." CRLF.
    if (pending.length >= 3 && pending[0] === 0x2e && pending[1] === 0x0d && pending[2] === 0x0a) {
      waiters.shift()
      pending = pending.subarray(3)
      waiter.take(Buffer.alloc(0))
      continue
    }
    const end = pending.indexOf(TERMINATOR)
    if (end < 0) return
    waiters.shift()
    const body = pending.subarray(0, end + 2)
    pending = pending.subarray(end + 5)
    waiter.take(body)
  }
}
const onData = (chunk: Buffer): void => {
  pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
  pump()
}
const line = (): Promise<string> =>
  new Promise((take) => {
    waiters.push({ kind: "line", take })
    pump()
  })
const body = (): Promise<Buffer> =>
  new Promise((take) => {
    waiters.push({ kind: "body", take })
    pump()
  })
const ok = async (): Promise<string> => {
  const status = await line()
  return status.startsWith("+OK") ? status : fail(`server said ${JSON.stringify(status)}`)
}

let socket: Socket = connectTcp({ host, port: Number(port), noDelay: true })
socket.on("error", (error) => fail(error.message))
socket.on("data", onData)
await ok()
socket.write("STLS\r\n")
await ok()
socket.removeListener("data", onData)
const secured = connectTls({ socket, ca: readFileSync(caFile), servername: host })
socket = secured
secured.on("error", (error) => fail(error.message))
secured.on("data", onData)
await new Promise((resolve) => secured.once("secureConnect", resolve))

socket.write(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString("base64")}\r\n`)
await ok()
socket.write("UIDL\r\nLIST\r\n")
await ok()
const uids = (await body())
  .toString("latin1")
  .split("\r\n")
  .filter((l) => l !== "")
  .map((l) => l.split(" ")[1] ?? fail(`bad UIDL line ${JSON.stringify(l)}`))
await ok()
await body()

const count = uids.length
const out = Buffer.alloc(1 << 20)
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL
const prefix = `${Math.floor(Date.now() / 1000)}.P${process.pid}Q`
let sent = 0
let received = 0
const refill = (): void => {
  let commands = ""
  while (sent < count && sent - received < WINDOW) commands += `RETR ${++sent}\r\n`
  if (commands !== "") socket.write(commands)
}
refill()
for (let i = 0; i < count; i++) {
  await ok()
  const message = await body()
  received++
  if (received % REFILL === 0) refill()
  // Dot-unstuffing and CRLF → LF in one pass.
  const room = message.length > out.length ? Buffer.alloc(message.length) : out
  let o = 0
  let atLineStart = true
  for (let r = 0; r < message.length; r++) {
    const b = message[r]!
    if (atLineStart && b === 0x2e) {
      atLineStart = false
      continue
    }
    if (b === 0x0d && message[r + 1] === 0x0a) continue
    room[o++] = b
    atLineStart = b === 0x0a
  }
  const key = hash("sha256", `bench\0${uids[i]}`, "hex").slice(0, 24)
  const name = `${prefix}${i + 1}U${key}.localhost`
  const fd = openSync(`${maildir}/tmp/${name}`, CREATE, 0o600)
  writeSync(fd, room, 0, o)
  fsyncSync(fd)
  closeSync(fd)
  renameSync(`${maildir}/tmp/${name}`, `${maildir}/new/${name}`)
}
const dir = openSync(`${maildir}/new`, constants.O_RDONLY)
fsyncSync(dir)
closeSync(dir)
writeFileSync(statePath, JSON.stringify(uids))
socket.write("QUIT\r\n")
await ok()
socket.end()
