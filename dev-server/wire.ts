// Byte-level plumbing of the dev server over web streams: reading command lines (pipelined
// or split anyhow), writing responses under backpressure, and framing message bodies.
// Portable: web-standard APIs only.

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Size of the pieces large responses are produced in; one piece in flight at a time. */
export const CHUNK = 64 * 1024

/** The peer went away (write failed); ends the session quietly. */
export class ConnectionGone extends Error {
  constructor(cause: unknown) {
    super("connection gone", { cause })
    this.name = "ConnectionGone"
  }
}

export type LineResult =
  | { readonly kind: "line"; readonly text: string }
  | { readonly kind: "too-long" }
  | { readonly kind: "eof" }

const empty = new Uint8Array(0)

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/**
 * Splits the client's byte stream into lines. Only ever holds one partial line of at most
 * `maxOctets` plus the unread rest of the last chunk, so a client sending megabytes without
 * a line end cannot make the server buffer them.
 */
export class LineReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>
  private pending: Uint8Array = empty

  constructor(readable: ReadableStream<Uint8Array>) {
    this.reader = readable.getReader()
  }

  /** True when a complete line is already buffered (the client pipelined). */
  hasLine(): boolean {
    return this.pending.indexOf(0x0a) !== -1
  }

  /**
   * The next line without its CRLF (a bare LF is accepted too). A line longer than
   * `maxOctets` including its line end is consumed and reported as too long.
   */
  async readLine(maxOctets: number): Promise<LineResult> {
    let searchFrom = 0
    for (;;) {
      const lf = this.pending.indexOf(0x0a, searchFrom)
      if (lf !== -1) {
        const octets = lf + 1
        const end = lf > 0 && this.pending[lf - 1] === 0x0d ? lf - 1 : lf
        const text = decoder.decode(this.pending.subarray(0, end))
        this.pending = this.pending.subarray(lf + 1)
        return octets > maxOctets ? { kind: "too-long" } : { kind: "line", text }
      }
      if (this.pending.length >= maxOctets) {
        await this.skipLine()
        return { kind: "too-long" }
      }
      searchFrom = this.pending.length
      const chunk = await this.read()
      if (chunk === undefined) return { kind: "eof" }
      this.pending = this.pending.length === 0 ? chunk : concat(this.pending, chunk)
    }
  }

  /** Reads and discards everything until the client closes (a hung server still accepts bytes). */
  async drain(): Promise<void> {
    this.pending = empty
    while ((await this.read()) !== undefined) {
      // discard
    }
  }

  /** Gives the stream back without consuming more (STLS hands the raw socket to TLS). */
  release(): void {
    this.pending = empty
    this.reader.releaseLock()
  }

  cancel(): void {
    this.reader.cancel().catch(() => {})
  }

  private async skipLine(): Promise<void> {
    this.pending = empty
    for (;;) {
      const chunk = await this.read()
      if (chunk === undefined) return
      const lf = chunk.indexOf(0x0a)
      if (lf !== -1) {
        this.pending = chunk.subarray(lf + 1)
        return
      }
    }
  }

  // A reset connection is just the end of input for a server.
  private async read(): Promise<Uint8Array | undefined> {
    try {
      for (;;) {
        const { done, value } = await this.reader.read()
        if (done) return undefined
        if (value.length > 0) return value
      }
    } catch {
      return undefined
    }
  }
}

/**
 * Writes responses. Small lines are collected and sent as one write (so answers to a
 * pipelined batch go out together); every write first awaits `writer.ready`, so at most
 * one piece waits in the stream's queue whatever the response size.
 */
export class Output {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>
  private readonly eol: string
  private readonly pieceSize: number | undefined
  private pending: Uint8Array[] = []
  private pendingSize = 0
  private last: Promise<unknown> = Promise.resolve()

  constructor(writable: WritableStream<Uint8Array>, options: { lfOnly: boolean; pieceSize: number | undefined }) {
    this.writer = writable.getWriter()
    this.eol = options.lfOnly ? "\n" : "\r\n"
    this.pieceSize = options.pieceSize !== undefined && options.pieceSize > 0 ? options.pieceSize : undefined
  }

  get bufferedOctets(): number {
    return this.pendingSize
  }

  line(text: string): void {
    this.push(encoder.encode(text + this.eol))
  }

  /** Queues bytes; the caller must not mutate them afterwards. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.pending.push(bytes)
    this.pendingSize += bytes.length
  }

  async flush(): Promise<void> {
    if (this.pendingSize === 0) return
    const pieces = this.pending
    const whole = pieces.length === 1 ? pieces[0]! : new Uint8Array(this.pendingSize)
    if (pieces.length > 1) {
      let o = 0
      for (const p of pieces) {
        whole.set(p, o)
        o += p.length
      }
    }
    this.pending = []
    this.pendingSize = 0
    await this.write(whole)
  }

  /** Waits until the stream's sink has taken everything written so far. */
  async settle(): Promise<void> {
    try {
      await this.last
    } catch (e) {
      throw new ConnectionGone(e)
    }
  }

  async close(): Promise<void> {
    await this.flush()
    await this.writer.close()
  }

  abort(): void {
    this.writer.abort().catch(() => {})
  }

  /** Gives the stream back (STLS); everything must have been flushed and settled. */
  release(): void {
    this.writer.releaseLock()
  }

  private async write(bytes: Uint8Array): Promise<void> {
    if (this.pieceSize === undefined) return this.writeOne(bytes)
    for (let i = 0; i < bytes.length; i += this.pieceSize) {
      await this.writeOne(bytes.slice(i, i + this.pieceSize))
      await this.settle()
    }
  }

  private async writeOne(bytes: Uint8Array): Promise<void> {
    try {
      await this.writer.ready
    } catch (e) {
      throw new ConnectionGone(e)
    }
    const written = this.writer.write(bytes)
    written.catch(() => {}) // surfaces through `ready` / `settle`
    this.last = written
  }
}

/** Collects copied bytes into fresh chunks of a fixed size. */
class ChunkBuilder {
  private buf: Uint8Array
  private n = 0
  private readonly size: number

  constructor(size: number) {
    this.size = size
    this.buf = new Uint8Array(size)
  }

  /** Appends bytes; returns the chunks that became full. */
  append(bytes: Uint8Array): Uint8Array[] {
    const full: Uint8Array[] = []
    let i = 0
    while (i < bytes.length) {
      const take = Math.min(this.size - this.n, bytes.length - i)
      this.buf.set(bytes.subarray(i, i + take), this.n)
      this.n += take
      i += take
      if (this.n === this.size) {
        full.push(this.buf)
        this.buf = new Uint8Array(this.size)
        this.n = 0
      }
    }
    return full
  }

  rest(): Uint8Array | undefined {
    return this.n === 0 ? undefined : this.buf.slice(0, this.n)
  }
}

const DOT = new Uint8Array([0x2e])
const LF = new Uint8Array([0x0a])
const CRLF = new Uint8Array([0x0d, 0x0a])

export interface BodyFraming {
  /** Prefix every line starting with "." with another "." (RFC 1939 §3). */
  readonly stuff: boolean
  /** Turn CRLF into LF (a misbehaving server). */
  readonly lfOnly: boolean
  /** End with the ".CRLF" terminator (after a line end if the data lacks one). */
  readonly terminate: boolean
}

/**
 * Frames message bytes for a multi-line response, as fresh chunks of at most CHUNK octets
 * (so a client can never mutate the store through what it received). Lazy: the framed copy
 * of a message never exists in memory all at once.
 */
export function* bodyChunks(data: Uint8Array, framing: BodyFraming): Generator<Uint8Array> {
  const out = new ChunkBuilder(CHUNK)
  let pos = 0
  while (pos < data.length) {
    const lf = data.indexOf(0x0a, pos)
    const end = lf === -1 ? data.length : lf + 1
    if (framing.stuff && data[pos] === 0x2e) yield* out.append(DOT)
    if (framing.lfOnly && lf !== -1 && lf > pos && data[lf - 1] === 0x0d) {
      yield* out.append(data.subarray(pos, lf - 1))
      yield* out.append(LF)
    } else {
      yield* out.append(data.subarray(pos, end))
    }
    pos = end
  }
  if (framing.terminate) {
    const eol = framing.lfOnly ? LF : CRLF
    if (data.length > 0 && data[data.length - 1] !== 0x0a) yield* out.append(eol)
    yield* out.append(DOT)
    yield* out.append(eol)
  }
  const rest = out.rest()
  if (rest !== undefined) yield rest
}

/**
 * Where TOP's answer ends: the header, the blank line and then `bodyLines` lines of the
 * body. A message without a blank line is all header and is sent whole.
 */
export function topEnd(data: Uint8Array, bodyLines: number): number {
  let pos = 0
  // Find the blank line that ends the header.
  for (;;) {
    if (pos >= data.length) return data.length
    const lf = data.indexOf(0x0a, pos)
    if (lf === -1) return data.length
    const blank = lf === pos || (lf === pos + 1 && data[pos] === 0x0d)
    pos = lf + 1
    if (blank) break
  }
  for (let n = 0; n < bodyLines && pos < data.length; n++) {
    const lf = data.indexOf(0x0a, pos)
    pos = lf === -1 ? data.length : lf + 1
  }
  return pos
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text)
}
