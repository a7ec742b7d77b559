// End-to-end TLS (core/tls) on real sockets: the client does TLS 1.3 itself over the Node
// transport's plain TCP, through a relay that keeps every byte (what a passthrough bridge
// sees), to the dev server with a certificate from a throwaway CA. Then the failures, each
// with the TlsError problem that names it, and a relay that flips one byte.

import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import tls from "node:tls"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/index.ts"
import type { ConnectOptions } from "../../../core/index.ts"
import { TlsError } from "../../../core/errors.ts"
import * as EndToEnd from "../../../core/tls/index.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import type { Behaviour } from "../../../dev-server/server.ts"
import type { ListenTcpOptions, TcpListener } from "../../../dev-server/tcp.ts"
import { listenTcp } from "../../../dev-server/tcp.ts"
import { type Issued, makePki, type Pki } from "../../support/pki.ts"
import { type Relay, type RelayOptions, startRelay } from "../../support/tcp-relay.ts"
import { failure, makeStore, MESSAGES, num, PASSWORD, run, stored, success, USER } from "../client/harness.ts"

const layer = EndToEnd.layer(NodeTransport.layer)

let pki: Pki
let good: Issued
beforeAll(async () => {
  pki = await makePki()
  good = await pki.issue(["localhost"])
}, 60_000)
afterAll(() => pki.remove())

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

/** The dev server with `cert`, behind a relay. */
const serve = async (cert: Issued, options: ListenTcpOptions & { relay?: RelayOptions } = {}) => {
  const store = makeStore()
  const commands: Array<string> = []
  const behaviour: Behaviour = { onCommand: (line) => commands.push(line) }
  const listener: TcpListener = await listenTcp(store, { ...options, tls: cert, behaviour, onError: () => {} })
  const relay: Relay = await startRelay("127.0.0.1", listener.port, options.relay)
  closers.push(
    () => relay.close(),
    () => listener.close()
  )
  return { relay, store, commands }
}

const target = (port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  host: "127.0.0.1",
  servername: "localhost",
  port,
  tls: "implicit",
  ca: pki.ca,
  timeout: 30_000,
  ...extra
})

const fetchMessage = (options: ConnectOptions, name: Parameters<typeof num>[0]) =>
  Effect.gen(function* () {
    const session = yield* connect(options)
    const mailbox = yield* session.login({ user: USER, password: PASSWORD, mechanism: "user" })
    return { secure: session.secure, body: yield* collect(mailbox.retr(num(name))) }
  })

/**
 * What a relay must never see: the commands after TLS, the password, the message text.
 * Each at least 5 bytes: ciphertext is random, and 330 KB of it holds a given 3 bytes
 * ("+OK") about one time in fifty — it did, once — and 4 bytes one time in 13,000.
 */
const expectOnlyCiphertext = (relayed: Buffer) => {
  const text = relayed.toString("latin1")
  for (const word of ["USER ", "PASS ", "RETR ", "CAPA\r\n", "QUIT\r\n", PASSWORD, "line two", "\r\n+OK "]) {
    expect(text).not.toContain(word)
  }
}

// TLS in JavaScript on a machine shared with other test runs: generous limits, which only
// bound a hang (nothing here is a speed claim; see bench/ for the figures).
const SLOW = { timeout: 60_000 }

describe("end-to-end TLS over a relay", SLOW, () => {
  it("implicit TLS: the client logs in and reads a message; the relay saw only ciphertext", async () => {
    const { relay, store, commands } = await serve(good, { implicitTls: true })
    const { secure, body } = success(await run(layer, fetchMessage(target(relay.port), "plain")))
    expect(secure).toBe(true)
    expect(body).toEqual(stored(store, num("plain")))
    expect(commands).toEqual(["CAPA", `USER ${USER}`, `PASS ${PASSWORD}`, "CAPA", `RETR ${num("plain")}`, "QUIT"])
    // Both ways: TLS records from the first byte (a handshake record, 0x16).
    expect(relay.fromClient()[0]).toBe(0x16)
    expect(relay.fromServer()[0]).toBe(0x16)
    expectOnlyCiphertext(relay.fromClient())
    expectOnlyCiphertext(relay.fromServer())
  })

  it("STLS: plaintext up to +OK, then TLS; nothing after it readable; a 330 KB message intact", async () => {
    const { relay, store, commands } = await serve(good)
    const { secure, body } = success(await run(layer, fetchMessage(target(relay.port, { tls: "starttls" }), "long")))
    expect(secure).toBe(true)
    expect(body).toEqual(stored(store, num("long")))
    expect(commands).toEqual([
      "STLS",
      "CAPA",
      `USER ${USER}`,
      `PASS ${PASSWORD}`,
      "CAPA",
      `RETR ${num("long")}`,
      "QUIT"
    ])
    const client = relay.fromClient()
    expect(client.subarray(0, 6).toString()).toBe("STLS\r\n")
    expect(client[6]).toBe(0x16)
    expectOnlyCiphertext(client.subarray(6))
    const server = relay.fromServer().toString("latin1")
    const tlsStart = server.indexOf("\r\n", server.indexOf("+OK", 3)) + 2
    expect(server.slice(0, tlsStart)).toMatch(/^\+OK.*\r\n\+OK.*\r\n$/)
    expectOnlyCiphertext(relay.fromServer().subarray(tlsStart))
  })

  it("the memory transport carries it too (here piped to the same relay)", async () => {
    const { relay, store } = await serve(good, { implicitTls: true })
    const { Socket } = await import("node:net")
    const { layer: memory } = await import("../../../core/transport/memory.ts")
    const overMemory = EndToEnd.layer(
      memory((server) => {
        const socket = new Socket().connect(relay.port, "127.0.0.1")
        socket.on("data", (chunk) => void writer.write(new Uint8Array(chunk)).catch(() => socket.destroy()))
        socket.on("close", () => void writer.close().catch(() => undefined))
        const writer = server.writable.getWriter()
        void server.readable
          .pipeTo(
            new WritableStream({
              write: (chunk) => void socket.write(chunk),
              close: () => void socket.end()
            })
          )
          .catch(() => socket.destroy())
      })
    )
    const { body } = success(await run(overMemory, fetchMessage(target(relay.port), "dots")))
    expect(body).toEqual(stored(store, num("dots")))
  })
})

describe("end-to-end TLS failures: a TlsError that says what failed, no credentials sent", SLOW, () => {
  const failWith = async (
    options: Partial<ConnectOptions>,
    cert: Issued = good,
    serverOptions: ListenTcpOptions = {}
  ) => {
    const { relay, commands } = await serve(cert, { implicitTls: true, ...serverOptions })
    const error = failure(await run(layer, fetchMessage(target(relay.port, options), "plain")))
    expect(commands).toEqual([])
    expect(relay.fromClient().toString("latin1")).not.toContain(PASSWORD)
    return error
  }

  it("a self-signed certificate without ca: untrusted-certificate", async () => {
    const error = await failWith({}, await pki.selfSigned(["localhost"]))
    expect(error).toBeInstanceOf(TlsError)
    expect(error).toMatchObject({ host: "localhost", problem: "untrusted-certificate" })
    expect(error.message).toMatch(/^TLS with localhost failed: the server's certificate is not signed by a trusted CA/)
  })

  it("a certificate of a private CA without ca: untrusted-certificate (Mozilla's roots alone)", async () => {
    const error = await failWith({ ca: undefined })
    expect(error).toMatchObject({ _tag: "TlsError", problem: "untrusted-certificate" })
  })

  it("the wrong host name: host-name-mismatch", async () => {
    const error = await failWith({ servername: "pop.example.com" })
    expect(error).toMatchObject({ _tag: "TlsError", host: "pop.example.com", problem: "host-name-mismatch" })
    expect(error.message).toMatch(/not for this host name/)
  })

  it("an expired certificate: not-valid-now", async () => {
    const error = await failWith({}, await pki.issue(["localhost"], { expired: true }))
    expect(error).toMatchObject({ _tag: "TlsError", problem: "not-valid-now" })
    expect(error.message).toMatch(/expired or is not valid yet/)
  })

  it("insecure is refused: nothing is sent at all", async () => {
    const { relay } = await serve(good, { implicitTls: true })
    const error = failure(
      await run(layer, fetchMessage(target(relay.port, { insecure: true, ca: undefined }), "plain"))
    )
    expect(error).toMatchObject({ _tag: "TlsError" })
    expect(error.message).toMatch(/insecure .* is refused with end-to-end TLS/)
    expect(relay.fromClient().length).toBe(0)
  })

  it("a plaintext port: not-tls", async () => {
    const { relay } = await serve(good)
    const error = failure(await run(layer, fetchMessage(target(relay.port), "plain")))
    expect(error).toMatchObject({ _tag: "TlsError", problem: "not-tls" })
  })

  it("a TLS 1.2-only server: protocol-version, no fallback", async () => {
    const server = tls.createServer({ ...good, maxVersion: "TLSv1.2" }, (socket) => socket.end("+OK never\r\n"))
    server.on("tlsClientError", () => {})
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const relay = await startRelay("127.0.0.1", (server.address() as { port: number }).port)
    closers.push(
      () => relay.close(),
      () => new Promise((resolve) => server.close(() => resolve()))
    )
    const error = failure(await run(layer, fetchMessage(target(relay.port), "plain")))
    expect(error).toMatchObject({ _tag: "TlsError", problem: "protocol-version" })
    expect(error.message).toMatch(/does not speak TLS 1\.3/)
    // Only the one ClientHello was sent: no second, weaker attempt.
    expect(relay.fromClient()[0]).toBe(0x16)
    expect(relay.fromClient().length).toBe(5 + relay.fromClient().readUInt16BE(3))
  })

  it("a relay that flips a byte of the client's command: the server's encrypted bad_record_mac alert ends it as bad-record-mac, not a wait", async () => {
    // The server (node:tls) cannot decrypt the client's first command and says so with an
    // encrypted alert; subtls used to hand that alert on as data, and the POP3 decoder
    // waited for the end of its line until the time limit.
    const { relay, commands } = await serve(good, { implicitTls: true, relay: { flipClientRecord: 2 } })
    const error = failure(await run(layer, fetchMessage(target(relay.port, { timeout: 20_000 }), "plain")))
    expect(relay.flipped()).toBe(true)
    expect(error).toMatchObject({ _tag: "TlsError", problem: "bad-record-mac" })
    expect(error.message).toMatch(/bad_record_mac alert/)
    expect(commands).toEqual([])
  })

  it("a relay that swallows the server's bytes and sends unencrypted alerts without end: a TlsError at once, not memory growing until the time limit", async () => {
    // TLS 1.3 treats every alert as fatal; subtls read past warning-level ones, so a hostile
    // bridge sending them grew the client by ~20 MB a second until its time limit.
    const { relay } = await serve(good, { implicitTls: true, relay: { floodAfterClientRecords: 2 } })
    const error = failure(await run(layer, fetchMessage(target(relay.port, { timeout: 20_000 }), "plain")))
    expect(error).toMatchObject({ _tag: "TlsError", problem: "handshake-aborted" })
    expect(error.message).toMatch(/ended by alert 0 \(unencrypted/)
  })

  it("a relay that flips one byte of a message's record: bad-record-mac, and nothing of it delivered", async () => {
    const { relay, store } = await serve(good, { implicitTls: true, relay: { flipInRecordOf: 8000 } })
    const delivered: Array<Uint8Array> = []
    const error = failure(
      await run(
        layer,
        Effect.gen(function* () {
          const session = yield* connect(target(relay.port))
          const mailbox = yield* session.login({ user: USER, password: PASSWORD, mechanism: "user" })
          return yield* Stream.runForEach(mailbox.retr(num("long")), (chunk) =>
            Effect.sync(() => void delivered.push(chunk))
          )
        })
      )
    )
    expect(relay.flipped()).toBe(true)
    expect(error).toMatchObject({ _tag: "TlsError", problem: "bad-record-mac" })
    expect(error.message).toMatch(/bytes were altered on the way/)
    expect(delivered).toEqual([])
    expect(stored(store, num("long")).length).toBeGreaterThan(8000)
    expect(MESSAGES.long.length).toBeGreaterThan(8000)
  })
})
