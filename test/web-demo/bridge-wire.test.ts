// The demo's "What the bridge sees" (web-demo/src/bridge-wire.ts) without a browser: the
// real client through the real Node bridge to the dev server, every WebSocket frame tapped
// by the demo's own tapping constructor. With TLS at the bridge the frames hold the
// password in the clear (what the view says), and the view's reading of them does not
// (it shows the library's redacted line instead). Then the reader of TLS records: the same
// headers for any chunking (whole, byte by byte, with a line before them as after STLS).
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { collect, connect } from "../../core/index.ts"
import * as WebSocketTransport from "../../core/transport/websocket.ts"
import { makeMailStore } from "../../dev-server/store.ts"
import { listenTcp, type TcpListener } from "../../dev-server/tcp.ts"
import { testCert, testTls } from "../../dev-server/tls-fixture.ts"
import {
  type Frame,
  makeBridgeWire,
  type Piece,
  SHOWN_LINES,
  tappingWebSocket
} from "../../web-demo/src/bridge-wire.ts"

const PASSWORD = "Tr0ub4dor-bridge"
const MESSAGE = `Subject: lines\r\n\r\n${Array.from({ length: 40 }, (_, i) => `line ${i}`).join("\r\n")}\r\n`

const text = (pieces: ReadonlyArray<Piece>): string => JSON.stringify(pieces)

describe("what the bridge sees, with TLS at the bridge", () => {
  let server: TcpListener
  let bridge: RunningBridge
  beforeAll(async () => {
    const store = makeMailStore({ alice: { password: PASSWORD, messages: [MESSAGE] } })
    server = await listenTcp(store, { host: "127.0.0.1", port: 0, tls: testTls, implicitTls: true })
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`127.0.0.1:${server.port}/implicit`],
      upstreamCa: [testCert],
      log: () => {}
    })
  })
  afterAll(async () => {
    await bridge.close(0)
    await server.close()
  })

  it("taps the password in the clear, and shows only the library's redacted line", async () => {
    const wire = makeBridgeWire()
    const frames: Frame[] = []
    const tap = (frame: Frame) => {
      frames.push(frame)
      wire.frame(frame)
    }
    const transport = WebSocketTransport.layer(`${bridge.url}/pop3`).pipe(
      Layer.provide(Layer.succeed(Socket.WebSocketConstructor)(tappingWebSocket(tap)))
    )
    const body = await Effect.runPromise(
      Effect.gen(function* () {
        const session = yield* connect({
          host: "127.0.0.1",
          port: server.port,
          tls: "implicit",
          servername: "localhost",
          trace: wire.trace
        })
        const mailbox = yield* session.login({ user: "alice", password: PASSWORD, mechanism: "user" })
        const bytes = yield* collect(mailbox.retr(1))
        yield* mailbox.quit
        return new TextDecoder().decode(bytes)
      }).pipe(Effect.scoped, Effect.provide(transport))
    )
    expect(body).toBe(MESSAGE)

    // What crossed the bridge: the password, readable by whoever runs it.
    const carried = frames
      .filter((f) => f.from === "C")
      .map((f) => new TextDecoder().decode(f.bytes))
      .join("")
    expect(carried).toContain(`PASS ${PASSWORD}\r\n`)
    // What the view makes of it: every client line, the secret one redacted.
    const pieces = wire.pieces()
    expect(text(pieces)).not.toContain(PASSWORD)
    const client = pieces.filter((p) => p.from === "C")
    expect(client).toEqual([
      { kind: "line", from: "C", text: "CAPA" },
      { kind: "line", from: "C", text: "USER alice" },
      { kind: "secret", from: "C", shown: "PASS ****" },
      { kind: "line", from: "C", text: "CAPA" },
      { kind: "line", from: "C", text: "RETR 1" },
      { kind: "line", from: "C", text: "QUIT" }
    ])
    // The greeting in the clear; the 40-line body shown to SHOWN_LINES lines, the rest counted.
    expect(pieces[0]).toMatchObject({ kind: "line", from: "S", text: expect.stringMatching(/^\+OK/) })
    const retr = pieces.findIndex((p) => p.kind === "line" && p.text === "RETR 1")
    const reply = pieces.slice(
      retr + 1,
      pieces.findIndex((p, i) => i > retr && p.from === "C")
    )
    expect(reply.filter((p) => p.kind === "line")).toHaveLength(SHOWN_LINES)
    const more = reply.find((p) => p.kind === "more")
    // +OK, "Subject", "", 40 lines, "." = 44 lines.
    expect(more).toMatchObject({ lines: 44 - SHOWN_LINES })
    expect(wire.totals()).toMatchObject({ encrypted: false })
    expect(wire.totals().up).toBe(carried.length)
  })
})

describe("reading TLS records", () => {
  const records = [
    [22, 3, 1, 0, 7, 1, 0, 0, 3, 3, 3, 0],
    [20, 3, 3, 0, 1, 1],
    [23, 3, 3, 1, 44, ...new Array<number>(300).fill(0xab)], // 0x012c = 300
    [21, 3, 3, 0, 2, 1, 0]
  ]
  const stream = Uint8Array.from(records.flat())
  const headers = [
    { type: 22, version: 0x0301, length: 7 },
    { type: 20, version: 0x0303, length: 1 },
    { type: 23, version: 0x0303, length: 300 },
    { type: 21, version: 0x0303, length: 2 }
  ]
  const read = (chunks: Uint8Array[], lead?: string) => {
    const wire = makeBridgeWire()
    if (lead !== undefined) wire.frame({ from: "S", bytes: new TextEncoder().encode(lead) })
    for (const bytes of chunks) wire.frame({ from: "S", bytes })
    return wire
  }

  it("finds every record header, whole or one byte at a time", () => {
    const whole = read([stream])
    const bytewise = read([...stream].map((b) => Uint8Array.of(b)))
    for (const wire of [whole, bytewise]) {
      expect(wire.pieces()).toHaveLength(1)
      expect(wire.pieces()[0]).toMatchObject({
        kind: "tls",
        from: "S",
        records: headers,
        count: 4,
        bytes: stream.length
      })
      expect(wire.totals()).toEqual({ up: 0, down: stream.length, encrypted: true })
    }
  })

  it("turns from lines to records at a line boundary (STLS), in one frame or two", () => {
    const lead = "+OK Begin TLS negotiation\r\n"
    const joined = new Uint8Array([...new TextEncoder().encode(lead), ...stream])
    for (const wire of [read([stream], lead), read([joined])]) {
      expect(wire.pieces()).toEqual([
        { kind: "line", from: "S", text: "+OK Begin TLS negotiation" },
        expect.objectContaining({ kind: "tls", records: headers, count: 4, bytes: stream.length })
      ])
    }
  })

  it("never reads a POP3 line as a record", () => {
    const wire = read([new TextEncoder().encode("+OK 2 messages\r\n-ERR no\r\n")])
    expect(wire.pieces().map((p) => p.kind)).toEqual(["line", "line"])
    expect(wire.totals().encrypted).toBe(false)
  })
})
