// Shared by the interop suites: expected values derived from the harness's messages(),
// and small network helpers.
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { createServer, type Server, type Socket } from "node:net"
import { join } from "node:path"
import { main } from "../../core/cli/main.ts"
import { makeCrlfToLf } from "../../core/cli/maildir.ts"

/** UIDVALIDITY of each seeded mailbox (see test/support/dovecot.ts). */
export const UID_VALIDITY = { alice: 1700000000, bob: 1700000001, empty: 1700000002, bulk: 1700000003 } as const

/** The UIDL Dovecot gives for pop3_uidl_format = %08Xu%08Xv (its %X prints lower case). */
export const uid = (n: number, validity: number): string => hex8(n) + hex8(validity)

const hex8 = (n: number): string => n.toString(16).padStart(8, "0")

/**
 * What `TOP n lines` returns for a message in wire form: the header, the blank line, and
 * the first `lines` body lines (each with its CRLF), or the whole message if it is shorter.
 */
export function topOf(message: Uint8Array | undefined, lines: number): Uint8Array {
  if (message === undefined) throw new Error("no such message")
  const text = Buffer.from(message.buffer, message.byteOffset, message.byteLength)
  const headerEnd = text.indexOf("\r\n\r\n")
  if (headerEnd < 0) return message
  let end = headerEnd + 4
  for (let i = 0; i < lines; i++) {
    const next = text.indexOf("\r\n", end)
    if (next < 0) return message
    end = next + 2
  }
  return message.subarray(0, end)
}

/** Undefined when equal; otherwise where and how the bytes differ (a readable failure for 5 MB). */
export function firstDifference(actual: Uint8Array, expected: Uint8Array | undefined): string | undefined {
  if (expected === undefined) return "no expected message"
  const length = Math.min(actual.length, expected.length)
  let i = 0
  while (i < length && actual[i] === expected[i]) i++
  if (i === length && actual.length === expected.length) return undefined
  const show = (b: Uint8Array): string =>
    JSON.stringify(Buffer.from(b.subarray(Math.max(0, i - 20), i + 20)).toString("latin1"))
  return `differ at byte ${i} (lengths ${actual.length} vs ${expected.length}): ${show(actual)} vs ${show(expected)}`
}

/** Starts `server` on a free loopback port and returns the port. */
export function listenOnLoopback(server: Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") reject(new Error("no TCP address"))
      else resolve(address.port)
    })
  })
}

/** A loopback port that nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  const port = await listenOnLoopback(server)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** What an in-process CLI run printed and returned. */
export interface CliResult {
  readonly code: number
  readonly stdout: Buffer
  /** stderr lines (one per io.stderr call, which adds no newline). */
  readonly stderr: ReadonlyArray<string>
}

/**
 * Runs the CLI in this process with captured I/O and the real transports (Node, or the
 * WebSocket one with --bridge). `password` is POP3_PASSWORD; undefined leaves it unset.
 */
export async function cli(
  argv: ReadonlyArray<string>,
  password?: string,
  env: Readonly<Record<string, string>> = {}
): Promise<CliResult> {
  const out: Array<Buffer> = []
  const err: Array<string> = []
  const code = await main(argv, {
    // Copy: a chunk may be a view into a buffer the client reuses.
    stdout: async (bytes) => void out.push(typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes)),
    stderr: (text) => void err.push(text),
    env: { ...env, ...(password === undefined ? {} : { POP3_PASSWORD: password }) },
    readFile: (path) => readFileSync(path, "utf8")
  })
  return { code, stdout: Buffer.concat(out), stderr: err }
}

/**
 * Compares a Maildir's new/ and cur/ with the messages a server sent (wire form, CRLF):
 * each must be there exactly once as its LF form (what `pop3 fetch` stores), nothing else.
 */
export function maildirHolds(
  maildir: string,
  messages: ReadonlyArray<Uint8Array>
): { missing: Array<number>; duplicated: Array<number>; strangers: number } {
  const hash = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex")
  const lf = (m: Uint8Array): Uint8Array => {
    const convert = makeCrlfToLf()
    return Buffer.concat([convert.push(m), convert.end()])
  }
  const files = ["new", "cur"].flatMap((sub) => {
    const at = join(maildir, sub)
    return existsSync(at) ? readdirSync(at).map((name) => hash(readFileSync(join(at, name)))) : []
  })
  const wanted = messages.map((m) => hash(lf(m)))
  const count = (h: string): number => files.filter((f) => f === h).length
  return {
    missing: wanted.flatMap((h, i) => (count(h) === 0 ? [i + 1] : [])),
    duplicated: wanted.flatMap((h, i) => (count(h) > 1 ? [i + 1] : [])),
    strangers: files.filter((f) => !wanted.includes(f)).length
  }
}

/** A server that greets, has no CAPA, answers STLS with +OK and then stalls (issue 12, item 4). */
export async function stallingStlsServer(): Promise<{ readonly port: number; readonly close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on("error", () => undefined)
    socket.on("close", () => sockets.delete(socket))
    socket.write("+OK ready\r\n")
    let buffered = ""
    let stalled = false
    socket.on("data", (chunk: Buffer) => {
      if (stalled) return
      buffered += chunk.toString("latin1")
      for (let lf = buffered.indexOf("\n"); lf >= 0 && !stalled; lf = buffered.indexOf("\n")) {
        const line = buffered.slice(0, lf).trim().toUpperCase()
        buffered = buffered.slice(lf + 1)
        if (line === "STLS") {
          socket.write("+OK begin TLS\r\n")
          stalled = true
        } else {
          socket.write("-ERR not here\r\n")
        }
      }
    })
  })
  const port = await listenOnLoopback(server)
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
