// TLS with the Node transport against the dev server on real sockets: STLS verified with the
// fixture certificate, implicit TLS, verification failures, and no fallback to plaintext.

import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/index.ts"
import type { ConnectOptions } from "../../../core/index.ts"
import { TlsError } from "../../../core/errors.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import type { Behaviour } from "../../../dev-server/server.ts"
import type { ListenTcpOptions, TcpListener } from "../../../dev-server/tcp.ts"
import { listenTcp } from "../../../dev-server/tcp.ts"
import { testCert, testTls } from "../../../dev-server/tls-fixture.ts"
import { failure, makeStore, num, PASSWORD, run, stored, success, USER } from "./harness.ts"

const listeners: Array<TcpListener> = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
})

const listen = async (options: ListenTcpOptions = {}) => {
  const store = makeStore()
  const commands: Array<string> = []
  const behaviour: Behaviour = { ...options.behaviour, onCommand: (line) => commands.push(line) }
  const l = await listenTcp(store, { ...options, behaviour, onError: () => {} })
  listeners.push(l)
  return { port: l.port, store, commands }
}

const target = (port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  host: "127.0.0.1",
  servername: "localhost",
  port,
  tls: "starttls",
  ca: testCert,
  timeout: 3000,
  ...extra
})

describe("STLS", () => {
  it("upgrades with the fixture certificate as CA; secure; capabilities re-read; USER allowed", async () => {
    const { port, store, commands } = await listen({ tls: testTls })
    const exit = await run(
      NodeTransport.layer,
      Effect.gen(function* () {
        const session = yield* connect(target(port))
        const secure = session.secure
        const caps = session.capabilities().lines
        // USER/PASS without allowPlaintext: the connection is encrypted.
        const mailbox = yield* session.login({ user: USER, password: PASSWORD, mechanism: "user" })
        const body = yield* collect(mailbox.retr(num("dots")))
        yield* mailbox.quit
        return { secure, caps, body }
      })
    )
    const { secure, caps, body } = success(exit)
    expect(secure).toBe(true)
    // After TLS, STLS is no longer offered: the CAPA we kept is the post-TLS one.
    expect(caps).not.toContain("STLS")
    expect(caps).toContain("USER")
    expect(body).toEqual(stored(store, num("dots")))
    // No CAPA before STLS: RFC 2595 §4 has it forgotten after TLS anyway.
    expect(commands).toEqual([
      "STLS",
      "CAPA",
      `USER ${USER}`,
      `PASS ${PASSWORD}`,
      "CAPA",
      `RETR ${num("dots")}`,
      "QUIT"
    ])
  })

  it("without the CA: TlsError, and no credentials were sent", async () => {
    const { port, commands } = await listen({ tls: testTls })
    const error = failure(
      await run(
        NodeTransport.layer,
        Effect.gen(function* () {
          const session = yield* connect(target(port, { ca: undefined }))
          return yield* session.login({ user: USER, password: PASSWORD })
        })
      )
    )
    expect(error).toBeInstanceOf(TlsError)
    expect(error).toMatchObject({ host: "localhost" })
    expect(error.message).toMatch(/^TLS with localhost failed: .*(self.signed|certificate|verify)/i)
    expect(commands).toEqual(["STLS"])
  })

  it("with the wrong server name: TlsError", async () => {
    const { port } = await listen({ tls: testTls })
    const error = failure(await run(NodeTransport.layer, connect(target(port, { servername: "pop.example.com" }))))
    expect(error).toBeInstanceOf(TlsError)
    expect(error.message).toMatch(/pop\.example\.com/)
  })

  it("insecure: accepts the unknown certificate when asked to", async () => {
    const { port } = await listen({ tls: testTls })
    const exit = await run(
      NodeTransport.layer,
      Effect.map(connect(target(port, { ca: undefined, insecure: true })), (s) => s.secure)
    )
    expect(success(exit)).toBe(true)
  })

  it("against a server without STLS: TlsError, never a fallback to plaintext", async () => {
    const { port, commands } = await listen()
    const error = failure(
      await run(
        NodeTransport.layer,
        Effect.gen(function* () {
          const session = yield* connect(target(port))
          return yield* session.login({ user: USER, password: PASSWORD, allowPlaintext: true })
        })
      )
    )
    expect(error).toBeInstanceOf(TlsError)
    expect(error.message).toMatch(/the server refused STLS.*does not announce STLS/)
    expect(commands.some((c) => c.startsWith("USER") || c.startsWith("PASS") || c.startsWith("APOP"))).toBe(false)
    expect(commands.join("\n")).not.toContain(PASSWORD)
  })
})

describe("implicit TLS and plain TCP", () => {
  it("implicit TLS from the first byte", async () => {
    const { port, store } = await listen({ tls: testTls, implicitTls: true })
    const exit = await run(
      NodeTransport.layer,
      Effect.gen(function* () {
        const session = yield* connect(target(port, { tls: "implicit" }))
        const mailbox = yield* session.login({ user: USER, password: PASSWORD, mechanism: "user" })
        return { secure: session.secure, long: yield* collect(mailbox.retr(num("long"))) }
      })
    )
    const { secure, long } = success(exit)
    expect(secure).toBe(true)
    expect(long).toEqual(stored(store, num("long")))
  })

  it("implicit TLS without the CA: TlsError", async () => {
    const { port } = await listen({ tls: testTls, implicitTls: true })
    const error = failure(await run(NodeTransport.layer, connect(target(port, { tls: "implicit", ca: undefined }))))
    expect(error).toBeInstanceOf(TlsError)
  })

  it("tls: none over TCP is not secure and needs allowPlaintext for USER", async () => {
    const { port, store } = await listen({ tls: testTls })
    const exit = await run(
      NodeTransport.layer,
      Effect.gen(function* () {
        const session = yield* connect(target(port, { tls: "none" }))
        const refused = yield* Effect.flip(session.login({ user: USER, password: PASSWORD, mechanism: "user" }))
        const mailbox = yield* session.login({
          user: USER,
          password: PASSWORD,
          mechanism: "user",
          allowPlaintext: true
        })
        return { secure: session.secure, refused, plain: yield* collect(mailbox.retr(num("plain"))) }
      })
    )
    const { secure, refused, plain } = success(exit)
    expect(secure).toBe(false)
    expect(refused._tag).toBe("AuthError")
    expect(plain).toEqual(stored(store, num("plain")))
  })

  it("a closed port: ConnectError", async () => {
    const { port } = await listen()
    await listeners.pop()!.close()
    const error = failure(await run(NodeTransport.layer, connect(target(port, { tls: "none" }))))
    expect(error._tag).toBe("ConnectError")
    expect(error.message).toMatch(new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
  })
})

describe("STLS handshake time limit (issue 12, item 4)", () => {
  it("a server that answers +OK to STLS and then stalls: TimeoutError, not a hang", async () => {
    const { port, commands } = await listen({ tls: testTls, behaviour: { stallAfterStls: true } })
    const error = failure(await run(NodeTransport.layer, connect(target(port, { timeout: 300 }))))
    expect(error._tag).toBe("TimeoutError")
    expect(error.message).toBe("timed out after 300 ms waiting for the TLS handshake after STLS")
    expect(commands).toEqual(["STLS"])
  })
})
