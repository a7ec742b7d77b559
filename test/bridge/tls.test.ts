import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import {
  closed,
  connect,
  fakeDns,
  makeCertificate,
  receive,
  sleep,
  startGreeter,
  startTestBridge,
  startTlsUpstream,
  startUpstream,
  until
} from "./helpers.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

let mailCert: { cert: Buffer; key: Buffer }
let otherCert: { cert: Buffer; key: Buffer }
beforeAll(() => {
  mailCert = makeCertificate("mail.test", { ipSan: true })
  otherCert = makeCertificate("other.test")
})

/** A TLS upstream reachable as mail.test (faked DNS → 127.0.0.1, which is listed exactly). */
const setup = async (cert: { cert: Buffer; key: Buffer }, upstreamCa: Buffer[] | undefined) => {
  const upstream = await startTlsUpstream(cert.cert, cert.key)
  cleanups.push(upstream.close)
  const p = upstream.port
  const bridge = await startTestBridge({
    allow: [`mail.test:${p}`, `127.0.0.1:${p}`],
    resolve: fakeDns({ "mail.test": ["127.0.0.1"] }),
    ...(upstreamCa === undefined ? {} : { upstreamCa })
  })
  cleanups.push(() => bridge.close(0))
  return { upstream, bridge, port: p }
}

describe("tls=implicit upstream", () => {
  it("verifies the server certificate against the host name, with --upstream-ca", async () => {
    const { bridge, port } = await setup(mailCert, [mailCert.cert])
    const ws = connect(bridge, `host=mail.test&port=${port}&tls=implicit`)
    expect((await receive(ws, 20)).toString()).toBe("+OK TLS POP3 ready\r\n")
    ws.send(Buffer.from("CAPA\r\n"))
    expect((await receive(ws, 6)).toString()).toBe("CAPA\r\n")
    ws.close()
    await until(() => bridge.logs.length === 1)
    expect(bridge.logs[0]).toMatchObject({ tls: "implicit", address: "127.0.0.1", target: `mail.test:${port}` })
  })

  it("verifies an IP literal target against the certificate's IP addresses", async () => {
    const { bridge, port } = await setup(mailCert, [mailCert.cert])
    const ws = connect(bridge, `host=127.0.0.1&port=${port}&tls=implicit`)
    expect((await receive(ws, 20)).toString()).toBe("+OK TLS POP3 ready\r\n")
    ws.close()
  })

  it("closes with 4011 when the certificate is not trusted (no CA)", async () => {
    const { bridge, port, upstream } = await setup(mailCert, undefined)
    const result = await closed(connect(bridge, `host=mail.test&port=${port}&tls=implicit`))
    expect(result.code).toBe(CloseCode.UpstreamTlsFailed)
    expect(result.reason).toMatch(/^upstream TLS failed: .*SELF_SIGNED/)
    expect(upstream.connections()).toBe(1) // reached, but not trusted
    expect(bridge.metrics.upstreamFailures.get("tls")).toBe(1)
  })

  it("closes with 4011 when the certificate is for another name (wrong CA for this name)", async () => {
    const { bridge, port } = await setup(otherCert, [otherCert.cert, mailCert.cert])
    const result = await closed(connect(bridge, `host=mail.test&port=${port}&tls=implicit`))
    expect(result).toEqual({
      code: CloseCode.UpstreamTlsFailed,
      reason: "upstream TLS failed: ERR_TLS_CERT_ALTNAME_INVALID"
    })
  })

  it("closes with 4011 when the server does not speak TLS", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))
    const result = await closed(connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=implicit`))
    expect(result.code).toBe(CloseCode.UpstreamTlsFailed)
  })
})

describe("upstream failures", () => {
  it("closes with 4010 when the port is closed", async () => {
    const gone = await startUpstream()
    await gone.close()
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${gone.port}`] })
    cleanups.push(() => bridge.close(0))
    const result = await closed(connect(bridge, `host=127.0.0.1&port=${gone.port}&tls=none`))
    expect(result).toEqual({ code: CloseCode.UpstreamConnectFailed, reason: "upstream connect failed: ECONNREFUSED" })
  })

  it("closes with 4012 when DNS does not answer in time, contacting nobody", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({
      allow: [`slow.test:${upstream.port}`, `127.0.0.1:${upstream.port}`],
      connectTimeoutMs: 200,
      // Answers only after the deadline: the late answer must not lead to a connection.
      resolve: async () => {
        await sleep(400)
        return [{ address: "127.0.0.1" }]
      }
    })
    cleanups.push(() => bridge.close(0))
    const result = await closed(connect(bridge, `host=slow.test&port=${upstream.port}&tls=none`))
    expect(result).toEqual({ code: CloseCode.UpstreamTimeout, reason: "upstream connect timed out" })
    await sleep(400)
    expect(upstream.connections()).toBe(0)
    expect(bridge.metrics.upstreamFailures.get("timeout")).toBe(1)
  })

  it("closes with 4012 when the TLS handshake stalls", async () => {
    const silent = await startUpstream((s) => s.resume()) // reads the ClientHello, never answers
    cleanups.push(silent.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${silent.port}`], connectTimeoutMs: 200 })
    cleanups.push(() => bridge.close(0))
    const result = await closed(connect(bridge, `host=127.0.0.1&port=${silent.port}&tls=implicit`))
    expect(result.code).toBe(CloseCode.UpstreamTimeout)
    await until(() => silent.sockets.every((s) => s.destroyed || s.readableEnded), 2000, "the stalled socket to close")
  })

  it("closes with 4010 when the server resets the connection mid-session", async () => {
    const upstream = await startUpstream((s) => {
      s.write("+OK\r\n")
      s.on("data", () => s.resetAndDestroy())
    })
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    await receive(ws, 5)
    const end = closed(ws)
    ws.send(Buffer.from("STAT\r\n"))
    expect(await end).toEqual({ code: CloseCode.UpstreamConnectFailed, reason: "upstream connection lost: ECONNRESET" })
  })
})

describe("serving wss: with --cert/--key", () => {
  it("accepts TLS WebSocket clients that trust the certificate", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`], tls: mailCert })
    cleanups.push(() => bridge.close(0))
    expect(bridge.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`, { ca: mailCert.cert })
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    ws.close()
  })
})
