// TLS with the Node transport against the dev server on real sockets: STLS verified with the
// fixture certificate, implicit TLS, verification failures, and no fallback to plaintext.

import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type AddressInfo, createServer } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/index.ts"
import type { ConnectOptions } from "../../../core/index.ts"
import { TlsError } from "../../../core/errors.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import { Transport } from "../../../core/transport/transport.ts"
import type { Behaviour } from "../../../dev-server/server.ts"
import type { ListenTcpOptions, TcpListener } from "../../../dev-server/tcp.ts"
import { listenTcp } from "../../../dev-server/tcp.ts"
import { testCert, testTls } from "../../../dev-server/tls-fixture.ts"
import { makePki } from "../../support/pki.ts"
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

describe("the TLS context (issue 18: the start of a connection)", () => {
  it("is made ready while the server answers STLS: prepareUpgrade is called while the client waits for the answer to STLS", async () => {
    const events: Array<string> = []
    let prepared = () => {}
    const preparedNow = new Promise<void>((resolve) => (prepared = resolve))
    // A server that answers STLS only once the client has prepared: a client that waited for
    // the answer first would hang until its time limit (TimeoutError, not the refusal below).
    const server = createServer((socket) => {
      socket.on("error", () => {})
      socket.write("+OK ready\r\n")
      socket.on("data", (chunk) => {
        for (const line of chunk.toString("latin1").split("\r\n").filter(Boolean)) {
          events.push(`server got ${line}`)
          if (line === "STLS") void preparedNow.then(() => socket.write("-ERR not now\r\n"))
          else socket.write("-ERR no\r\n")
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as AddressInfo).port
    const base = Context.get(await Effect.runPromise(Layer.build(NodeTransport.layer).pipe(Effect.scoped)), Transport)
    const layer = Layer.succeed(Transport)({
      ...base,
      prepareUpgrade: (options) => {
        events.push(`prepare (ca: ${options.ca === undefined ? "none" : "given"})`)
        base.prepareUpgrade?.(options)
        prepared()
      }
    })
    try {
      const error = failure(await run(layer, connect(target(port))))
      expect(error).toBeInstanceOf(TlsError)
      expect(error.message).toMatch(/refused STLS: not now/)
      // Once, with the upgrade's options (the fixture CA). Which of the two processes' events
      // came first here is the scheduler's business; the answer came only after both.
      expect(events.filter((e) => !e.startsWith("server got ") || e === "server got STLS").sort()).toEqual([
        "prepare (ca: given)",
        "server got STLS"
      ])
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it("is shared by connections that trust the same CAs, never by one trusting others", async () => {
    // The context a `ca` list builds is kept for the next connection with that list. Were it
    // kept by anything less than the whole list, trusting another CA would still accept the
    // first one's certificate.
    const other = (await makePki()).ca
    const { port } = await listen({ tls: testTls })
    const { port: implicitPort } = await listen({ tls: testTls, implicitTls: true })
    const attempt = (ca: string, implicit: boolean) =>
      run(
        NodeTransport.layer,
        Effect.map(
          connect(target(implicit ? implicitPort : port, { ca, ...(implicit ? { tls: "implicit" } : {}) })),
          (s) => s.secure
        )
      )
    for (const implicit of [false, true]) {
      expect(failure(await attempt(other, implicit)), `other CA first (implicit: ${implicit})`).toBeInstanceOf(TlsError)
      expect(success(await attempt(testCert, implicit)), `the right CA (implicit: ${implicit})`).toBe(true)
      expect(success(await attempt(testCert, implicit)), `the right CA again (implicit: ${implicit})`).toBe(true)
      expect(failure(await attempt(other, implicit)), `other CA after (implicit: ${implicit})`).toBeInstanceOf(TlsError)
    }
  })
})
