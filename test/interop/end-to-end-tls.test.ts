// End-to-end TLS against a real Dovecot through the real Node pop3-bridge in
// `tls=passthrough` mode: client --WebSocket--> bridge --TCP--> relay --TCP--> Dovecot.
// The relay (test/support/tcp-relay.ts) keeps every byte the bridge relayed, so the test
// can show that none of them is a POP3 command, the password or the message; a second
// relay flips one byte of the server's records. Dovecot serves a certificate of a
// throwaway CA (subtls, like a browser, does not take a self-signed server certificate as
// a trust anchor). The library (implicit and STLS), its failures, and the CLI's
// `--end-to-end`.
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { collect, connect } from "../../core/client/client.ts"
import type { ConnectOptions } from "../../core/client/options.ts"
import type { Transport } from "../../core/transport/transport.ts"
import * as WebSocketTransport from "../../core/transport/websocket.ts"
import { type Dovecot, dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import { makePki, type Pki } from "../support/pki.ts"
import { requireService } from "../support/require-service.ts"
import { type Relay, startRelay } from "../support/tcp-relay.ts"
import { cli } from "./helpers.ts"

const available = requireService("Dovecot", dovecotAvailable())

describe.skipIf(!available)("end-to-end TLS through pop3-bridge (tls=passthrough) to Dovecot", () => {
  let pki: Pki | undefined
  let server: Dovecot | undefined
  // Dovecot with its default self-signed certificate. (An expired certificate is tested
  // against the dev server, test/core/tls/: the harness's start-up probe verifies Dovecot's.)
  let selfSigned: Dovecot | undefined
  let bridge: RunningBridge | undefined
  let dir = ""
  const relays: Record<"implicit" | "stls" | "flipping", Relay | undefined> = {
    implicit: undefined,
    stls: undefined,
    flipping: undefined
  }
  const d = (): Dovecot => server ?? (undefined as never)
  const relay = (name: keyof typeof relays): Relay => {
    const r = relays[name]
    if (r === undefined) throw new Error(`the ${name} relay did not start`)
    return r
  }

  beforeAll(async () => {
    pki = await makePki()
    const leaf = await pki.issue(["localhost", "IP:127.0.0.1"])
    ;[server, selfSigned] = await Promise.all([startDovecot({ certificate: { ...leaf, ca: pki.ca } }), startDovecot()])
    relays.implicit = await startRelay(server.host, server.tlsPort)
    relays.stls = await startRelay(server.host, server.port)
    relays.flipping = await startRelay(server.host, server.tlsPort, { flipInRecordOf: 4000 })
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      // Only passthrough: a fallback to TLS at the bridge would be refused, not taken.
      // `localhost` (what the certificate names: subtls checks DNS names only), and its
      // address, which the bridge connects to only because it is listed.
      allow: [...Object.values(relays).map((r) => r?.port), selfSigned.tlsPort].flatMap((port) => [
        `localhost:${port}/passthrough`,
        `127.0.0.1:${port}/passthrough`
      ]),
      log: () => {}
    })
    dir = await mkdtemp(join(tmpdir(), "pop3-e2e-tls-"))
    await writeFile(join(dir, "ca.pem"), pki.ca)
  })
  afterAll(async () => {
    await bridge?.close(1000)
    await Promise.all(Object.values(relays).map((r) => r?.close()))
    await Promise.all([server?.stop(), selfSigned?.stop()])
    await pki?.remove()
    if (dir !== "") await rm(dir, { recursive: true, force: true })
  })

  const layer = () => WebSocketTransport.layerGlobal(`${bridge?.url}/pop3`, { endToEnd: true })
  const target = (port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
    host: "localhost",
    port,
    tls: "implicit",
    ca: pki?.ca,
    timeout: 30_000,
    ...extra
  })
  const run = <A, E>(effect: Effect.Effect<A, E, Transport | Scope.Scope>) =>
    Effect.runPromiseExit(Effect.scoped(effect).pipe(Effect.provide(layer())))
  const retr = (options: ConnectOptions, n: number) =>
    Effect.gen(function* () {
      const session = yield* connect(options)
      const mailbox = yield* session.login({ user: "alice", password: d().users.alice.password })
      return { secure: session.secure, body: yield* collect(mailbox.retr(n)) }
    })

  /**
   * The bridge relayed ciphertext only: no command, no password, no line of the message.
   * Each word at least 5 bytes: random ciphertext holds a given 3 or 4 bytes too often.
   */
  const expectOnlyCiphertext = (bytes: Buffer, message: Uint8Array) => {
    const text = bytes.toString("latin1")
    for (const word of [
      "USER ",
      "PASS ",
      "AUTH ",
      "RETR ",
      "CAPA\r\n",
      "QUIT\r\n",
      "\r\n+OK ",
      d().users.alice.password
    ]) {
      expect(text).not.toContain(word)
    }
    const line = Buffer.from(message).toString("latin1").split("\r\n")[0] ?? ""
    expect(line.length).toBeGreaterThan(10)
    expect(text).not.toContain(line)
  }

  it("implicit TLS: the message arrives intact; the bridge relayed only ciphertext", async () => {
    const exit = await run(retr(target(relay("implicit").port), 1))
    expect(exit._tag).toBe("Success")
    if (exit._tag !== "Success") return
    expect(exit.value.secure).toBe(true)
    expect(Buffer.from(exit.value.body)).toEqual(Buffer.from(d().messages("alice")[0]!))
    expect(relay("implicit").fromClient()[0]).toBe(0x16)
    expectOnlyCiphertext(relay("implicit").fromClient(), d().messages("alice")[0]!)
    expectOnlyCiphertext(relay("implicit").fromServer(), d().messages("alice")[0]!)
  })

  it("STLS: plaintext up to Dovecot's go-ahead, ciphertext after it", async () => {
    const exit = await run(retr(target(relay("stls").port, { tls: "starttls" }), 2))
    expect(exit._tag).toBe("Success")
    if (exit._tag !== "Success") return
    expect(Buffer.from(exit.value.body)).toEqual(Buffer.from(d().messages("alice")[1]!))
    const client = relay("stls").fromClient()
    expect(client.subarray(0, 6).toString("latin1")).toBe("STLS\r\n")
    expect(client[6]).toBe(0x16)
    expectOnlyCiphertext(client.subarray(6), d().messages("alice")[1]!)
    const server = relay("stls").fromServer()
    // Greeting and "+OK Begin TLS negotiation now." are plaintext; then a TLS record.
    const plain = server.toString("latin1").match(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n/)?.[0] ?? ""
    expect(plain).not.toBe("")
    expect(server[plain.length]).toBe(0x16)
    expectOnlyCiphertext(server.subarray(plain.length), d().messages("alice")[1]!)
  })

  it("without the CA: untrusted-certificate, and no password crossed the bridge", async () => {
    const before = relay("implicit").fromClient().length
    const exit = await run(retr(target(relay("implicit").port, { ca: undefined }), 1))
    expect(exit._tag === "Failure" && exit.cause.reasons[0]).toMatchObject({
      error: { _tag: "TlsError", problem: "untrusted-certificate" }
    })
    expect(relay("implicit").fromClient().subarray(before).toString("latin1")).not.toContain(d().users.alice.password)
  })

  it("a self-signed server certificate, even given as ca: untrusted-certificate (it is no CA)", async () => {
    const other = selfSigned as Dovecot
    const exit = await run(retr(target(other.tlsPort, { ca: other.ca }), 1))
    expect(exit._tag === "Failure" && exit.cause.reasons[0]).toMatchObject({
      error: { _tag: "TlsError", problem: "untrusted-certificate" }
    })
  })

  it("the wrong host name: host-name-mismatch (STLS)", async () => {
    const exit = await run(retr(target(relay("stls").port, { tls: "starttls", servername: "pop.example.com" }), 1))
    expect(exit._tag === "Failure" && exit.cause.reasons[0]).toMatchObject({
      error: { _tag: "TlsError", problem: "host-name-mismatch", host: "pop.example.com" }
    })
  })

  it("one flipped byte in a message's record: bad-record-mac, nothing of the message delivered", async () => {
    // Alice's 5th message (5 MB) fills records of 16 KB; everything before it is smaller
    // than 4000 bytes, the handshake included.
    expect(d().messages("alice")[4]!.length).toBeGreaterThan(1_000_000)
    const delivered: Array<Uint8Array> = []
    const exit = await run(
      Effect.gen(function* () {
        const session = yield* connect(target(relay("flipping").port))
        const mailbox = yield* session.login({ user: "alice", password: d().users.alice.password })
        yield* Stream.runForEach(mailbox.retr(5), (chunk) => Effect.sync(() => void delivered.push(chunk)))
      })
    )
    expect(relay("flipping").flipped()).toBe(true)
    expect(exit._tag === "Failure" && exit.cause.reasons[0]).toMatchObject({
      error: { _tag: "TlsError", problem: "bad-record-mac" }
    })
    expect(delivered).toEqual([])
  })

  it("the CLI: pop3 --bridge URL --end-to-end, implicit and STLS, prints the message", async () => {
    for (const [port, tls] of [
      [relay("implicit").port, "implicit"],
      [relay("stls").port, "starttls"]
    ] as const) {
      const result = await cli(
        [
          "--host",
          "localhost",
          "--port",
          String(port),
          "--tls",
          tls,
          "--ca",
          join(dir, "ca.pem"),
          "--bridge",
          `${bridge?.url}/pop3`,
          "--end-to-end",
          "--user",
          "alice",
          "retr",
          "3"
        ],
        d().users.alice.password
      )
      expect(result.stderr, tls).toEqual([])
      expect(result.code, tls).toBe(0)
      expect(result.stdout.toString("latin1")).toContain(
        Buffer.from(d().messages("alice")[2]!).toString("latin1").split("\r\n")[0]
      )
    }
  })

  it("the CLI: a self-signed-style failure exits 3 with the TlsError's words", async () => {
    const result = await cli(
      [
        "--host",
        "localhost",
        "--port",
        String(relay("implicit").port),
        "--tls",
        "implicit",
        "--bridge",
        `${bridge?.url}/pop3`,
        "--end-to-end",
        "--user",
        "alice",
        "stat"
      ],
      d().users.alice.password
    )
    expect(result.code).toBe(3)
    expect(result.stderr.join("\n")).toMatch(
      /TLS with localhost failed: the server's certificate is not signed by a trusted CA/
    )
  })
})
