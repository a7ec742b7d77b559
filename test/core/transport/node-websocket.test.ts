// The Node WebSocket transport (`ws`, node-websocket.ts) through a real, in-process
// pop3-bridge: flow control end to end. A POP3 server that makes a 64 MiB message as it
// writes it (honouring its socket's backpressure, counting what it managed to write) sits
// behind the bridge; the client reads a few chunks of RETR and stops. What the server got
// out must stay bounded — the kernel buffers of two loopback legs and the bridge's 1 MiB,
// far below the message; after the client reads on, the message arrives byte for byte.
// With Node's global WebSocket (websocket.ts's layerGlobal) the server wrote all 64 MiB
// into the client while it was not reading: this test failed on it.
//
// And the CLI, whose `--bridge` is this transport, through the same real bridge: refusals
// and failures as one stderr line, a RETR byte for byte. (These ran against msw's fake
// bridge in websocket.test.ts while the CLI used the global WebSocket; msw cannot see `ws`.)
import { createHash } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo, Socket as NetSocket } from "node:net"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { concatBytes } from "../../../core/protocol/bytes.ts"
import { main } from "../../../core/cli/main.ts"
import { connect } from "../../../core/client/client.ts"
import { BridgeError, ConnectionClosed } from "../../../core/errors.ts"
import { layer, makeSocket } from "../../../core/transport/node-websocket.ts"
import { MAX_FRAGMENTS } from "../../../core/transport/node-websocket-preconnect.ts"
import { makeMailStore } from "../../../dev-server/server.ts"
import { listenTcp, type TcpListener } from "../../../dev-server/tcp.ts"
import { fakeDns, makeCertificate, startTestBridge, startUpstream, until } from "../../bridge/helpers.ts"
import { line, type Served, stalled, writeLines } from "../../support/flood.ts"

const MiB = 1024 * 1024
const SIZE = 64 * MiB
/**
 * What may be in flight while the client does not read. Measured here 12.8–13.1 MiB: the
 * bridge's 1 MiB (`--max-buffered`), ~0.2 MiB read by the client, and the rest in the
 * kernel buffers of the two loopback connections, which Linux sizes itself (tcp_rmem's
 * maximum is 32 MiB here) — outside either process.
 */
const BOUND = 24 * MiB

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A POP3 server with one message of SIZE bytes, made line by line as it is written. */
const bigServer = (served: Served) =>
  startUpstream((socket: NetSocket) => {
    const send = (text: string) => socket.write(text)
    const writeBody = async () => {
      await writeLines(socket, SIZE, served)
      send(".\r\n")
    }
    let input = ""
    send("+OK big POP3 ready\r\n")
    socket.on("data", (data: Buffer) => {
      input += data.toString("latin1")
      for (let end = input.indexOf("\r\n"); end >= 0; end = input.indexOf("\r\n")) {
        const [verb = ""] = input.slice(0, end).split(" ")
        input = input.slice(end + 2)
        if (verb === "CAPA") send("+OK\r\nUSER\r\n.\r\n")
        else if (verb === "RETR") {
          send(`+OK ${SIZE} octets\r\n`)
          void writeBody()
        } else if (verb === "QUIT") socket.end("+OK bye\r\n")
        else send("+OK\r\n")
      }
    })
  })

describe("the Node WebSocket transport (ws) through pop3-bridge", () => {
  it("pauses: a client that stops reading RETR stops the server within a few MiB; then the message arrives intact", async () => {
    const served: Served = { written: 0, blocked: false }
    const upstream = await bigServer(served)
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))

    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let chunks = 0
    let received = 0
    const hash = createHash("sha256")
    const done = Effect.runPromise(
      Effect.gen(function* () {
        const auth = yield* connect({ host: "127.0.0.1", port: upstream.port, tls: "none", timeout: 60_000 })
        const mailbox = yield* auth.login({ user: "u", password: "p", allowPlaintext: true })
        yield* Stream.runForEach(mailbox.retr(1), (chunk) =>
          Effect.gen(function* () {
            hash.update(chunk)
            received += chunk.length
            // A few chunks in, the reader stops until the test lets it go on.
            if (++chunks === 3) yield* Effect.promise(() => released)
          })
        )
        yield* mailbox.quit
      }).pipe(Effect.scoped, Effect.provide(layer(`${bridge.url}/pop3`)))
    )

    await stalled(served, SIZE)
    const whileStopped = served.written
    process.stdout.write(
      `node-websocket: ${(whileStopped / MiB).toFixed(1)} MiB written while the client did not read\n`
    )
    expect(whileStopped).toBeLessThan(BOUND)
    expect(chunks).toBe(3)

    release()
    await done
    expect(received).toBe(SIZE)
    expect(hash.digest("hex")).toBe(served.hash)
  }, 120_000)
})

describe("the Node WebSocket transport's read slabs", () => {
  it("are reused, and a pull's chunks hold their bytes until the next pull", async () => {
    const served: Served = { written: 0, blocked: false }
    const upstream = await bigServer(served)
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))
    const url = `${bridge.url}/pop3?host=127.0.0.1&port=${upstream.port}&tls=none`

    const head = `+OK big POP3 ready\r\n+OK ${SIZE} octets\r\n`
    const expected = head.length + SIZE + 3
    const hash = createHash("sha256")
    const slabs = new Set<ArrayBufferLike>()
    let received = 0
    let overwritten = 0
    await Effect.runPromise(
      Effect.gen(function* () {
        const socket = yield* makeSocket(url, { host: "127.0.0.1", port: upstream.port, connectTimeoutMillis: 30_000 })
        const reader = yield* socket.reader
        const writer = yield* socket.writer
        yield* writer.write(new TextEncoder().encode("RETR 1\r\n"))
        let previous: Array<{ view: Uint8Array; copy: Buffer }> = []
        while (received < expected) {
          // The last pull's chunks are still theirs: no slab was read into again under them.
          for (const { view, copy } of previous) if (!copy.equals(view)) overwritten++
          const chunks = yield* reader.pull
          previous = chunks.map((chunk) => {
            const view = chunk as Uint8Array
            if (view.buffer.byteLength === 1024 * 1024) slabs.add(view.buffer)
            const start = Math.max(0, head.length - received)
            hash.update(view.subarray(start, Math.max(start, expected - 3 - received)))
            received += view.length
            return { view, copy: Buffer.from(view) }
          })
        }
      }).pipe(Effect.scoped)
    )
    expect(received).toBe(expected)
    expect(hash.digest("hex")).toBe(served.hash)
    expect(overwritten).toBe(0)
    // 64 MiB read into 1 MiB slabs: 64 of them if none were reused.
    expect(slabs.size).toBeGreaterThan(0)
    expect(slabs.size).toBeLessThanOrEqual(8)
  }, 120_000)
})

/** A WebSocket frame from a server: FIN, `opcode`, unmasked, the shortest length encoding. */
const serverFrame = (opcode: number, payload: Buffer): Buffer => {
  const n = payload.length
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, n])
      : n < 65536
        ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127, 0, 0, 0, 0]), Buffer.alloc(4)])
  if (n >= 65536) head.writeUInt32BE(n, 6)
  return Buffer.concat([head, payload])
}

/**
 * A WebSocket server by hand (no `ws`): it answers the upgrade, then writes `stream` in
 * the pieces between `cuts`, one per timer turn — so the client's reads end inside
 * headers, inside payloads and on frame boundaries. Whether two pieces still arrive in
 * one read does not change what the test asserts, only how much it exercises.
 */
const rawWebSocketServer = (stream: Buffer, cuts: ReadonlyArray<number>) =>
  startUpstream((socket: NetSocket) => {
    let request = ""
    const onData = (data: Buffer) => {
      request += data.toString("latin1")
      if (!request.includes("\r\n\r\n")) return
      socket.off("data", onData)
      socket.on("data", () => {}) // the client's frames (pongs, its close) are not looked at
      const key = /sec-websocket-key: *(\S+)/i.exec(request)?.[1] ?? ""
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64")
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: binary\r\n\r\n`
      )
      const points = [...cuts, stream.length]
      let at = 0
      const next = (i: number) => {
        if (i === points.length) return
        socket.write(stream.subarray(at, points[i]))
        at = points[i] ?? stream.length
        setTimeout(() => next(i + 1), 2)
      }
      next(0)
    }
    socket.on("data", onData)
  })

/** A server whose RETR answer stops after `after` body bytes: `end` (FIN) or `reset` (RST). */ /** A server whose RETR answer stops after `after` body bytes: `end` (FIN) or `reset` (RST). */
const cutServer = (after: number, how: "end" | "reset") =>
  startUpstream((socket: NetSocket) => {
    socket.write("+OK cut POP3 ready\r\n")
    let input = ""
    socket.on("data", (data: Buffer) => {
      input += data.toString("latin1")
      for (let end = input.indexOf("\r\n"); end >= 0; end = input.indexOf("\r\n")) {
        const [verb = ""] = input.slice(0, end).split(" ")
        input = input.slice(end + 2)
        if (verb === "CAPA") socket.write("+OK\r\nUSER\r\n.\r\n")
        else if (verb === "RETR") {
          socket.write(
            `+OK 100000 octets\r\n${line(0)
              .repeat(Math.ceil(after / line(0).length))
              .slice(0, after)}`,
            () => (how === "end" ? socket.end() : socket.resetAndDestroy())
          )
        } else socket.write("+OK\r\n")
      }
    })
  })

describe("the Node WebSocket transport's framing of reads", () => {
  it("delivers every frame's bytes whatever the reads cut: inside headers, payloads, across slabs", async () => {
    // Sizes around each length encoding (7-bit, 16-bit, 64-bit), frames that fill most of a
    // 1 MiB slab, one too large to hold back (> 768 KiB: it streams through), a ping between.
    const sizes = [1, 125, 126, 127, 65_535, 65_536, 65_537, 300_000, 700_000, 5, 900_000, 3, 70_000, 1_000_000, 2]
    const payloads = sizes.map((n, i) => Buffer.alloc(n, (i * 37 + 11) % 256).fill(i, 0, 1))
    const frames: Buffer[] = []
    payloads.forEach((payload, i) => {
      frames.push(serverFrame(2, payload))
      if (i === 6) frames.push(serverFrame(9, Buffer.from("ping")))
    })
    const starts = [0]
    for (const f of frames) starts.push(starts[starts.length - 1]! + f.length)
    const stream = Buffer.concat(frames)
    // Cut 1 byte and 3 bytes into each header, and in the middle of each payload.
    const cuts = [
      ...new Set(
        starts.slice(0, -1).flatMap((at, i) => [at + 1, at + 3, at + Math.floor((frames[i]?.length ?? 0) / 2)])
      )
    ]
      .filter((at) => at > 0 && at < stream.length)
      .sort((a, b) => a - b)
    const server = await rawWebSocketServer(stream, cuts)
    cleanups.push(server.close)

    const expected = Buffer.concat(payloads)
    const received = await Effect.runPromise(
      Effect.gen(function* () {
        const socket = yield* makeSocket(`ws://127.0.0.1:${server.port}/pop3`, {
          host: "127.0.0.1",
          port: server.port,
          connectTimeoutMillis: 30_000
        })
        const reader = yield* socket.reader
        const chunks: Buffer[] = []
        let total = 0
        while (total < expected.length) {
          // Copied: a pull's chunks are valid until the next pull.
          for (const chunk of yield* reader.pull) {
            chunks.push(Buffer.from(chunk))
            total += chunk.length
          }
        }
        return Buffer.concat(chunks)
      }).pipe(Effect.scoped)
    )
    expect(received.length).toBe(expected.length)
    expect(received.equals(expected)).toBe(true)
  }, 60_000)
})

describe("the Node WebSocket transport against a hostile bridge's framing", () => {
  const open = (port: number) =>
    makeSocket(`ws://127.0.0.1:${port}/pop3`, { host: "127.0.0.1", port, connectTimeoutMillis: 30_000 })

  it("a body one byte per frame comes in few chunks, in order, around a large frame (not a chunk per byte)", async () => {
    const N = 60_000
    const small = (from: number) => Array.from({ length: N }, (_, i) => serverFrame(2, Buffer.from([(from + i) % 251])))
    const big = Buffer.alloc(100_000, 7)
    const stream = Buffer.concat([...small(0), serverFrame(2, big), ...small(1)])
    const expected = Buffer.concat([
      Buffer.from(Array.from({ length: N }, (_, i) => i % 251)),
      big,
      Buffer.from(Array.from({ length: N }, (_, i) => (1 + i) % 251))
    ])
    const server = await rawWebSocketServer(stream, [stream.length >> 2, stream.length >> 1])
    cleanups.push(server.close)
    const { received, chunks } = await Effect.runPromise(
      Effect.gen(function* () {
        const reader = yield* (yield* open(server.port)).reader
        const parts: Buffer[] = []
        let total = 0
        while (total < expected.length) {
          for (const chunk of yield* reader.pull) {
            parts.push(Buffer.from(chunk))
            total += chunk.length
          }
        }
        return { received: Buffer.concat(parts), chunks: parts.length }
      }).pipe(Effect.scoped)
    )
    expect(received.equals(expected)).toBe(true)
    // Staged together (64 KiB at most each): 120,001 messages, a handful of chunks.
    expect(chunks).toBeLessThan(50)
  }, 60_000)

  it("an unfinished message in 1-byte fragments is refused after MAX_FRAGMENTS, not held slab by slab", async () => {
    // Each fragment pins the read it came in; among pong floods that was a 1 MiB slab each.
    const fragment = (opcode: number) => Buffer.from([opcode, 1, 0x41]) // FIN clear, 1 byte
    const pong = serverFrame(10, Buffer.alloc(100))
    const pieces: Array<Buffer> = [fragment(2)]
    for (let i = 0; i < 40; i++) pieces.push(...Array.from({ length: 50 }, () => pong), fragment(0))
    const stream = Buffer.concat(pieces)
    const cuts = pieces
      .map((_, i) => pieces.slice(0, i + 1).reduce((n, p) => n + p.length, 0))
      .filter((_, i) => i % 51 === 0)
    const server = await rawWebSocketServer(
      stream,
      cuts.filter((c) => c < stream.length)
    )
    cleanups.push(server.close)
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const reader = yield* (yield* open(server.port)).reader
        for (;;) yield* reader.pull
      }).pipe(Effect.scoped)
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expect(MAX_FRAGMENTS).toBeLessThan(40)
    const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    expect(String(error)).toMatch(/SocketError/)
  }, 60_000)
})

describe("the Node WebSocket transport: the bridge's closes as the global WebSocket's", () => {
  const cutRetr = async (how: "end" | "reset") => {
    const upstream = await cutServer(10_000, how)
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))
    let received = 0
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const auth = yield* connect({ host: "127.0.0.1", port: upstream.port, tls: "none", timeout: 30_000 })
        const mailbox = yield* auth.login({ user: "u", password: "p", allowPlaintext: true })
        yield* Stream.runForEach(mailbox.retr(1), (chunk) => Effect.sync(() => (received += chunk.length)))
      }).pipe(Effect.scoped, Effect.provide(layer(`${bridge.url}/pop3`)))
    )
    const reason = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason) : undefined
    return { error: reason?.error, received }
  }

  it("a close with 1000 in the middle of a streamed RETR fails the stream after the bytes that came", async () => {
    const { error, received } = await cutRetr("end")
    expect(error).toBeInstanceOf(ConnectionClosed)
    expect((error as ConnectionClosed).during).toMatch(/RETR 1/)
    expect(received).toBe(10_000)
  })

  it("an upstream reset in the middle of RETR is BridgeError 4010 with the bridge's reason", async () => {
    const { error } = await cutRetr("reset")
    expect(error).toBeInstanceOf(BridgeError)
    expect(error).toMatchObject({ code: 4010, reason: "upstream connection lost: ECONNRESET" })
  })
})

// ---------------------------------------------------------------------------------------
// The CLI through a real bridge: `pop.example.com` is the dev server behind implicit TLS
// (a certificate for that name, trusted by the bridge), found through the bridge's resolver.

const enc = new TextEncoder()
const USER = "alice"
const PASSWORD = "bridge-pw-5e1f"
const TOKEN = "cli-token-0123456789"
/** Lines that must be dot-stuffed on the wire, a lone ".", 8-bit bytes and NUL (no CR, LF). */
const DOTS_AND_BYTES = concatBytes([
  enc.encode("Subject: dots and bytes\r\n\r\n.\r\n..\r\n.leading\r\n. space\r\nmiddle.\r\n"),
  Uint8Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 10 && b !== 13),
  enc.encode("\r\nGrüße aus Köln 🌷\r\n.\r\nlast\r\n")
])

interface CliResult {
  readonly code: number
  readonly stdout: Uint8Array
  readonly stderr: ReadonlyArray<string>
}

const cli = async (argv: ReadonlyArray<string>, bridgeToken?: string): Promise<CliResult> => {
  const out: Array<Uint8Array> = []
  const err: Array<string> = []
  const code = await main(argv, {
    stdout: async (bytes) => void out.push(typeof bytes === "string" ? enc.encode(bytes) : bytes.slice()),
    stderr: (text) => void err.push(text),
    env: { POP3_PASSWORD: PASSWORD, ...(bridgeToken !== undefined ? { POP3_BRIDGE_TOKEN: bridgeToken } : {}) },
    readFile: () => {
      throw new Error("no files in these tests")
    }
  })
  return { code, stdout: concatBytes(out), stderr: err }
}

describe("the CLI through a real pop3-bridge (--bridge is node-websocket.ts)", () => {
  let server: TcpListener | undefined
  let port = 0
  let upstreamCa = ""
  beforeAll(async () => {
    const certificate = makeCertificate("pop.example.com")
    upstreamCa = certificate.cert.toString()
    server = await listenTcp(
      makeMailStore({ [USER]: { password: PASSWORD, messages: ["Subject: one\r\n\r\nfirst\r\n", DOTS_AND_BYTES] } }),
      { tls: { cert: certificate.cert.toString(), key: certificate.key.toString() }, implicitTls: true }
    )
    port = server.port
  })
  afterAll(async () => {
    await server?.close()
  })
  const target = () => ["--host", "pop.example.com", "--port", String(port), "--tls", "implicit", "--timeout", "10"]
  /** A bridge that reaches pop.example.com (only): the dev server. */
  const realBridge = async (options: Parameters<typeof startTestBridge>[0] = {}) => {
    const bridge = await startTestBridge({
      allow: [`pop.example.com:${port}`, `127.0.0.1:${port}`],
      resolve: fakeDns({ "pop.example.com": ["127.0.0.1"] }),
      upstreamCa: [upstreamCa],
      ...options
    })
    cleanups.push(() => bridge.close(0))
    return bridge
  }

  it("the CLI exits 3 on a refusal and prints the reason on one stderr line", async () => {
    const bridge = await realBridge({ allow: ["pop.other.example:995"] })
    const result = await cli(["--bridge", `${bridge.url}/pop3`, ...target(), "--user", USER, "stat"])
    expect(result.code).toBe(3)
    expect(result.stdout).toHaveLength(0)
    expect(result.stderr).toEqual([
      `pop3: the bridge closed the connection (4001: pop.example.com:${port} is not allowed by this bridge)`
    ])
    expect(result.stderr[0]).not.toMatch(/[\r\n]/)
  })

  it("the CLI says which HTTP answer refused the upgrade: the bridge's own 401 and 403, another server's 302", async () => {
    const bridge = await realBridge({ token: TOKEN })
    const wrongToken = await cli(["--bridge", `${bridge.url}/pop3`, ...target(), "--user", USER, "stat"], "guessed-x7q")
    expect(wrongToken.code).toBe(3)
    expect(wrongToken.stderr).toHaveLength(1)
    expect(wrongToken.stderr[0]).toContain("it refused the token (HTTP 401: missing or wrong)")
    expect(wrongToken.stderr[0]).not.toContain("guessed-x7q")
    const strict = await realBridge({ token: TOKEN, allowOrigin: ["https://mail.example"], requireOrigin: true })
    const origin = await cli(["--bridge", `${strict.url}/pop3`, ...target(), "--user", USER, "stat"], TOKEN)
    expect(origin.stderr[0]).toContain("it refused this origin (HTTP 403")
    // Not a bridge: a web server that redirects every request.
    const redirecting = createServer((_, res) => res.writeHead(302, { location: "/" }).end())
    redirecting.on("upgrade", (_, socket) =>
      socket.end("HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
    )
    await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve))
    cleanups.push(() => new Promise<void>((resolve) => redirecting.close(() => resolve())))
    const where = `ws://127.0.0.1:${(redirecting.address() as AddressInfo).port}/pop3`
    const other = await cli(["--bridge", where, ...target(), "--user", USER, "stat"])
    expect(other.code).toBe(3)
    expect(other.stderr).toEqual([
      `pop3: cannot connect to 127.0.0.1:${(redirecting.address() as AddressInfo).port}: no WebSocket to the pop3-bridge at ${where}: it answered HTTP 302 instead of a WebSocket upgrade (is this a pop3-bridge's URL?)`
    ])
  })

  it("the CLI --json reports the BridgeError as one JSON line", async () => {
    // A resolver that never answers: the bridge's connect timeout closes with 4012.
    const bridge = await realBridge({ resolve: () => new Promise(() => {}), connectTimeoutMs: 200 })
    const result = await cli(["--bridge", `${bridge.url}/pop3`, ...target(), "--json", "capa"])
    expect(result.code).toBe(3)
    expect(result.stderr).toHaveLength(1)
    expect(JSON.parse(result.stderr[0]!)).toEqual({
      error: "BridgeError",
      message: "the bridge closed the connection (4012: upstream connect timed out)"
    })
  })

  it("the CLI retrieves through --bridge byte-exactly, with the token from POP3_BRIDGE_TOKEN (never in the URL)", async () => {
    // The bridge wants the token: the session exists only if the token reached it.
    const bridge = await realBridge({ token: TOKEN })
    const result = await cli(["--bridge", `${bridge.url}/pop3`, ...target(), "--user", USER, "retr", "2"], TOKEN)
    // In the URL instead, the token would be in the process list: refused before connecting.
    const inUrl = await cli(["--bridge", `${bridge.url}/pop3?token=${TOKEN}`, ...target(), "--user", USER, "stat"])
    expect(inUrl.code).toBe(2)
    expect(inUrl.stderr).toEqual([
      "pop3: the bridge token may not be in the --bridge URL (every user of this machine can read the command line): set POP3_BRIDGE_TOKEN instead"
    ])
    expect(result.stderr).toEqual([])
    expect(result.code).toBe(0)
    expect(Buffer.from(result.stdout).equals(Buffer.from(DOTS_AND_BYTES))).toBe(true)
    // The bridge logs a session once both its sides have closed.
    await until(() => bridge.logs.length > 0, 20_000, "the session's log line")
    expect(bridge.logs.map((entry) => [entry["target"], entry["tls"]])).toEqual([
      [`pop.example.com:${port}`, "implicit"]
    ])
  })

  it("the CLI's default --tls (starttls on port 110) through --bridge exits 3 without connecting", async () => {
    const bridge = await realBridge()
    const result = await cli(["--bridge", `${bridge.url}/pop3`, "--host", "pop.example.com", "capa"])
    expect(result.code).toBe(3)
    expect(result.stderr).toHaveLength(1)
    expect(result.stderr[0]).toMatch(/use implicit TLS/)
    // Not even a WebSocket: the bridge accepted no session.
    expect(bridge.metrics.sessionsTotal).toBe(0)
  })
})
