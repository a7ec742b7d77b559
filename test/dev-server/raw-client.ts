// A deliberately dumb POP3 client for the dev server's own tests: it sends exactly the bytes
// it is given and reads raw lines, so the tests see the wire, not an interpretation of it.
// (The real client lives in core/ and must not be used to test its own test server.)

import net from "node:net"
import { Readable } from "node:stream"
import type { Behaviour } from "../../dev-server/behaviour.ts"
import type { ConnectionHooks } from "../../dev-server/session.ts"
import { serveConnection } from "../../dev-server/server.ts"
import type { MailStore } from "../../dev-server/store.ts"

/** Bytes as a string of char codes 0–255, so every octet is visible and comparable. */
export function binary(bytes: Uint8Array): string {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return s
}

export function octets(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0))
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `condition` holds (robust on a loaded machine), then lets a few more ms pass. */
export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time")
    await sleep(2)
  }
  await sleep(5) // time to overshoot, if the code under test were going to
}

export class RawClient {
  /** Every chunk as received, for tests about chunking. */
  readonly chunks: Uint8Array[] = []
  private buffer = ""
  private ended = false
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>
  private readonly writeBytes: (bytes: Uint8Array) => Promise<void>
  private readonly closeWrite: () => void

  constructor(readable: ReadableStream<Uint8Array>, write: (bytes: Uint8Array) => Promise<void>, close: () => void) {
    this.reader = readable.getReader()
    this.writeBytes = write
    this.closeWrite = close
  }

  get eof(): boolean {
    return this.ended
  }

  /** Sends text (each char one octet) or bytes as one write. */
  send(data: string | Uint8Array): Promise<void> {
    return this.writeBytes(typeof data === "string" ? octets(data) : data)
  }

  /** Everything up to and including `marker`. */
  async readUntil(marker: string): Promise<string> {
    for (;;) {
      const at = this.buffer.indexOf(marker)
      if (at !== -1) {
        const out = this.buffer.slice(0, at + marker.length)
        this.buffer = this.buffer.slice(at + marker.length)
        return out
      }
      if (!(await this.fill()))
        throw new Error(
          `connection closed before ${JSON.stringify(marker)}; had ${JSON.stringify(this.buffer.slice(0, 200))}`
        )
    }
  }

  /** One CRLF-terminated line, without the CRLF. */
  async line(): Promise<string> {
    return (await this.readUntil("\r\n")).slice(0, -2)
  }

  /** The lines of a multi-line body up to (not including) the "." line, still stuffed. */
  async body(): Promise<string[]> {
    const lines: string[] = []
    for (let l = await this.line(); l !== "."; l = await this.line()) lines.push(l)
    return lines
  }

  /** Everything until the server closes (rejects after `ms`). */
  async rest(ms = 2000): Promise<string> {
    const timeout = sleep(ms).then(() => "timeout" as const)
    for (;;) {
      const more = await Promise.race([this.fill(), timeout])
      if (more === "timeout")
        throw new Error(`server did not close within ${ms} ms; had ${JSON.stringify(this.buffer.slice(0, 200))}`)
      if (!more) break
    }
    const out = this.buffer
    this.buffer = ""
    return out
  }

  /** Whatever arrives within `ms`; the connection must stay open (for stalls). */
  async silentFor(ms: number): Promise<string> {
    const timeout = sleep(ms).then(() => "timeout" as const)
    for (;;) {
      const more = await Promise.race([this.fill(), timeout])
      if (more === "timeout") break
      if (!more) throw new Error("server closed the connection")
    }
    const out = this.buffer
    this.buffer = ""
    return out
  }

  close(): void {
    this.closeWrite()
    this.reader.cancel().catch(() => {})
  }

  private pendingRead: Promise<boolean> | undefined

  // A read survives a lost race against a timeout and is picked up by the next call.
  private fill(): Promise<boolean> {
    this.pendingRead ??= this.reader.read().then(
      ({ done, value }) => {
        this.pendingRead = undefined
        if (done) {
          this.ended = true
          return false
        }
        this.chunks.push(value)
        this.buffer += binary(value)
        return true
      },
      () => {
        this.pendingRead = undefined
        this.ended = true
        return false
      }
    )
    return this.pendingRead
  }
}

/**
 * A byte pipe with 64 KiB of buffer, like a socket's: without any buffer a client that
 * writes a batch before reading (as these tests do) deadlocks against a server that
 * respects backpressure. Chunk boundaries are kept exactly.
 */
export function pipe(): TransformStream<Uint8Array, Uint8Array> {
  const buffer = (): QueuingStrategy<Uint8Array> => new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 })
  return new TransformStream<Uint8Array, Uint8Array>({}, buffer(), buffer())
}

/** A session over an in-memory pair of pipes. */
export function memorySession(
  store: MailStore,
  behaviour?: Behaviour,
  hooks?: ConnectionHooks
): { client: RawClient; done: Promise<void> } {
  const up = pipe()
  const down = pipe()
  const done = serveConnection(store, { readable: up.readable, writable: down.writable }, behaviour, hooks)
  const writer = up.writable.getWriter()
  const client = new RawClient(
    down.readable,
    (bytes) => writer.write(bytes),
    () => void writer.close().catch(() => {})
  )
  return { client, done }
}

/** A raw TCP connection. */
export async function tcpClient(port: number, host = "127.0.0.1"): Promise<{ client: RawClient; socket: net.Socket }> {
  const socket = net.connect({ port, host, noDelay: true })
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  socket.on("error", () => {})
  return { client: clientOverSocket(socket), socket }
}

export function clientOverSocket(socket: net.Socket): RawClient {
  return new RawClient(
    Readable.toWeb(socket) as ReadableStream<Uint8Array>,
    (bytes) => new Promise<void>((resolve, reject) => socket.write(bytes, (e) => (e ? reject(e) : resolve()))),
    () => socket.end()
  )
}
