import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type Decoder, type DecoderEvent, makeDecoder, NeedData } from "../../../core/protocol/decoder.ts"
import { RemoteProtocolError } from "../../../core/protocol/errors.ts"
import { MAX_STATUS_LINE } from "../../../core/protocol/limits.ts"
import {
  applyChunking,
  bytewise,
  type Chunking,
  chunkingArb,
  concatBytes,
  fromLatin1,
  latin1,
  splitAt
} from "./chunks.ts"

/** An event with merged body pieces, comparable with `toEqual`. */
type Normal =
  | { readonly tag: "Status"; readonly line: string }
  | { readonly tag: "Body"; readonly bytes: string }
  | { readonly tag: "BodyEnd" }

// In these tests a status line starting with "+OK body" announces a multi-line body.
const announcesBody = (line: Uint8Array): boolean => fromLatin1(line).startsWith("+OK body")

/** Pulls events until NeedData, calling readBody after a status that announces a body. */
const drain = (decoder: Decoder, into: Array<DecoderEvent>, maxSteps = 10_000_000): void => {
  for (let steps = 0; steps < maxSteps; steps++) {
    const event = decoder.next()
    if (event === NeedData) return
    into.push(event)
    if (event._tag === "Status" && announcesBody(event.line)) decoder.readBody()
  }
  throw new Error("the decoder did not stop yielding events")
}

/** Feeds the chunks (draining after each, or all first) and returns every event. */
const decodeChunks = (
  chunks: ReadonlyArray<Uint8Array>,
  options: { readonly drainEach?: boolean; readonly maxStatusLine?: number } = {}
): Array<DecoderEvent> => {
  const decoder = makeDecoder(options.maxStatusLine === undefined ? {} : { maxStatusLine: options.maxStatusLine })
  const events: Array<DecoderEvent> = []
  for (const chunk of chunks) {
    decoder.feed(chunk)
    if (options.drainEach !== false) drain(decoder, events)
  }
  drain(decoder, events)
  expect(decoder.buffered()).toBe(0)
  return events
}

const normalize = (events: ReadonlyArray<DecoderEvent>): Array<Normal> => {
  const out: Array<Normal> = []
  let body: Array<Uint8Array> = []
  const flush = () => {
    if (body.length > 0) out.push({ tag: "Body", bytes: fromLatin1(concatBytes(body)) })
    body = []
  }
  for (const e of events) {
    if (e._tag === "Body") {
      // A plain check, not expect(): a bytewise chunking yields 10^5 events per case.
      if (e.bytes.length === 0) throw new Error("an empty Body event")
      body.push(e.bytes)
      continue
    }
    flush()
    out.push(e._tag === "Status" ? { tag: "Status", line: fromLatin1(e.line) } : { tag: "BodyEnd" })
  }
  flush()
  return out
}

const decode = (
  input: string | Uint8Array,
  chunking: Chunking = { kind: "whole" },
  options: { readonly drainEach?: boolean; readonly maxStatusLine?: number } = {}
) => normalize(decodeChunks(applyChunking(typeof input === "string" ? latin1(input) : input, chunking), options))

const status = (line: string): Normal => ({ tag: "Status", line })
const body = (bytes: string): Normal => ({ tag: "Body", bytes })
const end: Normal = { tag: "BodyEnd" }

/**
 * A body line: content without LF, and its line end. `extraDot` asks for a dot in front even
 * when the content does not start with one: RFC 1939 says to strip the first octet of *any*
 * line starting with "." (servers may stuff more than needed), so it must come out unchanged.
 */
interface Line {
  readonly content: Uint8Array
  readonly eol: "\r\n" | "\n"
  readonly extraDot?: boolean
}

const rawBody = (lines: ReadonlyArray<Line>): Uint8Array =>
  concatBytes(lines.flatMap((l) => [l.content, latin1(l.eol)]))

// A dot in front of these would make the terminator line, so they can never carry an extra dot.
const isBlank = (l: Line) => l.content.length === 0 || (l.content.length === 1 && l.content[0] === 13 && l.eol === "\n")

/** RFC 1939 §3 dot-stuffing: a line starting with "." gets another "." in front. */
const stuffed = (lines: ReadonlyArray<Line>): Uint8Array =>
  concatBytes(
    lines.flatMap((l) =>
      l.content[0] === 0x2e || (l.extraDot === true && !isBlank(l))
        ? [latin1("."), l.content, latin1(l.eol)]
        : [l.content, latin1(l.eol)]
    )
  )

const noLf = (bytes: Uint8Array): Uint8Array => bytes.map((b) => (b === 10 ? 11 : b))

const specialContent = fc.constantFrom(
  "",
  ".",
  "..",
  "...",
  ".\r",
  "\r",
  "\r\r",
  "..\r",
  ".\r.",
  "\r.",
  ". ",
  ".x",
  "x.",
  "+OK",
  ".+OK",
  "-ERR",
  "\x00\xff\x80",
  ".\xe9t\xe9"
)
const contentArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: specialContent.map(latin1) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 40 }).map(noLf) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("", ".", "..", ".\r", "\r"), fc.string({ maxLength: 20 }))
      .map(([prefix, rest]) => latin1(prefix + rest))
  }
)

const lineArb = (
  eol: fc.Arbitrary<"\r\n" | "\n">,
  content: fc.Arbitrary<Uint8Array> = contentArb
): fc.Arbitrary<Line> =>
  fc.record({
    content,
    eol,
    extraDot: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
  })

const eolArb: fc.Arbitrary<"\r\n" | "\n"> = fc.constantFrom("\r\n", "\n")

/** A whole body: all CRLF, all LF, or mixed line ends. */
const linesArb: fc.Arbitrary<ReadonlyArray<Line>> = fc.oneof(
  fc.array(lineArb(fc.constant("\r\n")), { maxLength: 30 }),
  fc.array(lineArb(fc.constant("\n")), { maxLength: 30 }),
  fc.array(lineArb(eolArb), { maxLength: 30 })
)

/** A pseudo-random long line without LF (no fast-check shrinking: it is the size that matters). */
const bigContent = (seed: number, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    const b = x & 0xff
    out[i] = b === 10 ? 0x2e : b
  }
  if (seed % 2 === 0) out[0] = 0x2e // sometimes starts with a dot
  return out
}

/** The terminator: ".\r\n", or ".\n" from LF-only servers. */
type Terminator = ".\r\n" | ".\n"
const terminatorArb: fc.Arbitrary<Terminator> = fc.constantFrom(".\r\n", ".\n")

const framed = (lines: ReadonlyArray<Line>, terminator: Terminator, trailing: boolean): Uint8Array =>
  concatBytes([
    latin1("+OK body follows\r\n"),
    stuffed(lines),
    latin1(terminator),
    ...(trailing ? [latin1("+OK after\r\n")] : [])
  ])

/** The first index where two byte arrays of equal length differ, or -1. */
const firstDifferent = (a: Uint8Array, b: Uint8Array): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i
  return -1
}

const checkBody = (
  lines: ReadonlyArray<Line>,
  terminator: Terminator,
  trailing: boolean,
  chunking: Chunking,
  drainEach: boolean
) => {
  const input = framed(lines, terminator, trailing)
  const events = decodeChunks(applyChunking(input, chunking), { drainEach })
  // The body bytes are the original, exactly, between the status line and one BodyEnd.
  const original = rawBody(lines)
  const pieces = events.filter((e) => e._tag === "Body").map((e) => e.bytes)
  expect(pieces.every((p) => p.length > 0)).toBe(true)
  const got = concatBytes(pieces)
  expect(got.length).toBe(original.length)
  // Byte-exact, without Node's Buffer: these tests also run in Chromium.
  expect(firstDifferent(got, original)).toBe(-1)
  expect(events.filter((e) => e._tag === "BodyEnd").length).toBe(1)
  expect(events[0]?._tag).toBe("Status")
  const endAt = events.findIndex((e) => e._tag === "BodyEnd")
  expect(events.slice(1, endAt).every((e) => e._tag === "Body")).toBe(true)
  const expected: Array<Normal> = [
    status("+OK body follows"),
    ...(original.length > 0 ? [body(fromLatin1(original))] : []),
    end
  ]
  if (trailing) expected.push(status("+OK after"))
  const normal = normalize(events)
  expect(normal).toEqual(expected)
  // Whatever the chunking, the same events as when the input arrives whole.
  expect(normal).toEqual(decode(input))
}

// The properties do a fixed amount of work (seconds on a busy 2-core machine, more in
// Chromium); the time limit is there to catch a hang, not to measure speed.
const PROPERTY_TIMEOUT = 120_000

describe("decoder: multi-line bodies, property", () => {
  it(
    "random bodies in random chunkings come out exactly, with one BodyEnd (numRuns: 400)",
    () => {
      fc.assert(
        fc.property(
          linesArb,
          terminatorArb,
          fc.boolean(),
          chunkingArb(),
          fc.boolean(),
          (lines, terminator, trailing, chunking, drainEach) => {
            checkBody(lines, terminator, trailing, chunking, drainEach)
          }
        ),
        { numRuns: 400 }
      )
    },
    PROPERTY_TIMEOUT
  )

  it(
    "bodies with 200 KB lines in random chunkings come out exactly (numRuns: 20)",
    () => {
      const big = fc.integer({ min: 1, max: 0x7fffffff }).map((seed) => bigContent(seed, 200_000))
      const bigLines = fc
        .array(fc.oneof({ weight: 1, arbitrary: lineArb(eolArb, big) }, { weight: 2, arbitrary: lineArb(eolArb) }), {
          minLength: 1,
          maxLength: 4
        })
        .filter((lines) => lines.some((l) => l.content.length >= 200_000))
      fc.assert(
        fc.property(
          bigLines,
          terminatorArb,
          fc.boolean(),
          chunkingArb({ huge: true, maxCuts: 300 }),
          (lines, terminator, trailing, chunking) => {
            checkBody(lines, terminator, trailing, chunking, true)
          }
        ),
        { numRuns: 20 }
      )
    },
    PROPERTY_TIMEOUT
  )

  it(
    "several responses back to back: the same events in any chunking (numRuns: 300)",
    () => {
      const responseArb = fc.oneof(
        fc.tuple(linesArb, terminatorArb).map(([lines, terminator]) => ({
          lines: lines as ReadonlyArray<Line> | undefined,
          terminator,
          head: "+OK body"
        })),
        fc
          .constantFrom("+OK", "-ERR no such message", "+OK 2 320", "+ ", "+OK")
          .map((head) => ({ lines: undefined, terminator: ".\r\n", head }))
      )
      fc.assert(
        fc.property(fc.array(responseArb, { minLength: 1, maxLength: 6 }), chunkingArb(), (responses, chunking) => {
          const input = concatBytes(
            responses.flatMap((r) =>
              r.lines === undefined
                ? [latin1(`${r.head}\r\n`)]
                : [latin1(`${r.head}\r\n`), stuffed(r.lines), latin1(r.terminator)]
            )
          )
          const expected = responses.flatMap((r): Array<Normal> => {
            if (r.lines === undefined) return [status(r.head)]
            const original = rawBody(r.lines)
            return [status(r.head), ...(original.length > 0 ? [body(fromLatin1(original))] : []), end]
          })
          expect(decode(input, chunking)).toEqual(expected)
        }),
        { numRuns: 300 }
      )
    },
    PROPERTY_TIMEOUT
  )
})

describe("decoder: multi-line bodies, examples", () => {
  const message = "+OK body\r\nHello\r\n..dot\r\n.\r\n+OK next\r\n"
  const expected = [status("+OK body"), body("Hello\r\n.dot\r\n"), end, status("+OK next")]

  it("whole, one byte at a time, and with trailing data", () => {
    expect(decode(message)).toEqual(expected)
    expect(decode(message, { kind: "bytewise" })).toEqual(expected)
    expect(decode(message, { kind: "bytewise" }, { drainEach: false })).toEqual(expected)
  })

  it("the terminator split across two chunks at every position", () => {
    const bytes = latin1(message)
    for (let i = 1; i < bytes.length; i++) {
      expect(normalize(decodeChunks(splitAt(bytes, [i])))).toEqual(expected)
    }
  })

  it("the terminator split across three chunks at every pair of positions", () => {
    const bytes = latin1(message)
    for (let i = 1; i < bytes.length; i++) {
      for (let j = i + 1; j < bytes.length; j++) {
        expect(normalize(decodeChunks(splitAt(bytes, [i, j])))).toEqual(expected)
      }
    }
  })

  it('a chunk ending in ".\\r\\n" mid-line is not a terminator', () => {
    const decoder = makeDecoder()
    const events: Array<DecoderEvent> = []
    decoder.feed(latin1("+OK body\r\nabc.\r\n"))
    drain(decoder, events)
    expect(normalize(events)).toEqual([status("+OK body"), body("abc.\r\n")])
    expect(decoder.inBody()).toBe(true)
    decoder.feed(latin1("more\r\n.\r\n"))
    drain(decoder, events)
    expect(normalize(events)).toEqual([status("+OK body"), body("abc.\r\nmore\r\n"), end])
    expect(decoder.inBody()).toBe(false)
  })

  it('a chunk ending in "\\r\\n..\\r\\n" is a stuffed dot line, not a terminator', () => {
    const decoder = makeDecoder()
    const events: Array<DecoderEvent> = []
    decoder.feed(latin1("+OK body\r\nabc\r\n..\r\n"))
    drain(decoder, events)
    expect(events.some((e) => e._tag === "BodyEnd")).toBe(false)
    decoder.feed(latin1(".\r\n"))
    drain(decoder, events)
    expect(normalize(events)).toEqual([status("+OK body"), body("abc\r\n.\r\n"), end])
  })

  it('a "." line arriving alone in its own chunk is a terminator', () => {
    expect(normalize(decodeChunks([latin1("+OK body\r\nabc\r\n"), latin1(".\r\n")]))).toEqual([
      status("+OK body"),
      body("abc\r\n"),
      end
    ])
  })

  it('accepts ".\\n" as the terminator and LF-only lines', () => {
    expect(decode("+OK body\nline 1\n..two\n.\n+OK next\n")).toEqual([
      status("+OK body"),
      body("line 1\n.two\n"),
      end,
      status("+OK next")
    ])
    expect(decode("+OK body\r\nline\r\n.\n-ERR x\r\n", { kind: "bytewise" })).toEqual([
      status("+OK body"),
      body("line\r\n"),
      end,
      status("-ERR x")
    ])
  })

  it('".\\r" followed by anything but LF is a stuffed line starting with a bare CR', () => {
    expect(decode("+OK body\r\n.\rx\r\n.\r\n")).toEqual([status("+OK body"), body("\rx\r\n"), end])
    expect(decode("+OK body\r\n.\r.\r\n.\r\n")).toEqual([status("+OK body"), body("\r.\r\n"), end])
    expect(decode("+OK body\r\n.\r\r\n.\r\n")).toEqual([status("+OK body"), body("\r\r\n"), end])
    for (const chunking of [
      { kind: "bytewise" },
      { kind: "fixed", size: 2 },
      { kind: "fixed", size: 3 }
    ] satisfies Array<Chunking>) {
      expect(decode("+OK body\r\n.\rx\r\n.\r\n", chunking)).toEqual([status("+OK body"), body("\rx\r\n"), end])
    }
  })

  it('strips the first dot of any line starting with "." (RFC 1939), not only ".."', () => {
    expect(decode("+OK body\r\n.x\r\n...\r\n..\r\n.\r\n")).toEqual([status("+OK body"), body("x\r\n..\r\n.\r\n"), end])
  })

  it("a body of zero lines yields no Body event", () => {
    expect(decode("+OK body\r\n.\r\n+OK next\r\n")).toEqual([status("+OK body"), end, status("+OK next")])
    expect(decode("+OK body\r\n.\r\n", { kind: "bytewise" })).toEqual([status("+OK body"), end])
  })

  it("keeps empty lines, bare CRs and 8-bit bytes", () => {
    const input = concatBytes([
      latin1("+OK body\r\n\r\n\n\ra\rb\r\n"),
      Uint8Array.of(0x00, 0xff, 0x80, 0x0d, 0x0a),
      latin1(".\r\n")
    ])
    expect(decode(input)).toEqual([status("+OK body"), body("\r\n\n\ra\rb\r\n\x00\xff\x80\r\n"), end])
  })

  it("waits for more data rather than guessing at a chunk's end", () => {
    const decoder = makeDecoder()
    decoder.feed(latin1("+OK body\r\nab"))
    expect(decoder.next()).toMatchObject({ _tag: "Status" })
    decoder.readBody()
    expect(decoder.inBody()).toBe(true)
    expect(decoder.next()).toMatchObject({ _tag: "Body" })
    expect(decoder.next()).toBe(NeedData)
    decoder.feed(latin1("\r\n."))
    expect(decoder.next()).toMatchObject({ _tag: "Body" })
    expect(decoder.next()).toBe(NeedData)
    decoder.feed(latin1("\r"))
    expect(decoder.next()).toBe(NeedData)
    decoder.feed(latin1("\n"))
    expect(decoder.next()).toEqual({ _tag: "BodyEnd" })
    expect(decoder.inBody()).toBe(false)
    expect(decoder.next()).toBe(NeedData)
  })

  it("body slices are views of the input chunk, not copies", () => {
    const input = latin1("+OK body\r\nline one\r\nline two\r\n.\r\n")
    const decoder = makeDecoder()
    decoder.feed(input)
    const first = decoder.next()
    if (first === NeedData || first._tag !== "Status") throw new Error("expected a status line")
    expect(first.line.buffer).toBe(input.buffer)
    decoder.readBody()
    const second = decoder.next()
    if (second === NeedData || second._tag !== "Body") throw new Error("expected a body piece")
    expect(second.bytes.buffer).toBe(input.buffer)
    expect(fromLatin1(second.bytes)).toBe("line one\r\nline two\r\n")
    expect(decoder.next()).toEqual({ _tag: "BodyEnd" })
  })

  it("is not confused by a body that looks like status lines", () => {
    expect(decode("+OK body\r\n+OK\r\n-ERR\r\n.+OK\r\n.\r\n-ERR real\r\n")).toEqual([
      status("+OK body"),
      body("+OK\r\n-ERR\r\n+OK\r\n"),
      end,
      status("-ERR real")
    ])
  })
})

describe("decoder: status lines", () => {
  it("yields status lines without their line end, CRLF or LF", () => {
    expect(decode("+OK POP3 ready\r\n-ERR no\n+ \r\n+\r\n")).toEqual([
      status("+OK POP3 ready"),
      status("-ERR no"),
      status("+ "),
      status("+")
    ])
  })

  it("splits pipelined status lines arriving in one chunk", () => {
    const input = "+OK 1 120\r\n+OK 2 200\r\n-ERR no such message\r\n+OK\r\n"
    const want = [status("+OK 1 120"), status("+OK 2 200"), status("-ERR no such message"), status("+OK")]
    expect(decode(input)).toEqual(want)
    expect(decode(input, { kind: "bytewise" })).toEqual(want)
  })

  it("keeps a bare CR inside a status line and strips only the final CR", () => {
    expect(decode("+OK a\rb\r\r\n")).toEqual([status("+OK a\rb\r")])
  })

  it("returns NeedData for an incomplete line and counts it as buffered", () => {
    const decoder = makeDecoder()
    expect(decoder.next()).toBe(NeedData)
    decoder.feed(latin1("+OK hel"))
    expect(decoder.next()).toBe(NeedData)
    expect(decoder.buffered()).toBe(7)
    decoder.feed(latin1("lo\r"))
    expect(decoder.next()).toBe(NeedData)
    expect(decoder.buffered()).toBe(10)
    decoder.feed(latin1("\n+OK"))
    expect(decoder.next()).toMatchObject({ _tag: "Status" })
    expect(decoder.buffered()).toBe(3)
  })

  it("ignores empty chunks", () => {
    expect(
      normalize(decodeChunks([new Uint8Array(0), latin1("+OK"), new Uint8Array(0), latin1("\r\n"), new Uint8Array(0)]))
    ).toEqual([status("+OK")])
  })

  for (const limit of [100, MAX_STATUS_LINE]) {
    describe(`limit ${limit}${limit === MAX_STATUS_LINE ? " (the default)" : ""}`, () => {
      const options = limit === MAX_STATUS_LINE ? {} : { maxStatusLine: limit }
      const atLimit = `+OK ${"x".repeat(limit - 4)}`
      const overLimit = `${atLimit}y`

      it("accepts a line of exactly the limit, with CRLF or LF, whole or bytewise", () => {
        expect(atLimit.length).toBe(limit)
        for (const eol of ["\r\n", "\n"]) {
          expect(decode(`${atLimit}${eol}`, { kind: "whole" }, options)).toEqual([status(atLimit)])
          expect(decode(`${atLimit}${eol}-ERR x${eol}`, { kind: "fixed", size: 7 }, options)).toEqual([
            status(atLimit),
            status("-ERR x")
          ])
        }
        if (limit === 100) expect(decode(`${atLimit}\r\n`, { kind: "bytewise" }, options)).toEqual([status(atLimit)])
      })

      it("refuses a line one octet over the limit, with CRLF or LF, whole or in pieces", () => {
        for (const eol of ["\r\n", "\n", "\r", ""]) {
          for (const chunking of [
            { kind: "whole" },
            { kind: "fixed", size: 7 },
            { kind: "fixed", size: limit }
          ] satisfies Array<Chunking>) {
            const decoder = makeDecoder(options)
            expect(() => {
              for (const chunk of applyChunking(latin1(`${overLimit}${eol}x`), chunking)) {
                decoder.feed(chunk)
                drain(decoder, [])
              }
            }).toThrow(RemoteProtocolError)
          }
        }
      })
    })
  }

  it("a hostile endless status line fails fast without buffering it (1 GB in 64 KiB chunks)", () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x41) // one chunk of "A"s, fed over and over
    const decoder = makeDecoder()
    let fed = 0
    let error: unknown
    for (let i = 0; i < (1024 * 1024 * 1024) / chunk.length; i++) {
      decoder.feed(chunk)
      fed++
      try {
        decoder.next()
      } catch (e) {
        error = e
        break
      }
      expect(decoder.buffered()).toBeLessThanOrEqual(MAX_STATUS_LINE + chunk.length)
    }
    expect(error).toBeInstanceOf(RemoteProtocolError)
    expect(fed).toBeLessThanOrEqual(10)
    expect(decoder.buffered()).toBeLessThanOrEqual(MAX_STATUS_LINE + chunk.length)
    // The message carries a short excerpt, not the line.
    expect((error as Error).message.length).toBeLessThan(200)
  })

  it("a hostile endless status line in small chunks never buffers more than the limit", () => {
    const chunk = new Uint8Array(1000).fill(0x41)
    const decoder = makeDecoder()
    let error: unknown
    for (let i = 0; i < 1000 && error === undefined; i++) {
      decoder.feed(chunk)
      try {
        decoder.next()
      } catch (e) {
        error = e
      }
      expect(decoder.buffered()).toBeLessThanOrEqual(MAX_STATUS_LINE + 1 + chunk.length)
    }
    expect(error).toBeInstanceOf(RemoteProtocolError)
  })

  it("does not bound the length of body lines", () => {
    const long = "b".repeat(3 * MAX_STATUS_LINE)
    expect(decode(`+OK body\r\n${long}\r\n.\r\n`, { kind: "fixed", size: 5 })).toEqual([
      status("+OK body"),
      body(`${long}\r\n`),
      end
    ])
  })
})

describe("decoder: errors and clear()", () => {
  it("stays failed after an error, even when given good input", () => {
    const decoder = makeDecoder({ maxStatusLine: 10 })
    decoder.feed(latin1("+OK this line is far too long\r\n"))
    let first: unknown
    try {
      decoder.next()
    } catch (e) {
      first = e
    }
    expect(first).toBeInstanceOf(RemoteProtocolError)
    decoder.feed(latin1("+OK\r\n"))
    let second: unknown
    try {
      decoder.next()
    } catch (e) {
      second = e
    }
    expect(second).toBe(first)
    expect(() => decoder.next()).toThrow(RemoteProtocolError)
  })

  it("clear() drops every buffered byte, including a partial line", () => {
    const decoder = makeDecoder()
    decoder.feed(latin1("+OK first\r\n-ERR injected\r\n+OK partial"))
    expect(decoder.next()).toEqual({ _tag: "Status", line: latin1("+OK first") })
    expect(decoder.buffered()).toBeGreaterThan(0)
    decoder.clear()
    expect(decoder.buffered()).toBe(0)
    expect(decoder.next()).toBe(NeedData)
    decoder.feed(latin1("+OK after\r\n"))
    expect(normalize([decoder.next() as DecoderEvent])).toEqual([status("+OK after")])
  })

  it("clear() also drops queued chunks not yet looked at", () => {
    const decoder = makeDecoder()
    for (const c of bytewise(latin1("-ERR injected\r\n+OK also\r\n"))) decoder.feed(c)
    decoder.feed(latin1("+OK partial"))
    expect(decoder.buffered()).toBe(36)
    decoder.clear()
    expect(decoder.buffered()).toBe(0)
    expect(decoder.next()).toBe(NeedData)
  })
})

describe("decoder: cost", () => {
  // A transport may hand over many small chunks before anyone pulls (a slow consumer, a
  // server trickling bytes). Queued chunks must be consumed in linear time: with an
  // Array.shift() per chunk, 200,000 one-byte chunks took ~20 s instead of ~0.2 s; a million
  // would take ~10 minutes, linear ~1 s. No clock is read: the test's time limit (60 s) is
  // what a quadratic decoder runs into.
  it("1,000,000 one-byte chunks fed before pulling decode in linear time", () => {
    const n = 1_000_000
    const one = latin1("x")
    const decoder = makeDecoder()
    decoder.feed(latin1("+OK body\r\n"))
    for (let i = 0; i < n; i++) decoder.feed(one)
    decoder.feed(latin1("\r\n.\r\n"))
    const events: Array<DecoderEvent> = []
    drain(decoder, events)
    expect(
      events.filter((e) => e._tag === "Body").reduce((sum, e) => sum + (e._tag === "Body" ? e.bytes.length : 0), 0)
    ).toBe(n + 2)
    expect(events.at(-1)).toEqual({ _tag: "BodyEnd" })
  }, 60_000)
})
