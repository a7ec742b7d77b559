/**
 * `tls=passthrough` on the Node bridge (issue 19): plain TCP to the mail server, every byte
 * relayed unchanged both ways, so a client's own TLS runs through the bridge end to end;
 * and only to allowlist entries that name the mode.
 */
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import { afterEach, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import {
  closed,
  connect,
  makeCertificate,
  opened,
  receive,
  sha256,
  startGreeter,
  startTestBridge,
  startTlsUpstream,
  startUpstream,
  tlsOverWebSocket,
  until
} from "./helpers.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const bridgeFor = async (allow: string[]) => {
  const bridge = await startTestBridge({ allow })
  cleanups.push(() => bridge.close(0))
  return bridge
}

describe("tls=passthrough on the Node bridge", () => {
  it("relays every byte unchanged both ways over plain TCP, and logs the mode", async () => {
    const fromServer = randomBytes(2 * 1024 * 1024)
    const fromClient = randomBytes(1024 * 1024)
    const seen: Buffer[] = []
    const upstream = await startUpstream((socket) => {
      socket.on("data", (chunk: Buffer) => seen.push(chunk))
      socket.write(fromServer)
    })
    cleanups.push(upstream.close)
    const bridge = await bridgeFor([`127.0.0.1:${upstream.port}/passthrough`])
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=passthrough`)
    const down = receive(ws, fromServer.length)
    await opened(ws)
    for (let at = 0; at < fromClient.length; at += 60 * 1024) ws.send(fromClient.subarray(at, at + 60 * 1024))
    const got = await down
    await until(
      () => seen.reduce((n, c) => n + c.length, 0) >= fromClient.length,
      10_000,
      "the client's bytes upstream"
    )
    expect(sha256(got)).toBe(sha256(fromServer))
    expect(sha256(Buffer.concat(seen))).toBe(sha256(fromClient))
    ws.close()
    await closed(ws)
    await until(() => bridge.logs.length === 1, 2000, "the session log line")
    expect(bridge.logs[0]).toMatchObject({ event: "session", tls: "passthrough", bytesUp: fromClient.length })
  }, 30_000)

  it("carries the client's own TLS to a TLS server; the WebSocket holds only ciphertext", async () => {
    const { cert, key } = makeCertificate("pop.passthrough.test", { ipSan: true })
    const upstream = await startTlsUpstream(cert, key)
    cleanups.push(upstream.close)
    const bridge = await bridgeFor([`127.0.0.1:${upstream.port}/passthrough`])
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=passthrough`)
    await opened(ws)
    const { secure, carried } = tlsOverWebSocket(ws, { ca: cert, servername: "pop.passthrough.test" })
    await once(secure, "secureConnect")
    expect(secure.getProtocol()).toMatch(/^TLSv1\.[23]$/)
    const secret = "PASS s3cret-passw0rd\r\n"
    let plain = ""
    secure.on("data", (chunk: Buffer) => {
      plain += chunk.toString("latin1")
    })
    secure.write(`USER alice\r\n${secret}`)
    // The server greets, then echoes: all of it arrives decrypted, so the bridge changed nothing.
    await until(() => plain.includes(secret), 5000, "the echo through TLS")
    expect(plain).toBe(`+OK TLS POP3 ready\r\nUSER alice\r\n${secret}`)
    secure.destroy()
    const wire = Buffer.concat([...carried.up, ...carried.down]).toString("latin1")
    expect(carried.up.length).toBeGreaterThan(0)
    expect(carried.down.length).toBeGreaterThan(0)
    // At least 5 bytes each: random ciphertext holds a given 3 or 4 bytes now and then.
    for (const clear of ["USER alice", "PASS ", "s3cret", "+OK TLS"]) expect(wire).not.toContain(clear)
  })

  it("refuses tls=passthrough to an entry that does not name it, before contacting the server", async () => {
    const upstream = await startGreeter()
    cleanups.push(upstream.close)
    const bridge = await bridgeFor([`127.0.0.1:${upstream.port}`])
    const refused = await closed(connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=passthrough`))
    expect(refused).toEqual({
      code: CloseCode.TargetNotAllowed,
      reason: `tls=passthrough is not allowed for 127.0.0.1:${upstream.port} (allowed: implicit, none)`
    })
    expect(bridge.metrics.refusals.get("tls_mode_not_allowed")).toBe(1)
    expect(upstream.connections()).toBe(0)
  })
})
