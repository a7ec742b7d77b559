// The WebSocket transport against a fake pop3-bridge scripted with msw 3's WebSocket
// interception (`ws.link` + `setupServer`): msw replaces Node's global `WebSocket`, so the
// client is built with `layerGlobal`, as browsers and other runtimes use it. (The CLI's
// `--bridge` uses `ws` instead, which msw does not see: its tests run through a real
// bridge, in node-websocket.test.ts.) The fake
// bridge speaks POP3 itself, in binary frames, and can cut its answers into any framing:
// one byte per message, random small pieces, or several answers in one message.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ws } from "msw"
import { setupServer } from "msw/node"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { concatBytes } from "../../../core/protocol/bytes.ts"
import { collect, connect } from "../../../core/client/client.ts"
import { BridgeError, ConnectionClosed, TlsError } from "../../../core/errors.ts"
import type { ConnectOptions } from "../../../core/client/options.ts"
import { type Transport, Transport as TransportService } from "../../../core/transport/transport.ts"
import { bridgeUrl, layerGlobal } from "../../../core/transport/websocket.ts"

const BRIDGE = "wss://bridge.test/pop3"
const USER = "alice"
const PASSWORD = "bridge-pw-5e1f"
/** Implicit TLS: the bridge does TLS upstream, so USER/PASS is allowed without allowPlaintext. */
const TARGET: ConnectOptions = { host: "pop.example.com", port: 995, tls: "implicit", timeout: 5000 }

const enc = new TextEncoder()
const latin1 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")
const fromLatin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"))

// ---------------------------------------------------------------------------------------
// The mailbox the fake bridge serves (messages as the client must return them: unstuffed).

/** Every byte except CR and LF, so 8-bit content and NUL cross the transport untouched. */
const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 10 && b !== 13)

const MESSAGES: ReadonlyArray<Uint8Array> = [
  enc.encode("From: bob@example.com\r\nSubject: hello\r\n\r\nHello Alice.\r\n"),
  // Lines that must be dot-stuffed on the wire, a lone ".", and a CR LF "." CR LF inside.
  concatBytes([
    enc.encode("Subject: dots and bytes\r\n\r\n.\r\n..\r\n.leading\r\n. space\r\nmiddle.\r\n"),
    allBytes,
    enc.encode("\r\nGrüße aus Köln 🌷\r\n.\r\nlast\r\n")
  ]),
  // About 64 KB of varied lines, so random framing hits every kind of boundary many times.
  enc.encode(
    "Subject: bulk\r\n\r\n" +
      Array.from({ length: 1500 }, (_, i) => `${i % 7 === 0 ? "." : ""}line ${i} ${"x".repeat(i % 53)}\r\n`).join("")
  )
]

/** RFC 1939 byte-stuffing: a line starting with "." gains one more. */
const stuff = (message: Uint8Array): Uint8Array => {
  const text = latin1(message)
  return fromLatin1(text.replace(/(^|\r\n)\./g, "$1.."))
}

// ---------------------------------------------------------------------------------------
// Framers: how one burst of server bytes becomes WebSocket messages.

type Framer = (bytes: Uint8Array) => ReadonlyArray<Uint8Array<ArrayBuffer>>

const whole: Framer = (bytes) => [bytes.slice()]

/** Pieces of 1..max bytes, from a seeded generator so a failure can be replayed. */
const pieces = (max: number, seed = 1): Framer => {
  let state = seed
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return 1 + (state % max)
  }
  return (bytes) => {
    const out: Array<Uint8Array<ArrayBuffer>> = []
    for (let i = 0; i < bytes.length; ) {
      const n = max === 1 ? 1 : next()
      out.push(bytes.slice(i, i + n))
      i += n
    }
    return out
  }
}

// ---------------------------------------------------------------------------------------
// The fake bridge.

interface FakeOptions {
  readonly framer?: Framer
  readonly capabilities?: ReadonlyArray<string>
  /** Hold RETR answers until this many are ready, then send them all as one message. */
  readonly batchRetr?: number
  /** Refuse like the bridge: close with this code and reason, before or after the open. */
  readonly refuse?: { readonly code: number; readonly reason: string; readonly when: "before-open" | "after-open" }
  /** After "+OK" and this many body bytes of RETR `msg`, close with `code`/`reason`. */
  readonly cutRetr?: { readonly msg: number; readonly after: number; readonly code: number; readonly reason: string }
}

interface FakeBridge {
  /** The URL of every WebSocket the client opened. */
  readonly urls: Array<URL>
  /** The subprotocols each connection offered. */
  readonly protocols: Array<ReadonlyArray<string>>
  /** Every command line received, in order. */
  readonly commands: Array<string>
  /** Text frames received from the client (must stay 0: the bridge closes with 1003). */
  textFrames: number
  /** Sizes of the messages the fake sent. */
  readonly sent: Array<number>
  /** For each message sent: how many status lines ("+OK"/"-ERR" answers) it carried. */
  readonly answersPerMessage: Array<number>
}

const bridge = ws.link(BRIDGE)
const server = setupServer()

beforeAll(() => server.listen({ onUnhandledFrame: "error" }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

const fakeBridge = (options: FakeOptions = {}): FakeBridge => {
  const framer = options.framer ?? whole
  const capabilities = options.capabilities ?? ["USER", "UIDL", "TOP"]
  const fake: FakeBridge = { urls: [], protocols: [], commands: [], textFrames: 0, sent: [], answersPerMessage: [] }

  server.use(
    bridge.addEventListener("connection", ({ client, info }) => {
      fake.urls.push(new URL(client.url.href))
      fake.protocols.push(
        info.protocols === undefined ? [] : typeof info.protocols === "string" ? [info.protocols] : [...info.protocols]
      )

      // msw drops a message sent in the same tick as a close: close a moment later.
      const closeSoon = (code: number, reason: string) => setTimeout(() => client.close(code, reason), 20)

      if (options.refuse !== undefined) {
        const { code, reason, when } = options.refuse
        if (when === "before-open") client.close(code, reason)
        else closeSoon(code, reason)
        return
      }

      const send = (bytes: Uint8Array, answers: number) => {
        const frames = framer(bytes)
        frames.forEach((frame, i) => {
          fake.sent.push(frame.length)
          fake.answersPerMessage.push(i === 0 ? answers : 0)
          client.send(frame)
        })
      }
      const reply = (text: string) => send(enc.encode(text), 1)
      const multi = (status: string, body: Uint8Array) =>
        concatBytes([enc.encode(`${status}\r\n`), stuff(body), enc.encode(".\r\n")])

      let state: "auth" | "transaction" = "auth"
      let user: string | undefined
      const held: Array<Uint8Array> = []
      let input = ""

      const handle = (line: string) => {
        fake.commands.push(line)
        const [verb = "", ...args] = line.split(" ")
        const n = Number(args[0])
        const message = MESSAGES[n - 1]
        switch (verb.toUpperCase()) {
          case "CAPA":
            return reply(`+OK\r\n${capabilities.map((c) => `${c}\r\n`).join("")}.\r\n`)
          case "USER":
            user = args[0]
            return reply("+OK\r\n")
          case "PASS":
            if (user === USER && args.join(" ") === PASSWORD) {
              state = "transaction"
              return reply("+OK maildrop locked\r\n")
            }
            return reply("-ERR [AUTH] invalid login\r\n")
          case "STAT":
            if (state !== "transaction") return reply("-ERR not yet\r\n")
            return reply(`+OK ${MESSAGES.length} ${MESSAGES.reduce((s, m) => s + m.length, 0)}\r\n`)
          case "RETR": {
            if (state !== "transaction" || message === undefined) return reply("-ERR no such message\r\n")
            const answer = multi(`+OK ${message.length} octets`, message)
            const cut = options.cutRetr
            if (cut !== undefined && cut.msg === n) {
              const head = enc.encode(`+OK ${message.length} octets\r\n`).length
              send(answer.slice(0, head + cut.after), 1)
              closeSoon(cut.code, cut.reason)
              return
            }
            if (options.batchRetr !== undefined) {
              held.push(answer)
              if (held.length === options.batchRetr) send(concatBytes(held.splice(0)), options.batchRetr)
              return
            }
            return send(answer, 1)
          }
          case "NOOP":
            return reply("+OK\r\n")
          case "RSET":
            return reply("+OK\r\n")
          case "QUIT":
            reply("+OK bye\r\n")
            closeSoon(1000, "upstream closed")
            return
          default:
            return reply("-ERR unknown command\r\n")
        }
      }

      client.addEventListener("message", (event) => {
        const data: unknown = event.data
        if (typeof data === "string") {
          fake.textFrames++
          client.close(1003, "binary frames only")
          return
        }
        const bytes =
          data instanceof ArrayBuffer
            ? new Uint8Array(data)
            : ArrayBuffer.isView(data)
              ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
              : undefined
        if (bytes === undefined) throw new Error(`unexpected frame ${String(data)}`)
        input += latin1(bytes)
        for (let end = input.indexOf("\r\n"); end >= 0; end = input.indexOf("\r\n")) {
          const line = input.slice(0, end)
          input = input.slice(end + 2)
          handle(line)
        }
      })

      // Greet once open, like the real bridge (whose upstream answers after the upgrade).
      setTimeout(() => reply("+OK fake bridge POP3 ready\r\n"), 0)
    })
  )
  return fake
}

// ---------------------------------------------------------------------------------------
// Running the client.

const run = <A, E>(
  layer: Layer.Layer<Transport>,
  program: Effect.Effect<A, E, Transport | Scope.Scope>
): Promise<Exit.Exit<A, E>> => Effect.runPromiseExit(program.pipe(Effect.scoped, Effect.provide(layer)))

const success = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected success, got ${Cause.pretty(exit.cause)}`)
}

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got success")
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  if (reason === undefined) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return reason.error
}

/** Greeting, login, STAT, and RETR of each message. */
const session = (msgs: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const auth = yield* connect(TARGET)
    const mailbox = yield* auth.login({ user: USER, password: PASSWORD })
    const stat = yield* mailbox.stat
    const bodies: Array<Uint8Array> = []
    for (const msg of msgs) bodies.push(yield* collect(mailbox.retr(msg)))
    yield* mailbox.quit
    return { greeting: auth.greeting.text, capabilities: auth.capabilities().lines, stat, bodies }
  })

// ---------------------------------------------------------------------------------------

describe("bridgeUrl", () => {
  it("adds host, port and tls, keeping the base's path and token", () => {
    const url = new URL(
      bridgeUrl("wss://bridge.example/pop3?token=t0ken%2Fwith%3Dchars", {
        host: "pop.example.com",
        port: 995,
        tls: "implicit"
      })
    )
    expect(url.protocol).toBe("wss:")
    expect(url.pathname).toBe("/pop3")
    expect(url.searchParams.get("token")).toBe("t0ken/with=chars")
    expect(url.searchParams.get("host")).toBe("pop.example.com")
    expect(url.searchParams.get("port")).toBe("995")
    expect(url.searchParams.get("tls")).toBe("implicit")
  })

  it("asks for tls=passthrough when the client brings its own TLS", () => {
    const url = new URL(
      bridgeUrl("wss://bridge.example/pop3", { host: "pop.example.com", port: 995, tls: "passthrough" })
    )
    expect(url.searchParams.get("tls")).toBe("passthrough")
  })

  it("replaces, never duplicates, host/port/tls already in the base URL", () => {
    const url = new URL(
      bridgeUrl("ws://b/pop3?host=evil.example&port=25&tls=none", { host: "[::1]", port: 110, tls: "none" })
    )
    expect(url.searchParams.getAll("host")).toEqual(["[::1]"])
    expect(url.searchParams.getAll("port")).toEqual(["110"])
    expect(url.searchParams.getAll("tls")).toEqual(["none"])
  })
})

describe("WebSocket transport through a fake bridge (msw)", () => {
  it("greets, logs in, STATs and RETRs byte-exactly with one message per answer", async () => {
    const fake = fakeBridge()
    const result = success(await run(layerGlobal(BRIDGE), session([1, 2, 3])))
    expect(result.greeting).toBe("fake bridge POP3 ready")
    expect(result.capabilities).toEqual(["USER", "UIDL", "TOP"])
    expect(result.stat).toEqual({ count: 3, size: MESSAGES.reduce((s, m) => s + m.length, 0) })
    result.bodies.forEach((body, i) =>
      expect(Buffer.from(body).equals(Buffer.from(MESSAGES[i]!)), `message ${i + 1}`).toBe(true)
    )
    // CAPA again after login: servers may announce more once the user is known.
    expect(fake.commands).toEqual([
      "CAPA",
      `USER ${USER}`,
      `PASS ${PASSWORD}`,
      "CAPA",
      "STAT",
      "RETR 1",
      "RETR 2",
      "RETR 3",
      "QUIT"
    ])
    expect(fake.textFrames).toBe(0)
    expect(fake.urls).toHaveLength(1)
  })

  it("reassembles answers split into one-byte messages", async () => {
    const fake = fakeBridge({ framer: pieces(1) })
    const result = success(await run(layerGlobal(BRIDGE), session([1, 2])))
    expect(result.greeting).toBe("fake bridge POP3 ready")
    expect(Buffer.from(result.bodies[0]!).equals(Buffer.from(MESSAGES[0]!))).toBe(true)
    expect(Buffer.from(result.bodies[1]!).equals(Buffer.from(MESSAGES[1]!))).toBe(true)
    // Every message really was a single byte: CR|LF and "."|CRLF fell on message boundaries.
    expect(new Set(fake.sent)).toEqual(new Set([1]))
    expect(fake.sent.length).toBeGreaterThan(MESSAGES[1]!.length)
  })

  it("reassembles a 64 KB message from random 1–13 byte messages", async () => {
    for (const seed of [1, 7, 42]) {
      const fake = fakeBridge({ framer: pieces(13, seed) })
      const result = success(await run(layerGlobal(BRIDGE), session([3, 2])))
      expect(Buffer.from(result.bodies[0]!).equals(Buffer.from(MESSAGES[2]!)), `seed ${seed}`).toBe(true)
      expect(Buffer.from(result.bodies[1]!).equals(Buffer.from(MESSAGES[1]!)), `seed ${seed}`).toBe(true)
      expect(Math.max(...fake.sent)).toBeLessThanOrEqual(13)
      server.resetHandlers()
    }
  })

  it("RETR hands on views into the WebSocket's messages, not copies: each message is memory of its own", async () => {
    fakeBridge()
    const exit = await run(
      layerGlobal(BRIDGE),
      Effect.gen(function* () {
        const auth = yield* connect(TARGET)
        const mailbox = yield* auth.login({ user: USER, password: PASSWORD })
        const first = [...(yield* Stream.runCollect(mailbox.retr(1)))]
        // Reads after it: a view into reused memory would change under the first body now.
        const second = [...(yield* Stream.runCollect(mailbox.retr(2)))]
        yield* mailbox.quit
        return { first, second }
      })
    )
    const { first, second } = success(exit)
    // The whole answer came in one message: the body's one chunk is that message's bytes
    // past the status line, in the message's own buffer.
    const status = `+OK ${MESSAGES[0]!.length} octets\r\n`.length
    expect(first).toHaveLength(1)
    expect(first[0]!.byteOffset).toBe(status)
    expect(first[0]!.buffer.byteLength).toBeGreaterThan(first[0]!.length)
    expect(Buffer.from(first[0]!).equals(Buffer.from(MESSAGES[0]!))).toBe(true)
    expect(Buffer.from(concatBytes(second)).equals(Buffer.from(MESSAGES[1]!))).toBe(true)
  })

  it("splits several answers that arrive in one message (pipelined RETRs)", async () => {
    const fake = fakeBridge({ capabilities: ["USER", "UIDL", "PIPELINING"], batchRetr: 3 })
    const exit = await run(
      layerGlobal(BRIDGE),
      Effect.gen(function* () {
        const auth = yield* connect(TARGET)
        const mailbox = yield* auth.login({ user: USER, password: PASSWORD })
        const messages = yield* Stream.runCollect(mailbox.retrMany([2, 3, 1]))
        yield* mailbox.quit
        return messages
      })
    )
    const messages = success(exit)
    expect(messages.map((m) => m.msg)).toEqual([2, 3, 1])
    for (const m of messages)
      expect(Buffer.from(m.bytes).equals(Buffer.from(MESSAGES[m.msg - 1]!)), `message ${m.msg}`).toBe(true)
    // The three answers (status lines, bodies, terminators) really shared one message.
    expect(Math.max(...fake.answersPerMessage)).toBe(3)
    expect(fake.commands.slice(-4)).toEqual(["RETR 2", "RETR 3", "RETR 1", "QUIT"])
  })

  it("opens the bridge URL with host, port and tls, keeping the token, offering only 'binary'", async () => {
    const fake = fakeBridge()
    success(await run(layerGlobal(`${BRIDGE}?token=secret-token-1234567`), Effect.asVoid(connect(TARGET))))
    expect(fake.urls).toHaveLength(1)
    const url = fake.urls[0]!
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(BRIDGE)
    expect(Object.fromEntries(url.searchParams)).toEqual({
      token: "secret-token-1234567",
      host: "pop.example.com",
      port: "995",
      tls: "implicit"
    })
    expect(fake.protocols).toEqual([["binary"]])
    expect(fake.commands).toEqual(["CAPA", "QUIT"])
    expect(fake.textFrames).toBe(0)
  })

  it("asks the bridge for tls=none for a plain target", async () => {
    const fake = fakeBridge()
    success(
      await run(
        layerGlobal(BRIDGE),
        Effect.asVoid(connect({ host: "127.0.0.1", port: 1110, tls: "none", timeout: 5000 }))
      )
    )
    expect(Object.fromEntries(fake.urls[0]!.searchParams)).toEqual({ host: "127.0.0.1", port: "1110", tls: "none" })
  })

  for (const when of ["before-open", "after-open"] as const) {
    it(`turns a refusal with 4001 (${when}) into BridgeError with the bridge's reason`, async () => {
      const fake = fakeBridge({ refuse: { code: 4001, reason: "not allowed", when } })
      const error = failure(await run(layerGlobal(BRIDGE), connect(TARGET)))
      expect(error).toBeInstanceOf(BridgeError)
      expect(error).toMatchObject({ _tag: "BridgeError", code: 4001, reason: "not allowed" })
      expect(error.message).toBe("the bridge closed the connection (4001: not allowed)")
      expect(fake.commands).toEqual([])
    })
  }

  it("a close with 1000 in the middle of RETR is ConnectionClosed, not a short message", async () => {
    const fake = fakeBridge({ cutRetr: { msg: 3, after: 10_000, code: 1000, reason: "upstream closed" } })
    const error = failure(await run(layerGlobal(BRIDGE), session([1, 3])))
    expect(error).toBeInstanceOf(ConnectionClosed)
    expect((error as ConnectionClosed).during).toMatch(/RETR 3/)
    expect(fake.commands.at(-1)).toBe("RETR 3")
  })

  it("a close with 4010 in the middle of RETR is BridgeError with the bridge's reason", async () => {
    fakeBridge({ cutRetr: { msg: 3, after: 777, code: 4010, reason: "upstream connect failed: ECONNRESET" } })
    const error = failure(await run(layerGlobal(BRIDGE), session([3])))
    expect(error).toBeInstanceOf(BridgeError)
    expect(error).toMatchObject({ code: 4010, reason: "upstream connect failed: ECONNRESET" })
  })

  it("a close with 1000 in the middle of a streamed RETR fails the stream after the bytes that came", async () => {
    fakeBridge({ cutRetr: { msg: 3, after: 5000, code: 1000, reason: "upstream closed" } })
    let received = 0
    const exit = await run(
      layerGlobal(BRIDGE),
      Effect.gen(function* () {
        const auth = yield* connect(TARGET)
        const mailbox = yield* auth.login({ user: USER, password: PASSWORD })
        yield* Stream.runForEach(mailbox.retr(3), (chunk) => Effect.sync(() => (received += chunk.length)))
      })
    )
    expect(failure(exit)).toBeInstanceOf(ConnectionClosed)
    // The body bytes before the cut were delivered (minus stuffing dots), never more.
    expect(received).toBeGreaterThan(4000)
    expect(received).toBeLessThanOrEqual(5000)
  })

  it("tls: starttls fails with TlsError saying to use implicit TLS, before anything is sent", async () => {
    const fake = fakeBridge()
    const error = failure(
      await run(layerGlobal(BRIDGE), connect({ host: "pop.example.com", port: 110, tls: "starttls", timeout: 5000 }))
    )
    expect(error).toBeInstanceOf(TlsError)
    expect(error.message).toMatch(/use implicit TLS/)
    // Not one byte went out: no WebSocket was opened, so no bridge connection and no CAPA.
    expect(fake.urls).toEqual([])
    expect(fake.commands).toEqual([])
  })
})

describe("which bridge paths count as encrypted (plaintext mechanisms need both legs)", () => {
  const secureVia = (url: string, tls: "implicit" | "none") =>
    Effect.runSync(
      Effect.gen(function* () {
        const t = yield* TransportService
        return t.secure?.({
          host: "pop.example.com",
          port: 995,
          tls,
          servername: "pop.example.com",
          ca: undefined,
          insecure: false,
          connectTimeoutMillis: 1000
        })
      }).pipe(Effect.provide(layerGlobal(url)))
    )
  it.each([
    ["wss://bridge.example.com/pop3", "implicit", true],
    ["ws://127.0.0.1:8110/pop3", "implicit", true],
    ["ws://localhost:8110/pop3", "implicit", true],
    ["ws://[::1]:8110/pop3", "implicit", true],
    // A plain ws: leg across the network would carry USER/PASS in the clear.
    ["ws://bridge.example.com/pop3", "implicit", false],
    ["wss://bridge.example.com/pop3", "none", false]
  ] as const)("%s with tls=%s → %s", (url, tls, expected) => {
    expect(secureVia(url, tls)).toBe(expected)
  })
})
