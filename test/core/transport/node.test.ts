// The Node transport on real loopback sockets: plain TCP, STLS and implicit TLS to the dev
// server (trusting the committed test certificate as CA), and the failures a network gives:
// refused connections, servers that accept but never speak, and untrusted certificates.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type { TlsUpgradeOptions } from "effect/socket/Socket"
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createConnection, createServer, type Socket } from "node:net"
import { createServer as createTlsServer, rootCertificates, connect as tlsConnect, TLSSocket } from "node:tls"
import { afterEach, describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/client/client.ts"
import { ConnectError, TimeoutError, TlsError } from "../../../core/errors.ts"
import type { ConnectOptions } from "../../../core/client/options.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import { preconnect, takePreconnected } from "../../../core/transport/node-preconnect.ts"
import type { Target, Transport } from "../../../core/transport/transport.ts"
import { DEMO_PASSWORD, DEMO_USER, makeSampleStore } from "../../../dev-server/sample-mailbox.ts"
import { BIN, runNode } from "../../support/child-node.ts"
import { closedPort, listenLoopback, silentServer } from "../../support/tcp-peers.ts"
import type { MailStore } from "../../../dev-server/server.ts"
import { listenTcp, type ListenTcpOptions, type TcpListener } from "../../../dev-server/tcp.ts"
import { testCert, testTls } from "../../../dev-server/tls-fixture.ts"
import { clocked } from "../client/harness.ts"

const NOW = new Date("2026-01-15T12:00:00Z")

const run = <A, E>(program: Effect.Effect<A, E, Transport | Scope.Scope>): Promise<Exit.Exit<A, E>> =>
  Effect.runPromiseExit(program.pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

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

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const devServer = async (store: MailStore, options: ListenTcpOptions = {}): Promise<TcpListener> => {
  const listener = await listenTcp(store, { onError: (e) => console.error(e), ...options })
  cleanups.push(() => listener.close())
  return listener
}

/** A TCP server that accepts connections and never writes a byte. */
/** Logs in, STATs, RETRs every message and quits. */
const roundTrip = (options: ConnectOptions) =>
  Effect.gen(function* () {
    const auth = yield* connect(options)
    const mailbox = yield* auth.login({
      user: DEMO_USER,
      password: DEMO_PASSWORD,
      mechanism: "user",
      allowPlaintext: options.tls === "none"
    })
    const stat = yield* mailbox.stat
    const bodies: Array<Uint8Array> = []
    for (let msg = 1; msg <= stat.count; msg++) bodies.push(yield* collect(mailbox.retr(msg)))
    yield* mailbox.quit
    return { secure: auth.secure, capabilities: auth.capabilities().lines, stat, bodies }
  })

const expectMailbox = (
  store: MailStore,
  result: { readonly stat: { readonly count: number }; readonly bodies: ReadonlyArray<Uint8Array> }
) => {
  const stored = store.messages(DEMO_USER)
  expect(result.stat.count).toBe(stored.length)
  expect(result.bodies).toHaveLength(stored.length)
  result.bodies.forEach((body, i) =>
    expect(Buffer.from(body).equals(Buffer.from(stored[i]!.data)), `message ${i + 1}`).toBe(true)
  )
}

describe("node transport", () => {
  it("plain TCP to the dev server: every message byte for byte", async () => {
    const store = makeSampleStore(NOW)
    const server = await devServer(store)
    const result = success(await run(roundTrip({ host: "127.0.0.1", port: server.port, tls: "none", timeout: 5000 })))
    expect(result.secure).toBe(false)
    expectMailbox(store, result)
  })

  it("STLS to the dev server, verifying the certificate with the fixture as CA", async () => {
    const store = makeSampleStore(NOW)
    const server = await devServer(store, { tls: testTls })
    const result = success(
      await run(
        roundTrip({
          host: "127.0.0.1",
          port: server.port,
          tls: "starttls",
          servername: "localhost",
          ca: testCert,
          timeout: 5000
        })
      )
    )
    expect(result.secure).toBe(true)
    // RFC 2595: after TLS the client asked again, and STLS is no longer offered.
    expect(result.capabilities).not.toContain("STLS")
    expectMailbox(store, result)
  })

  it("implicit TLS to the dev server with the fixture certificate as CA", async () => {
    const store = makeSampleStore(NOW)
    const server = await devServer(store, { tls: testTls, implicitTls: true })
    const result = success(
      await run(roundTrip({ host: "localhost", port: server.port, tls: "implicit", ca: testCert, timeout: 5000 }))
    )
    expect(result.secure).toBe(true)
    expectMailbox(store, result)
  })

  it("implicit TLS without the CA fails with TlsError (the self-signed certificate is not trusted)", async () => {
    const server = await devServer(makeSampleStore(NOW), { tls: testTls, implicitTls: true })
    const error = failure(await run(connect({ host: "localhost", port: server.port, tls: "implicit", timeout: 5000 })))
    expect(error).toBeInstanceOf(TlsError)
    expect(error.message).toMatch(/self[- ]signed|unable to verify|certificate/i)
  })

  it("a CA given is trusted in its own context: connections without it still refuse the certificate", async () => {
    const server = await devServer(makeSampleStore(NOW), { tls: testTls, implicitTls: true })
    const target = { host: "localhost", port: server.port, tls: "implicit", timeout: 5000 } as const
    // Implicit TLS and STLS build the context with the CA added to Node's defaults (a copy).
    success(await run(connect({ ...target, ca: testCert })))
    const stls = await devServer(makeSampleStore(NOW), { tls: testTls })
    success(await run(connect({ ...target, port: stls.port, tls: "starttls", ca: testCert })))
    expect(failure(await run(connect(target)))).toBeInstanceOf(TlsError)
    // Nor does Node's own default context trust it now.
    const refusal = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: "localhost", port: server.port }, () => {
        socket.destroy()
        resolve("trusted")
      })
      socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    })
    expect(refusal).toBe("DEPTH_ZERO_SELF_SIGNED_CERT")
  })

  it("a CA given is trusted beside Node's default CAs, NODE_EXTRA_CA_CERTS among them (pop3 --ca in a process of its own)", async () => {
    const server = await devServer(makeSampleStore(NOW), { tls: testTls, implicitTls: true })
    const dir = mkdtempSync(join(tmpdir(), "pop3-ca-"))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    // The server's certificate comes through NODE_EXTRA_CA_CERTS; --ca names an unrelated CA.
    writeFileSync(join(dir, "server.pem"), testCert)
    writeFileSync(join(dir, "other.pem"), rootCertificates[0]!)
    const stat = async (extra: Record<string, string>) => {
      const argv = ["--host", "localhost", "--port", String(server.port), "--tls", "implicit"]
      const exited = await runNode([BIN, ...argv, "--ca", join(dir, "other.pem"), "--user", DEMO_USER, "stat"], {
        env: { POP3_PASSWORD: DEMO_PASSWORD, ...extra },
        timeout: 60_000
      })
      return { ...exited, stdout: exited.stdout.toString("utf8") }
    }
    const trusted = await stat({ NODE_EXTRA_CA_CERTS: join(dir, "server.pem") })
    expect(trusted.stderr).toBe("")
    expect(trusted.stdout).toMatch(/^\d+ \d+\n$/)
    // Without it, --ca alone does not vouch for this server: exit 3, a TLS failure.
    const refused = await stat({})
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/self-signed/)
  })

  it("implicit TLS with the CA but the wrong name fails with TlsError", async () => {
    const server = await devServer(makeSampleStore(NOW), { tls: testTls, implicitTls: true })
    const error = failure(
      await run(
        connect({
          host: "127.0.0.1",
          port: server.port,
          tls: "implicit",
          servername: "pop.example.com",
          ca: testCert,
          timeout: 5000
        })
      )
    )
    expect(error).toBeInstanceOf(TlsError)
    expect((error as TlsError).host).toBe("pop.example.com")
  })

  it("a refused connection is ConnectError naming the host and port", async () => {
    const port = await closedPort()
    const error = failure(await run(connect({ host: "127.0.0.1", port, tls: "none", timeout: 5000 })))
    expect(error).toBeInstanceOf(ConnectError)
    expect(error).toMatchObject({ host: "127.0.0.1", port })
    expect(error.message).toMatch(/ECONNREFUSED/)
  })

  // Time in these two is the TestClock's (moved 1 ms per turn of the event loop): the limits
  // waited out, not how busy the machine is.
  it("a server that accepts but never greets is TimeoutError after the short timeout", async () => {
    const silent = await silentServer(cleanups)
    const { exit, elapsed } = await clocked(
      NodeTransport.layer,
      connect({ host: "127.0.0.1", port: silent.port, tls: "none", timeout: 300 }),
      { limit: 10_000, step: 1 }
    )
    const error = failure(exit!)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error).toMatchObject({ millis: 300 })
    expect((error as TimeoutError).operation).toMatch(/greeting/)
    expect(silent.accepted()).toBe(1)
    expect(elapsed).toBeGreaterThanOrEqual(300)
    expect(elapsed).toBeLessThan(600)
  })

  it("implicit TLS to a server that accepts but never answers the handshake is a connect TimeoutError", async () => {
    const silent = await silentServer(cleanups)
    const { exit, elapsed } = await clocked(
      NodeTransport.layer,
      connect({ host: "127.0.0.1", port: silent.port, tls: "implicit", servername: "localhost", timeout: 300 }),
      { limit: 10_000, step: 1 }
    )
    const error = failure(exit!)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).operation).toBe(`connecting to 127.0.0.1:${silent.port}`)
    expect(elapsed).toBeGreaterThanOrEqual(300)
    expect(elapsed).toBeLessThan(600)
  })

  // 4 MiB of a known pattern, read by a consumer that lets a turn of the event loop pass
  // between pulls (so the reader pauses the socket and resumes it): every byte arrives, in
  // a few reused buffers — Node honours `onread`, and node.ts sets it up by hand after STLS
  // — not one fresh buffer per read.
  const PATTERN_BYTES = 4 * 1024 * 1024
  const pattern = Buffer.alloc(PATTERN_BYTES, "0123456789abcdef\r\n")
  const readAll = (target: Target, upgrade?: TlsUpgradeOptions) =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const socket = yield* NodeTransport.makeSocket(target)
          const reader = yield* socket.reader
          if (upgrade !== undefined) yield* reader.upgrade(upgrade)
          const buffers = new Set<ArrayBufferLike>()
          const hash = createHash("sha256")
          let total = 0
          let pulls = 0
          while (total < PATTERN_BYTES) {
            const chunks = yield* reader.pull
            pulls++
            for (const chunk of chunks) {
              if (typeof chunk === "string") throw new Error("a string chunk")
              buffers.add(chunk.buffer)
              hash.update(chunk)
              total += chunk.length
            }
            yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 0)))
          }
          return { total, pulls, buffers: buffers.size, digest: hash.digest("hex") }
        })
      )
    )
  // "starttls": TLS on the accepted plain socket at once, as after a server's "+OK" to STLS.
  const serveOnce = async (tls: "none" | "implicit" | "starttls"): Promise<number> => {
    const send = (socket: Socket) => {
      socket.on("error", () => {})
      socket.end(pattern)
    }
    const server =
      tls === "implicit"
        ? createTlsServer(testTls, send)
        : tls === "starttls"
          ? createServer((plain) => {
              plain.on("error", () => {})
              const secure = new TLSSocket(plain, { isServer: true, ...testTls })
              secure.once("secure", () => send(secure))
            })
          : createServer(send)
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
    const address = server.address()
    if (address === null || typeof address === "string") throw new Error("no TCP address")
    return address.port
  }
  const target = (port: number, tls: "none" | "implicit"): Target => ({
    host: "127.0.0.1",
    port,
    tls,
    servername: "localhost",
    ca: [testCert],
    insecure: false,
    connectTimeoutMillis: 5000
  })
  const expected = createHash("sha256").update(pattern).digest("hex")

  it.each(["none", "implicit", "starttls"] as const)(
    "tls %s: reads go into a few reused buffers, every byte intact",
    async (tls) => {
      const port = await serveOnce(tls)
      const read =
        tls === "starttls"
          ? await readAll(target(port, "none"), { servername: "localhost", ca: testCert })
          : await readAll(target(port, tls))
      expect(read.total).toBe(PATTERN_BYTES)
      expect(read.digest).toBe(expected)
      expect(read.pulls).toBeGreaterThan(16)
      // Fresh buffers would be one per read: 64 of 64 KiB (TCP) or 256 of 16 KiB (TLS records).
      expect(read.buffers).toBeLessThanOrEqual(16)
    }
  )
})

describe("a connection opened early (node-preconnect.ts, the CLI's first lines)", () => {
  /** The dev server behind a proxy that counts connections and the greeting bytes sent on. */
  const counted = async (options: ListenTcpOptions = {}) => {
    const server = await devServer(makeSampleStore(NOW), options)
    let connections = 0
    let relayed = 0
    const sockets: Array<Socket> = []
    const proxy = createServer((client) => {
      connections++
      const upstream = createConnection({ host: "127.0.0.1", port: server.port })
      sockets.push(client, upstream)
      upstream.on("data", (chunk: Buffer) => {
        relayed += chunk.length
        client.write(chunk)
      })
      client.pipe(upstream)
      upstream.on("end", () => client.end())
      client.on("error", () => upstream.destroy())
      upstream.on("error", () => client.destroy())
    })
    const port = await listenLoopback(proxy, sockets, cleanups)
    return { port, connections: () => connections, relayed: () => relayed }
  }

  it("is adopted by the first connection to its host and port, greeting already read, and STLS works on it", async () => {
    const proxy = await counted({ tls: testTls })
    expect(await preconnect("127.0.0.1", proxy.port)).toBe(true)
    // The greeting has come before the client asks for the connection.
    while (proxy.relayed() === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const result = success(
      await run(
        roundTrip({
          host: "127.0.0.1",
          port: proxy.port,
          tls: "starttls",
          servername: "localhost",
          ca: testCert,
          timeout: 5000
        })
      )
    )
    expect(result.secure).toBe(true)
    expect(result.bodies.length).toBeGreaterThan(0)
    // One connection in all: the early one, not a second.
    expect(proxy.connections()).toBe(1)
  })

  it("to a name: resolved first, then adopted by a connection to that name", async () => {
    const proxy = await counted({ tls: testTls })
    expect(await preconnect("localhost", proxy.port)).toBe(true)
    const result = success(
      await run(roundTrip({ host: "localhost", port: proxy.port, tls: "starttls", ca: testCert, timeout: 5000 }))
    )
    expect(result.secure).toBe(true)
    expect(proxy.connections()).toBe(1)
  })

  it("is taken once and only for its own host and port", async () => {
    const proxy = await counted()
    await preconnect("127.0.0.1", proxy.port)
    expect(takePreconnected("localhost", proxy.port)).toBeUndefined()
    expect(takePreconnected("127.0.0.1", proxy.port + 1)).toBeUndefined()
    const early = takePreconnected("127.0.0.1", proxy.port)
    expect(early).toBeDefined()
    expect(takePreconnected("127.0.0.1", proxy.port)).toBeUndefined()
    early?.adopt().destroy()
  })

  it("that failed is the connection's ConnectError, naming the host and port", async () => {
    const port = await closedPort()
    await preconnect("127.0.0.1", port)
    // The refusal comes before the client asks for the connection, with nobody listening
    // but the early connection's own keeper: the process must not crash on it.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const error = failure(await run(connect({ host: "127.0.0.1", port, tls: "starttls", timeout: 5000 })))
    expect(error).toBeInstanceOf(ConnectError)
    expect(error.message).toContain(`127.0.0.1:${port}`)
  })
})
