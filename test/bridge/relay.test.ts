import { randomBytes } from "node:crypto"
import { afterEach, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import { FRAME_BYTES } from "../../bridge/relay.ts"
import {
  closed,
  connect,
  opened,
  receive,
  sha256,
  startGreeter,
  startTestBridge,
  startUpstream,
  until,
  type Upstream
} from "./helpers.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const setup = async (upstream: Upstream, options: Parameters<typeof startTestBridge>[0] = {}) => {
  cleanups.push(upstream.close)
  const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`], ...options })
  cleanups.push(() => bridge.close(0))
  const query = `host=127.0.0.1&port=${upstream.port}&tls=none`
  return { bridge, query }
}

describe("relay", () => {
  it("relays a POP3 exchange byte-exact both ways and logs one line without payload", async () => {
    const seen: Buffer[] = []
    const { bridge, query } = await setup(await startGreeter(seen))
    const ws = connect(bridge, query)
    const greeting = await receive(ws, 21)
    expect(greeting.toString()).toBe("+OK fake POP3 ready\r\n")
    const end = closed(ws)
    ws.send(Buffer.from("USER secret-user\r\nQUIT\r\n"))
    expect((await receive(ws, 9)).toString()).toBe("+OK bye\r\n")
    expect(await end).toEqual({ code: 1000, reason: "upstream closed" })
    expect(Buffer.concat(seen).toString()).toBe("USER secret-user\r\nQUIT\r\n")

    await until(() => bridge.logs.length === 1, 2000, "the session log line")
    const line = bridge.logs[0] ?? {}
    expect(line).toMatchObject({
      event: "session",
      client: "127.0.0.1",
      tls: "none",
      address: "127.0.0.1",
      bytesUp: 24,
      bytesDown: 30,
      closeCode: 1000,
      closeReason: "upstream closed",
      closedBy: "upstream"
    })
    expect(JSON.stringify(line)).not.toContain("secret-user")
    expect(JSON.stringify(line)).not.toContain("fake POP3")
  })

  it("relays multi-MB payloads byte-exact in both directions", async () => {
    const { bridge, query } = await setup(await startUpstream())
    const ws = connect(bridge, query)
    await opened(ws)
    const payload = randomBytes(8 * 1024 * 1024)
    const back = receive(ws, payload.length)
    // Messages up to the 64 KiB default limit, in irregular sizes.
    for (let at = 0, i = 0; at < payload.length; i++) {
      const size = 1 + ((i * 7919) % (64 * 1024))
      ws.send(payload.subarray(at, at + size))
      at += size
    }
    const echoed = await back
    expect(echoed.length).toBe(payload.length)
    expect(sha256(echoed)).toBe(sha256(payload))
    expect(bridge.metrics.bytesUp).toBe(payload.length)
    expect(bridge.metrics.bytesDown).toBe(payload.length)
    ws.close()
  }, 30_000)

  it("sends what a fast server writes as frames of at most 64 KiB, byte-exact", async () => {
    // The bridge reads a plain TCP server 256 KiB at a time and splits each read into frames.
    const payload = randomBytes(16 * 1024 * 1024)
    const upstream = await startUpstream((socket) => {
      for (let at = 0; at < payload.length; at += 1024 * 1024) socket.write(payload.subarray(at, at + 1024 * 1024))
      socket.end()
    })
    const { bridge, query } = await setup(upstream)
    const ws = connect(bridge, query)
    const sizes: number[] = []
    ws.on("message", (data: Buffer) => sizes.push(data.length))
    const received = await receive(ws, payload.length)
    expect(sha256(received)).toBe(sha256(payload))
    expect(Math.max(...sizes)).toBe(FRAME_BYTES)
    expect(sizes.length).toBeGreaterThanOrEqual(payload.length / FRAME_BYTES)
    expect(await closed(ws)).toEqual({ code: 1000, reason: "upstream closed" })
  }, 30_000)

  it("selects the websockify 'binary' subprotocol when offered", async () => {
    const { bridge, query } = await setup(await startGreeter())
    const ws = connect(bridge, query, { protocols: ["binary", "base64"] })
    await opened(ws)
    expect(ws.protocol).toBe("binary")
    const plain = connect(bridge, query)
    await opened(plain)
    expect(plain.protocol).toBe("")
    ws.close()
    plain.close()
  })

  it("closes with 1003 on a text frame and ends the upstream connection", async () => {
    const seen: Buffer[] = []
    const upstream = await startGreeter(seen)
    const { bridge, query } = await setup(upstream)
    const ws = connect(bridge, query)
    await receive(ws, 21)
    const end = closed(ws)
    ws.send("USER text\r\n")
    expect(await end).toMatchObject({ code: CloseCode.TextFrame })
    expect((await end).reason).toMatch(/binary/)
    expect(seen).toEqual([]) // the text never reached the server
    await until(() => upstream.sockets.every((s) => s.readableEnded || s.destroyed), 2000, "upstream end")
  })

  it("closes with 1009 on a message over --max-message", async () => {
    const { bridge, query } = await setup(await startUpstream(), { maxMessageBytes: 1024 })
    const ws = connect(bridge, query)
    await opened(ws)
    const end = closed(ws)
    ws.send(Buffer.alloc(1025))
    expect((await end).code).toBe(CloseCode.TooBig)
    await until(() => bridge.logs.length === 1)
    expect(bridge.logs[0]).toMatchObject({ closeCode: 1009, bytesUp: 0 })
  })

  it("closes an idle session with 4008 and tells the server (FIN)", async () => {
    const upstream = await startGreeter()
    const { bridge, query } = await setup(upstream, { idleTimeoutMs: 300 })
    const ws = connect(bridge, query)
    await receive(ws, 21)
    // After the greeting nothing moves; the close names the idle rule (no other rule is set).
    expect(await closed(ws)).toEqual({ code: CloseCode.Limit, reason: "idle timeout" })
    await until(() => upstream.sockets.every((s) => s.readableEnded || s.destroyed), 2000, "upstream end")
  })

  it("traffic keeps a session from idling out; the session limit still ends it", async () => {
    // The session limit is three idle limits: it can only be reached by a session that traffic
    // kept from idling out. The traffic is a ping-pong on the echo (the next NOOP goes 20 ms
    // after the last came back), not a timer racing the idle limit: 50 times the gap.
    const { bridge, query } = await setup(await startUpstream(), { idleTimeoutMs: 1000, maxSessionMs: 3000 })
    const ws = connect(bridge, query)
    await opened(ws)
    const end = closed(ws)
    let echoes = 0
    ws.on("message", () => {
      echoes++
      setTimeout(() => ws.readyState === ws.OPEN && ws.send(Buffer.from("NOOP\r\n")), 20)
    })
    ws.send(Buffer.from("NOOP\r\n"))
    const result = await end
    expect(result).toEqual({ code: CloseCode.Limit, reason: "maximum session duration reached" })
    expect(echoes).toBeGreaterThan(0)
  })

  it("pings quiet clients so proxies keep the WebSocket open", async () => {
    const { bridge, query } = await setup(await startGreeter(), { pingIntervalMs: 50 })
    const ws = connect(bridge, query)
    let pings = 0
    ws.on("ping", () => {
      pings += 1
    })
    await receive(ws, 21)
    await until(() => pings >= 3, 2000, "three pings")
    ws.close()
  })

  it("delivers a QUIT the client sent right before closing, then closes upstream", async () => {
    const seen: Buffer[] = []
    const upstream = await startGreeter(seen)
    const { bridge, query } = await setup(upstream)
    const ws = connect(bridge, query)
    await receive(ws, 21)
    ws.send(Buffer.from("QUIT\r\n"))
    ws.close(1000, "bye")
    await until(() => Buffer.concat(seen).toString() === "QUIT\r\n", 2000, "QUIT at the server")
    await until(() => bridge.logs.length === 1)
    expect(bridge.logs[0]).toMatchObject({ closeCode: 1000, closedBy: "client", bytesUp: 6 })
  })

  it("forwards bytes a client sends before the server is connected", async () => {
    const { bridge, query } = await setup(await startUpstream())
    const ws = connect(bridge, query)
    await opened(ws)
    ws.send(Buffer.from("early-1 "))
    ws.send(Buffer.from("early-2"))
    expect((await receive(ws, 15)).toString()).toBe("early-1 early-2")
    ws.close()
  })
})
